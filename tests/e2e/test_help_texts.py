"""`--help` prints what the command takes: no text eaten by rich markup, no other command's options."""

from __future__ import annotations

from typer.testing import CliRunner

from edgelstm.cli import app


def test_convert_help_keeps_the_distill_step() -> None:
    # rich markup reads a bare "[distill]" as a style tag and drops it ("load ->  -> export")
    result = CliRunner().invoke(app, ["convert", "--help"])
    assert result.exit_code == 0
    assert "[distill]" in result.output


def test_bundle_verify_help_is_verify_usage_not_bundle_options() -> None:
    result = CliRunner().invoke(app, ["bundle", "verify", "--help"])
    assert result.exit_code == 0
    assert "edgelstm bundle verify DIR|ZIP" in result.output
    assert "--out" not in result.output and "--parity-report" not in result.output


def test_bundle_help_still_lists_its_options() -> None:
    result = CliRunner().invoke(app, ["bundle", "--help"])
    assert result.exit_code == 0
    assert "--parity-report" in result.output
