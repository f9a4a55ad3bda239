"""`edgelstm check` says how strong its evidence is (issue 19, item 4): an artifact that differs from the reference on
exactly one of 54 sequences, against a 1-point accuracy budget, is INCONCLUSIVE (not FAIL, never PASS), in the
terminal, the JSON, the JUnit XML and the Markdown, naming the data size that would resolve it; the same one
sequence among 600 is an ordinary PASS."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from tests.refusals import run_cli
from tests.support import check_evidence as shared
from tests.support.check_evidence import one_flip

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
model = shared.model


def check(root: Path, artifact: Path, data: Path, *extra: str):  # type: ignore[no-untyped-def]
    args = ["check", artifact, "--reference", root / "ckpt", "--data", data, "--providers", "cpu", "--no-stress"]
    return run_cli([*args, "--tolerances", root / "parity.toml", *extra])


def test_one_sequence_of_54_against_a_one_point_budget_is_inconclusive_and_names_the_size(model: Path) -> None:
    artifact, data = one_flip(model, 54, "54")
    out = model / "out54"
    out.mkdir()
    result = check(model, artifact, data, "--report", out / "check.json", "--junit", out / "j.xml", "--markdown", out / "m.md")
    assert result.exit_code == 1, result.output  # an unresolved gate is not a pass
    text = " ".join(result.output.split())  # the table may wrap; the sentences are what count
    assert "INCONCLUSIVE" in text and "PASS" not in text and "FAIL " not in text, text
    assert "cannot resolve: 1 sequence = 1.85 points > the 1-point budget" in text
    assert "about 525 sequences would resolve it" in text and "at least 100 needed" in text
    assert "over 54 sequences" in text and "95% interval" in text  # the top-1 line states n and its interval too
    report = json.loads((out / "check.json").read_text())
    assert report["verdict"] == "inconclusive" and report["passed"] is False
    (candidate,) = report["candidates"]
    assert candidate["verdict"] == "inconclusive"
    tasks = {t["metric"]: t for t in candidate["tasks"]}
    delta = tasks["accuracy_delta"]
    assert delta["verdict"] == "inconclusive" and delta["passed"] is False
    assert delta["value"] == pytest.approx(-1 / 54)
    evidence = delta["evidence"]
    assert evidence["n"] == 54 and evidence["needed_n"] == 525 and evidence["resolved"] is False
    assert evidence["low"] < -0.01 < evidence["high"] and "Tango" in evidence["method"]
    assert "1.85 points > the 1-point budget" in evidence["reason"]
    top1 = tasks["top1_agreement"]  # 53 of 54 >= 98 %: a pass, whose interval still crosses the limit
    assert top1["verdict"] == "pass" and top1["evidence"]["n"] == 54 and top1["evidence"]["resolved"] is False
    junit = (out / "j.xml").read_text()
    assert 'type="inconclusive"' in junit and "1.85 points &gt; the 1-point budget" in junit
    assert '<property name="verdict" value="inconclusive"' in junit
    markdown = (out / "m.md").read_text()
    assert markdown.startswith("### edgelstm parity: INCONCLUSIVE") and "about 525 sequences would resolve it" in markdown

    allowed = check(model, artifact, data, "--allow-inconclusive")
    assert allowed.exit_code == 0, allowed.output  # the user accepted thin evidence: still named for what it is
    assert "INCONCLUSIVE" in allowed.output and "PASS" not in allowed.output


def test_the_same_one_sequence_among_600_is_an_ordinary_pass(model: Path) -> None:
    artifact, data = one_flip(model, 600, "600")
    result = check(model, artifact, data, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass"
    tasks = {t["metric"]: t for t in report["candidates"][0]["tasks"]}
    delta = tasks["accuracy_delta"]
    assert delta["value"] == pytest.approx(-1 / 600) and delta["verdict"] == "pass"
    assert delta["evidence"]["resolved"] is True and delta["evidence"]["needed_n"] is None
    assert -0.01 <= delta["evidence"]["low"] < delta["value"] < delta["evidence"]["high"]
    assert "1 lost of 600" in delta["detail"]

    strict = check(model, artifact, data, "--strict-evidence", "--json")  # 599 of 600: both intervals clear the limits
    top1 = {t["metric"]: t for t in json.loads(strict.stdout)["candidates"][0]["tasks"]}["top1_agreement"]
    assert top1["evidence"]["resolved"] is True and strict.exit_code == 0, strict.output


def test_strict_evidence_turns_an_unresolved_pass_into_inconclusive(model: Path) -> None:
    """54 sequences and no difference at all: a pass by the observed rule (said to be unresolved), INCONCLUSIVE when
    the pass must be shown too."""
    source = model / "onnx" / "sequence_fused.onnx"
    _, data = one_flip(model, 54, "54b")
    lenient = check(model, source, data)
    assert lenient.exit_code == 0, lenient.output
    text = " ".join(lenient.output.split())
    assert "PASS" in text and "cannot resolve: 1 sequence = 1.85 points > the 1-point budget" in text
    strict = check(model, source, data, "--strict-evidence")
    assert strict.exit_code == 1 and "INCONCLUSIVE" in strict.output, strict.output


def test_stream_check_with_a_flip_budget_below_one_chunk_says_so(tmp_path: Path) -> None:
    """40 chunks against a 1 % flip budget: one decision is 2.5 points. An artifact whose probability moves by just
    enough to flip exactly one decision is INCONCLUSIVE; the graph against itself (no flip) is a PASS that says the
    budget is finer than one chunk, and INCONCLUSIVE under --strict-evidence."""
    silero = pytest.importorskip("silero_vad", reason="silero-vad 6.2.3 is a dev dependency (pip install -e '.[dev]')")
    from edgelstm.artifact.chunks import run_in_chunks
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.parity.reference import OnnxReference
    from edgelstm.parity.stream_data import synthetic_speech

    source = Path(silero.__file__).parent / "data" / "silero_vad_16k_op15.onnx"
    call = ["--const", "sr=16000", "--chunk", "512", "--context", "64", "--providers", "cpu", "--max-flips", "0.01"]
    audio = synthetic_speech(40 * 512 / 16_000, 16_000, seed=1, chunk=512).x[:, : 40 * 512]
    np.save(tmp_path / "speech.npy", audio[0])
    interface = open_artifact(source, InterfaceHints({"sr": 16_000}, (), 512, 64)).interface
    feeds = sequence_feeds(interface, audio, None, "speech")
    p = run_in_chunks(lambda f: OnnxReference(source).run_once(interface, f), interface, feeds, 512)[0].reshape(-1)
    assert p.size == 40
    # the artifact adds `shift` to p: the chunk just under the threshold crosses it, no other one does
    threshold = 0.5
    below = np.sort(p[p < threshold])[::-1]
    assert len(below) >= 2 and threshold - below[0] < 0.05, "the stream must have one chunk just under the threshold"
    shift = np.float32((threshold - below[0]) * 1.01 + 1e-6)
    assert shift < threshold - below[1], "only one chunk may cross"
    graph = onnx.load(str(source))
    producer = next(n for n in graph.graph.node if "output" in n.output)
    producer.output[list(producer.output).index("output")] = "output_before_shift"
    graph.graph.initializer.append(numpy_helper.from_array(np.array(shift, np.float32), "p_shift"))
    graph.graph.node.append(helper.make_node("Add", ["output_before_shift", "p_shift"], ["output"]))
    onnx.save(graph, str(tmp_path / "shifted.onnx"))

    args = ["check", tmp_path / "shifted.onnx", "--reference", source, "--data", tmp_path / "speech.npy", *call]
    one_flip_result = run_cli([*args, "--max-delta", "1", "--report", tmp_path / "check.json"])
    assert one_flip_result.exit_code == 1, one_flip_result.output
    text = one_flip_result.output
    assert "1 of 40 decisions flipped" in text and "verdict: INCONCLUSIVE" in text
    assert "cannot resolve: 1 decision = 2.5 points > the 1-point budget" in text and "at least 100 needed" in text
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["verdict"] == "inconclusive" and report["passed"] is False
    flips = report["candidates"][0]["flip_evidence"]
    assert (flips["n"], flips["verdict"], flips["resolved"]) == (40, "inconclusive", False)

    itself = ["check", source, "--reference", source, "--data", tmp_path / "speech.npy", *call, "--strict-evidence"]
    strict = run_cli(itself)
    assert strict.exit_code == 1 and "verdict: INCONCLUSIVE" in strict.output, strict.output
    assert "0 of 40 decisions flipped" in strict.output and "1 decision = 2.5 points > the 1-point budget" in strict.output
