"""silero-vad 6.2.3 through the CLI alone: inspect, quantize against the shipped fp32 ONNX, the streaming check (and
its failure on a damaged artifact), bench, bundle and bundle verify, on both shipped ONNX files (issue 10)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgelstm.parity.stream_data import synthetic_speech
from tests.refusals import assert_refused, run_cli

silero_vad = pytest.importorskip("silero_vad", reason="silero-vad is not installed (pip install -e '.[examples]')")

DATA = Path(silero_vad.__file__).parent / "data"
ORIGINAL = DATA / "silero_vad.onnx"  # weights inside If branches: the reference for both files
FILES = ("silero_vad.onnx", "silero_vad_16k_op15.onnx")
CALL = ["--const", "sr=16000", "--chunk", "512", "--context", "64"]  # silero 5+ sees 64 samples before each chunk
SCHEME = "weight-only-int8"


CHUNKS = 313  # 313 x 512 samples: the first whole number of chunks over 10 s at 16 kHz


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "speech.npy"
    # generated here, by the same generator `check` uses when no --data is given (10 s rounds up to 313 chunks)
    np.save(path, synthetic_speech(10.0, 16_000, seed=1, chunk=512).x[0])
    return path


@pytest.fixture(scope="module", params=FILES)
def published(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, audio: Path) -> tuple[Path, Path]:
    """(the shipped file, the artifact quantize published from it, gated against the original fp32 graph)."""
    from edgelstm.quantize.config import SCHEMES

    if SCHEME not in SCHEMES:
        pytest.skip(f"{SCHEME} is not registered in this tree (the scheme expected to pass on silero)")
    model = DATA / request.param
    out = tmp_path_factory.mktemp("quantized")
    result = run_cli(["quantize", model, "--reference", ORIGINAL, "--scheme", SCHEME, "--data", audio, "--out", out, *CALL])
    assert result.exit_code == 0, result.output
    artifact = out / f"{model.stem}.{SCHEME}.onnx"
    assert artifact.is_file(), result.output
    return model, artifact


@pytest.mark.parametrize("name", FILES)
def test_inspect_shows_inputs_state_pair_and_sr(name: str) -> None:
    result = run_cli(["inspect", DATA / name, "--const", "sr=16000", "--chunk", "512"])
    assert result.exit_code == 0, result.output
    for fragment in ("input", "state", "stateN", "sr", "512"):
        assert fragment in result.output


def test_quantize_publishes_with_interface_and_source_sha256(published: tuple[Path, Path]) -> None:
    model, artifact = published
    props = {p.key: p.value for p in onnx.load(str(artifact), load_external_data=False).metadata_props}
    interface = json.loads(props["edgelstm.interface"])
    assert props["edgelstm.source_sha256"] == sha256(model)
    assert interface["impl"] == "foreign" and interface["form"] == "streaming"
    assert interface["constants"] == {"sr": 16000} and interface["chunk"] == 512 and interface["context"] == 64
    assert [(s["input_name"], s["output_name"], s["shape"]) for s in interface["states"]] == [
        ("state", "stateN", [2, "batch", 128])
    ]
    assert artifact.stat().st_size * 3 < model.stat().st_size  # weight-only int8: over 3x smaller
    sidecar = json.loads(artifact.with_suffix(".quant.json").read_text())
    assert sidecar["parity_passed"] is True and sidecar["parity"]["chunks"] * 512 >= 10 * 16_000  # >= 10 s


def test_check_streams_against_the_onnx_reference(published: tuple[Path, Path], audio: Path, tmp_path: Path) -> None:
    _, artifact = published
    report = tmp_path / "parity.json"
    result = run_cli(["check", artifact, "--reference", ORIGINAL, "--data", audio, "--providers", "cpu", "--report", report])
    assert result.exit_code == 0, result.output
    for fragment in (sha256(artifact), sha256(ORIGINAL), sha256(audio), f"{CHUNKS} chunks of 512", "CPUExecutionProvider"):
        assert fragment in result.output
    data = json.loads(report.read_text())
    (candidate,) = data["candidates"]
    assert candidate["decisions"] == CHUNKS and candidate["flips"] <= 3 and candidate["max_abs_delta"] <= 0.1
    # The recurrent state is compared chunk by chunk too: its error against chunk index is in the report.
    assert {p["output"] for p in candidate["profiles"]} == {"output", "stateN"}
    assert max(p["steps"][-1] for p in candidate["profiles"]) == CHUNKS


def _all_tensors(graph: onnx.GraphProto) -> list[tuple[str, onnx.TensorProto]]:
    """(name, tensor) of every initializer and Constant of a graph and of its subgraphs (If branches, Loop bodies)."""
    tensors = [(t.name, t) for t in graph.initializer]
    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type == "Constant" and attribute.type == onnx.AttributeProto.TENSOR:
                tensors.append((node.output[0], attribute.t))
            for sub in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs):
                tensors += _all_tensors(sub)
    return tensors


def test_check_fails_a_damaged_artifact(published: tuple[Path, Path], audio: Path, tmp_path: Path) -> None:
    _, artifact = published
    model = onnx.load(str(artifact))
    # The LSTM cell's quantized matrices ([4 x 128, 128]: weight_ih and weight_hh; published names are short ids)
    stored = (onnx.TensorProto.INT8, onnx.TensorProto.INT4)
    recurrent = [t for _, t in _all_tensors(model.graph) if t.data_type in stored and list(t.dims) == [512, 128]]
    assert recurrent, "no quantized recurrent weight found to damage"
    for damaged in recurrent:  # silero_vad.onnx keeps one per If branch (8 and 16 kHz): zero them all
        damaged.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(damaged)), damaged.name))
    path = tmp_path / "damaged.onnx"
    onnx.save(model, str(path))
    result = run_cli(["check", path, "--reference", ORIGINAL, "--data", audio, "--providers", "cpu"])
    assert result.exit_code == 1, result.output
    assert "decisions flipped at 0.5 (budget" in result.output and "verdict: FAIL" in result.output


def test_bench_gives_per_chunk_latency(published: tuple[Path, Path], tmp_path: Path) -> None:
    _, artifact = published
    report = tmp_path / "bench.json"
    args = ["bench", artifact, "--batches", "1", "--rounds", "3", "--no-cold-start", "--report", report]
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    bench = json.loads(report.read_text())
    (row,) = [r for r in bench["latencies"] if r["mode"] == "run"]
    assert (row["batch"], row["steps"], row["threads"]) == (1, 512 + 64, 1) and row["p50_ms"] > 0
    # issue 19: also in a plain ORT session, per chunk, at ORT's default threads and at 1 thread
    plain = [r for r in bench["latencies"] if r["mode"] == "plain"]
    assert sorted((r["steps"], r["threads"]) for r in plain) == [(512 + 64, 0), (512 + 64, 1)]
    # No model beside the graph: its stored tensors are counted, If branches included (silero_vad.jit holds 462,594
    # weights for both rates; the 16 kHz model alone is ~300k, and silero_vad.onnx keeps it inside an If branch).
    (size,) = bench["sizes"]
    assert size["parameters"] > 300_000


def test_bundle_writes_the_state_layout_and_verifies(published: tuple[Path, Path], tmp_path: Path) -> None:
    _, artifact = published
    out = tmp_path / "bundle"
    result = run_cli(["bundle", artifact, "--out", out])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    (state,) = manifest["state"]
    assert (state["input_name"], state["output_name"], state["shape"], state["initial_value"]) == (
        "state",
        "stateN",
        [2, "batch", 128],
        0.0,
    )
    assert (manifest["constants"], manifest["chunk"], manifest["context"]) == ({"sr": 16000}, 512, 64)
    verified = run_cli(["bundle", "verify", out])
    assert verified.exit_code == 0, verified.output
    assert "ran once (output, stateN)" in verified.output


def test_a_bare_foreign_graph_without_its_scalar_is_refused_in_one_line(tmp_path: Path) -> None:
    assert_refused(
        ["quantize", ORIGINAL, "--scheme", SCHEME, "--out", tmp_path / "out", "--chunk", "512"], "--const sr=", watch=(tmp_path,)
    )


def test_report_reads_the_streaming_verdict(published: tuple[Path, Path], audio: Path, tmp_path: Path) -> None:
    _, artifact = published
    run = tmp_path / "run"
    run.mkdir()
    local = run / artifact.name
    local.write_bytes(artifact.read_bytes())
    checked = run_cli(
        ["check", local, "--reference", ORIGINAL, "--data", audio, "--providers", "cpu", "--report", run / "check.json"]
    )
    assert checked.exit_code == 0, checked.output
    result = run_cli(["report", run])
    assert result.exit_code == 0, result.output
    (row,) = json.loads((run / "report.json").read_text())["artifacts"]
    assert (row["parity"], row["verdicts"], row["sha256"]) == ("pass", {"cpu": "pass"}, sha256(artifact))
    assert f"streamed in {CHUNKS} chunks of 512" in (run / "report.md").read_text()


def test_streaming_check_refusals_are_one_line(audio: Path, tmp_path: Path) -> None:
    op15 = DATA / "silero_vad_16k_op15.onnx"
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((2, 3, 4), np.float32))
    base = ["check", op15, "--reference", ORIGINAL, "--providers", "cpu", *CALL]
    assert_refused([*base, "--data", cube], "cube.npy", "[batch, samples]")
    assert_refused([*base, "--data", audio, "--junit", tmp_path / "j.xml"], "--junit")
    assert_refused(["check", op15, "--reference", ORIGINAL, "--chunk", "512"], "--const sr=")
    assert_refused([*base, "--context", "-3"], "--context", ">= 0")
    # bench reads the stateful graph as check and inspect do: the one missing option named, not "can't feed state, sr"
    assert_refused(["bench", op15, "--batches", "1", "--no-cold-start"], "scalar input 'sr' needs a value", "--const sr=VALUE")


def test_inspect_of_a_derived_artifact_uses_its_recorded_interface(published: tuple[Path, Path]) -> None:
    _, artifact = published
    result = run_cli(["inspect", artifact, "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.output)
    assert described["constants"] == {"sr": 16000} and described["accepted_chunks"] == [512 + 64]
    assert described["probe"].startswith("ran at batch 1 and 2")


def test_quantize_publishes_nothing_over_budget(audio: Path, tmp_path: Path) -> None:
    from edgelstm.quantize.config import SCHEMES

    if SCHEME not in SCHEMES:
        pytest.skip(f"{SCHEME} is not registered in this tree")
    out = tmp_path / "out"
    model = DATA / "silero_vad_16k_op15.onnx"
    args = ["quantize", model, "--reference", ORIGINAL, "--scheme", SCHEME, "--data", audio, "--out", out, *CALL]
    result = run_cli([*args, "--max-delta", "0.01", "--json"])  # weight-only int8 moves p by about 0.08
    assert result.exit_code == 1, result.output
    summary = json.loads(result.output)
    assert summary["path"] is None and summary["parity_passed"] is False
    assert any("max |delta output|" in failure for failure in summary["parity"]["failures"])
    assert not list(out.glob("*.onnx"))


@pytest.mark.parametrize("name", FILES)
def test_a_scheme_that_quantizes_no_weight_is_refused_though_the_file_shrinks(name: str, tmp_path: Path) -> None:
    # dynamic-int8 leaves silero's LSTMs float; the compact pass alone makes the file ~5 % smaller, which must not
    # pass for quantization. Nothing is published.
    out = tmp_path / "q"
    assert_refused(
        ["quantize", DATA / name, "--scheme", "dynamic-int8", "--no-check", *CALL, "--out", out],
        "weights got no smaller",
        "left in float",
        watch=(tmp_path,),
    )
