"""`StreamingSession` (edgelstm.artifact.streaming): states carried in bound ORT values give the one-call answer at every chunk
size, on edgelstm's own streaming graphs and on silero-vad's shipped ONNX; bindings are made per shape, not per call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.artifact.streaming import StreamingSession
from edgelstm.checkpoint import save_checkpoint
from edgelstm.errors import InputShapeError, NotStreamableError
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model

STEPS = 23  # not a multiple of 4 or 16: the last chunk is shorter and gets its own binding


@pytest.fixture(scope="module", params=["lstm", "gru"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp(f"streaming-{request.param}")
    save_checkpoint(tiny_model(cell=request.param, layers=2, head="per_step"), root / "ckpt")
    loaded = load_model(str(root / "ckpt"))
    return {form: export_model(loaded, root / form, ExportConfig(form=form)).path for form in ("streaming", "sequence")}


def _one_call(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    info = open_artifact(path)
    run = run_batch_first(info.interface, session_from_onnx(path).run)  # the slim graph is time-major
    names = [o.name for o in info.interface.outputs]
    return dict(zip(names, run(names, sequence_feeds(info.interface, x, None, "test")), strict=True))


def _stream(helper: StreamingSession, x: np.ndarray, chunk: int) -> dict[str, np.ndarray]:
    pieces = [helper.step(x[:, start : start + chunk]) for start in range(0, x.shape[1], chunk)]
    return {name: np.concatenate([p[name] for p in pieces], axis=1) for name in helper.output_names}


@pytest.mark.parametrize("chunk", [1, 4, 16])
def test_chunks_give_the_one_call_outputs_and_states(exported: dict[str, Path], chunk: int) -> None:
    x = np.random.default_rng(chunk).standard_normal((2, STEPS, 5)).astype(np.float32)
    whole = _one_call(exported["streaming"], x)
    helper = StreamingSession.open(exported["streaming"], batch=2)
    streamed = _stream(helper, x, chunk)
    assert helper.output_names == ["output"]
    np.testing.assert_allclose(streamed["output"], whole["output"], rtol=1e-5, atol=1e-5)
    for spec in helper.interface.states:
        np.testing.assert_allclose(helper.state[spec.input_name], whole[spec.output_name], rtol=1e-5, atol=1e-5)
    # Two bindings per chunk shape (the full chunk, and the shorter last one), made once, not per call.
    shapes = len({min(chunk, STEPS - start) for start in range(0, STEPS, chunk)})
    assert helper.bindings_made == 2 * shapes and helper.steps_taken == -(-STEPS // chunk)


def test_reset_starts_over_and_changes_the_batch(exported: dict[str, Path]) -> None:
    x = np.random.default_rng(7).standard_normal((3, 8, 5)).astype(np.float32)
    helper = StreamingSession.open(exported["streaming"], batch=3)
    first = _stream(helper, x, 4)["output"]
    assert any(np.abs(v).max() > 0 for v in helper.state.values())
    helper.reset()
    assert all(np.all(v == 0) for v in helper.state.values())  # edgelstm's states start at 0
    np.testing.assert_array_equal(_stream(helper, x, 4)["output"], first)
    helper.reset(batch=1)
    assert helper.batch == 1
    np.testing.assert_allclose(_stream(helper, x[1:2], 4)["output"], first[1:2], rtol=1e-5, atol=1e-6)


def test_state_is_a_copy_and_outputs_are_not_overwritten(exported: dict[str, Path]) -> None:
    x = np.random.default_rng(3).standard_normal((1, 2, 5)).astype(np.float32)
    helper = StreamingSession.open(exported["streaming"])
    first = helper.step(x[:, :1])["output"]
    kept = first.copy()
    helper.state[helper.interface.states[0].input_name][...] = 99.0
    second = helper.step(x[:, 1:])["output"]
    np.testing.assert_array_equal(first, kept)  # the next step wrote its own buffer, not the returned array
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), _one_call(exported["streaming"], x)["output"], atol=1e-5)


def test_refusals_are_named_errors(exported: dict[str, Path]) -> None:
    with pytest.raises(NotStreamableError, match="streaming"):
        StreamingSession.open(exported["sequence"])
    helper = StreamingSession.open(exported["streaming"], batch=2)
    with pytest.raises(InputShapeError, match="batch=2"):
        helper.step(np.zeros((1, 4, 5), np.float32))
    with pytest.raises(InputShapeError, match="must be"):
        helper.step(np.zeros((2, 4, 6), np.float32))
    with pytest.raises(InputShapeError, match="does not fit"):
        helper.step(np.zeros((2, 4, 5), np.complex64))
    with pytest.raises(InputShapeError, match="positive"):
        helper.reset(batch=0)
    assert helper.steps_taken == 0


HINTS = InterfaceHints({"sr": 16_000}, (), 512, 64)


@pytest.fixture(scope="module")
def silero() -> Path:
    """silero-vad's shipped ONNX (only these tests skip without the wheel)."""
    module = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")
    return Path(module.__file__).parent / "data" / "silero_vad.onnx"


