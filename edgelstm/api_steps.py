"""The steps of the typed Python API (export, check, bench, bundle, distill); users import them from `edgelstm.api`.

Apart from `edgelstm.api` so that the pipeline (`convert`), which `edgelstm.api` also offers, can run these same
steps without importing its own caller.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeAlias

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.runners import PROVIDERS
from edgelstm.artifact.session import handed_over
from edgelstm.bench import BenchConfig, BenchReport, run_bench
from edgelstm.bundle import BundleResult, VerifyResult, build_bundle, verify_bundle
from edgelstm.bundle.litert_bundle import build_litert_bundle
from edgelstm.distill import (
    DistillConfig,
    DistillResult,
    FakeQuantSpec,
    StudentSpec,
    parse_count,
    spec_for_budget,
    student_config,
)
from edgelstm.distill import distill as train_student
from edgelstm.distill.inputs import check_distill_data, load_distill_data
from edgelstm.distill.report import build_distill_report
from edgelstm.errors import ConfigError
from edgelstm.export.api import ExportResult, export_model
from edgelstm.export.litert import LiteRTExportConfig, LiteRTExportResult, export_litert
from edgelstm.export.state_exposure import StateExposureResult, stream_graph_file
from edgelstm.export.unrolled_file import UnrolledGraphResult, unrolled_graph_file
from edgelstm.export.verify import VerificationConfig
from edgelstm.files import check_output_dir
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel, load_model
from edgelstm.model_source import ModelOptions, ModelSource
from edgelstm.parity import CheckConfig, ParityReport, TolerancePolicy, run_check
from edgelstm.parity.data import SequenceData, load_sequence_data
from edgelstm.parity.evidence_strength import FAIL, INCONCLUSIVE, PASS
from edgelstm.parity.reference import open_file_reference
from edgelstm.parity.speech_corpus import builtin_seconds
from edgelstm.parity.stream_check import stream_check_files
from edgelstm.parity.stream_verdict import StreamCheckConfig, StreamCheckReport
from edgelstm.torchscript import is_torchscript_archive
from edgelstm.windows import WindowSpec

__all__ = [
    "BundleOptions",
    "BundleTarget",
    "CheckOptions",
    "CheckOutcome",
    "DistillOptions",
    "DistillOutcome",
    "ExportOptions",
    "ExportOutcome",
    "ExportTarget",
    "Model",
    "bench",
    "bundle",
    "check",
    "distill",
    "export",
    "streams_against_file",
    "verify",
]

Model: TypeAlias = ModelSource | LoadedModel  # as the user named it, or loaded once by a caller that runs several steps
ExportOutcome: TypeAlias = ExportResult | UnrolledGraphResult | StateExposureResult | LiteRTExportResult
Progress: TypeAlias = Callable[[str], None]
ExportTarget: TypeAlias = Literal["onnx", "litert"]  # litert: one verified .tflite (+ sidecar) per static shape
BundleTarget: TypeAlias = Literal["ort", "android"]  # android: a .tflite for the LiteRT Interpreter (+ Kotlin)


def _loaded(model: Model) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model)


def _handed_over(own_graphs: bool, *paths: str | Path) -> contextlib.AbstractContextManager[None]:
    """ORT failures on the user's graphs are theirs (one `GraphRuntimeError` line); on graphs edgelstm wrote itself
    (`own_graphs`, the pipeline's) they stay internal errors."""
    return contextlib.nullcontext() if own_graphs else handed_over(*paths)


# ---------------------------------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportOptions:
    """How `export` builds and verifies the graph (the `edgelstm export` options)."""

    form: str = "sequence"  # sequence | streaming
    impl: str = "auto"  # fused | loop | unrolled | auto
    opset: int = 17
    lengths: bool = True
    state_inputs: bool = False
    fixed_steps: int | None = None
    batches: tuple[int, ...] | None = None  # verification batch sizes
    steps: tuple[int, ...] | None = None  # verification lengths
    example_steps: int | None = None
    data: Path | None = None  # real inputs verified on too
    normalize: bool = True
    overwrite: bool = False
    target: ExportTarget = "onnx"  # onnx | litert (one .tflite per static shape: --batches x --chunks, or T = --fixed-steps)
    chunks: tuple[int, ...] | None = None  # litert streaming form: steps per call, one artifact each (default 1)

    def __post_init__(self) -> None:
        if self.target not in ("onnx", "litert"):
            raise ConfigError(f"--target {self.target!r}: choose onnx or litert")
        if self.chunks is not None and self.target != "litert":
            raise ConfigError("--chunks is for --target litert (ONNX streaming graphs take any chunk length)")

    def litert_config(self) -> LiteRTExportConfig:
        """The LiteRT shapes asked for: --batches (default 1) x --chunks (default 1), or --fixed-steps T."""
        return LiteRTExportConfig(self.form, self.batches or (1,), self.chunks or (1,), self.fixed_steps, self.normalize)

    def export_config(self) -> ExportConfig:
        """The graph's settings, validated (a bad --form or --opset is refused here)."""
        return ExportConfig(
            form=self.form,  # type: ignore[arg-type]  # ExportConfig validates the name
            impl=self.impl,  # type: ignore[arg-type]
            opset=self.opset,
            with_lengths=self.lengths,
            with_state_inputs=self.state_inputs,
            fixed_steps=self.fixed_steps,
            normalize_input=self.normalize,
        )


def export(model: Model, out: Path, options: ExportOptions = ExportOptions()) -> ExportOutcome:
    """Export to ONNX, check it and verify it in ONNX Runtime at shapes other than the example; written only if it passes.

    An `.onnx` model made elsewhere gets its streaming form (`form="streaming"`) or its unrolled form
    (`impl="unrolled", fixed_steps=T`) instead::

        result = export(ModelSource("runs/watch-lstm"), Path("runs/watch-onnx"), ExportOptions(form="streaming"))
        print(result.path, result.passed)
    """
    if options.target == "litert":
        litert = options.litert_config()  # validated before the model loads
        check_output_dir(out)
        return export_litert(_loaded(model), out, litert, options.overwrite)
    config = options.export_config()
    check_output_dir(out)  # before loading: a bad --out is known without running anything
    if isinstance(model, ModelSource) and model.spec.endswith(".onnx"):
        return _export_onnx_graph(model, out, config, options.overwrite)
    if options.example_steps is not None:
        VerificationConfig(example_steps=options.example_steps)  # validates the option before the model loads
    loaded = _loaded(model)
    example = options.example_steps if options.example_steps is not None else loaded.signature.example_steps
    verification = VerificationConfig(example_steps=example, steps=options.steps)
    if options.batches is not None:
        verification = replace(verification, batches=options.batches)
    return export_model(loaded, out, config, verification, options.overwrite, options.data)


def _export_onnx_graph(source: ModelSource, out: Path, config: ExportConfig, overwrite: bool) -> ExportOutcome:
    """A graph made elsewhere: its fused LSTM/GRU nodes unrolled for T steps, or their state exposed as I/O."""
    path = Path(source.spec)
    if config.impl == "unrolled":
        if config.fixed_steps is None:  # ExportConfig requires it with impl=unrolled; kept for the type checker
            raise ConfigError("--impl unrolled needs --fixed-steps")
        return unrolled_graph_file(path, out, config.fixed_steps, overwrite, source.interface_hints())
    if config.form != "streaming":
        raise ConfigError(
            f"{path}: is an ONNX graph already; export of an .onnx file makes its streaming form (--form streaming) "
            "or its unrolled form (--impl unrolled --fixed-steps T)"
        )
    return stream_graph_file(path, out, source.interface_hints(), overwrite)


# ----------------------------------------------------------------------------------------------------- check


@dataclass(frozen=True)
class CheckOptions:
    """What `check` runs and how it judges (the `edgelstm check` options, less the files it writes)."""

    data: Path | SequenceData | None = None  # a file, or sequences a caller already loaded
    providers: tuple[str, ...] = ("cpu", "mobile", "reference")
    allow_missing: tuple[str, ...] = ()
    tolerances: Path | None = None
    task: str = "auto"
    stress: bool = True
    limit: int | None = None
    threshold: float = 0.5  # the rest: against an ONNX (or TorchScript) reference, streamed chunk by chunk
    max_flips: float = 0.01
    max_delta: float = 0.1
    strict_evidence: bool = False
    seconds: float | None = None

    def __post_init__(self) -> None:
        if not self.providers:
            raise ConfigError(f"--providers names no provider; give a comma list of {', '.join(PROVIDERS)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be a positive number of sequences, got {self.limit}")


@dataclass
class CheckOutcome:
    """The verdict of `check`: a `ParityReport` against a torch reference, or one streaming report per artifact
    against an ONNX/TorchScript reference file. Truthy only on PASS (INCONCLUSIVE is not a pass)."""

    verdict: str  # pass | FAIL | inconclusive (edgelstm.parity.evidence_strength)
    report: ParityReport | None = None
    streams: list[StreamCheckReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the gate's verdict is a pass (inconclusive and failing evidence are not)."""
        return self.verdict == PASS

    def __bool__(self) -> bool:
        return self.passed

    def payload(self) -> Any:
        """The JSON of `check --json` / `--report`: the report, or the streaming report(s) (a list when several)."""
        if self.report is not None:
            return to_jsonable(self.report)
        rows = [to_jsonable(r) for r in self.streams]
        return rows if len(rows) > 1 else rows[0]


def streams_against_file(reference: str) -> bool:
    """Whether `check` streams against a reference file (an .onnx or TorchScript archive) instead of a torch model."""
    return reference.endswith(".onnx") or is_torchscript_archive(Path(reference))


def check(
    artifacts: Sequence[Path],
    reference: Model,
    options: CheckOptions = CheckOptions(),
    progress: Progress | None = None,
    *,
    own_graphs: bool = False,
) -> CheckOutcome:
    """The parity gate: every artifact on every provider against the float64 torch reference (or, with an .onnx
    reference, streamed chunk by chunk against that graph and gated on decisions). `progress` hears what runs next::

        verdict = check([Path("model.onnx")], ModelSource("runs/watch-lstm"), CheckOptions(data=Path("heldout.npz")))
        if not verdict:
            print(verdict.verdict, verdict.report.candidates if verdict.report else verdict.streams)

    `own_graphs`: the caller wrote the artifacts itself (the pipeline), so ONNX Runtime failing on one stays an
    internal error instead of becoming the user's `GraphRuntimeError`.
    """
    if isinstance(reference, ModelSource) and streams_against_file(reference.spec):
        _refuse_tflite_against_file(artifacts, reference.spec)
        with handed_over(*artifacts, reference.spec):  # check runs only the user's graphs: ORT refusing one is theirs
            return _check_against_file(list(artifacts), reference, options)
    if options.seconds is not None:
        raise ConfigError("--seconds sets the built-in audio of a streaming check against an ONNX --reference")
    config = CheckConfig(
        providers=options.providers,
        allow_missing=options.allow_missing,
        task=options.task,
        stress=options.stress,
        strict_evidence=options.strict_evidence,
    )
    policy = TolerancePolicy.from_toml(options.tolerances) if options.tolerances else TolerancePolicy.defaults()
    loaded = _loaded(reference)
    sequences = _check_data(options, loaded)
    weights = reference.weights if isinstance(reference, ModelSource) else None
    with _handed_over(own_graphs, *artifacts):
        result = run_check(list(artifacts), loaded, sequences, config, policy, progress, weights)
    return CheckOutcome(result.verdict, report=result)


def _refuse_tflite_against_file(artifacts: Sequence[Path], reference: str) -> None:
    """A file reference is streamed through ONNX Runtime beside graphs made elsewhere (their chunk, constants and
    states given by hand); a .tflite has one static shape and an interface taken from the torch model it was
    exported from, so its gate is that model in float64."""
    tflite = next((Path(a) for a in artifacts if Path(a).suffix == ".tflite"), None)
    if tflite is not None:
        raise ConfigError(
            f"{tflite.name}: a .tflite is checked against the model it was exported from (--reference CHECKPOINT, .pt2 or "
            f"package.module:factory, run in float64), not against {Path(reference).name}: an ONNX or TorchScript reference "
            "streams ONNX graphs only"
        )


def _check_data(options: CheckOptions, loaded: LoadedModel) -> SequenceData | None:
    if options.data is None or isinstance(options.data, SequenceData):
        return options.data.take(options.limit) if options.data is not None and options.limit is not None else options.data
    sig = loaded.signature
    tokens = sig.kind == "tokens"
    sequences = load_sequence_data(options.data, tokens, None if tokens else sig.size, sig.size if tokens else None)
    return sequences.take(options.limit) if options.limit is not None else sequences


def _check_against_file(artifacts: list[Path], reference: ModelSource, options: CheckOptions) -> CheckOutcome:
    """The streaming check: the artifact and the reference file fed the same chunks, each carrying its state."""
    config = StreamCheckConfig(
        chunk=reference.chunk,
        threshold=options.threshold,
        max_flip_fraction=options.max_flips,
        max_abs_delta=options.max_delta,
        providers=options.providers,
        strict_evidence=options.strict_evidence,
    )
    truth = open_file_reference(Path(reference.spec), reference.allow_torchscript)
    seconds = builtin_seconds(options.seconds, options.data is not None)
    if isinstance(options.data, SequenceData):
        raise ConfigError("a streaming check reads its audio from a file: give CheckOptions.data as a path")
    results = stream_check_files(artifacts, truth, reference.interface_hints(), options.data, config, seconds)
    verdicts = {r.verdict for r in results}
    verdict = FAIL if FAIL in verdicts else INCONCLUSIVE if INCONCLUSIVE in verdicts else PASS
    return CheckOutcome(verdict, streams=list(results))


# ----------------------------------------------------------------------------------------------- bench, bundle


def bench(
    artifacts: Sequence[Path],
    reference: Model | None = None,
    config: BenchConfig = BenchConfig(),
    options: ModelOptions = ModelOptions(),
    *,
    own_graphs: bool = False,
) -> BenchReport:
    """Latency (p50/p90/p99, throughput), cold start, streaming per-step cost and size, with baselines when a
    reference is given; `options` (constants, states, chunk) describe ONNX graphs made elsewhere::

        report = bench([Path("model.onnx")], config=BenchConfig(batches=(1,), steps=(50,), rounds=3, cold_start=False))
        print(min(r.p50_ms for r in report.latencies))
    """
    loaded = _loaded(reference) if reference is not None else None
    hints = options.interface_hints()
    with _handed_over(own_graphs, *artifacts):  # bench times the user's graphs: ORT refusing one is theirs to fix
        return run_bench(list(artifacts), loaded, config, hints if hints else None)


@dataclass(frozen=True)
class BundleOptions:
    """What goes in a bundle beside the artifact (the `edgelstm bundle` options)."""

    parity_report: Path | None = None  # `check --report` JSON
    bench_report: Path | None = None  # `bench --report` JSON
    make_zip: bool = False
    overwrite: bool = False
    target: BundleTarget = "ort"  # ort: ORT Mobile (.ort + .onnx); android: a .tflite for the LiteRT Interpreter (+ Kotlin)

    def __post_init__(self) -> None:
        if self.target not in ("ort", "android"):
            raise ConfigError(f"--target {self.target!r}: choose ort (ONNX Runtime Mobile) or android (LiteRT)")


def bundle(artifact: Path, out: Path, options: BundleOptions = BundleOptions(), *, own_graphs: bool = False) -> BundleResult:
    """Write a mobile deployment bundle: the artifact, its manifest (sha256s, parity, session policy), usage notes::

        result = bundle(Path("model.onnx"), Path("runs/bundle"), BundleOptions(make_zip=True))
        print(result.files)

    The artifact must be one edgelstm wrote (its metadata names its interface); the bundle is refused otherwise.
    """
    if options.target == "android" or Path(artifact).suffix == ".tflite":
        if options.target != "android":
            raise ConfigError(f"{artifact}: a .tflite is bundled for the LiteRT Interpreter: pass --target android")
        if options.bench_report is not None:
            raise ConfigError("--bench-report: a LiteRT bundle carries no ORT session policy; leave it out")
        return build_litert_bundle(Path(artifact), out, options.parity_report, options.make_zip, options.overwrite)
    with _handed_over(own_graphs, artifact):
        return build_bundle(Path(artifact), out, options.parity_report, options.bench_report, options.make_zip, options.overwrite)


def verify(location: Path) -> VerifyResult:
    """Re-check a bundle (directory or zip): every file against its sha256, and its graph run once."""
    with handed_over(location):  # the user's bundle: ORT refusing its graph is an expected failure
        return verify_bundle(Path(location))


# ---------------------------------------------------------------------------------------------------- distill


@dataclass(frozen=True)
class DistillOptions:
    """The student, its training and the data it learns from (the `edgelstm distill` options)."""

    data: Path | SequenceData  # a file, or sequences a caller already loaded
    validation: Path | SequenceData
    student: StudentSpec = field(default_factory=StudentSpec)
    target_params: str | None = None  # a parameter budget such as "50k": the widest student that fits
    # epochs, batch, lr, ...: its student, init_from and fake_quant are replaced by the fields of these options
    training: DistillConfig = field(default_factory=DistillConfig)
    qat: bool = False
    per_channel: bool = False
    qat_bits: int = 7
    init: Path | None = None
    device: str = "auto"
    window: WindowSpec | None = None
    test: Path | SequenceData | None = None
    report: bool = True
    overwrite: bool = False


@dataclass
class DistillOutcome:
    """A trained student: the training result, and the report scoring teacher and student (None when not made)."""

    result: DistillResult | None  # None on a torchrun rank other than 0, which reports nothing
    out: Path
    report: Any = None  # edgelstm.distill.report.DistillReport
    no_report: str = ""  # why there is no report, when one was asked for


def distill(
    teacher: Model,
    out: Path,
    options: DistillOptions,
    progress: Progress | None = None,
    on_step: Callable[..., None] | None = None,
    on_epoch: Callable[..., None] | None = None,
) -> DistillOutcome:
    """Train a smaller student from a teacher; re-running the same call in `out` resumes an interrupted run::

        options = DistillOptions(Path("train.npz"), Path("val.npz"))
        outcome = distill(ModelSource("runs/watch-lstm"), Path("runs/student"), options)
        print(outcome.result.compression if outcome.result else "not rank 0")

    `progress` hears the notes the command prints (a user module's head, the --target-params pick).
    """
    say = progress or (lambda _line: None)
    loaded = _loaded(teacher)
    if loaded.config is None:  # a user module: say what task was read from its output
        head = student_config(loaded, StudentSpec()).head
        say(f"teacher is a user module; student head read from its output: {head.kind}, {head.num_outputs} output(s)")
    train, validation = (_distill_data(d, loaded, options.window) for d in (options.data, options.validation))
    test = _distill_data(options.test, loaded, options.window) if options.test is not None else validation  # fail now
    config = _distill_config(loaded, options, say)
    check_distill_data(test, loaded, student_config(loaded, config.student).head)
    result = train_student(loaded, train, validation, out, config, on_step, on_epoch, options.device, options.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        return DistillOutcome(None, out)  # torchrun: only rank 0 reports
    if not options.report:
        return DistillOutcome(result, out)
    if test.y is None:
        return DistillOutcome(result, out, no_report="the test data has no labels/targets (`y`) to score against")
    scored = build_distill_report(loaded, [("student", load_model(str(out / "best")))], test)
    scored.write(out)
    return DistillOutcome(result, out, report=scored)


def _distill_data(data: Path | SequenceData, loaded: LoadedModel, window: WindowSpec | None) -> SequenceData:
    return data if isinstance(data, SequenceData) else load_distill_data(data, loaded, window)


def _distill_config(loaded: LoadedModel, options: DistillOptions, say: Progress) -> DistillConfig:
    if options.qat_bits not in (7, 8):
        raise ConfigError(f"--qat-bits must be 7 or 8, got {options.qat_bits}")
    student = options.student
    if options.target_params is not None:
        budget = parse_count(options.target_params)
        student, count = spec_for_budget(student_config(loaded, student), student, budget)
        say(
            f"--target-params {budget:,}: {student.cell} hidden {student.hidden_size} x {student.num_layers} layer(s), "
            f"{count:,} parameters"
        )
    fake_quant = FakeQuantSpec(per_channel=options.per_channel, reduce_range=options.qat_bits == 7) if options.qat else None
    init_from = str(options.init) if options.init else None
    return replace(options.training, student=student, init_from=init_from, fake_quant=fake_quant)
