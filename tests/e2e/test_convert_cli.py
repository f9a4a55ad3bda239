"""`edgelstm convert`: a validated recipe runs the whole chain once, and a re-run resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgelstm.checkpoint import save_checkpoint
from edgelstm.cli import app
from edgelstm.distill.report import REPORT_SCHEMES
from edgelstm.pipeline import load_recipe, run_pipeline
from tests.conftest import tiny_model
from tests.support import convert as shared
from tests.support.convert import RECIPE

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
project = shared.project


@pytest.mark.slow
def test_pipeline_runs_every_step_then_resumes(project: Path) -> None:
    recipe = load_recipe(project / "recipe.toml")
    first = run_pipeline(recipe)
    assert [s.name for s in first.steps] == ["load", "distill", "export", "quantize", "check", "bench", "report", "bundle"]
    assert all(s.status == "done" for s in first.steps)
    out = project / "out"
    for expected in ("check.json", "bench.json", "report.html", "bundle/manifest.json", "pipeline.json"):
        assert (out / expected).exists(), expected
    second = run_pipeline(recipe)
    assert all(s.status == "skipped (unchanged)" for s in second.steps)
    # a changed bench setting redoes bench and what stands on it, nothing before it
    (project / "recipe.toml").write_text(RECIPE.replace("steps = [8]", "steps = [6]"))
    third = run_pipeline(load_recipe(project / "recipe.toml"))
    assert {s.name: s.status for s in third.steps} == {
        "load": "skipped (unchanged)",
        "distill": "skipped (unchanged)",
        "export": "skipped (unchanged)",
        "quantize": "skipped (unchanged)",
        "check": "skipped (unchanged)",
        "bench": "done",
        "report": "done",
        "bundle": "done",
    }


@pytest.mark.slow
def test_changed_data_invalidates_the_steps_that_read_it(project: Path) -> None:
    recipe = load_recipe(project / "recipe.toml")
    run_pipeline(recipe)
    rng = np.random.default_rng(1)
    np.savez(project / "held.npz", x=rng.standard_normal((12, 8, 5)).astype(np.float32), y=rng.integers(0, 3, 12))
    again = run_pipeline(recipe)
    assert {s.name: s.status for s in again.steps}["export"] == "done"


@pytest.mark.slow
def test_the_recipe_sweeps_threads_and_spinning_and_the_bundle_carries_the_measured_policy(project: Path) -> None:
    import json

    recipe_text = RECIPE.replace("steps = [8]", 'steps = [8]\nthreads = [1, 2]\nspinning = ["off", "on"]')
    (project / "recipe.toml").write_text(recipe_text)
    recipe = load_recipe(project / "recipe.toml")
    assert (recipe.threads, recipe.spinning) == ((1, 2), (False, True))
    run_pipeline(recipe)
    bench = json.loads((project / "out" / "bench.json").read_text())
    measured = {(r["threads"], r["allow_spinning"]) for r in bench["latencies"] if r["kind"] == "artifact" and r["mode"] == "run"}
    assert measured == {(1, False), (2, False), (2, True)}
    policy = json.loads((project / "out" / "bundle" / "manifest.json").read_text())["session_policy"]
    assert policy["status"] == "measured" and policy["source"] == "bench.json"
    # the fingerprint moves with the setting: back to spinning off redoes bench and what stands on it
    (project / "recipe.toml").write_text(recipe_text.replace('spinning = ["off", "on"]', 'spinning = ["off"]'))
    again = {s.name: s.status for s in run_pipeline(load_recipe(project / "recipe.toml")).steps}
    assert again["bench"] == "done" and again["check"] == "skipped (unchanged)"


@pytest.mark.slow
def test_cli_convert(project: Path) -> None:
    result = CliRunner().invoke(app, ["convert", str(project / "recipe.toml")])
    assert result.exit_code == 0, result.output
    assert "[  bundle] done" in result.output and result.output.strip().splitlines()[-1].startswith("PASS")
    bad = CliRunner().invoke(app, ["convert", str(project / "missing.toml")])
    assert bad.exit_code == 2 and "no such recipe" in bad.output


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_the_step_that_did_not_finish(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgelstm.pipeline import run as pipeline_run

    recipe = load_recipe(project / "recipe.toml")
    real_bench = pipeline_run._STEP_FUNCS["bench"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C (or a killed CI job) does mid-step

    monkeypatch.setitem(pipeline_run._STEP_FUNCS, "bench", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(recipe)
    assert not (project / "out" / "bench.json").exists()  # nothing half-written
    monkeypatch.setitem(pipeline_run._STEP_FUNCS, "bench", real_bench)
    resumed = run_pipeline(recipe)
    statuses = {s.name: s.status for s in resumed.steps}
    assert [n for n, st in statuses.items() if st == "done"] == ["bench", "report", "bundle"]


@pytest.mark.slow
def test_a_distill_table_replaces_the_model_by_its_student_for_every_later_step(project: Path) -> None:
    import json

    from edgelstm.artifact.file import open_artifact

    rng = np.random.default_rng(3)
    np.savez(project / "transfer.npz", x=rng.standard_normal((64, 8, 5)).astype(np.float32))  # no labels needed
    recipe_text = RECIPE.replace("[output]", '[distill]\ndata = "transfer.npz"\ncell = "gru"\nhidden = 4\nepochs = 2\n[output]')
    (project / "recipe.toml").write_text(recipe_text)
    result = run_pipeline(load_recipe(project / "recipe.toml"))
    steps = {s.name: s for s in result.steps}
    assert steps["distill"].status == "done" and "gru 4x1" in steps["distill"].summary
    exported = [p for p in steps["export"].outputs if p.endswith(".onnx")]
    info = open_artifact(Path(exported[0]))
    assert info.metadata is not None and info.metadata.model_config.cell == "gru" and info.metadata.model_config.hidden_size == 4
    report = next(Path(p) for p in steps["distill"].outputs if p.endswith("distill_report.json"))
    rows = json.loads(report.read_text())["rows"]
    assert [(r["role"], r["scheme"]) for r in rows] == [("teacher", "fp32"), ("student", "fp32")] + [
        ("student", scheme.tag) for scheme in REPORT_SCHEMES
    ]  # the report's quantized rows: one per scheme
    again = run_pipeline(load_recipe(project / "recipe.toml"))
    assert all(s.status == "skipped (unchanged)" for s in again.steps)
    (project / "recipe.toml").write_text(recipe_text.replace("hidden = 4", "hidden = 3"))
    changed = {s.name: s for s in run_pipeline(load_recipe(project / "recipe.toml")).steps}
    assert changed["distill"].status == "done" and "gru 3x1" in changed["distill"].summary
    # a hidden-3 GRU has no weight int4 storage would make smaller: the report says so instead of failing the step
    report = next(Path(p) for p in changed["distill"].outputs if p.endswith("distill_report.json"))
    written = json.loads(report.read_text())
    tags = {r["scheme"] for r in written["rows"]} | {e.split("(")[1].split(")")[0] for e in written["refused"]}
    assert tags >= {scheme.tag for scheme in REPORT_SCHEMES}
    assert any(e.startswith("student (weight-only-int4)") and "refused" in e for e in written["refused"])
    markdown = report.with_suffix(".md").read_text()
    assert all(f"| {e} |" in markdown for e in written["refused"])


@pytest.mark.slow
def test_the_bundle_ships_the_streaming_graph_raw_input_and_labels(tmp_path: Path) -> None:
    """The main example's shape: a checkpoint with training statistics and labels, both forms exported. The bundle
    holds the streaming graph (quantized by the winning scheme when it passes), its state pairs, says the graph
    takes raw features, names the classes, and `bundle verify` accepts it."""
    import json

    from edgelstm.artifact.metadata import read_metadata
    from edgelstm.bundle.verify import verify_bundle
    from edgelstm.config import Preprocessing

    prep = Preprocessing(feature_mean=[1.0, -2.0, 9.8, 0.5, 40.0], feature_std=[2.0, 0.5, 3.0, 1.0, 10.0], labels=["a", "b", "c"])
    save_checkpoint(tiny_model(cell="lstm"), tmp_path / "ckpt", prep)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "held.npz", x=rng.standard_normal((12, 8, 5)).astype(np.float32), y=rng.integers(0, 3, 12))
    (tmp_path / "recipe.toml").write_text(RECIPE)
    result = run_pipeline(load_recipe(tmp_path / "recipe.toml"))
    assert result.passed
    bundle = tmp_path / "out" / "bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"]["form"] == "streaming"
    assert [(s["input_name"], s["output_name"]) for s in manifest["state"]] == [("h_in", "h_out"), ("c_in", "c_out")]
    assert manifest["input_normalization"]["in_graph"] is True and "raw features" in manifest["input_normalization"]["note"]
    assert manifest["labels"] == ["a", "b", "c"]
    shipped = read_metadata(bundle / manifest["model"]["onnx"])
    assert shipped.interface.normalization is not None and shipped.interface.form == "streaming"
    props = {p.key for p in __import__("onnx").load(str(bundle / manifest["model"]["onnx"])).metadata_props}
    assert "edgelstm.quantization" in props  # the recipe's scheme applied to the streaming graph, gate passed
    readme = (bundle / "README.md").read_text()
    assert "raw features" in readme and "- 2: c" in readme
    verified = verify_bundle(bundle)
    assert verified.ran and verified.parity == "pass"


@pytest.mark.slow
def test_convert_runs_from_a_plain_install_without_matplotlib(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib is an optional extra: its absence costs the report its plots, with one warning, not the chain."""
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    result = CliRunner().invoke(app, ["convert", str(project / "recipe.toml")])
    assert result.exit_code == 0, result.output
    assert (project / "out" / "bundle" / "manifest.json").is_file()
    assert "matplotlib is not installed" in (project / "out" / "report.html").read_text()
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: the HTML report has no plots: matplotlib is not installed (pip install 'edgelstm[plot]')"
    ]
