"""The `edgelstm` command: a thin layer over the Python API. Heavy imports happen inside commands."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

app = typer.Typer(
    name="edgelstm",
    help="Ship trained recurrent models (LSTM, GRU, peephole) to edge devices: export with state, verified.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])

ModelArg = typer.Argument(..., help="edgelstm checkpoint dir, a torch.export .pt2 file, or package.module:factory")
WeightsOpt = typer.Option(
    None, "--weights", help="state dict for a factory model (.safetensors, or torch file loaded weights_only)"
)
UnsafeOpt = typer.Option(
    False, "--unsafe-allow-pickle", help="allow unpickling a whole pickled nn.Module (runs code from the file)"
)
InputSizeOpt = typer.Option(None, "--input-size", help="feature count, when it cannot be read from the model's first layer")
JsonOpt = typer.Option(False, "--json", help="print machine-readable JSON instead of tables")


def user_errors(func: F) -> F:
    """Turn named user errors into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from edgelstm.errors import EdgelstmError

        try:
            return func(*args, **kwargs)
        except EdgelstmError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


def _parse_ints(text: str | None, option: str) -> tuple[int, ...] | None:
    from edgelstm.errors import ConfigError

    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option} expects comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{option} expects positive integers, got {text!r}")
    return values


@app.command()
@user_errors
def inspect(
    model: str = ModelArg,
    weights: Path | None = WeightsOpt,
    unsafe_allow_pickle: bool = UnsafeOpt,
    input_size: int | None = InputSizeOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Architecture, parameters, size, state layout and the export forms a model supports."""
    from edgelstm.loading import load_model
    from edgelstm.summary import summarize_model

    summary = summarize_model(load_model(model, weights, unsafe_allow_pickle, input_size))
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    from edgelstm.render import print_summary

    print_summary(summary)


@app.command()
@user_errors
def export(
    model: str = ModelArg,
    out: Path = typer.Option(..., "--out", help="directory for the .onnx file and its .export.json report"),
    form: str = typer.Option("sequence", "--form", help="sequence (whole padded sequences) or streaming (chunk + state)"),
    impl: str = typer.Option("auto", "--impl", help="fused (ONNX LSTM/GRU ops), loop (MatMul + gates in a Loop), or auto"),
    weights: Path | None = WeightsOpt,
    unsafe_allow_pickle: bool = UnsafeOpt,
    input_size: int | None = InputSizeOpt,
    opset: int = typer.Option(17, "--opset", help="ONNX opset (14..21); 17 by default, see README"),
    lengths: bool = typer.Option(
        True, "--lengths/--no-lengths", help="sequence form: a lengths input for variable-length batches"
    ),
    state_inputs: bool = typer.Option(False, "--state-inputs", help="sequence form: add initial-state inputs"),
    fixed_steps: int | None = typer.Option(
        None, "--fixed-steps", help="with --impl unrolled: the one sequence length the graph runs at"
    ),
    batches: str | None = typer.Option(None, "--batches", help="verification batch sizes, e.g. 1,3,8"),
    steps: str | None = typer.Option(None, "--steps", help="verification lengths (default 1,7,E,4E; E = --example-steps)"),
    example_steps: int | None = typer.Option(None, "--example-steps", help="example length used to export user modules"),
    data: Path | None = typer.Option(None, "--data", help=".npz of real inputs (x, optional lengths) to verify on too"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace existing files in --out"),
    as_json: bool = JsonOpt,
) -> None:
    """Export to ONNX, check it, and verify it in ONNX Runtime against torch at shapes other than the example."""
    from dataclasses import replace

    from edgelstm.loading import load_model
    from export.api import export_model
    from export.config import ExportConfig
    from export.verify import VerificationConfig

    export_config = ExportConfig(
        form=form,  # type: ignore[arg-type]
        impl=impl,  # type: ignore[arg-type]
        opset=opset,
        with_lengths=lengths,
        with_state_inputs=state_inputs,
        fixed_steps=fixed_steps,
    )
    loaded = load_model(model, weights, unsafe_allow_pickle, input_size)
    verification = VerificationConfig(
        example_steps=example_steps or loaded.signature.example_steps, steps=_parse_ints(steps, "--steps")
    )
    if (grid := _parse_ints(batches, "--batches")) is not None:
        verification = replace(verification, batches=grid)
    result = export_model(loaded, out, export_config, verification, overwrite, data)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        from edgelstm.render import print_export_result

        print_export_result(result)
    raise typer.Exit(EXIT_OK if result.passed else EXIT_FAILED)


@app.command()
@user_errors
def check(
    artifacts: list[Path] = typer.Argument(..., help=".onnx / .ort artifacts to check"),
    reference: str = typer.Option(..., "--reference", help="the trained model, as the loaders accept it"),
    weights: Path | None = WeightsOpt,
    unsafe_allow_pickle: bool = UnsafeOpt,
    input_size: int | None = InputSizeOpt,
    data: Path | None = typer.Option(None, "--data", help="real inputs: .npz/.npy/.pt (x, lengths, y) or CSV"),
    providers: str = typer.Option("cpu,mobile,reference", "--providers", help="comma list of cpu, cuda, mobile, reference"),
    allow_missing: str = typer.Option("", "--allow-missing", help="providers that may be absent (reported as skipped)"),
    tolerances: Path | None = typer.Option(None, "--tolerances", help="TOML file of tolerances (see README)"),
    task: str = typer.Option("auto", "--task", help="task-level checks: auto, classify, regress, none"),
    stress: bool = typer.Option(True, "--stress/--no-stress", help="add long, zero, large, ragged and batch-1 inputs"),
    limit: int | None = typer.Option(None, "--limit", help="use at most N sequences of --data"),
    junit: Path | None = typer.Option(None, "--junit", help="write JUnit XML here"),
    markdown: Path | None = typer.Option(None, "--markdown", help="write a Markdown summary (PR comment) here"),
    plot: Path | None = typer.Option(None, "--plot", help="write a PNG of error vs time step here"),
    report: Path | None = typer.Option(None, "--report", help="write the full JSON report here"),
    as_json: bool = JsonOpt,
) -> None:
    """Parity gate: every artifact on every provider against the float64 torch model; exit 1 on any drift."""
    from edgelstm import jsonio
    from edgelstm.files import write_text_atomic
    from edgelstm.loading import load_model
    from edgelstm.parity import CheckConfig, TolerancePolicy, run_check
    from edgelstm.parity.data import load_sequence_data
    from edgelstm.parity.render import junit_report, markdown_report, plot_time_profiles, print_report

    config = CheckConfig(
        providers=_parse_names(providers),
        allow_missing=_parse_names(allow_missing),
        task=task,
        stress=stress,
    )
    policy = TolerancePolicy.from_toml(tolerances) if tolerances else TolerancePolicy.defaults()
    loaded = load_model(reference, weights, unsafe_allow_pickle, input_size)
    sequences = None
    if data is not None:
        sig = loaded.signature
        sequences = load_sequence_data(data, sig.kind == "tokens", sig.size if sig.kind == "features" else None)
        if limit is not None:
            sequences = sequences.take(limit)
    result = run_check(artifacts, loaded, sequences, config, policy)
    written = []
    if report is not None:
        write_text_atomic(report, jsonio.dumps(result.to_dict()) + "\n", overwrite=True)
        written.append(report)
    if junit is not None:
        write_text_atomic(junit, junit_report(result), overwrite=True)
        written.append(junit)
    if markdown is not None:
        write_text_atomic(markdown, markdown_report(result), overwrite=True)
        written.append(markdown)
    if plot is not None:
        plot_time_profiles(result, plot)
        written.append(plot)
    if as_json:
        typer.echo(jsonio.dumps(result.to_dict()))
    else:
        print_report(result)
        for path in written:
            typer.echo(f"wrote {path}")
    raise typer.Exit(EXIT_OK if result.passed else EXIT_FAILED)


@app.command("quantize")
@user_errors
def quantize_command(
    model: str = typer.Argument(..., help="edgelstm checkpoint dir, or an .onnx exported by edgelstm"),
    out: Path = typer.Option(..., "--out", help="directory for the quantized artifact(s)"),
    scheme: str = typer.Option("auto", "--scheme", help="dynamic-int8, static-int8, fp16, int4, or auto"),
    reference: str | None = typer.Option(
        None, "--reference", help="trained model for the parity check (default: MODEL when it is a checkpoint)"
    ),
    data: Path | None = typer.Option(None, "--data", help="real inputs (.npz/.npy/.pt/CSV): calibration and held-out parity"),
    budget: Path | None = typer.Option(None, "--budget", help="TOML tolerances the artifact must meet (see check)"),
    method: str = typer.Option("minmax", "--method", help="static-int8 calibration: minmax, entropy, percentile"),
    fixed_batch: int | None = typer.Option(
        None, "--fixed-batch", help="static-int8: static shapes with this batch (NNAPI-style accelerators)"
    ),
    per_channel: bool = typer.Option(False, "--per-channel", help="per-channel weight scales (int8 schemes)"),
    reduce_range: bool | None = typer.Option(
        None, "--reduce-range/--full-range", help="dynamic-int8: 7-bit weights; default: on for Loop graphs only"
    ),
    block_size: int = typer.Option(32, "--block-size", help="int4 block size"),
    keep_fp32: str = typer.Option("", "--keep-fp32", help="fp16: op types kept in float32, e.g. LSTM"),
    exclude: str = typer.Option("", "--exclude", help="dynamic-int8: parts kept in float, e.g. head,layer0"),
    weight_type: str = typer.Option("int8", "--weight-type", help="dynamic-int8 MatMul weights: int8 or uint8"),
    check: bool = typer.Option(True, "--check/--no-check", help="run the parity gate before publishing the result"),
    keep_failed: bool = typer.Option(False, "--keep-failed", help="write the artifact even if it fails the parity gate"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace existing artifacts in --out"),
    as_json: bool = JsonOpt,
) -> None:
    """Quantize a model with one scheme (or try them all with --scheme auto) and gate the result on parity."""
    from edgelstm import jsonio
    from edgelstm.errors import ConfigError
    from edgelstm.loading import load_model
    from edgelstm.parity import TolerancePolicy
    from edgelstm.parity.data import load_sequence_data
    from quantize import quantize, scheme_config
    from quantize.gate import ParityGate
    from quantize.render import print_quantize, print_selection
    from quantize.selection import select_scheme

    policy = TolerancePolicy.from_toml(budget) if budget else TolerancePolicy.defaults()
    is_onnx = model.endswith(".onnx")
    ref_spec = reference or (None if is_onnx else model)
    loaded = load_model(ref_spec) if ref_spec else None
    sequences = None
    if data is not None:
        sig = loaded.signature if loaded else None
        sequences = load_sequence_data(
            data, bool(sig and sig.kind == "tokens"), sig.size if sig and sig.kind == "features" else None
        )
    if scheme == "auto":
        if loaded is None or sequences is None:
            raise ConfigError("--scheme auto needs a reference model (a checkpoint MODEL or --reference) and --data")
        selection = select_scheme(loaded, sequences, out, policy, overwrite=overwrite)
        if as_json:
            typer.echo(jsonio.dumps(selection.to_dict()))
        else:
            print_selection(selection)
        raise typer.Exit(EXIT_OK if selection.winner else EXIT_FAILED)
    options: dict[str, object] = {}
    if scheme in ("dynamic-int8", "static-int8"):
        options["per_channel"] = per_channel
    if scheme == "dynamic-int8":
        options["reduce_range"] = reduce_range
        options["exclude"] = _parse_names(exclude)
        options["weight_type"] = weight_type
    if scheme == "static-int8":
        options["method"] = method
        options["fixed_batch"] = fixed_batch
    if scheme == "int4":
        options["block_size"] = block_size
    if scheme == "fp16":
        options["keep_fp32_ops"] = _parse_names_keep_case(keep_fp32)
    config = scheme_config(scheme, **options)
    source = loaded if (loaded is not None and not is_onnx) else Path(model)
    gate = None
    if check:
        if loaded is None:
            raise ConfigError("the parity check needs the trained model: pass --reference (or --no-check)")
        gate = ParityGate(loaded, sequences, policy)
    result = quantize(source, config, out, calibration=sequences, overwrite=overwrite, gate=gate, keep_failed=keep_failed)
    if as_json:
        typer.echo(jsonio.dumps(result.to_dict()))
    else:
        print_quantize(result)
    raise typer.Exit(EXIT_FAILED if result.parity_passed is False else EXIT_OK)


@app.command()
@user_errors
def bench(
    artifacts: list[Path] = typer.Argument(..., help=".onnx / .ort artifacts to time"),
    reference: str | None = typer.Option(
        None, "--reference", help="trained model: adds torch and default-path baselines and size ratios"
    ),
    batches: str = typer.Option("1,32", "--batches", help="batch sizes"),
    steps: str = typer.Option("100", "--steps", help="sequence lengths"),
    threads: str = typer.Option("1", "--threads", help="ORT intra-op / torch thread counts"),
    rounds: int = typer.Option(15, "--rounds", help="interleaved rounds (medians need several)"),
    chunks: str = typer.Option("1,16", "--chunks", help="streaming chunk sizes"),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="torch eager, torch dynamic int8, default path"),
    cold_start: bool = typer.Option(True, "--cold-start/--no-cold-start", help="time session creation in a fresh process"),
    report: Path | None = typer.Option(None, "--report", help="write the JSON results here"),
    as_json: bool = JsonOpt,
) -> None:
    """Latency (p50/p90/p99, throughput), cold start, streaming per-step cost and size, with baselines."""
    from edgelstm import jsonio
    from edgelstm.bench import BenchConfig, run_bench
    from edgelstm.bench.render import print_bench
    from edgelstm.files import write_text_atomic
    from edgelstm.loading import load_model

    config = BenchConfig(
        batches=_parse_ints(batches, "--batches") or (1,),
        steps=_parse_ints(steps, "--steps") or (100,),
        threads=_parse_ints(threads, "--threads") or (1,),
        rounds=rounds,
        streaming_chunks=_parse_ints(chunks, "--chunks") or (1,),
        baselines=baselines,
        cold_start=cold_start,
    )
    loaded = load_model(reference) if reference else None
    result = run_bench(list(artifacts), loaded, config)
    if report is not None:
        write_text_atomic(report, jsonio.dumps(result.to_dict()) + "\n", overwrite=True)
    if as_json:
        typer.echo(jsonio.dumps(result.to_dict()))
    else:
        print_bench(result)
        if report is not None:
            typer.echo(f"wrote {report}")


@app.command()
@user_errors
def bundle(
    target: list[str] = typer.Argument(..., help="ARTIFACT.onnx to bundle, or: verify DIR|ZIP"),
    out: Path | None = typer.Option(None, "--out", help="bundle directory to write"),
    make_zip: bool = typer.Option(False, "--zip", help="also write DIR.zip (flat, relative names only)"),
    parity_report: Path | None = typer.Option(None, "--parity-report", help="`edgelstm check --report` JSON to ship with it"),
    bench_report: Path | None = typer.Option(None, "--bench-report", help="`edgelstm bench --report` JSON to ship with it"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing bundle"),
    as_json: bool = JsonOpt,
) -> None:
    """Write a mobile deployment bundle (`bundle ARTIFACT --out DIR`), or re-check one (`bundle verify DIR`)."""
    from edgelstm.bundle import build_bundle, verify_bundle
    from edgelstm.errors import ConfigError

    if target[0] == "verify":
        if len(target) != 2:
            raise ConfigError("usage: edgelstm bundle verify DIR|ZIP")
        checked = verify_bundle(Path(target[1]))
        if as_json:
            typer.echo(
                json.dumps({"ok": True, "files_checked": checked.files_checked, "ran": checked.ran, "outputs": checked.outputs})
            )
        else:
            typer.echo(
                f"OK {target[1]}: {checked.files_checked} files match their sha256; {checked.ran} ran once ({', '.join(checked.outputs)})"
            )
        return
    if len(target) != 1 or out is None:
        raise ConfigError("usage: edgelstm bundle ARTIFACT.onnx --out DIR [--zip]")
    result = build_bundle(Path(target[0]), out, parity_report, bench_report, make_zip, overwrite)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "directory": str(result.directory),
                    "zip": str(result.zip_path) if result.zip_path else None,
                    "files": result.files,
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
    typer.echo(f"wrote {result.directory}" + (f" and {result.zip_path}" if result.zip_path else ""))


@app.command()
@user_errors
def report(
    run_dir: Path = typer.Argument(..., help="directory with check.json, bench.json and/or *.quant.json (or a report.json)"),
    out: Path | None = typer.Option(None, "--out", help="where to write report.json/.md/.html (default: RUN_DIR)"),
) -> None:
    """Combine a run's parity, latency and quantization results into report.json, report.md and report.html."""
    from edgelstm import jsonio
    from edgelstm.files import write_text_atomic
    from edgelstm.report import RunSummary, collect_run, html_report, markdown_report

    if run_dir.is_file() and run_dir.suffix == ".json":  # re-render a saved report
        summary = RunSummary.from_dict(json.loads(run_dir.read_text()))
        target = out or run_dir.parent
    else:
        summary = collect_run(run_dir)
        target = out or run_dir
    target.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target / "report.json", jsonio.dumps(summary.to_dict()) + "\n", overwrite=True)
    write_text_atomic(target / "report.md", markdown_report(summary), overwrite=True)
    write_text_atomic(target / "report.html", html_report(summary), overwrite=True)
    typer.echo(markdown_report(summary))
    typer.echo(f"wrote {target / 'report.json'}, {target / 'report.md'}, {target / 'report.html'}")


