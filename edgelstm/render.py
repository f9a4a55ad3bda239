"""Terminal tables for command results (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgelstm.summary import ModelSummary


def _console() -> Console:
    import sys

    # Not a terminal (CI logs, pipes): rich would wrap at 80 columns and truncate the tables.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def _shape(shape: list[Any]) -> str:
    return escape("[" + ", ".join(str(d) for d in shape) + "]")


def print_summary(summary: ModelSummary) -> None:
    """Print the `model` command's summary: parameters, inputs, state and which export forms are available."""
    console = _console()
    console.print(f"[bold]{summary.origin}[/bold] ({summary.source}, {summary.module_class})")
    overview = Table(show_header=False, box=None)
    overview.add_row("parameters", f"{summary.parameters:,}")
    overview.add_row("size", f"{summary.size_bytes:,} bytes ({summary.size_bytes / 1024:.1f} KiB)")
    overview.add_row(
        "input", f"{summary.input_kind} ({'vocabulary' if summary.input_kind == 'tokens' else 'features'} {summary.input_size})"
    )
    if summary.weights is not None:
        overview.add_row("weights", summary.weights if "none" in summary.weights else f"sha256 {summary.weights}")
    if summary.forward is not None:
        overview.add_row("forward", _forward_text(summary.forward))
    if summary.config:
        cfg = summary.config
        stack = f"{cfg['cell']} x{cfg['num_layers']}, hidden {cfg['hidden_size']}"
        stack += ", bidirectional" if cfg["bidirectional"] else ""
        stack += f", proj {cfg['proj_size']}" if cfg["proj_size"] else ""
        overview.add_row("recurrent stack", stack)
        head = cfg["head"]
        overview.add_row(
            "head",
            f"{head['kind']} ({head['num_outputs']} outputs"
            + (f", {head['pooling']} pooling" if head["kind"] in ("classify", "forecast") else "")
            + ")",
        )
    console.print(overview)
    titles = (
        (summary.states, "recurrent state (sequence form outputs; inputs with --state-inputs)"),
        (
            summary.streaming_states,
            "streaming form state (one pair per layer, fed back every call; data and per-step outputs time-major)",
        ),
    )
    for states, title in titles:
        if not states:
            continue
        table = Table(title=title)
        for col in ("state", "input", "output", "shape", "rows"):
            table.add_column(col)
        for s in states:
            table.add_row(s.name, s.input_name, s.output_name, _shape(s.shape), ", ".join(s.rows) or s.description)
        console.print(table)
    forms = Table(title="export forms")
    for col in ("form", "impl", "available", "why not"):
        forms.add_column(col)
    for f in summary.forms:
        forms.add_row(f.form, f.impl, "yes" if f.available else "no", f.reason)
    console.print(forms)


def _forward_text(forward: dict[str, Any]) -> str:
    """forward(x[B, C, T], lengths, state[2, B, 24], sr=16000) -> output, state: as probed."""
    x = "x[B, C, T]" if forward["layout"] == "bct" else "x[B, T, C]"
    parts = [x]
    if forward["lengths"]:
        parts.append(forward["lengths"])
    for state in forward["states"]:
        dims = ["B" if d == "batch" else str(d) for d in state["shape"]]
        parts.append(f"{state['name']}[{', '.join(dims)}]")
    parts += [f"{k}={v}" for k, v in forward["constants"].items()]
    returns = ", ".join(["output", *(s["name"] for s in forward["states"])])
    return f"forward({', '.join(parts)}) -> {returns}"


