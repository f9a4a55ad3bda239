"""Output that says what happened (issue 19 item 8): auto names the file it published and what the others are; a
scheme whose graph form can be slower than float says so; distill's report never marks "met" an artifact quantize's
gate rejects or one slower than the teacher's ONNX graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgelstm.checkpoint import save_checkpoint
from tests.conftest import tiny_model
from tests.refusals import run_cli


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("say")
    save_checkpoint(tiny_model(cell="lstm", head="classify-last"), root / "lstm")
    save_checkpoint(tiny_model(cell="gru", head="classify-last"), root / "gru")
    rng = np.random.default_rng(0)
    np.savez(root / "data.npz", x=rng.standard_normal((16, 8, 5)).astype(np.float32), y=rng.integers(0, 3, 16))
    return root


# -- auto: the published path, and what the other files are -----------------------------------------------------


@pytest.mark.slow
def test_auto_prints_the_path_it_published_and_names_the_others(models: Path, tmp_path: Path) -> None:
    out = tmp_path / "q"
    args = ["quantize", models / "lstm", "--scheme", "auto", "--data", models / "data.npz", "--out", out]
    text = run_cli(args)
    assert text.exit_code in (0, 1), text.output
    shown = text.stdout.replace("\n", "")  # rich wraps long lines
    written = sorted(out.glob("*.onnx"))
    published = [line for line in text.stdout.splitlines() if line.startswith("published: ")]
    assert len(published) == 1, text.stdout
    report = json.loads((out / "auto.json").read_text())
    if report["winner"] is None:
        assert published[0].startswith("published: nothing") and report["published"] is None
    else:
        assert report["published"] and str(report["published"]) in shown and Path(report["published"]) in written
    assert sorted([*report["not_published"], *([report["published"]] if report["published"] else [])]) == [
        str(p) for p in written
    ]  # every .onnx auto left in --out is named as one or the other
    for other in report["not_published"]:
        assert other in shown and "not published (kept for comparison" in shown


# -- a single scheme that writes the Loop form where float is fused ---------------------------------------------


def test_dynamic_int8_on_a_gru_says_its_loop_form_can_be_slower(models: Path, tmp_path: Path) -> None:
    args = ["quantize", models / "gru", "--scheme", "dynamic-int8", "--no-check", "--out", tmp_path / "q", "--json"]
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["impl"] == "loop" and "Loop form of the GRU" in doc["slower_form"]
    text = run_cli(["quantize", models / "gru", "--scheme", "dynamic-int8", "--no-check", "--out", tmp_path / "q2"])
    assert "slower form" in text.stdout.replace("\n", "") and "not timed here" in text.stdout.replace("\n", "")


def test_a_scheme_that_keeps_the_fused_form_says_nothing_of_the_kind(models: Path, tmp_path: Path) -> None:
    args = ["quantize", models / "lstm", "--scheme", "dynamic-int8", "--no-check", "--out", tmp_path / "q", "--json"]
    doc = json.loads(run_cli(args).stdout)
    assert doc["impl"] == "fused" and doc["slower_form"] == ""
