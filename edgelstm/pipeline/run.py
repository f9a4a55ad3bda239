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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeAlias

from edgelstm import jsonio
from edgelstm.api_steps import BundleOptions, CheckOptions, DistillOptions, ExportOptions, bench, bundle, check, distill, export
from edgelstm.artifact.metadata import load_onnx_file
from edgelstm.bench import BenchConfig
from edgelstm.distill import StudentSpec, parse_count, spec_for_budget, student_config
from edgelstm.distill.inputs import load_distill_data
from edgelstm.distill.run_dir import run_identity
from edgelstm.errors import EdgelstmError, first_line
from edgelstm.export.api import ExportResult
from edgelstm.files import write_text_atomic
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel, load_model
from edgelstm.parity import TolerancePolicy
from edgelstm.parity.data import SequenceData, load_sequence_data
from edgelstm.parity.render import summary_count
from edgelstm.pipeline.litert_steps import export_tflites, quantize_tflites
from edgelstm.pipeline.recipe import Recipe, distill_config
from edgelstm.quantize import ParityGate, SchemeRefused, quantize, scheme_config
from edgelstm.quantize.config import config_from_dict
from edgelstm.quantize.selection import select_scheme
from edgelstm.report import collect_run, html_report, markdown_report

STATE_FILE = "pipeline.json"
STEPS = ("load", "distill", "export", "quantize", "check", "bench", "report", "bundle")


class PipelineError(EdgelstmError):
    """A pipeline step failed; the message names the step."""


@dataclass
class StepRecord:
    """One step as run (or skipped): its status, time, one-line summary and the files it wrote."""

    name: str
    status: str  # "done" | "skipped (unchanged)"
    seconds: float
    summary: str
    outputs: list[str] = field(default_factory=list)


@dataclass
class PipelineResult:
    """The steps of a `convert` run, where they wrote, and whether the parity check passed."""

    steps: list[StepRecord]
    out_dir: Path
    passed: bool


# What a step hands the steps after it. Saved in pipeline.json (the field names are the keys earlier runs wrote) so a
# skipped step hands on what it made last time.
@dataclass(frozen=True)
class Distilled:
    """distill: the student checkpoint every later step works on (None: no [distill] table)."""

    student: str | None = None


@dataclass(frozen=True)
class Exported:
    """export: the verified graphs."""

    exports: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Quantized:
    """quantize: the published artifacts, the one to bundle, and its streaming form."""

    quantized: list[str] = field(default_factory=list)
    best: str | None = None
    streaming_best: str | None = None


@dataclass(frozen=True)
class Checked:
    """check: whether every artifact passed the parity gate."""

    passed: bool = True


@dataclass(frozen=True)
class Carried:
    """Every typed result the steps so far handed on (None: that step hands on nothing, or has not run)."""

    distill: Distilled | None = None
    export: Exported | None = None
    quantize: Quantized | None = None
    check: Checked | None = None

    def with_result(self, result: HandedOn) -> Carried:
        """These results and one more (the step's own type says which it is)."""
        if isinstance(result, Distilled):
            return replace(self, distill=result)
        if isinstance(result, Exported):
            return replace(self, export=result)
        if isinstance(result, Quantized):
            return replace(self, quantize=result)
        if isinstance(result, Checked):
            return replace(self, check=result)
        return self

    def artifacts(self) -> list[Path]:
        """The exported and the quantized graphs, in that order: what check, bench and bundle work on."""
        exports = self.export.exports if self.export else []
        quantized = self.quantize.quantized if self.quantize else []
        return [Path(p) for p in exports + quantized]


HandedOn: TypeAlias = Distilled | Exported | Quantized | Checked | None
CARRIED: dict[str, type[Any]] = {"distill": Distilled, "export": Exported, "quantize": Quantized, "check": Checked}


@dataclass(frozen=True)
class StepOutput:
    """What a step returns: its summary line, the files it wrote, and what it hands on."""

    summary: str
    outputs: list[Path]
    handed_on: HandedOn = None


@dataclass(frozen=True)
class StepInputs:
    """What every step is given: the recipe, the model (the student after distill), its held-out data and budget."""

    recipe: Recipe
    loaded: LoadedModel
    data: SequenceData
    policy: TolerancePolicy


