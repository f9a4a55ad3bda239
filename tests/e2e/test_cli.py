"""The `edgelstm` command, driven through typer's CliRunner: exit codes, one-line errors, files written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from edgelstm.checkpoint import WEIGHTS_FILE, save_checkpoint
from edgelstm.cli import app
from edgelstm.config import ModelConfig
from edgelstm.model import SequenceModel, count_parameters

FAST = ["--batches", "1,3", "--steps", "1,5,13", "--example-steps", "8"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})  # wide, plain help and tables on any terminal


def _save(tmp_path: Path, name: str, config: ModelConfig) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(SequenceModel(config), tmp_path / name)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    return _save(tmp_path, "lstm_ckpt", ModelConfig(input_size=3, hidden_size=8))


@pytest.fixture
def bidir_ckpt(tmp_path: Path) -> Path:
    return _save(tmp_path, "bidir_ckpt", ModelConfig(input_size=4, hidden_size=8, cell="gru", bidirectional=True))


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    # a factory used without --weights is said out loud first; the refusal itself is still one line
    text = "\n".join(line for line in result.output.strip().splitlines() if not line.startswith("warning: random weights"))
    assert text.startswith("error:"), text
    assert "\n" not in text, text
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in text, text


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# -- help and imports ----------------------------------------------------------------------------------------


def test_help_lists_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "inspect" in result.output and "export" in result.output


def test_export_help_lists_options(runner: CliRunner) -> None:
    result = runner.invoke(app, ["export", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--form", "--weights", "--overwrite", "--unsafe-allow-pickle"):
        assert option in result.output


def test_importing_cli_does_not_import_torch_or_onnxruntime() -> None:
    code = (
        "import json, sys\n"
        "import edgelstm.cli\n"
        "print(json.dumps(sorted(m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "torch" not in heavy
    assert "onnxruntime" not in heavy
    assert heavy == []


# -- inspect -------------------------------------------------------------------------------------------------


def test_inspect_prints_summary(runner: CliRunner, ckpt: Path) -> None:
    result = runner.invoke(app, ["inspect", str(ckpt)])
    assert result.exit_code == 0, result.output
    assert "parameters" in result.output
    assert "export forms" in result.output
    assert "lstm x1, hidden 8" in result.output


def test_inspect_json(runner: CliRunner, ckpt: Path) -> None:
    result = runner.invoke(app, ["inspect", str(ckpt), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["parameters"] > 0
    assert data["parameters"] == count_parameters(SequenceModel(ModelConfig(input_size=3, hidden_size=8)))
    assert data["source"] == "checkpoint"
    assert (data["input_kind"], data["input_size"]) == ("features", 3)
    assert data["config"]["cell"] == "lstm"
    forms = {(f["form"], f["impl"]): f["available"] for f in data["forms"]}
    assert forms == {
        ("sequence", "fused"): True,
        ("sequence", "loop"): True,
        ("streaming", "fused"): True,
        ("streaming", "loop"): True,
    }
    assert [s["name"] for s in data["states"]] == ["h", "c"]


def test_inspect_json_bidirectional_cannot_stream(runner: CliRunner, bidir_ckpt: Path) -> None:
    result = runner.invoke(app, ["inspect", str(bidir_ckpt), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    streaming = [f for f in data["forms"] if f["form"] == "streaming"]
    assert streaming and all(not f["available"] and "bidirectional" in f["reason"] for f in streaming)
    assert data["streaming_states"] == []


# -- export --------------------------------------------------------------------------------------------------


def test_export_sequence_writes_files(runner: CliRunner, ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(ckpt), "--out", str(out), "--form", "sequence", *FAST])
    assert result.exit_code == 0, result.output
    assert _files(out) == ["sequence_fused.export.json", "sequence_fused.onnx"]
    report = json.loads((out / "sequence_fused.export.json").read_text())
    assert report["passed"] and report["written"]
    assert {c["steps"] for c in report["verification"]["cases"]} == {1, 5, 13}
    assert "PASS" in result.output


def test_export_json_output(runner: CliRunner, ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(ckpt), "--out", str(out), "--form", "streaming", "--json", *FAST])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] and data["written"]
    assert data["interface"]["form"] == "streaming"
    assert Path(data["path"]).is_file()
    assert Path(data["path"]).parent == out


def test_export_streaming_bidirectional_fails_cleanly(runner: CliRunner, bidir_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(bidir_ckpt), "--out", str(out), "--form", "streaming", *FAST])
    _assert_one_line_error(result, "bidirectional")
    assert _files(out) == []


def test_export_does_not_overwrite_without_flag(runner: CliRunner, ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["export", str(ckpt), "--out", str(out), *FAST]
    assert runner.invoke(app, args).exit_code == 0
    onnx_path = out / "sequence_fused.onnx"
    onnx_path.write_bytes(b"sentinel")  # if the second run overwrote it we would notice
    result = runner.invoke(app, args)
    _assert_one_line_error(result, "already exists", "--overwrite")
    assert onnx_path.read_bytes() == b"sentinel"

    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert onnx_path.read_bytes() != b"sentinel"
    assert _files(out) == ["sequence_fused.export.json", "sequence_fused.onnx"]  # no temp files left behind


def test_export_factory_model_from_cwd(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A factory module beside where the command runs is importable, like `python -m`."""
    name = f"cli_usermodels_{uuid.uuid4().hex[:10]}"
    work = tmp_path / "work"
    work.mkdir()
    (work / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.gru = nn.GRU(5, 8, batch_first=True)
                    self.fc = nn.Linear(8, 2)

                def forward(self, x):
                    return self.fc(self.gru(x)[0])

            def build():
                return Net()
            """
        )
    )
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_model adds cwd to sys.path; undo afterwards
    try:
        ok = runner.invoke(app, ["export", f"{name}:build", "--out", str(tmp_path / "out"), *FAST])
        assert ok.exit_code == 0, ok.output
        assert (tmp_path / "out" / "sequence_torch_onnx.onnx").is_file()
        # its GRU streams: state in and out, verified chunk by chunk against the whole sequence
        streaming = runner.invoke(app, ["export", f"{name}:build", "--out", str(tmp_path / "out2"), "--form", "streaming", *FAST])
        assert streaming.exit_code == 0, streaming.output
        assert "streaming_torch_onnx.onnx" in _files(tmp_path / "out2")
    finally:
        sys.modules.pop(name, None)


# -- bad inputs: exit 2, one line, no traceback --------------------------------------------------------------


@pytest.mark.parametrize("command", ["inspect", "export"])
def test_missing_path(runner: CliRunner, tmp_path: Path, command: str) -> None:
    extra = ["--out", str(tmp_path / "out")] if command == "export" else []
    result = runner.invoke(app, [command, str(tmp_path / "missing_model"), *extra])
    _assert_one_line_error(result, "missing_model")


def test_corrupt_safetensors(runner: CliRunner, ckpt: Path, tmp_path: Path) -> None:
    (ckpt / WEIGHTS_FILE).write_bytes(b"\x07garbage, not safetensors")
    for args in (["inspect", str(ckpt)], ["export", str(ckpt), "--out", str(tmp_path / "out")]):
        _assert_one_line_error(runner.invoke(app, args), "corrupt")
    assert _files(tmp_path / "out") == []


def test_unsafe_pickle_refused_then_allowed(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "whole_model.pt"
    torch.save(SequenceModel(ModelConfig(input_size=3, hidden_size=8)), path)
    _assert_one_line_error(runner.invoke(app, ["inspect", str(path)]), "--unsafe-allow-pickle")
    _assert_one_line_error(runner.invoke(app, ["export", str(path), "--out", str(tmp_path / "out")]), "pickle")
    assert _files(tmp_path / "out") == []

    allowed = runner.invoke(app, ["inspect", str(path), "--unsafe-allow-pickle", "--json"])
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["source"] == "pickle"


def test_unknown_form(runner: CliRunner, ckpt: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(ckpt), "--out", str(tmp_path / "out"), "--form", "chunked"])
    _assert_one_line_error(result, "chunked", "sequence", "streaming")
    assert _files(tmp_path / "out") == []


def test_unknown_impl_and_opset(runner: CliRunner, ckpt: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    _assert_one_line_error(runner.invoke(app, ["export", str(ckpt), "--out", out, "--impl", "magic"]), "magic")
    _assert_one_line_error(runner.invoke(app, ["export", str(ckpt), "--out", out, "--opset", "9"]), "opset 9")


@pytest.mark.parametrize(("option", "value"), [("--batches", "a,b"), ("--batches", "0,2"), ("--steps", "3,x")])
def test_bad_integer_lists(runner: CliRunner, ckpt: Path, tmp_path: Path, option: str, value: str) -> None:
    result = runner.invoke(app, ["export", str(ckpt), "--out", str(tmp_path / "out"), option, value])
    _assert_one_line_error(result, option, repr(value))
    assert _files(tmp_path / "out") == []


def test_weights_with_checkpoint_dir_is_refused(runner: CliRunner, ckpt: Path) -> None:
    result = runner.invoke(app, ["inspect", str(ckpt), "--weights", str(ckpt / WEIGHTS_FILE)])
    _assert_one_line_error(result, "--weights")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["check", "model.onnx"], "Missing option '--reference'"),
        (["check"], "Missing argument"),
        (["export", "ckpt", "--out", "x", "--no-such-option"], "No such option: --no-such-option"),
        (["bench", "a.onnx", "--reference", "ckpt", "--rounds", "many"], "Invalid value for '--rounds'"),
        (["exprot", "ckpt"], "No such command 'exprot'"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    from tests.refusals import assert_refused

    assert_refused(args, fragment, "--help", watch=(tmp_path,))