def test_silero_streamed_by_the_helper_equals_the_chunked_runner(silero: Path) -> None:
    from dataclasses import replace

    from edgelstm.parity.stream_data import synthetic_speech

    audio = synthetic_speech(2.0, 16_000, seed=2, chunk=512).x.reshape(1, -1).astype(np.float32)
    info = open_artifact(silero, HINTS)
    interface = replace(info.interface, context=HINTS.context)
    session = session_from_onnx(silero)
    names = [o.name for o in interface.outputs]
    expected = run_in_chunks(lambda f: session.run(names, f), interface, sequence_feeds(interface, audio, None, "t"), 512)
    helper = StreamingSession.open(silero, SessionSettings(), HINTS)
    assert helper.interface.context == 64 and list(helper.output_names) == ["output"]
    streamed = _stream(helper, audio, 512)
    probabilities = expected[names.index("output")]
    assert streamed["output"].shape == probabilities.shape == (1, audio.shape[1] // 512)
    np.testing.assert_allclose(streamed["output"], probabilities, rtol=0, atol=1e-6)
    assert probabilities.max() > 0.5 > probabilities.min()  # the audio has speech and silence: a real comparison
    state = interface.states[0]
    np.testing.assert_allclose(helper.state[state.input_name], expected[names.index(state.output_name)], atol=1e-6)
    assert helper.bindings_made == 2
    with pytest.raises(InputShapeError, match="confirmed at chunks of 512"):
        helper.step(audio[:, :256])


def test_the_bundle_readme_carries_the_streaming_code(exported: dict[str, Path], tmp_path: Path) -> None:
    from edgelstm.bundle import build_bundle, verify_bundle

    result = build_bundle(exported["streaming"], tmp_path / "streaming")
    readme = (tmp_path / "streaming" / "README.md").read_text()
    assert "## Streaming from an app: C++, Java/Kotlin, Swift" in readme and readme.count("```") == 6
    assert "## Session settings" in readme  # appended after the builder's own notes, which stay
    assert result.files["README.md"] and verify_bundle(tmp_path / "streaming").files_checked == len(result.files)
    build_bundle(exported["sequence"], tmp_path / "sequence")
    assert "Streaming from an app" not in (tmp_path / "sequence" / "README.md").read_text()


def _sections(notes: str) -> dict[str, str]:
    """The notes' code blocks by language."""
    parts = notes.split("```")
    return {block.split("\n", 1)[0]: block for block in parts[1::2]}


def test_bundle_notes_show_the_pattern_with_the_bundles_own_names(exported: dict[str, Path]) -> None:
    from edgelstm.bundle.usage import streaming_notes

    interface = open_artifact(exported["streaming"]).interface
    notes = streaming_notes(interface, "streaming_fused.ort")
    assert notes is not None and "Not compiled or run by edgelstm" in notes
    code = _sections(notes)
    assert set(code) == {"cpp", "java", "swift"}
    states = [(s.input_name, s.output_name) for s in interface.states]
    for language, text in code.items():
        assert '"x"' in text and '"output"' in text, language
        for name_in, name_out in states:
            assert f'"{name_in}"' in text and f'"{name_out}"' in text, (language, name_in)
    # Each state output is bound to the other buffer of its pair, in both bindings, in every language.
    for name_in, name_out in states:
        assert f'b.BindInput("{name_in}", {name_in}[k]);' in code["cpp"]
        assert f'b.BindOutput("{name_out}", {name_in}[1 - k]);' in code["cpp"]
        assert f'out.put("{name_out}", {name_in}[1 - k]);' in code["java"]
        assert f'"{name_out}": {name_in}[1 - k]' in code["swift"]
    assert "session.Run(Ort::RunOptions{nullptr}, bindings[current]);" in code["cpp"]
    assert "session.run(inputs.get(current), wanted, pinned.get(current), null)" in code["java"]
    assert "session.run(withInputs: inputs[current], outputs: outputs[current], runOptions: nil)" in code["swift"]
    assert "CONTEXT" not in notes and '"sr"' not in notes
    sequence = open_artifact(exported["sequence"]).interface
    assert streaming_notes(sequence, "sequence_fused.ort") is None


def test_bundle_notes_for_silero_carry_its_names_constant_and_context(silero: Path) -> None:
    from dataclasses import replace

    from edgelstm.bundle.usage import streaming_notes

    interface = replace(open_artifact(silero, HINTS).interface, context=64)
    notes = streaming_notes(interface, "silero_vad.ort")
    assert notes is not None
    code = _sections(notes)
    for language, text in code.items():
        assert "CHUNK = 512" in text and "CONTEXT = 64" in text, language
        assert '"input"' in text and '"state"' in text and '"stateN"' in text and '"sr"' in text, language
        assert "16000" in text and "h_in" not in text and '"x"' not in text, language
    assert "Ort::Value::CreateTensor<int64_t>(cpu, &sr_data, 1, nullptr, 0)" in code["cpp"]  # a scalar
    assert "std::memmove(input_data.data(), input_data.data() + CHUNK * PER_STEP" in code["cpp"]
    assert "OnnxTensor.createTensor(env, 16000L)" in code["java"]
    assert "elementType: .int64, shape: []" in code["swift"]


def test_step_without_copy_returns_read_only_views_the_next_step_overwrites(exported: dict[str, Path]) -> None:
    x = np.random.default_rng(5).standard_normal((1, 3, 5)).astype(np.float32)
    whole = _one_call(exported["streaming"], x)["output"]
    helper = StreamingSession.open(exported["streaming"])
    first = helper.step(x[:, :1], copy=False)
    np.testing.assert_allclose(first["output"], whole[:, :1], atol=1e-5)
    kept = first["output"].copy()
    with pytest.raises(ValueError, match="read-only"):
        first["output"][...] = 0.0  # the graph's buffer: the caller cannot write into it
    with pytest.raises(TypeError):
        first["output"] = kept  # type: ignore[index]  # nor swap an entry of the mapping every step returns
    second = helper.step(x[:, 1:2], copy=False)
    assert second is first  # one mapping per chunk shape, no allocation per call
    np.testing.assert_allclose(second["output"], whole[:, 1:2], atol=1e-5)
    assert not np.array_equal(first["output"], kept)  # documented: the next step overwrote the view
    third = helper.step(x[:, 2:3])  # copy=True (the default) on the same binding: an array of the caller's own
    assert third["output"] is not second["output"] and third["output"].flags.writeable
    np.testing.assert_allclose(third["output"], whole[:, 2:3], atol=1e-5)


def test_a_chunk_of_another_float_dtype_is_cast_like_a_same_dtype_one(exported: dict[str, Path]) -> None:
    x = np.random.default_rng(6).standard_normal((1, 4, 5))
    same = StreamingSession.open(exported["streaming"]).step(x.astype(np.float32))["output"]
    cast = StreamingSession.open(exported["streaming"]).step(x)["output"]  # float64: same_kind copy into float32
    np.testing.assert_array_equal(cast, same)