def run_pipeline(recipe: Recipe, restart: bool = False, on_step: Callable[[StepRecord], None] | None = None) -> PipelineResult:
    """Run every step in order, skipping those whose fingerprint and outputs are unchanged since the last run."""
    out = recipe.out_dir
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    state = {} if restart else _read_state(state_path)
    records: list[StepRecord] = []
    inputs = _inputs(recipe, load_model(recipe.model_source))
    carried = Carried()
    previous = ""
    for name in STEPS:
        previous = _fingerprint(previous, name, _settings_for(name, recipe), _inputs_for(name, recipe))
        saved = state.get(name)
        if saved and saved["fingerprint"] == previous and all(Path(p).exists() for p in saved["outputs"]):
            record = StepRecord(name, "skipped (unchanged)", 0.0, saved["summary"], saved["outputs"])
            handed_on = _restored(name, saved.get("context", {}))
        else:
            started = time.perf_counter()
            try:
                output: StepOutput = _STEP_FUNCS[name](inputs, carried)
            except EdgelstmError as exc:
                raise PipelineError(f"step '{name}' failed: {exc}") from None
            handed_on = output.handed_on
            record = StepRecord(name, "done", time.perf_counter() - started, output.summary, [str(p) for p in output.outputs])
            context = jsonio.to_jsonable(handed_on) if handed_on is not None else {}
            state[name] = {"fingerprint": previous, "outputs": record.outputs, "summary": record.summary, "context": context}
            write_text_atomic(state_path, json.dumps(state, indent=2) + "\n", overwrite=True)
        records.append(record)
        carried = carried.with_result(handed_on)
        if isinstance(handed_on, Distilled) and handed_on.student:
            inputs = replace(inputs, loaded=load_model(handed_on.student))  # every later step works on the student
        if on_step:
            on_step(record)
    return PipelineResult(records, out, carried.check.passed if carried.check else True)


def _inputs(recipe: Recipe, loaded: LoadedModel) -> StepInputs:
    sig = loaded.signature
    data = load_sequence_data(recipe.heldout, sig.kind == "tokens", sig.size if sig.kind == "features" else None)
    policy = TolerancePolicy.from_toml(recipe.tolerances) if recipe.tolerances else TolerancePolicy.defaults()
    return StepInputs(recipe, loaded, data, policy)


def _restored(name: str, context: dict[str, Any]) -> HandedOn:
    """What a skipped step handed on last time, typed again from pipeline.json."""
    kind = CARRIED.get(name)
    if kind is None:
        return None
    known = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in context.items() if k in known})


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
    d = to_jsonable(recipe)
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
    if name == "export" and d["target"] != "onnx":  # an ONNX recipe keeps its earlier fingerprints
        keys = (*keys, "target", "chunks")
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


def _load(step: StepInputs, carried: Carried) -> StepOutput:
    loaded = step.loaded
    return StepOutput(
        f"{loaded.source} {type(loaded.module).__name__}, {sum(p.numel() for p in loaded.module.parameters()):,} parameters", []
    )


def _distill(step: StepInputs, carried: Carried) -> StepOutput:
    recipe, loaded, data = step.recipe, step.loaded, step.data
    if recipe.distill is None:
        return StepOutput("not requested (no [distill])", [], Distilled(None))
    settings = recipe.distill
    config = distill_config(settings)
    if "target_params" in settings:
        spec, _ = spec_for_budget(
            student_config(loaded, config.student), config.student, parse_count(str(settings["target_params"]))
        )
        config = distill_config(settings, StudentSpec(spec.cell, spec.hidden_size, spec.num_layers))
    train, validation = (load_distill_data(Path(settings[k]), loaded, None) for k in ("data", "validation"))
    # A directory per run identity (settings, teacher and data fingerprints): an interrupted run resumes in its
    # own, and changed settings or data start a fresh one instead of reusing another run's student.
    work = recipe.out_dir / "distill" / run_identity(loaded.module, train, validation, config).digest[:12]
    # The held-out data scores the student (when it has labels); its labels are refused before training if the
    # student's head cannot take them.
    options = DistillOptions(train, validation, config.student, training=config, qat=config.fake_quant is not None, test=data)
    outcome = distill(loaded, work, options)
    result = outcome.result
    if result is None:  # a torchrun rank other than 0: the pipeline does not run under torchrun
        raise PipelineError("distill reported nothing (not rank 0)")
    outputs = [work / "best", work / "distill.json"]
    if outcome.report is not None:
        outputs += [work / "distill_report.md", work / "distill_report.json"]
    return StepOutput(
        f"{config.student.cell} {config.student.hidden_size}x{config.student.num_layers}: "
        f"{result.student_parameters:,} parameters ({result.compression:.1f}x fewer than the teacher), best epoch {result.best_epoch}",
        outputs,
        Distilled(str(work / "best")),
    )


