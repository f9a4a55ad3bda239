"""`edgelstm bundle` and `bundle verify`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgelstm.cli_common import (
    JsonOpt,
    app,
    user_errors,
)


@app.command()
@user_errors
def bundle(
    target: list[str] = typer.Argument(..., help="ARTIFACT.onnx to bundle, or: verify DIR|ZIP"),
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
    as_json: bool = JsonOpt,
) -> None:
    """Write a mobile deployment bundle (`bundle ARTIFACT --out DIR`), or re-check one (`bundle verify DIR`)."""
    from edgelstm.artifact.session import handed_over
    from edgelstm.bundle import build_bundle, verify_bundle
    from edgelstm.errors import ConfigError

    if target[0] == "verify":
        if len(target) != 2:
            raise ConfigError("usage: edgelstm bundle verify DIR|ZIP")
        with handed_over(target[1]):  # the user's bundle: ORT refusing its graph is an expected failure
            checked = verify_bundle(Path(target[1]))
        if as_json:
            typer.echo(json.dumps(checked.to_dict()))
            return
        typer.echo(
            f"OK {target[1]}: {checked.files_checked} files match their sha256 ({', '.join(checked.files)}); "
            f"{checked.ran} ran once ({', '.join(checked.outputs)})"
        )
        typer.echo(f"  ran     {checked.ran}  sha256 {checked.ran_sha256}")
        typer.echo(f"  parity  {checked.parity} for {checked.parity_artifact}  sha256 {checked.parity_sha256}")
        typer.echo(f"  policy  {checked.session_policy}")
        return
    if len(target) != 1 or out is None:
        raise ConfigError("usage: edgelstm bundle ARTIFACT.onnx --out DIR [--zip]")
    with handed_over(target[0]):
        result = build_bundle(Path(target[0]), out, parity_report, bench_report, make_zip, overwrite)
    parity = result.parity
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "directory": str(result.directory),
                    "zip": str(result.zip_path) if result.zip_path else None,
                    "files": result.files,
                    "parity": parity,
                    "session_policy": result.manifest["session_policy"],
                }
            )
        )
        return
    for name, digest in result.files.items():
        typer.echo(f"  {name}  sha256 {digest[:12]}")
    usability = ", ".join(
        f"{u['execution_provider']} {u['supported_nodes']}/{u['nodes']} nodes ({u['verdict']})"
        for u in result.manifest["mobile_usability"]
    )
    typer.echo(f"mobile usability: {usability}")
    passed = parity.get("passed")
    if passed is None:
        verdict = "not checked"
    else:  # a check the data could not resolve reads "inconclusive", not FAIL (and is not a pass either)
        from edgelstm.report.evidence import failed_label

        verdict = "pass" if passed else failed_label(parity.get("candidates") or [])
    why = f" ({parity['reason']})" if parity.get("reason") else ""
    typer.echo(f"parity: {verdict}{why} for {parity.get('artifact')} sha256 {parity.get('artifact_sha256')}")
    typer.echo(f"session policy: {result.manifest['session_policy']['summary']}")
    typer.echo(f"wrote {result.directory}" + (f" and {result.zip_path}" if result.zip_path else ""))