def print_export_result(result: Any) -> None:
    """Print the export's verification table against torch and the paths written."""
    console = _console()
    v = result.verification
    table = Table(
        title=f"verification vs torch ({v.settings.provider}, {v.settings.intra_op_threads} thread, atol={v.tolerance.atol:g} rtol={v.tolerance.rtol:g})"
    )
    for col in ("case", "worst output", "max abs err", "max rel err", "verdict"):
        table.add_column(col)
    for case in v.cases:
        worst = case.worst()
        if case.error:
            table.add_row(case.label, "-", "-", "-", f"[red]FAIL[/red] {escape(case.error)}")
            continue
        failing = [o for o in case.outputs if not o.passed]
        shown = failing[0] if failing else worst
        assert shown is not None
        verdict = "[green]ok[/green]" if case.passed else f"[red]FAIL[/red] {escape(shown.problem)}"
        table.add_row(case.label, shown.name, f"{shown.max_abs_error:.2e}", f"{shown.max_rel_error:.2e}", verdict)
    console.print(table)
    inputs = ", ".join(f"{t.name} {_shape(t.shape)}" for t in result.interface.inputs)
    outputs = ", ".join(f"{t.name} {_shape(t.shape)}" for t in result.interface.outputs)
    console.print(f"inputs:  {inputs}")
    console.print(f"outputs: {outputs}")
    if result.interface.layout == "time_major":
        console.print(escape("layout:  time-major (no Transpose per call); StreamingSession.step still takes [batch, steps, F]"))
    elif result.interface.form == "streaming":
        console.print("layout:  batch-first (the data does not reach the recurrent nodes through a layout Transpose only)")
    if result.interface.normalization is not None:
        console.print("input:   raw features, normalised inside the graph (the training mean/std; --no-normalize-in-graph: off)")
    console.print(f"checks:  {'; '.join(result.checks)}")
    if result.written:
        console.print(
            f"[green]PASS[/green] wrote {result.path} ({result.size_bytes:,} bytes, sha256 {result.sha256[:12]}) "
            f"and {result.path.with_suffix('.export.json').name}"
        )
    else:
        failed = len(v.failures())
        console.print(
            f"[red]FAIL[/red] {failed} of {len(v.cases)} cases outside tolerance; nothing written to {result.path.parent}"
        )


def print_foreign_interface(path: Any, interface: Any, origin: str = "ONNX graph without edgelstm metadata") -> None:
    """How to call an ONNX graph (`edgelstm.artifact.foreign.ForeignInterface`); `origin` says where it came from."""
    console = _console()
    console.print(f"[bold]{escape(str(path))}[/bold] ({escape(origin)})")
    roles = {interface.data_input: "data"}
    roles.update(dict.fromkeys(interface.scalars, "scalar"))
    roles.update({p.input: f"state -> {p.output}" for p in interface.states})
    roles.update({p.output: f"state <- {p.input}" for p in interface.states})
    leading = "frames axis" if interface.frames_first else "batch axis"
    follows = interface.frames_axis if interface.frames_first else interface.batch_axis
    table = Table("", "name", "dtype", "shape (as declared)", leading, "role")
    for kind, values in (("input", interface.inputs), ("output", interface.outputs)):
        for value in values:
            axis = follows.get(value.name)
            role = roles.get(value.name, "output" if kind == "output" else "input")
            if value.name in interface.constants:
                role += f" = {interface.constants[value.name]}"
            table.add_row(kind, value.name, value.dtype, _shape(list(value.shape)), "-" if axis is None else str(axis), role)
    console.print(table)
    if interface.states:
        pairs = ", ".join(f"{p.input} -> {p.output}" + (" (declared)" if p.declared else "") for p in interface.states)
        console.print(f"state pairs: {escape(pairs)}: feed each output back as its input on the next call")
    else:
        console.print("state pairs: none found (declare them with --state INPUT:OUTPUT if the graph carries state)")
    if interface.roles:
        axes = ", ".join(interface.roles)
        console.print(f"axes of {escape(interface.data_input)}: {axes} ({escape(interface.roles_from)})")
    if interface.accepted_chunks:
        console.print(f"chunk lengths the graph ran at: {', '.join(map(str, interface.accepted_chunks))}")
    console.print(f"probe: {escape(interface.probe)}")


def print_torchscript(summary: Any) -> None:
    """A TorchScript archive loaded with the user's consent (`edgelstm.torchscript.TorchScriptSummary`)."""
    console = _console()
    console.print(f"[bold]{escape(summary.path)}[/bold] (TorchScript, {escape(summary.module_class)})")
    overview = Table(show_header=False, box=None)
    overview.add_row("sha256", summary.sha256)
    overview.add_row("forward", escape(summary.forward))
    overview.add_row("other methods", escape(", ".join(summary.methods)) or "-")
    overview.add_row("parameters", f"{summary.parameters:,} ({summary.size_bytes:,} bytes)")
    layers = ", ".join(f"{name} ({kind})" for name, kind in summary.recurrent_layers)
    overview.add_row("recurrent layers", escape(layers) or "none found")
    console.print(overview)
    scalars = [name for name, kind in summary.forward_args[1:] if kind in ("int", "float", "bool")]
    if scalars:
        console.print(f"scalar arguments to fix when running it: {', '.join(scalars)}")
