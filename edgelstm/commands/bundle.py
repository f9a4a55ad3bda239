"""`edgelstm bundle` and `bundle verify`: parse, call `edgelstm.api.bundle` / `edgelstm.api.verify`, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from edgelstm.cli_common import (
    JsonOpt,
    app,
    user_errors,
)
from edgelstm.errors import ConfigError
from edgelstm.jsonio import to_jsonable

VERIFY_HELP = """Usage: edgelstm bundle verify DIR|ZIP [--json]

 Re-check a bundle: every listed file against its sha256 in manifest.json (unlisted files, links and zip members
 that would land outside are refused), then run its ORT-format model once with the manifest's session policy.

 Options:
   --json   one JSON object instead of the lines
   --help   Show this message and exit."""


class _BundleCommand(TyperCommand):
    """One command takes both forms; `bundle verify --help` prints verify's usage, not the bundle-writing options."""

    # ctx: typer's vendored click Context (a private module's type), so Any here
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args[:1] == ["verify"] and "--help" in args:
            typer.echo(VERIFY_HELP)
            ctx.exit(0)
        return super().parse_args(ctx, args)


@app.command(cls=_BundleCommand)
@user_errors
def bundle(
    target: list[str] = typer.Argument(
        ..., help="ARTIFACT.onnx (or .tflite with --target android) to bundle, or: verify DIR|ZIP"
    ),
    out: Path | None = typer.Option(None, "--out", help="bundle directory to write"),
    make_zip: bool = typer.Option(False, "--zip", help="also write DIR.zip (flat, relative names only)"),
    parity_report: Path | None = typer.Option(None, "--parity-report", help="`edgelstm check --report` JSON to ship with it"),
    bench_report: Path | None = typer.Option(
        None,
        "--bench-report",
        "--bench",
        help="`edgelstm bench --report` JSON: its latencies and the measured thread/spinning policy go in the manifest",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing bundle"),
    bundle_target: str = typer.Option("ort", "--target", help="ort (ONNX Runtime Mobile) or android (a .tflite for LiteRT)"),
    as_json: bool = JsonOpt,
) -> None:
    """Write a mobile deployment bundle (`bundle ARTIFACT --out DIR`), or re-check one (`bundle verify DIR`)."""
    from edgelstm import api  # heavy (torch): not at --help time

    if target[0] == "verify":
        if len(target) != 2:
            raise ConfigError("usage: edgelstm bundle verify DIR|ZIP")
        _print_verified(target[1], api.verify(Path(target[1])), as_json)
        return
    if len(target) != 1 or out is None:
        raise ConfigError("usage: edgelstm bundle ARTIFACT.onnx --out DIR [--zip]")
    options = api.BundleOptions(parity_report, bench_report, make_zip, overwrite, bundle_target)  # type: ignore[arg-type]  # validated there
    result = api.bundle(Path(target[0]), out, options)
    if as_json:
        typer.echo(json.dumps(_bundle_json(result)))
        return
    _print_bundle(result)


def _print_verified(location: str, checked: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(to_jsonable(checked)))
        return
    typer.echo(
        f"OK {location}: {checked.files_checked} files match their sha256 ({', '.join(checked.files)}); "
        f"{checked.ran} ran once ({', '.join(checked.outputs)})"
    )
    typer.echo(f"  ran     {checked.ran}  sha256 {checked.ran_sha256}")
    typer.echo(f"  parity  {checked.parity} for {checked.parity_artifact}  sha256 {checked.parity_sha256}")
    typer.echo(f"  policy  {checked.session_policy}")


def _bundle_json(result: Any) -> dict[str, Any]:
    return {
        "directory": str(result.directory),
        "zip": str(result.zip_path) if result.zip_path else None,
        "files": result.files,
        "parity": result.parity,
        "session_policy": result.manifest.get("session_policy"),
    }


def _print_bundle(result: Any) -> None:
    parity = result.parity
    for name, digest in result.files.items():
        typer.echo(f"  {name}  sha256 {digest[:12]}")
    if "mobile_usability" in result.manifest:  # an ORT bundle (a LiteRT one runs on the LiteRT Interpreter)
        usability = ", ".join(
            f"{u['execution_provider']} {u['supported_nodes']}/{u['nodes']} nodes ({u['verdict']})"
            for u in result.manifest["mobile_usability"]
        )
        typer.echo(f"mobile usability: {usability}")
    passed = parity.get("passed")
    if passed is None:
        verdict = "not checked"
    else:  # a check the data could not resolve reads "inconclusive", not FAIL (and is not a pass either)
        from edgelstm.report.evidence import failed_label  # heavy (torch): not at --help time

        verdict = "pass" if passed else failed_label(parity.get("candidates") or [])
    why = f" ({parity['reason']})" if parity.get("reason") else ""
    typer.echo(f"parity: {verdict}{why} for {parity.get('artifact')} sha256 {parity.get('artifact_sha256')}")
    if "session_policy" in result.manifest:
        typer.echo(f"session policy: {result.manifest['session_policy']['summary']}")
    typer.echo(f"wrote {result.directory}" + (f" and {result.zip_path}" if result.zip_path else ""))
