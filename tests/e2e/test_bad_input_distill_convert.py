"""Bad input to `distill` and `convert`: one `error:` line, exit 2, nothing written, nothing of another run changed."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import Preprocessing
from tests.conftest import tiny_model
from tests.refusals import assert_refused, run_cli

RECIPE = """
[model]
source = "teacher"
[data]
heldout = "val.npz"
[export]
forms = ["sequence"]
[quantize]
schemes = ["dynamic-int8"]
[check]
providers = ["cpu"]
[bench]
batches = [1]
[bundle]
zip = false
[output]
dir = "pipeline"
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Teachers (classifier over 3 classes, a language model over 11 tokens, one with std=0 preprocessing), good and
    bad data files, and one finished distill run in `run/` (built once for the module)."""
    d = tmp_path_factory.mktemp("bad_distill_convert")
    save_checkpoint(tiny_model(cell="lstm"), d / "teacher")
    save_checkpoint(tiny_model(cell="lstm", head="lm"), d / "lm")
    save_checkpoint(tiny_model(cell="lstm"), d / "std0", Preprocessing([0.0] * 5, [1.0, 1.0, 0.0, 1.0, 1.0]))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6, 5)).astype(np.float32)
    np.savez(d / "train.npz", x=x, y=rng.integers(0, 3, 32))
    np.savez(d / "train2.npz", x=x[::-1].copy(), y=rng.integers(0, 3, 32))
    np.savez(d / "val.npz", x=x[:8], y=rng.integers(0, 3, 8))
    np.savez(d / "y_too_big.npz", x=x, y=np.full(32, 7))
    np.savez(d / "y_negative.npz", x=x, y=np.full(32, -1))
    np.savez(d / "y_fraction.npz", x=x, y=np.full(32, 1.5))
    np.savez(d / "x_text.npz", x=np.full((4, 6, 5), "a"))
    np.savez(d / "x_empty.npz", x=np.zeros((0, 6, 5), np.float32))
    np.savez(d / "lengths_text.npz", x=x, lengths=np.array(["a"] * 32))
    np.savez(d / "tokens.npz", x=rng.integers(0, 11, (16, 6)))
    np.savez(d / "tokens_too_big.npz", x=rng.integers(0, 11, (16, 6)) + 50)
    np.savez(d / "tokens_negative.npz", x=-rng.integers(1, 11, (16, 6)))
    (d / "latin1.csv").write_bytes("a,b,c,d,e,label\n1,2,3,4,5,caf\xe9\n".encode("latin-1"))
    rows = ["a,b,c,d,e,label"] + [f"{i},{i % 3},1,2,3,{i % 3}" for i in range(40)]
    (d / "table.csv").write_text("\n".join(rows) + "\n")
    (d / "drop_1_5.toml").write_text("[default]\nmax_accuracy_drop = 1.5\n")  # 150 points: nonsense
    (d / "outs").mkdir()
    result = run_cli([*_distill_args(d, d / "run"), "--no-report"])
    assert result.exit_code == 0, result.output
    return d


def _distill_args(d: Path, out: Path, teacher: str = "teacher", data: str = "train.npz") -> list[str]:
    validation = "tokens.npz" if teacher == "lm" else "val.npz"
    return ["distill", str(d / teacher), "--data", str(d / data), "--validation", str(d / validation), "--out", str(out),
            "--hidden", "4", "--epochs", "1", "--batch-size", "16"]  # fmt: skip


# (teacher, data, extra options) -> fragments of the one error line. Each would crash (IndexError, TypeError,
# UnicodeDecodeError...), train on NaN, or silently misread the value without its check.
DISTILL_CASES = {
    "labels-out-of-range": ("teacher", "y_too_big.npz", [], ["y_too_big.npz", "7"]),
    "labels-negative": ("teacher", "y_negative.npz", [], ["y_negative.npz", "-1"]),
    "labels-not-whole": ("teacher", "y_fraction.npz", [], ["y_fraction.npz", "whole"]),
    "x-as-text": ("teacher", "x_text.npz", [], ["x_text.npz"]),
    "x-empty": ("teacher", "x_empty.npz", [], ["x_empty.npz", "empty"]),
    "lengths-as-text": ("teacher", "lengths_text.npz", [], ["lengths_text.npz", "lengths"]),
    "token-ids-too-big": ("lm", "tokens_too_big.npz", [], ["tokens_too_big.npz", "token id"]),
    "token-ids-negative": ("lm", "tokens_negative.npz", [], ["tokens_negative.npz", "token id"]),
    "csv-not-utf8": ("teacher", "latin1.csv", [], ["latin1.csv"]),
    "table-not-utf8": ("teacher", "latin1.csv", ["--window", "4", "--label", "label"], ["latin1.csv", "UTF-8"]),
    "window-features-do-not-fit": ("teacher", "table.csv", ["--window", "4", "--features", "a,b"], ["2 features"]),
    "window-longer-than-table": ("teacher", "table.csv", ["--window", "400", "--label", "label"], ["no window"]),
    "window-label-column-missing": ("teacher", "table.csv", ["--window", "4", "--label", "nope"], ["'nope'"]),
    "window-horizon-zero": ("teacher", "table.csv", ["--window", "4", "--target", "a", "--horizon", "0"], ["horizon"]),
    "preprocessing-std-zero": ("std0", "table.csv", ["--window", "4", "--label", "label"], ["feature 2", "zero standard deviation"]),
    "lr-nan": ("teacher", "train.npz", ["--lr", "nan"], ["--lr", "nan"]),
    "lr-inf": ("teacher", "train.npz", ["--lr", "inf"], ["--lr", "inf"]),
    "lr-negative": ("teacher", "train.npz", ["--lr", "-1"], ["--lr"]),
    "epochs-zero": ("teacher", "train.npz", ["--epochs", "0"], ["--epochs"]),
    "temperature-negative": ("teacher", "train.npz", ["--temperature", "-1"], ["--temperature"]),
    "hidden-weight-negative": ("teacher", "train.npz", ["--hidden-weight", "-1"], ["--hidden-weight"]),
    "hidden-weight-nan": ("teacher", "train.npz", ["--hidden-weight", "nan"], ["--hidden-weight"]),
    "alpha-nan": ("teacher", "train.npz", ["--alpha", "nan"], ["--alpha"]),
    "seed-negative": ("teacher", "train.npz", ["--seed", "-1"], ["--seed"]),
    "patience-zero": ("teacher", "train.npz", ["--patience", "0"], ["--patience"]),
    "device-unknown": ("teacher", "train.npz", ["--device", "banana"], ["--device", "banana"]),
    "test-labels-out-of-range": ("teacher", "train.npz", ["--test", "{d}/y_too_big.npz"], ["y_too_big.npz", "7"]),
    "window-zero": ("teacher", "train.npz", ["--window", "0"], ["--window", "positive", "got 0"]),  # was ignored, exit 0
    "window-on-npz": ("teacher", "train.npz", ["--window", "4"], ["train.npz", "cuts tables"]),
}  # fmt: skip


@pytest.mark.parametrize("case", DISTILL_CASES, ids=list(DISTILL_CASES))
def test_distill_refuses_bad_input_before_writing_anything(project: Path, case: str) -> None:
    teacher, data, extra, fragments = DISTILL_CASES[case]
    out = project / "outs" / case
    args = [*_distill_args(project, out, teacher, data), *(a.format(d=project) for a in extra)]
    assert_refused(args, *fragments, watch=(project / "outs", project / "run"))
    assert not out.exists()


# Another run's directory is refused, untouched: same settings with other data must not report or reuse its student.
CLOBBER_CASES = {
    "other-data": (["--data", "{d}/train2.npz"], ["another distill run", "--data"]),
    "other-settings": (["--hidden", "5"], ["another distill run", "student.hidden_size"]),
    "other-lr": (["--lr", "0.01"], ["another distill run", "learning_rate"]),
}


@pytest.mark.parametrize("case", CLOBBER_CASES, ids=list(CLOBBER_CASES))
def test_distill_refuses_to_replace_another_run(project: Path, case: str) -> None:
    extra, fragments = CLOBBER_CASES[case]
    args = [*_distill_args(project, project / "run"), *(a.format(d=project) for a in extra), "--no-report"]
    assert_refused(args, *fragments, watch=(project,))


def _copy_run(project: Path, name: str) -> Path:
    copy = project / "outs" / name
    shutil.copytree(project / "run", copy)
    return copy


@pytest.mark.parametrize(
    "damage,fragments",
    [
        ("truncate-state", ["distill_state.pt", "truncated or corrupt", "--overwrite"]),
        ("garbage-state", ["distill_state.pt", "truncated or corrupt"]),
        ("foreign-best", ["another distill run", "unrecorded"]),
        ("garbage-record", ["distill.json", "unreadable"]),
    ],
)
def test_a_damaged_or_foreign_run_directory_is_refused_with_how_to_start_over(
    project: Path, damage: str, fragments: list[str]
) -> None:
    run = _copy_run(project, f"damaged-{damage}")
    state = run / "distill_state.pt"
    if damage == "truncate-state":
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    elif damage == "garbage-state":
        state.write_bytes(b"not a torch file")
    elif damage == "foreign-best":
        state.unlink()
        (run / "distill.json").unlink()
        (run / "best" / "distill_best.json").unlink()
    else:
        (run / "distill.json").write_text("{")
    assert_refused([*_distill_args(project, run), "--no-report"], *fragments, watch=(run,))


def test_overwrite_replaces_another_run_and_reports_the_new_student(project: Path) -> None:
    run = _copy_run(project, "overwritten")
    (run / "notes.txt").write_text("mine")
    result = run_cli([*_distill_args(project, run, data="train2.npz"), "--no-report", "--overwrite"])
    assert result.exit_code == 0, result.output
    old = json.loads((project / "run" / "distill.json").read_text())["identity"]
    new = json.loads((run / "distill.json").read_text())["identity"]
    assert new["train_sha256"] != old["train_sha256"] and new["teacher_sha256"] == old["teacher_sha256"]
    assert json.loads((run / "best" / "distill_best.json").read_text())["identity"] == new
    assert (run / "notes.txt").read_text() == "mine"  # --overwrite removes only distill's own files


def test_a_full_disk_while_publishing_best_keeps_the_previous_best_whole(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    out = project / "outs" / "full-disk"
    real = safetensors.torch.save_file
    calls = []

    def full_on_second(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            real(*args, **kwargs)  # a partial file is on disk when the device fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        real(*args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", full_on_second)
    args = [*_distill_args(project, out), "--epochs", "3", "--lr", "0.02", "--patience", "9", "--no-report"]
    refusal = assert_refused(args, "no space left")
    assert "wrote" not in refusal.result.stdout
    record = json.loads((out / "best" / "distill_best.json").read_text())
    assert record["epoch"] == 1 and (out / "best" / "model.safetensors").stat().st_size > 0
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no half-built directory left
    monkeypatch.setattr(safetensors.torch, "save_file", real)
    resumed = run_cli(args)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "best" / "distill_best.json").read_text())["epoch"] >= 2


def test_a_non_finite_loss_stops_training_and_claims_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgelstm.distill import trainer

    real = trainer.classification_loss
    monkeypatch.setattr(trainer, "classification_loss", lambda *a, **k: real(*a, **k) * float("nan"))
    out = project / "outs" / "nan-loss"
    refusal = assert_refused([*_distill_args(project, out), "--no-report"], "diverged", "--lr")
    assert "wrote" not in refusal.result.stdout and not (out / "best").exists()


# -- convert: the whole recipe is checked before any step -------------------------------------------------------


def _recipe_variant(change: tuple[str, str] | bytes) -> bytes:
    if isinstance(change, bytes):
        return change
    old, new = change
    assert old in RECIPE, old
    return RECIPE.replace(old, new).encode()


CONVERT_CASES: dict[str, tuple[tuple[str, str] | bytes, list[str]]] = {
    "unknown-key-in-known-table": (('providers = ["cpu"]', 'providrs = ["cpu"]'), ["providrs", "[check]", "'providers'"]),
    "bool-as-string": (("zip = false", 'zip = "no"'), ["[bundle] zip", "boolean"]),
    "unknown-table": (('[export]\nforms = ["sequence"]', "export = 3\n[x]"), ["unknown table"]),
    "export-scalar": (b"export = 3\n" + RECIPE.replace('[export]\nforms = ["sequence"]', "").encode(), ["[export] must be a table"]),
    "source-a-number": (('source = "teacher"', "source = 5"), ["[model] source", "string"]),
    "impl-unknown": (('forms = ["sequence"]', 'forms = ["sequence"]\nimpl = "fast"'), ["impl", "fast"]),
    "impl-unrolled-without-steps": (('forms = ["sequence"]', 'forms = ["sequence"]\nimpl = "unrolled"'), ["unrolled"]),
    "artifact-not-produced": (("zip = false", 'zip = false\nartifact = "streaming_fused.onnx"'), ["artifact"]),
    "artifact-path": (("zip = false", 'zip = false\nartifact = "../x.onnx"'), ["artifact"]),
    "scheme-unknown": (('schemes = ["dynamic-int8"]', 'schemes = ["int3"]'), ["int3"]),
    "providers-empty": (('providers = ["cpu"]', "providers = []"), ["providers"]),
    "batches-bool": (("batches = [1]", "batches = [true]"), ["batches", "positive integers"]),
    "heldout-missing-file": (('heldout = "val.npz"', 'heldout = "nope.npz"'), ["heldout", "nope.npz"]),
    "source-missing-path": (('source = "teacher"', 'source = "no_model"'), ["source", "no_model"]),
    "weights-missing-file": (('source = "teacher"', 'source = "teacher"\nweights = "w.safetensors"'), ["weights"]),
    "tolerances-missing-file": (('providers = ["cpu"]', 'providers = ["cpu"]\ntolerances = "t.toml"'), ["tolerances"]),
    "tolerances-nonsense": (('providers = ["cpu"]', 'providers = ["cpu"]\ntolerances = "drop_1_5.toml"'), ["max_accuracy_drop", "[0, 1]"]),
    "distill-data-missing-file": (("[output]", '[distill]\ndata = "nope.npz"\n[output]'), ["[distill] data"]),
    "distill-lr-nan": (("[output]", '[distill]\ndata = "train.npz"\nlearning_rate = nan\n[output]'), ["learning rate"]),
    "distill-scalar": (b"distill = 1\n" + RECIPE.encode(), ["[distill] must be a table"]),
    "not-utf8": ('[model]\nsource = "caf\xe9"\n'.encode("latin-1"), ["UTF-8"]),
    "not-toml": (b"[model\nsource = ", ["invalid TOML"]),
    "empty": (b"", ["empty"]),
}  # fmt: skip


@pytest.mark.parametrize("case", CONVERT_CASES, ids=list(CONVERT_CASES))
def test_convert_refuses_a_bad_recipe_before_any_step(project: Path, case: str) -> None:
    change, fragments = CONVERT_CASES[case]
    recipe = project / f"recipe-{case}.toml"
    recipe.write_bytes(_recipe_variant(change))
    assert_refused(["convert", str(recipe)], *fragments, watch=(project / "outs", project / "run"))
    assert not (project / "pipeline").exists()


def test_convert_refuses_a_missing_recipe(project: Path) -> None:
    assert_refused(["convert", str(project / "missing.toml")], "no such recipe", watch=(project / "outs",))


def test_convert_refuses_a_damaged_pipeline_state_and_says_restart(project: Path) -> None:
    out = project / "outs" / "pipeline-damaged"
    out.mkdir()
    (out / "pipeline.json").write_text('{"load": 3}')
    recipe = project / "recipe-damaged-state.toml"
    recipe.write_bytes(_recipe_variant(('dir = "pipeline"', 'dir = "outs/pipeline-damaged"')))
    assert_refused(["convert", str(recipe)], "pipeline.json", "--restart", watch=(out,))