def _export(step: StepInputs, carried: Carried) -> StepOutput:
    recipe = step.recipe
    if recipe.target == "litert":
        tflites = export_tflites(step.loaded, recipe)
        return StepOutput(
            f"{len(tflites)} .tflite verified: " + ", ".join(p.name for p in tflites), tflites, Exported(list(map(str, tflites)))
        )
    paths = []
    for form in recipe.forms:
        options = ExportOptions(form=form, impl=recipe.impl, data=recipe.heldout, overwrite=True)
        result = export(step.loaded, recipe.out_dir / "export", options)
        if not isinstance(result, ExportResult):  # a loaded model is never a graph made elsewhere
            raise PipelineError(f"{form} export returned {type(result).__name__}")
        if not result.passed:
            failed = ", ".join(c.label for c in result.verification.failures()[:3])
            raise PipelineError(f"{form} export failed verification ({failed})")
        paths.append(result.path)
    summary = f"{len(paths)} graph(s) verified: " + ", ".join(p.name for p in paths)
    return StepOutput(summary, paths, Exported([str(p) for p in paths]))


def _quantize(step: StepInputs, carried: Carried) -> StepOutput:
    recipe, loaded, data, policy = step.recipe, step.loaded, step.data, step.policy
    target = recipe.out_dir / "quantize"
    published: list[Path] = []
    notes = []
    best = None
    if not recipe.schemes:
        return StepOutput("skipped (no schemes)", [], Quantized([], None))
    if recipe.target == "litert":
        lq = quantize_tflites(loaded, data, policy, recipe, [Path(p) for p in carried.export.exports] if carried.export else [])
        best_tflite = str(lq.best) if lq.best else None
        summary = f"{len(lq.published)} .tflite published; " + "; ".join(lq.notes)
        return StepOutput(summary, lq.published, Quantized([str(p) for p in lq.published], best_tflite, best_tflite))
    # A recipe that checks the mobile provider ships to ORT Mobile: the winner must load in ORT format.
    ort_format = "mobile" in recipe.providers
    if "auto" in recipe.schemes:
        selection = select_scheme(loaded, data, target, policy, overwrite=True, ort_format=ort_format)
        published += [c.result.path for c in selection.candidates if c.result and c.result.path]
        winner = selection.winner
        best = str(winner.result.path) if winner and winner.result and winner.result.path else None
        notes.append(selection.why)
    # one gate: its reference outputs are computed once for every scheme
    gate = ParityGate(loaded, data, policy, ort_format=ort_format)
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
    exports = carried.export.exports if carried.export else []
    streaming_best, note = _streaming_best(recipe, data, gate, best, exports)
    if note:
        notes.append(note)
    if streaming_best is not None and streaming_best not in exports:  # a new, quantized graph
        published.append(Path(streaming_best))
    summary = f"{len(published)} artifact(s) published; " + "; ".join(notes)
    return StepOutput(summary, published, Quantized([str(p) for p in published], best, streaming_best))


def _streaming_best(
    recipe: Recipe, data: SequenceData, gate: ParityGate, best: str | None, exports: list[str]
) -> tuple[str | None, str]:
    """The bundle's streaming graph (chunk in, state out): the winning scheme applied to the streaming export and
    gated the same way, or the fp32 streaming export itself when there is no winner or it does not pass."""
    if recipe.bundle_form != "streaming" or recipe.bundle_artifact != "best":
        return None, ""
    export = next((p for p in exports if Path(p).name.startswith("streaming_")), None)
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

    props = {p.key: p.value for p in load_onnx_file(path).metadata_props}
    if "edgelstm.quantization" not in props:
        raise PipelineError(f"{path.name}: carries no quantization settings to apply to the streaming graph")
    return dict(json.loads(props["edgelstm.quantization"]))


