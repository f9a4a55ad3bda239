"""Long tables (CSV / Parquet) cut into windows, and `edgelstm distill` on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.windows import _write_csv


def test_cli_distills_from_csv_tables_and_refuses_a_parquet_without_windows(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.cli import app
    from tests.conftest import tiny_model

    teacher = tiny_model(cell="gru", head="classify-last")  # 5 features, 3 classes
    save_checkpoint(teacher, tmp_path / "teacher")
    rng = np.random.default_rng(0)
    for name in ("train", "val"):
        rows = [[f"r{r}", *rng.standard_normal(5).round(4), int(r % 3)] for r in range(12) for _ in range(10)]
        _write_csv(tmp_path / f"{name}.csv", ["rec", "f0", "f1", "f2", "f3", "f4", "label"], rows)
    common = ["--window", "6", "--stride", "2", "--group", "rec", "--label", "label", "--hidden", "4", "--epochs", "1"]
    result = CliRunner().invoke(
        app,
        ["distill", str(tmp_path / "teacher"), "--data", str(tmp_path / "train.csv"), "--validation", str(tmp_path / "val.csv"),
         "--out", str(tmp_path / "student"), *common],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "student" / "distill_report.md").exists() and "student (dynamic-int8)" in result.output
    (tmp_path / "t.parquet").write_bytes(b"")
    refused = CliRunner().invoke(
        app,
        [
            "distill",
            str(tmp_path / "teacher"),
            "--data",
            str(tmp_path / "t.parquet"),
            "--validation",
            str(tmp_path / "val.csv"),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert refused.exit_code == 2 and "needs a window spec" in refused.output
    budget = CliRunner().invoke(
        app,
        ["distill", str(tmp_path / "teacher"), "--data", str(tmp_path / "train.csv"), "--validation", str(tmp_path / "val.csv"),
         "--out", str(tmp_path / "y"), "--target-params", "lots", *common],
    )  # fmt: skip
    assert budget.exit_code == 2 and budget.output.strip().splitlines()[-1].startswith("error: cannot read a parameter count")