@app.command()
@user_errors
def convert(
    recipe: Path = typer.Argument(..., help="recipe TOML (see README)"),
    restart: bool = typer.Option(False, "--restart", help="redo every step instead of resuming"),
) -> None:
    """Run load -> export -> quantize -> check -> bench -> report -> bundle from a recipe; re-runs resume."""
    from edgelstm.pipeline import load_recipe, run_pipeline

    parsed = load_recipe(recipe)  # validated before any work starts

    def show(record) -> None:  # type: ignore[no-untyped-def]
        took = f" ({record.seconds:.1f} s)" if record.status == "done" else ""
        typer.echo(f"[{record.name:>8}] {record.status}{took}: {record.summary}")

    result = run_pipeline(parsed, restart=restart, on_step=show)
    typer.echo(f"{'PASS' if result.passed else 'FAIL'}: results in {result.out_dir} (report.html, bundle/)")
    raise typer.Exit(EXIT_OK if result.passed else EXIT_FAILED)


@app.command("distill")
@user_errors
def distill_command(
    teacher: str = typer.Argument(..., help="trained teacher, as the loaders accept it"),
    data: Path = typer.Option(..., "--data", help="training inputs: .npz/.npy/.pt/CSV (`y` optional), or a table with --window"),
    validation: Path = typer.Option(..., "--validation", help="held-out inputs for validation and early stopping"),
    out: Path = typer.Option(..., "--out", help="directory: best/ checkpoint, distill.json, report, resumable state"),
    weights: Path | None = WeightsOpt,
    unsafe_allow_pickle: bool = UnsafeOpt,
    cell: str = typer.Option("gru", "--cell", help="student cell: lstm, gru, peephole"),
    hidden: int = typer.Option(16, "--hidden", help="student hidden size"),
    layers: int = typer.Option(1, "--layers", help="student layers"),
    bidirectional: bool = typer.Option(False, "--bidirectional", help="bidirectional student (cannot stream)"),
    proj_size: int = typer.Option(0, "--proj-size", help="LSTM output projection size (0: none)"),
    target_params: str | None = typer.Option(
        None, "--target-params", help="parameter budget, e.g. 50k: picks the widest student of --cell/--layers that fits"
    ),
    epochs: int = typer.Option(10, "--epochs"),
    batch_size: int = typer.Option(64, "--batch-size", help="global batch (split across torchrun processes)"),
    lr: float = typer.Option(3e-3, "--lr"),
    alpha: float = typer.Option(0.7, "--alpha", help="weight of the teacher term against labels"),
    temperature: float = typer.Option(2.0, "--temperature"),
    huber: bool = typer.Option(False, "--huber", help="Huber instead of MSE for regression/forecast"),
    hidden_weight: float = typer.Option(
        0.0, "--hidden-weight", help="also match the teacher's final hidden state (learned projection), this weight"
    ),
    qat: bool = typer.Option(False, "--qat", help="quantization-aware: train through dynamic-int8 rounding"),
    per_channel: bool = typer.Option(False, "--per-channel", help="with --qat: per-row weight scales"),
    qat_bits: int = typer.Option(7, "--qat-bits", help="with --qat: weight bits, 7 (ORT reduce_range, default) or 8"),
    init: Path | None = typer.Option(
        None, "--init", help="start from this student checkpoint (same spec), e.g. --qat fine-tuning"
    ),
    patience: int = typer.Option(3, "--patience", help="epochs without validation improvement before stopping"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto (a GPU when present), cpu, cuda, cuda:N"),
    window: int | None = typer.Option(None, "--window", help="cut table inputs (.csv/.parquet rows) into windows of N steps"),
    stride: int | None = typer.Option(None, "--stride", help="window stride (default: the window)"),
    features: str | None = typer.Option(None, "--features", help="feature columns, comma-separated (default: the rest)"),
    group: str | None = typer.Option(None, "--group", help="column naming each recording; windows never cross two"),
    label: str | None = typer.Option(None, "--label", help="class column (a window gets its majority label)"),
    target: str | None = typer.Option(None, "--target", help="forecast column (y = its next --horizon values)"),
    horizon: int = typer.Option(1, "--horizon"),
    min_length: int | None = typer.Option(None, "--min-length", help="keep recordings shorter than the window, padded"),
    report: bool = typer.Option(True, "--report/--no-report", help="score and time teacher, student, int8 student"),
    test: Path | None = typer.Option(None, "--test", help="labelled data for the report (default: --validation)"),
) -> None:
    """Train a smaller edgelstm student from a teacher; re-running the same command resumes an interrupted run.

    Multi-GPU / multi-node: launch with torchrun (e.g. torchrun --nproc-per-node 4 -m edgelstm.cli distill ...).
    """
    import os

    from edgelstm.distill import DistillConfig, FakeQuantSpec, StudentSpec, distill, parse_count, spec_for_budget, student_config
    from edgelstm.distill.inputs import load_distill_data
    from edgelstm.distill.progress import training_display
    from edgelstm.errors import ConfigError
    from edgelstm.loading import load_model
    from edgelstm.windows import WindowSpec

    loaded = load_model(teacher, weights, unsafe_allow_pickle)
    spec = WindowSpec(
        window, stride, _parse_names_keep_case(features or ""), group, label, target, horizon, min_length
    ) if window else None  # fmt: skip
    train_data = load_distill_data(data, loaded, spec)
    val_data = load_distill_data(validation, loaded, spec)
    if qat_bits not in (7, 8):
        raise ConfigError(f"--qat-bits must be 7 or 8, got {qat_bits}")
    student = StudentSpec(cell=cell, hidden_size=hidden, num_layers=layers, bidirectional=bidirectional, proj_size=proj_size)
    if target_params is not None:
        budget = parse_count(target_params)
        student, count = spec_for_budget(student_config(loaded, student), student, budget)
        typer.echo(
            f"--target-params {budget:,}: {student.cell} hidden {student.hidden_size} x {student.num_layers} layer(s), {count:,} parameters"
        )
    config = DistillConfig(
        student=student,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        alpha=alpha,
        temperature=temperature,
        huber=huber,
        patience=patience,
        seed=seed,
        hidden_weight=hidden_weight,
        init_from=str(init) if init else None,
        fake_quant=FakeQuantSpec(per_channel=per_channel, reduce_range=qat_bits == 7) if qat else None,
    )
    with training_display() as display:
        result = distill(loaded, train_data, val_data, out, config, display.step, display.epoch_done, device)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # torchrun: only rank 0 reports
    typer.echo(
        f"student {result.student_parameters:,} parameters vs teacher {result.teacher_parameters:,} ({result.compression:.1f}x fewer); "
        f"best epoch {result.best_epoch}" + (" (stopped early)" if result.stopped_early else "") + f"; wrote {out / 'best'}"
    )
    if report:
        from edgelstm.distill.report import build_distill_report

        test_data = load_distill_data(test, loaded, spec) if test else val_data
        if test_data.y is None:
            typer.echo("no report: the test data has no labels/targets (`y`) to score against")
            return
        scored = build_distill_report(loaded, [("student", load_model(str(out / "best")))], test_data)
        scored.write(out)
        typer.echo(scored.to_markdown().rstrip())
        typer.echo(f"wrote {out / 'distill_report.md'} and {out / 'distill_report.json'}")


def _parse_names_keep_case(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _parse_names(text: str) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in text.split(",") if name.strip())


def main() -> None:  # entry for `python -m edgelstm.cli`
    app()


if __name__ == "__main__":
    main()