def _check(step: StepInputs, carried: Carried) -> StepOutput:
    recipe = step.recipe
    options = CheckOptions(
        data=step.data, providers=recipe.providers, allow_missing=recipe.allow_missing, tolerances=recipe.tolerances
    )
    report = check(carried.artifacts(), step.loaded, options, own_graphs=True).report
    if report is None:  # a loaded torch reference always gives a ParityReport
        raise PipelineError("check returned no parity report")
    path = recipe.out_dir / "check.json"
    write_text_atomic(path, jsonio.dumps(report) + "\n", overwrite=True)
    failing = [f"{Path(c.artifact).name} on {c.provider}" for c in report.ran if not c.passed]
    # INCONCLUSIVE (the data cannot resolve a task budget) fails the run like FAIL, under its own name
    word = "INCONCLUSIVE" if report.verdict == "inconclusive" else "FAIL"
    summary = "PASS" if report.passed else f"{word}: " + (", ".join(failing) or "nothing was checked")
    return StepOutput(f"{summary} ({summary_count(report)})", [path], Checked(report.passed))


def _bench(step: StepInputs, carried: Carried) -> StepOutput:
    recipe = step.recipe
    config = BenchConfig(batches=recipe.batches, steps=recipe.steps, threads=recipe.threads, spinning=recipe.spinning)
    report = bench(carried.artifacts(), step.loaded, config, own_graphs=True)
    path = recipe.out_dir / "bench.json"
    write_text_atomic(path, jsonio.dumps(report) + "\n", overwrite=True)
    timed = [r for r in report.latencies if r.kind == "artifact"]
    low = min(r.batch for r in timed)  # min(--batches) for ONNX; a .tflite runs at its own batch only
    fastest = min((r for r in timed if r.batch == low), key=lambda r: r.p50_ms)
    return StepOutput(f"fastest at batch {fastest.batch}: {fastest.name} {fastest.p50_ms:.3f} ms", [path])


def _report(step: StepInputs, carried: Carried) -> StepOutput:
    out_dir = step.recipe.out_dir
    summary = collect_run(out_dir)
    paths = [out_dir / n for n in ("report.json", "report.md", "report.html")]
    write_text_atomic(paths[0], jsonio.dumps(to_jsonable(summary)) + "\n", overwrite=True)
    write_text_atomic(paths[1], markdown_report(summary), overwrite=True)
    write_text_atomic(paths[2], html_report(summary), overwrite=True)
    return StepOutput(f"{len(summary.artifacts)} artifacts in report.md / report.html", paths)


def _bundle(step: StepInputs, carried: Carried) -> StepOutput:
    recipe = step.recipe
    if recipe.bundle_artifact == "best":
        q, exports = carried.quantize, (carried.export.exports if carried.export else [])
        chosen = (q.streaming_best if q else None) or (q.best if q else None) or next(iter(exports), None)
    else:
        chosen = next((str(p) for p in carried.artifacts() if p.name == recipe.bundle_artifact), None)
    if chosen is None:
        raise PipelineError(f"no artifact named {recipe.bundle_artifact!r} to bundle")
    if recipe.target == "litert":  # the LiteRT Interpreter's bundle carries no ORT session policy (no bench report)
        reports = BundleOptions(recipe.out_dir / "check.json", None, recipe.bundle_zip, overwrite=True, target="android")
    else:
        reports = BundleOptions(recipe.out_dir / "check.json", recipe.out_dir / "bench.json", recipe.bundle_zip, overwrite=True)
    result = bundle(Path(chosen), recipe.out_dir / "bundle", reports, own_graphs=True)
    outputs = [result.directory] + ([result.zip_path] if result.zip_path else [])
    summary = f"{Path(chosen).name} -> {result.directory.name}" + (f" + {result.zip_path.name}" if result.zip_path else "")
    return StepOutput(summary, outputs)


_STEP_FUNCS: dict[str, Callable[[StepInputs, Carried], StepOutput]] = {
    "load": _load,
    "distill": _distill,
    "export": _export,
    "quantize": _quantize,
    "check": _check,
    "bench": _bench,
    "report": _report,
    "bundle": _bundle,
}
