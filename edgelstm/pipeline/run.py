"""`edgelstm convert`: load -> export -> quantize -> check -> bench -> report -> bundle, resumable.

Each finished step records a fingerprint (its settings, its inputs' bytes, and the previous step's fingerprint)
in `pipeline.json`; a re-run skips steps whose fingerprint and outputs are unchanged, so an interrupted run
resumes instead of redoing finished work. Outputs are written atomically, so an interruption leaves no partial
file. The pipeline owns its output directory and replaces its own earlier results there.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.errors import EdgelstmError, first_line
from edgelstm.files import write_text_atomic
from edgelstm.pipeline.recipe import Recipe

STATE_FILE = "pipeline.json"
STEPS = ("load", "distill", "export", "quantize", "check", "bench", "report", "bundle")


class PipelineError(EdgelstmError):
    """A pipeline step failed; the message names the step."""


@dataclass
class StepRecord:
    name: str
    status: str  # "done" | "skipped (unchanged)"
    seconds: float
    summary: str
    outputs: list[str] = field(default_factory=list)


@dataclass
class PipelineResult:
    steps: list[StepRecord]
    out_dir: Path
    passed: bool


def run_pipeline(recipe: Recipe, restart: bool = False, on_step: Callable[[StepRecord], None] | None = None) -> PipelineResult:
    from edgelstm.loading import load_model
    from edgelstm.parity import TolerancePolicy
    from edgelstm.parity.data import load_sequence_data

    out = recipe.out_dir
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    state = {} if restart else _read_state(state_path)
    records: list[StepRecord] = []
    loaded = load_model(recipe.model_source)
    sig = loaded.signature
    data = load_sequence_data(recipe.heldout, sig.kind == "tokens", sig.size if sig.kind == "features" else None)
    policy = TolerancePolicy.from_toml(recipe.tolerances) if recipe.tolerances else TolerancePolicy.defaults()
    context: dict[str, Any] = {"passed": True}
    previous = ""
    for name in STEPS:
        settings = _settings_for(name, recipe)
        fingerprint = _fingerprint(previous, name, settings, _inputs_for(name, recipe))
        previous = fingerprint
        saved = state.get(name)
        if saved and saved["fingerprint"] == fingerprint and all(Path(p).exists() for p in saved["outputs"]):
            record = StepRecord(name, "skipped (unchanged)", 0.0, saved["summary"], saved["outputs"])
            context.update(saved.get("context", {}))
        else:
            started = time.perf_counter()
            try:
                summary, outputs, ctx = _STEP_FUNCS[name](recipe, loaded, data, policy, context)
            except EdgelstmError as exc:
                raise PipelineError(f"step '{name}' failed: {exc}") from None
            context.update(ctx)
            record = StepRecord(name, "done", time.perf_counter() - started, summary, [str(p) for p in outputs])
            state[name] = {"fingerprint": fingerprint, "outputs": record.outputs, "summary": summary, "context": ctx}
            write_text_atomic(state_path, json.dumps(state, indent=2) + "\n", overwrite=True)
        records.append(record)
        if name == "distill" and context.get("student"):
            loaded = load_model(context["student"])  # every later step works on the student
        if on_step:
            on_step(record)
    return PipelineResult(records, out, bool(context.get("passed", True)))


def _read_state(path: Path) -> dict[str, Any]:
    """The finished steps recorded by an earlier run; a damaged record is refused (--restart redoes everything)."""
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:  # ValueError: not JSON, or not UTF-8
        raise PipelineError(f"{path}: unreadable pipeline state ({first_line(exc, 120)}); rerun with --restart") from None
    valid = isinstance(state, dict) and all(
        isinstance(v, dict)
        and isinstance(v.get("fingerprint"), str)
        and isinstance(v.get("outputs"), list)
        and isinstance(v.get("summary"), str)
        and isinstance(v.get("context", {}), dict)
        for v in state.values()
    )
    if not valid:
        raise PipelineError(f"{path}: not a pipeline state written by edgelstm convert; rerun with --restart")
    return state


def _settings_for(name: str, recipe: Recipe) -> dict[str, Any]:
    d = recipe.to_dict()
    keys = {
        "load": ("source", "weights"),
        "distill": ("distill",),
        "export": ("forms", "impl", "heldout"),
        "quantize": ("schemes", "heldout", "tolerances", "bundle_form"),
        "check": ("providers", "allow_missing", "tolerances", "heldout"),
        "bench": ("batches", "steps", "threads"),
        "report": (),
        "bundle": ("bundle_artifact", "bundle_form", "bundle_zip"),
    }[name]
    if name == "load" and d["model_options"]:
        keys = (*keys, "model_options")
    if name == "bench" and tuple(d["spinning"]) != (False,):  # the default leaves earlier fingerprints as they were
        keys = (*keys, "spinning")
    return {k: d[k] for k in keys}


def _inputs_for(name: str, recipe: Recipe) -> list[Path]:
    files: list[Path] = []
    if name == "load":
        source = Path(recipe.source)
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source] if source.is_file() else []
        if recipe.weights:
            files.append(recipe.weights)
    elif name == "distill" and recipe.distill:
        files = [Path(recipe.distill["data"]), Path(recipe.distill["validation"])]
    elif name in ("export", "quantize", "check"):
        files = [recipe.heldout] + ([recipe.tolerances] if recipe.tolerances else [])
    return files


def _fingerprint(previous: str, name: str, settings: dict[str, Any], files: list[Path]) -> str:
    digest = hashlib.sha256(f"{previous}|{name}|{json.dumps(settings, sort_keys=True)}".encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _load(recipe: Recipe, loaded: Any, data: Any, policy: Any, ctx: dict[str, Any]) -> tuple[str, list[Path], dict[str, Any]]:
    return (
        f"{loaded.source} {type(loaded.module).__name__}, {sum(p.numel() for p in loaded.module.parameters()):,} parameters",
        [],
        {},
    )


def _distill(recipe: Recipe, loaded: Any, data: Any, policy: Any, ctx: dict[str, Any]) -> tuple[str, list[Path], dict[str, Any]]:
    from edgelstm.distill import StudentSpec, distill, parse_count, spec_for_budget, student_config
    from edgelstm.distill.inputs import check_distill_data, load_distill_data
    from edgelstm.distill.report import build_distill_report
    from edgelstm.distill.run_dir import run_identity
    from edgelstm.loading import load_model
    from edgelstm.pipeline.recipe import distill_config

    if recipe.distill is None:
        return "not requested (no [distill])", [], {"student": None}
    settings = recipe.distill
    config = distill_config(settings)
    if "target_params" in settings:
        spec, _ = spec_for_budget(
            student_config(loaded, config.student), config.student, parse_count(str(settings["target_params"]))
        )
        config = distill_config(settings, StudentSpec(spec.cell, spec.hidden_size, spec.num_layers))
    train, validation = (load_distill_data(Path(settings[k]), loaded, None) for k in ("data", "validation"))
    if data.y is not None:  # the held-out data scores the student below: refuse labels its head cannot take now
        check_distill_data(data, loaded, student_config(loaded, config.student).head)
    # A directory per run identity (settings, teacher and data fingerprints): an interrupted run resumes in its
    # own, and changed settings or data start a fresh one instead of reusing another run's student.
    work = recipe.out_dir / "distill" / run_identity(loaded.module, train, validation, config).digest[:12]
    result = distill(loaded, train, validation, work, config)
    student = load_model(str(work / "best"))
    outputs = [work / "best", work / "distill.json"]
    if data.y is not None:
        report = build_distill_report(loaded, [("student", student)], data)
        report.write(work)
        outputs += [work / "distill_report.md", work / "distill_report.json"]
    return (
        f"{config.student.cell} {config.student.hidden_size}x{config.student.num_layers}: "
        f"{result.student_parameters:,} parameters ({result.compression:.1f}x fewer than the teacher), best epoch {result.best_epoch}",
        outputs,
        {"student": str(work / "best")},
    )


def _export(recipe: Recipe, loaded: Any, data: Any, policy: Any, ctx: dict[str, Any]) -> tuple[str, list[Path], dict[str, Any]]:
    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.export.api import export_model

    paths = []
    for form in recipe.forms:
        config = ExportConfig(form=form, impl=recipe.impl)  # type: ignore[arg-type]  # validated by ExportConfig
        result = export_model(loaded, recipe.out_dir / "export", config, overwrite=True, data=recipe.heldout)
        if not result.passed:
            failed = ", ".join(c.label for c in result.verification.failures()[:3])
            raise PipelineError(f"{form} export failed verification ({failed})")
        paths.append(result.path)
    return f"{len(paths)} graph(s) verified: " + ", ".join(p.name for p in paths), paths, {"exports": [str(p) for p in paths]}


def _quantize(recipe: Recipe, loaded: Any, data: Any, policy: Any, ctx: dict[str, Any]) -> tuple[str, list[Path], dict[str, Any]]:
    from edgelstm.quantize import ParityGate, SchemeRefused, quantize, scheme_config
    from edgelstm.quantize.selection import select_scheme

    target = recipe.out_dir / "quantize"
    published: list[Path] = []
    notes = []
    best = None
    if not recipe.schemes:
        return "skipped (no schemes)", [], {"quantized": [], "best": None}
    if "auto" in recipe.schemes:
        # A recipe that checks the mobile provider ships to ORT Mobile: the winner must load in ORT format.
        selection = select_scheme(loaded, data, target, policy, overwrite=True, ort_format="mobile" in recipe.providers)
        published += [c.result.path for c in selection.candidates if c.result and c.result.path]
        best = (
            str(selection.winner.result.path)
            if selection.winner and selection.winner.result and selection.winner.result.path
            else None
        )
        notes.append(selection.why)
    # one gate: its reference outputs are computed once for every scheme
    gate = ParityGate(loaded, data, policy, ort_format="mobile" in recipe.providers)
    for name in (s for s in recipe.schemes if s != "auto"):
        try:
            result = quantize(loaded, scheme_config(name), target, calibration=data, overwrite=True, gate=gate)
        except SchemeRefused as exc:
            notes.append(str(exc))
            continue
        if result.path is not None:
            published.append(result.path)
            best = best or str(result.path)
        else:
            notes.append(f"{name}: failed the parity gate, not written")
    streaming_best, note = _streaming_best(recipe, loaded, data, gate, best, ctx)
    if note:
        notes.append(note)
    if streaming_best is not None and streaming_best not in ctx.get("exports", []):  # a new, quantized graph
        published.append(Path(streaming_best))
    return (
        f"{len(published)} artifact(s) published; " + "; ".join(notes),
        published,
        {"quantized": [str(p) for p in published], "best": best, "streaming_best": streaming_best},
    )


def _streaming_best(
    recipe: Recipe, loaded: Any, data: Any, gate: Any, best: str | None, ctx: dict[str, Any]
) -> tuple[str | None, str]:
    """The bundle's streaming graph (chunk in, state out): the winning scheme applied to the streaming export and
    gated the same way, or the fp32 streaming export itself when there is no winner or it does not pass."""
    from edgelstm.quantize import SchemeRefused, quantize
    from edgelstm.quantize.config import config_from_dict

    if recipe.bundle_form != "streaming" or recipe.bundle_artifact != "best":
        return None, ""
    export = next((p for p in ctx.get("exports", []) if Path(p).name.startswith("streaming_")), None)
    if export is None:
        return None, ""
    if best is None:
        return export, f"bundle: fp32 {Path(export).name} (no scheme passed)"
    config = config_from_dict(_quant_config(Path(best)))
    try:
        result = quantize(
            Path(export), config, recipe.out_dir / "quantize" / "streaming", calibration=data, overwrite=True, gate=gate
        )
    except SchemeRefused as exc:
        return export, f"bundle: fp32 {Path(export).name} ({config.scheme} refused on it: {first_line(exc, 160)})"
    if result.path is None:
        return export, f"bundle: fp32 {Path(export).name} ({config.scheme} on it failed the parity gate)"
    return str(result.path), f"bundle: {result.path.name} ({config.scheme} on the streaming graph, gate passed)"


def _quant_config(path: Path) -> dict[str, Any]:
    """The scheme settings a quantized artifact was made with (its `edgelstm.quantization` metadata)."""
    from edgelstm.artifact.metadata import load_onnx_file

    props = {p.key: p.value for p in load_onnx_file(path).metadata_props}
    if "edgelstm.quantization" not in props:
        raise PipelineError(f"{path.name}: carries no quantization settings to apply to the streaming graph")
    return dict(json.loads(props["edgelstm.quantization"]))


def _check(recipe: Recipe, loaded: Any, data: Any, policy: Any, ctx: dict[str, Any]) -> tuple[str, list[Path], dict[str, Any]]:
    from edgelstm import jsonio
    from edgelstm.parity import CheckConfig, run_check
    from edgelstm.parity.render import summary_count

    artifacts = [Path(p) for p in ctx.get("exports", []) + ctx.get("quantized", [])]
    report = run_check(
        artifacts, loaded, data, CheckConfig(providers=recipe.providers, allow_missing=recipe.allow_missing), policy
    )
    path = recipe.out_dir / "check.json"
    write_text_atomic(path, jsonio.dumps(report.to_dict()) + "\n", overwrite=True)
    failing = [f"{Path(c.artifact).name} on {c.provider}" for c in report.ran if not c.passed]
    # INCONCLUSIVE (the data cannot resolve a task budget) fails the run like FAIL, under its own name
    word = "INCONCLUSIVE" if report.verdict == "inconclusive" else "FAIL"
    summary = "PASS" if report.passed else f"{word}: " + (", ".join(failing) or "nothing was checked")
    return f"{summary} ({summary_count(report)})", [path], {"passed": report.passed}


def _bench(recipe: Recipe, loaded: Any, data: Any, policy: Any, ctx: dict[str, Any]) -> tuple[str, list[Path], dict[str, Any]]:
    from edgelstm import jsonio
    from edgelstm.bench import BenchConfig, run_bench

    artifacts = [Path(p) for p in ctx.get("exports", []) + ctx.get("quantized", [])]
    config = BenchConfig(batches=recipe.batches, steps=recipe.steps, threads=recipe.threads, spinning=recipe.spinning)
    report = run_bench(artifacts, loaded, config)
    path = recipe.out_dir / "bench.json"
    write_text_atomic(path, jsonio.dumps(report.to_dict()) + "\n", overwrite=True)
    fastest = min(
        (r for r in report.latencies if r.kind == "artifact" and r.batch == min(recipe.batches)), key=lambda r: r.p50_ms
    )
    return f"fastest at batch {fastest.batch}: {fastest.name} {fastest.p50_ms:.3f} ms", [path], {}


def _report(recipe: Recipe, loaded: Any, data: Any, policy: Any, ctx: dict[str, Any]) -> tuple[str, list[Path], dict[str, Any]]:
    from edgelstm import jsonio
    from edgelstm.report import collect_run, html_report, markdown_report

    summary = collect_run(recipe.out_dir)
    paths = [recipe.out_dir / n for n in ("report.json", "report.md", "report.html")]
    write_text_atomic(paths[0], jsonio.dumps(summary.to_dict()) + "\n", overwrite=True)
    write_text_atomic(paths[1], markdown_report(summary), overwrite=True)
    write_text_atomic(paths[2], html_report(summary), overwrite=True)
    return f"{len(summary.artifacts)} artifacts in report.md / report.html", paths, {}


def _bundle(recipe: Recipe, loaded: Any, data: Any, policy: Any, ctx: dict[str, Any]) -> tuple[str, list[Path], dict[str, Any]]:
    from edgelstm.bundle import build_bundle

    if recipe.bundle_artifact == "best":
        chosen = ctx.get("streaming_best") or ctx.get("best") or (ctx.get("exports") or [None])[0]
    else:
        candidates = [Path(p) for p in ctx.get("exports", []) + ctx.get("quantized", [])]
        chosen = next((str(p) for p in candidates if p.name == recipe.bundle_artifact), None)
    if chosen is None:
        raise PipelineError(f"no artifact named {recipe.bundle_artifact!r} to bundle")
    result = build_bundle(
        Path(chosen),
        recipe.out_dir / "bundle",
        recipe.out_dir / "check.json",
        recipe.out_dir / "bench.json",
        make_zip=recipe.bundle_zip,
        overwrite=True,
    )
    outputs = [result.directory] + ([result.zip_path] if result.zip_path else [])
    return (
        f"{Path(chosen).name} -> {result.directory.name}" + (f" + {result.zip_path.name}" if result.zip_path else ""),
        outputs,
        {},
    )


_STEP_FUNCS: dict[str, Callable[..., tuple[str, list[Path], dict[str, Any]]]] = {
    "load": _load,
    "distill": _distill,
    "export": _export,
    "quantize": _quantize,
    "check": _check,
    "bench": _bench,
    "report": _report,
    "bundle": _bundle,
}
