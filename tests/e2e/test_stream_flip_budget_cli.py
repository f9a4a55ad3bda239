"""The ONNX-reference stream gate's flip budget at its boundary: an artifact with exactly F flipped decisions of N
passes at --max-flips F/N and does not pass at (F-1)/N.

The artifact is silero-vad with a constant added to its probability, sized so that exactly F chunks just under the
threshold cross it (40 chunks of synthetic speech). At (F-1)/N the observed rate is one decision over the budget;
the evidence rule calls that inconclusive (its 95 % interval crosses the limit), which is not a pass (exit 1);
with no budget at all (0) the same flips are a resolved FAIL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edgelstm.parity.stream_check import run_stream_check
from edgelstm.parity.stream_verdict import StreamCheckConfig
from tests.refusals import run_cli
from tests.support.stream_flip_budget import CHUNK, THRESHOLD, F, N


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(source graph, the shifted artifact, the audio .npy, hints) with exactly F flips over N chunks."""
    silero = pytest.importorskip("silero_vad", reason="silero-vad 6.2.3 is a dev dependency (pip install -e '.[dev]')")
    from edgelstm.artifact.chunks import run_in_chunks
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.parity.reference import OnnxReference
    from edgelstm.parity.stream_data import synthetic_speech

    root = tmp_path_factory.mktemp("flips")
    source = Path(silero.__file__).parent / "data" / "silero_vad_16k_op15.onnx"
    hints = InterfaceHints({"sr": 16_000}, (), CHUNK, 64)
    audio = synthetic_speech(N * CHUNK / 16_000, 16_000, seed=1, chunk=CHUNK).x[:, : N * CHUNK]
    np.save(root / "speech.npy", audio[0])
    interface = open_artifact(source, hints).interface
    feeds = sequence_feeds(interface, audio, None, "speech")
    p = run_in_chunks(lambda f: OnnxReference(source).run_once(interface, f), interface, feeds, CHUNK)[0].reshape(-1)
    assert p.size == N
    below = np.sort(p[p < THRESHOLD])[::-1]  # closest under the threshold first
    low, high = THRESHOLD - below[F - 1], THRESHOLD - below[F]
    assert high - low > 1e-3, "the F-th and (F+1)-th chunks under the threshold must be apart"
    shift = np.float32((low + high) / 2)  # lifts exactly F chunks over the threshold
    graph = onnx.load(str(source))
    producer = next(n for n in graph.graph.node if "output" in n.output)
    producer.output[list(producer.output).index("output")] = "output_before_shift"
    graph.graph.initializer.append(numpy_helper.from_array(np.array(shift, np.float32), "p_shift"))
    graph.graph.node.append(helper.make_node("Add", ["output_before_shift", "p_shift"], ["output"]))
    onnx.save(graph, str(root / "shifted.onnx"))
    return source, root / "shifted.onnx", root / "speech.npy", hints


@pytest.mark.parametrize(
    ("max_flips", "passed"), [(F / N, True), ((F - 1) / N, False), (0.0, False)], ids=["F/N", "(F-1)/N", "0"]
)
def test_run_stream_check_passes_f_flips_at_f_over_n_only(stream, max_flips: float, passed: bool) -> None:  # type: ignore[no-untyped-def]
    from edgelstm.artifact.file import open_artifact
    from edgelstm.parity.reference import OnnxReference
    from edgelstm.parity.stream_data import load_stream_data

    source, shifted, audio, hints = stream
    config = StreamCheckConfig(chunk=CHUNK, max_flip_fraction=max_flips, max_abs_delta=1.0)
    report = run_stream_check(open_artifact(shifted, hints), OnnxReference(source), load_stream_data(audio), config)
    (candidate,) = report.candidates
    assert (candidate.flips, candidate.decisions) == (F, N)
    assert candidate.passed is passed


@pytest.mark.parametrize(("max_flips", "exit_code"), [(F / N, 0), ((F - 1) / N, 1), (0.0, 1)], ids=["F/N", "(F-1)/N", "0"])
def test_check_command_gates_f_flips_at_the_budget(stream, max_flips: float, exit_code: int) -> None:  # type: ignore[no-untyped-def]
    source, shifted, audio, _ = stream
    args = [
        "check", shifted, "--reference", source, "--data", audio, "--const", "sr=16000", "--chunk", str(CHUNK),
        "--context", "64", "--providers", "cpu", "--max-flips", str(max_flips), "--max-delta", "1",
    ]  # fmt: skip
    result = run_cli(args)
    assert result.exit_code == exit_code, result.output
    assert f"{F} of {N} decisions flipped" in result.output
