"""`run_check`: every artifact x provider against the float64 torch reference, over time, chunk by chunk."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.artifact.child import crash_reason
from edgelstm.artifact.chunks import can_stream, run_in_chunks
from edgelstm.artifact.feeds import data_for_graph, sequence_feeds
from edgelstm.artifact.file import ArtifactInfo, open_artifact
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.runners import PROVIDERS, NotApplicable, OrtFormatError, Runner, open_runner
from edgelstm.artifact.session import ProviderError
from edgelstm.comparison import CaseComparison, Tolerance, compare_tensors
from edgelstm.config import ModelConfig
from edgelstm.errors import ConfigError, EdgelstmError, InputShapeError, first_line
from edgelstm.loading import LoadedModel
from edgelstm.parity.cases import InputCase, build_cases
from edgelstm.parity.data import SequenceData, check_labels
from edgelstm.parity.evidence import reference_evidence
from edgelstm.parity.evidence_strength import (
    BOOTSTRAP_RESAMPLES,
    PASS,
    bootstrap_interval,
    judge_rate,
    paired_difference_interval,
    wilson_interval,
)
from edgelstm.parity.reference import TorchReference, TorchReferences
from edgelstm.parity.report import CandidateResult, DeterminismCheck, ParityReport, TaskCheck, TimeProfile
from edgelstm.parity.tolerances import TolerancePolicy
from edgelstm.versions import environment_record

Feeds = dict[str, np.ndarray]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class CheckConfig:
    providers: tuple[str, ...] = ("cpu",)
    allow_missing: tuple[str, ...] = ()
    task: str = "auto"  # auto | classify | regress | none
    stress: bool = True
    chunk_sizes: tuple[int, ...] = (1, 7, 32)
    long_factor: int = 10
    # Memory and time are bounded by design, not by the data: the long stress case adds at most this many steps
    # beyond the longest sequence (10x of 100,000 steps took 21 GB), streaming graphs take long inputs in chunks
    # of `chunk_steps` with the state carried, and the error-vs-time profile runs at most `profile_step_budget`
    # prefix steps in all (fewer prefix lengths on long inputs).
    long_max_extra_steps: int = 2048
    stress_max_steps: int = 4096  # the zero, large and ragged cases probe conditions, not length
    chunk_steps: int = 8192
    time_points: int = 24
    profile_step_budget: int = 1_000_000
    streaming_steps: int = 256
    reference_limit: int = 32  # onnx.reference is pure Python: it runs at most this many sequences per case
    reference_max_steps: int = 4096  # ... and at most this many steps of each
    threads: int = 1
    seed: int = 0
    # Task checks: a pass must also show its 95 % interval inside the limit, else it is inconclusive
    # (by default only a failure has to: see evidence_strength).
    strict_evidence: bool = False

    def __post_init__(self) -> None:
        if not self.providers:
            raise ConfigError(f"no providers to check on; choose from {', '.join(PROVIDERS)}")
        unknown = [p for p in (*self.providers, *self.allow_missing) if p not in PROVIDERS]
        if unknown:
            raise ConfigError(f"unknown provider(s) {', '.join(unknown)}; choose from {', '.join(PROVIDERS)}")
        sizes = ("long_max_extra_steps", "stress_max_steps", "chunk_steps", "time_points", "profile_step_budget")
        for name in (*sizes, "streaming_steps", "reference_limit", "reference_max_steps", "long_factor"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.task not in ("auto", "classify", "regress", "none"):
            raise ConfigError(f"task={self.task!r}: choose auto, classify, regress or none")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_check(
    artifacts: Sequence[Path],
    reference: LoadedModel,
    data: SequenceData | None = None,
    config: CheckConfig | None = None,
    policy: TolerancePolicy | None = None,
    progress: Progress | None = None,
    reference_weights: Path | None = None,
    references: TorchReferences | None = None,
    baseline: bool = True,
) -> ParityReport:
    """`progress`, when given, is told what runs next (one line per artifact x provider and per long case).
    `reference_weights`: the --weights file of a factory reference, named (with its sha256) in the report.
    `references`: the model's torch references kept by a caller that checks several artifacts one call at a time
    (a gate over `--scheme auto`'s candidates), so their outputs are computed once; None: fresh ones.
    `baseline`: False leaves out the torch fp32 row, for callers that read only the candidates' verdicts."""
    config = config or CheckConfig()
    policy = policy or TolerancePolicy.defaults()
    if references is None:
        references = TorchReferences(reference)
    elif references.loaded is not reference:
        raise ValueError("run_check: `references` were made for another model than `reference`")
    with _torch_threads(config.threads) as torch_default:
        return _run_check(
            artifacts, reference, data, config, policy, progress, reference_weights, references, torch_default, baseline
        )


@contextmanager
def _torch_threads(threads: int) -> Iterator[int]:
    """torch on `threads` threads inside the block (yields the count it had before). The float64 reference runs
    on the check's thread count, like its ORT sessions: torch's default (every core) made it up to 6x slower on a
    2-core machine with other busy processes, for the same bytes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield before
    finally:
        torch.set_num_threads(before)


def _run_check(
    artifacts: Sequence[Path],
    reference: LoadedModel,
    data: SequenceData | None,
    config: CheckConfig,
    policy: TolerancePolicy,
    progress: Progress | None,
    reference_weights: Path | None,
    references: TorchReferences,
    torch_default: int,
    baseline: bool,
) -> ParityReport:
    infos = [open_artifact(Path(p)) for p in artifacts]
    for info in infos:
        _check_compatible(info, reference)
    policy.check_outputs({o.name for info in infos for o in info.interface.outputs})
    task = _resolve_task(config.task, reference.config)
    if data is not None:
        check_labels(data, task, _class_count(reference, infos))
    cases = build_cases(
        data,
        reference.signature,
        config.stress,
        config.long_factor,
        config.seed,
        config.long_max_extra_steps,
        config.stress_max_steps,
    )
    truth = references.get("float64", config.chunk_steps)
    if max(c.batch * c.steps for c in cases) < 10_000:
        progress = None  # short checks finish before a progress line would help
    report = ParityReport(
        reference=reference.origin,
        reference_dtype="float64",
        data_source=data.source if data else "synthetic (no --data given)",
        tolerance_source=policy.source,
        reference_files=reference_evidence(reference, reference_weights),
        data_sha256=data.sha256 if data else "",
        providers=list(config.providers),
        cases=[c.info() for c in cases],
        versions=environment_record(),
        settings={**config.to_dict(), "intra_op_threads": config.threads, "allow_spinning": False},
    )
    # A graph that crashes ONNX Runtime (seen: SIGSEGV on some fp16 graphs) must fail the gate with a reason, not
    # take the gate's own process down. The probes are child processes, one at a time in the background: the next
    # artifacts' probes run on another core while the first artifact is checked here on one thread.
    probes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgelstm-crash-probe")
    crashes = [probes.submit(crash_reason, info.path) if info.format == "onnx" else None for info in infos]
    try:
        with tempfile.TemporaryDirectory(prefix="edgelstm-check-") as workdir:
            _check_each(infos, crashes, truth, cases, config, policy, task, Path(workdir), progress, report)
    finally:
        probes.shutdown(wait=True, cancel_futures=True)
    interface = infos[0].interface if infos and baseline else None
    report.baseline = _torch_fp32_baseline(reference, truth, references, cases, interface, policy, torch_default)
    report.reference_dtype = truth.dtype
    if truth.note:
        report.settings["reference_note"] = truth.note
    return report


def _check_each(
    infos: list[ArtifactInfo],
    crashes: list[Future[str | None] | None],
    truth: TorchReference,
    cases: list[InputCase],
    config: CheckConfig,
    policy: TolerancePolicy,
    task: str | None,
    workdir: Path,
    progress: Progress | None,
    report: ParityReport,
) -> None:
    """Every artifact x provider, in order; an artifact whose crash probe failed is an error on each provider."""
    for info, probe in zip(infos, crashes, strict=True):
        crash = probe.result() if probe is not None else None
        for provider in config.providers:
            if crash is not None:
                report.candidates.append(
                    CandidateResult(
                        str(info.path), provider, info.precision, status="error", reason=crash, artifact_sha256=info.sha256
                    )
                )
                continue
            if progress is not None:
                progress(f"{info.name} on {provider}")
            checker = _CandidateCheck(info, provider, truth, cases, config, policy, task, workdir, progress)
            report.candidates.append(checker.run())


def _check_compatible(info: ArtifactInfo, reference: LoadedModel) -> None:
    x_spec = info.interface.inputs[0] if info.interface.inputs else None
    if x_spec is None:
        raise InputShapeError(f"{info.path}: the graph has no inputs")
    sig = reference.signature
    if sig.kind == "features" and x_spec.shape and isinstance(x_spec.shape[-1], int) and x_spec.shape[-1] != sig.size:
        raise InputShapeError(
            f"{info.path}: takes {x_spec.shape[-1]} features but the reference model takes {sig.size}; wrong --reference?"
        )
    if info.metadata and info.metadata.model_config and reference.config and info.metadata.model_config != reference.config:
        raise InputShapeError(f"{info.path}: was exported from a different architecture than the reference model")


def _resolve_task(task: str, config: ModelConfig | None) -> str | None:
    if task == "none":
        return None
    if task != "auto":
        return task
    if config is None:
        return None
    head = config.head
    if head.kind in ("classify", "lm") or (head.kind == "per_step" and head.num_outputs > 1):
        return "classify"
    return "regress"


class _CandidateCheck:
    def __init__(
        self,
        info: ArtifactInfo,
        provider: str,
        truth: TorchReference,
        cases: list[InputCase],
        config: CheckConfig,
        policy: TolerancePolicy,
        task: str | None,
        workdir: Path,
        progress: Progress | None = None,
    ) -> None:
        self.info, self.provider, self.truth, self.cases = info, provider, truth, cases
        self.config, self.policy, self.task, self.workdir = config, policy, task, workdir
        self.progress = progress
        self.interface: GraphInterface = info.interface
        self.output_names = [o.name for o in self.interface.outputs]
        self.result = CandidateResult(str(info.path), provider, info.precision, artifact_sha256=info.sha256)

    def run(self) -> CandidateResult:
        started = time.perf_counter()
        try:
            runner = open_runner(self.info, self.provider, self.workdir, self.config.threads)
        except NotApplicable as exc:
            self.result.status, self.result.reason = "skipped", str(exc)
            return self.result
        except OrtFormatError as exc:  # the file cannot run where this provider runs it: a failed verdict, with why
            self.result.status, self.result.reason = "error", str(exc)
            return self.result
        except ProviderError as exc:
            allowed = self.provider in self.config.allow_missing
            self.result.status = "skipped" if allowed else "error"
            self.result.reason = f"{exc}" + (" (allowed by --allow-missing)" if allowed else "")
            return self.result
        self.result.providers_used = runner.providers_used
        if self.provider == "reference":
            self.result.notes.append(
                f"onnx.reference is pure Python: each case runs at most {self.config.reference_limit} sequences "
                f"of at most {self.config.reference_max_steps} steps"
            )
        # Only the cases judged on task metrics keep their outputs: per-step float64 copies of every stress case
        # would cost memory in proportion to the whole input.
        raw: dict[str, tuple[list[np.ndarray], list[np.ndarray], InputCase]] = {}
        first_run: list[np.ndarray] | None = None  # the first case's outputs: determinism's first run
        for index, case in enumerate(self.cases):
            for position, sub in enumerate(self._expand(case, runner)):
                self._tell(f"  case {sub.name}: {sub.batch} x {sub.steps} steps", sub)
                comparison, actual, expected = self._run_case(runner, sub)
                self.result.cases.append(comparison)
                if index == 0 and position == 0:
                    first_run = actual
                if actual is not None and expected is not None and sub.task_metrics:
                    raw[sub.name] = (actual, expected, sub)
        self._task_checks(raw)
        self._time_profile(runner)
        if self.interface.form == "streaming":
            self._streaming(runner)
        self._determinism(runner, first_run)
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _tell(self, line: str, case: InputCase | None = None) -> None:
        """Progress on long work only: short checks finish before a line would help."""
        if self.progress is not None and (case is None or case.batch * case.steps >= 10_000):
            self.progress(line)

    # -- feeds -------------------------------------------------------------------------------------------
    @property
    def fixed_steps(self) -> int | None:
        """An unrolled graph's one sequence length (its time axis is a number, not a symbol)."""
        shape = self.interface.inputs[0].shape
        return shape[1] if len(shape) >= 2 and isinstance(shape[1], int) else None

    @property
    def fixed_batch(self) -> int | None:
        shape = self.interface.inputs[0].shape
        return shape[0] if shape and isinstance(shape[0], int) else None

    def _run(self, runner: Runner, names: list[str], feeds: Feeds) -> list[np.ndarray]:
        """Run, in slices of the graph's fixed batch when it has one (the last slice padded, then trimmed)."""
        fixed = self.fixed_batch
        if fixed is None:
            return self._run_streamed(runner, names, feeds)
        rows = next(iter(feeds.values())).shape[batch_axis_of(self.interface, next(iter(feeds)))]
        pieces: list[list[np.ndarray]] = []
        for start in range(0, rows, fixed):
            stop = min(start + fixed, rows)
            chunk = {}
            for name, value in feeds.items():
                axis = batch_axis_of(self.interface, name)
                part = np.take(value, range(start, stop), axis=axis)
                if stop - start < fixed:  # pad with copies of the last row; trimmed below
                    pad = np.repeat(np.take(part, [-1], axis=axis), fixed - (stop - start), axis=axis)
                    part = np.concatenate([part, pad], axis=axis)
                chunk[name] = part
            outputs = self._run_streamed(runner, names, chunk)
            pieces.append(
                [
                    np.take(o, range(stop - start), axis=batch_axis_of(self.interface, n))
                    for n, o in zip(names, outputs, strict=True)
                ]
            )
        return [np.concatenate([p[i] for p in pieces], axis=batch_axis_of(self.interface, n)) for i, n in enumerate(names)]

    def _run_streamed(self, runner: Runner, names: list[str], feeds: Feeds) -> list[np.ndarray]:
        """A streaming graph takes a long input chunk by chunk, its state carried: memory bounded by the chunk."""
        if not can_stream(self.interface):
            return runner.run(names, feeds)
        every = self.output_names  # the state outputs are what carries over to the next chunk
        outputs = run_in_chunks(lambda f: runner.run(every, f), self.interface, feeds, self.config.chunk_steps)
        by_name = dict(zip(every, outputs, strict=True))
        return [by_name[n] for n in names]

    def _fit_fixed_length(self, case: InputCase) -> InputCase | None:
        fixed = self.fixed_steps
        if fixed is None or case.steps == fixed:
            return case
        if case.steps > fixed or not self.info.has_lengths:
            self.result.notes.append(
                f"{case.name}: not run, the graph's time axis is fixed at T={fixed} ({case.steps} steps given)"
            )
            return None
        # Shorter inputs fit a fixed-length graph padded, with their true lengths: how an app would feed it.
        pad = np.zeros((case.batch, fixed - case.steps, *case.x.shape[2:]), case.x.dtype)
        lengths = case.lengths if case.lengths is not None else np.full(case.batch, case.steps, np.int64)
        return InputCase(case.name, np.concatenate([case.x, pad], axis=1), lengths, case.y, case.description, case.task_metrics)

    def _expand(self, case: InputCase, runner: Runner) -> list[InputCase]:
        fitted = self._fit_fixed_length(case)
        if fitted is None:
            return []
        case = fitted
        limit = self.config.reference_limit if self.provider == "reference" else None
        if limit is not None and case.batch > limit:
            case = InputCase(
                case.name, case.x[:limit], _head(case.lengths, limit), _head(case.y, limit), case.description, case.task_metrics
            )
        if self.provider == "reference" and case.steps > self.config.reference_max_steps:
            case = _first_steps(case, self.config.reference_max_steps)
            self.result.notes.append(f"{case.name}: onnx.reference ran the first {case.steps} steps only")
        graph_takes_lengths = self.info.has_lengths and not (runner.ignores_sequence_lens and case.ragged)
        if not case.ragged or graph_takes_lengths:
            return [case]
        if self.info.has_lengths:
            self.result.notes.append(f"{case.name}: onnx.reference's LSTM/GRU ignore sequence_lens; run one length at a time")
        # A graph without a lengths input: run each distinct length as its own batch.
        assert case.lengths is not None
        groups = []
        for length in sorted(set(case.lengths.tolist())):
            rows = np.flatnonzero(case.lengths == length)
            groups.append(
                InputCase(
                    f"{case.name} T={length}",
                    case.x[rows, :length],
                    np.full(len(rows), length, np.int64),
                    None if case.y is None else case.y[rows],
                    case.description,
                    case.task_metrics,
                )
            )
        fitted_groups = [self._fit_fixed_length(group) for group in groups]
        return [group for group in fitted_groups if group is not None]

    def _feeds(self, x: np.ndarray, lengths: np.ndarray | None) -> Feeds:
        # Cases hold model-space data; a graph that standardises inside gets raw features (its torch truth
        # standardises them back with the same operations).
        return sequence_feeds(self.interface, data_for_graph(self.interface, x), lengths, str(self.info.path))

    def _reference(self, feeds: Feeds) -> list[np.ndarray]:
        return self.truth.run(self.interface, feeds)

    def _tolerance(self, output: str) -> Tolerance:
        return self.policy.resolve(self.info.precision, self.provider, output).numeric

    # -- checks ------------------------------------------------------------------------------------------
    def _run_case(
        self, runner: Runner, case: InputCase
    ) -> tuple[CaseComparison, list[np.ndarray] | None, list[np.ndarray] | None]:
        feeds = self._feeds(case.x, case.lengths)
        try:
            actual = self._run(runner, self.output_names, feeds)
        except Exception as exc:  # runtime failures (shape errors, missing kernels) are findings, not crashes
            return (
                CaseComparison(case.name, case.batch, case.steps, error=first_line(exc, 300, last=True, with_type=True)),
                None,
                None,
            )
        expected = self._reference(feeds)
        floors = self.truth.noise_floor(self.interface, feeds) or [None] * len(expected)
        outputs = [
            compare_tensors(n, a, e, self._tolerance(n), floor)
            for n, a, e, floor in zip(self.output_names, actual, expected, floors, strict=False)
        ]
        return CaseComparison(case.name, case.batch, case.steps, outputs), actual, expected

    def _task_checks(self, raw: dict[str, tuple[list[np.ndarray], list[np.ndarray], InputCase]]) -> None:
        if self.task is None:
            return
        task_runs = [v for v in raw.values() if v[2].task_metrics]
        if not task_runs:
            return
        spec = self.policy.resolve(self.info.precision, self.provider, None)
        cand_rows, ref_rows, labels = [], [], []
        for actual, expected, case in task_runs:
            cand_rows.append(self._rows(actual[0], case))
            ref_rows.append(self._rows(expected[0], case))
            labels.append(None if case.y is None else np.asarray(case.y))
        cand = np.concatenate(cand_rows)
        ref = np.concatenate(ref_rows)
        have_labels = all(y is not None for y in labels)
        y: np.ndarray | None = np.concatenate([v for v in labels if v is not None]) if have_labels else None
        name = task_runs[0][2].name.split(" ")[0]
        sequences = sum(case.batch for _, _, case in task_runs)
        unit = "sequence" if len(cand) == sequences else "prediction"
        strict = self.config.strict_evidence
        if self.task == "classify":
            same = cand.argmax(-1) == ref.argmax(-1)
            n, agree_count = len(same), int(same.sum())
            agree = agree_count / n
            evidence = judge_rate(
                agree,
                spec.min_top1_agreement,
                n,
                unit,
                lambda m: wilson_interval(agree_count * m / n, m),
                "Wilson score",
                higher_is_better=True,
                budget=1.0 - spec.min_top1_agreement,
                strict=strict,
            )
            self.result.tasks.append(
                TaskCheck(
                    name,
                    "top1_agreement",
                    agree,
                    spec.min_top1_agreement,
                    evidence.verdict == PASS,
                    f"over {n} predictions",
                    evidence=evidence,
                )
            )
            if y is not None and y.shape[0] == cand.shape[0] and y.ndim == 1:
                right_c = cand.argmax(-1) == y
                right_r = ref.argmax(-1) == y
                acc_c, acc_r = float(np.mean(right_c)), float(np.mean(right_r))
                delta = acc_c - acc_r
                # Paired: both models judged on the same sequences; only the discordant ones carry information.
                gained, lost, m0 = int(np.sum(right_c & ~right_r)), int(np.sum(~right_c & right_r)), len(y)
                evidence = judge_rate(
                    delta,
                    -spec.max_accuracy_drop,
                    m0,
                    unit,
                    lambda m: paired_difference_interval(gained * m / m0, lost * m / m0, m),
                    "Tango score, paired",
                    higher_is_better=True,
                    budget=spec.max_accuracy_drop,
                    strict=strict,
                )
                self.result.tasks.append(
                    TaskCheck(
                        name,
                        "accuracy_delta",
                        delta,
                        -spec.max_accuracy_drop,
                        evidence.verdict == PASS,
                        f"accuracy {acc_c:.2%} vs reference {acc_r:.2%}; {gained} gained, {lost} lost of {m0}",
                        candidate_value=acc_c,
                        reference_value=acc_r,
                        evidence=evidence,
                    )
                )
        elif y is not None and y.size == cand.size:
            err_c = np.abs(cand.reshape(y.shape) - y).reshape(len(y), -1).mean(axis=1)
            err_r = np.abs(ref.reshape(y.shape) - y).reshape(len(y), -1).mean(axis=1)
            mae_c, mae_r = float(np.mean(err_c)), float(np.mean(err_r))
            increase = (mae_c - mae_r) / max(mae_r, 1e-12)

            def relative(rows: np.ndarray) -> float:
                return float((err_c[rows].mean() - err_r[rows].mean()) / max(err_r[rows].mean(), 1e-12))

            n = len(err_c)
            low, high = bootstrap_interval(relative, n, seed=self.config.seed)

            def scaled(m: float) -> tuple[float, float]:
                # the bootstrap's spread shrinks as 1/sqrt(n): what the same rows would give over m
                shrink = (n / m) ** 0.5
                return increase - (increase - low) * shrink, increase + (high - increase) * shrink

            evidence = judge_rate(
                increase,
                spec.max_mae_increase,
                n,
                unit,
                scaled,
                f"paired bootstrap, {BOOTSTRAP_RESAMPLES} resamples of rows, seed " + str(self.config.seed),
                higher_is_better=False,
                budget=spec.max_mae_increase,
                discrete=False,
                strict=strict,
            )
            self.result.tasks.append(
                TaskCheck(
                    name,
                    "mae_increase",
                    increase,
                    spec.max_mae_increase,
                    evidence.verdict == PASS,
                    f"MAE {mae_c:.4g} vs reference {mae_r:.4g}",
                    candidate_value=mae_c,
                    reference_value=mae_r,
                    evidence=evidence,
                )
            )

    def _rows(self, output: np.ndarray, case: InputCase) -> np.ndarray:
        """One prediction per sequence (pooled heads) or per valid step (per-step heads)."""
        config = self.truth.loaded.config
        pooled = config is None or config.head.is_pooled
        per_step_output = len(self.interface.outputs[0].shape) >= 3 and self.interface.outputs[0].shape[1] in ("time", "chunk")
        lengths = case.lengths if case.lengths is not None else np.full(case.batch, case.steps)
        if per_step_output and pooled:  # streaming pooled head: the prediction after the last valid step
            return output[np.arange(case.batch), lengths - 1]
        if per_step_output:
            mask = np.arange(case.steps)[None, :] < lengths[:, None]
            return output[mask]
        return output.reshape(case.batch, -1) if self.task == "regress" else output

    def _time_profile(self, runner: Runner) -> None:
        long = next((c for c in self.cases if c.name == "long"), None)
        if long is None:
            return
        if self.fixed_steps is not None:
            # A fixed-length graph cannot take the long input: profile the first real sequence over its steps.
            first = self._fit_fixed_length(InputCase("profile", self.cases[0].x[:1], None, None, ""))
            if first is None:
                return
            long = InputCase("long", first.x, None, None, "")
        x = long.x[:1]
        if self.provider == "reference":
            x = x[:, : self.config.reference_max_steps]
        steps = x.shape[1]
        self._tell(f"  error-vs-time profile over {steps} steps", InputCase("profile", x, None, None, ""))
        # Prefix lengths: the profile runs each prefix (or a copy cut at each length), so long inputs get fewer.
        count = max(2, min(self.config.time_points, self.config.profile_step_budget // max(steps, 1)))
        points = sorted({int(p) for p in np.linspace(1, steps, min(count, steps))})
        try:
            if len(self.interface.outputs[0].shape) >= 3 and self.interface.outputs[0].shape[1] in ("time", "chunk"):
                feeds = self._feeds(x, None)
                per_step = self._run(runner, self.output_names[:1], feeds)[0]
                per_step_ref = self._reference(feeds)[0]
                _max_error(per_step, per_step_ref)  # shape check
                errors = np.abs(per_step.astype(np.float64) - per_step_ref).reshape(1, steps, -1).max(axis=(0, 2))
                self.result.time_profiles.append(
                    _profile("long", self.output_names[0], list(range(1, steps + 1)), errors.tolist())
                )
                return
            per_output: dict[str, list[float]] = {n: [] for n in self.output_names}
            if self.info.has_lengths and not runner.ignores_sequence_lens:
                # One call: the same sequence repeated, each copy cut at a different length.
                reps = np.repeat(x, len(points), axis=0)
                feeds = self._feeds(reps, np.asarray(points, np.int64))
                actual = self._run(runner, self.output_names, feeds)
                expected = self._reference(feeds)
                for spec, a, e in zip(self.interface.outputs, actual, expected, strict=False):
                    per_output[spec.name] = _row_errors(a, e, batch_axis_of(self.interface, spec.name))
            else:
                for k in points:
                    feeds = self._feeds(x[:, :k], None)
                    actual = self._run(runner, self.output_names, feeds)
                    expected = self._reference(feeds)
                    for name, a, e in zip(self.output_names, actual, expected, strict=False):
                        per_output[name].append(_max_error(a, e))
        except Exception as exc:  # a graph that cannot run long inputs already failed its case; note why
            self.result.notes.append(f"time profile not measured: {first_line(exc, 300, last=True, with_type=True)}")
            return
        for name, errors in per_output.items():
            if errors:
                self.result.time_profiles.append(_profile("long", name, points, errors))

    def _streaming(self, runner: Runner) -> None:
        long = next((c for c in self.cases if c.name == "long"), self.cases[0])
        x = long.x[:, : self.config.streaming_steps]
        steps = x.shape[1]
        feeds = self._feeds(x, None)
        try:
            whole = self._run(runner, self.output_names, feeds)
        except Exception as exc:
            self.result.streaming.append(
                CaseComparison("streaming: one call", x.shape[0], steps, error=first_line(exc, 300, last=True, with_type=True))
            )
            return
        expected = self._reference(feeds)
        for chunk in self.config.chunk_sizes:
            try:
                chunked = run_in_chunks(lambda f: runner.run(self.output_names, f), self.interface, feeds, chunk)
            except Exception as exc:
                self.result.streaming.append(
                    CaseComparison(f"chunks of {chunk}", x.shape[0], steps, error=first_line(exc, 300, last=True, with_type=True))
                )
                continue
            for label, target in ((f"chunks of {chunk} vs one call", whole), (f"chunks of {chunk} vs reference", expected)):
                outputs = [
                    compare_tensors(n, a, e, self._tolerance(n))
                    for n, a, e in zip(self.output_names, chunked, target, strict=False)
                ]
                self.result.streaming.append(CaseComparison(label, x.shape[0], steps, outputs))

    def _determinism(self, runner: Runner, first_run: list[np.ndarray] | None) -> None:
        """`first_run`: the outputs the first case already got from this runner on these feeds (None: run them
        here); the real-data case is the biggest input of a check, and running it a third time only cost time."""
        expanded = self._expand(self.cases[0], runner)
        if not expanded:
            return
        case = expanded[0]
        feeds = self._feeds(case.x, case.lengths)
        try:
            first = first_run if first_run is not None else self._run(runner, self.output_names, feeds)
            second = self._run(runner, self.output_names, feeds)
        except Exception:  # already reported by the case itself
            return
        identical = all(a.tobytes() == b.tobytes() for a, b in zip(first, second, strict=False))
        spread = max(float(np.abs(a.astype(np.float64) - b).max()) for a, b in zip(first, second, strict=False))
        self.result.determinism = DeterminismCheck(identical, spread, required=self.provider != "cuda")


def feeds_key(interface: GraphInterface) -> str:
    return interface.inputs[0].name


def batch_axis_of(interface: GraphInterface, name: str) -> int:
    """The axis of tensor `name` (an input or output) that follows the batch: where its shape says "batch"; in a
    fixed-batch graph, whose shapes are all numbers, a layered state ([layers*directions, batch, size]: its `rows`
    name axis 0) has it on axis 1. Everything else is batch-first."""
    for spec in (*interface.inputs, *interface.outputs):
        if spec.name == name and "batch" in spec.shape:
            return spec.shape.index("batch")
    for state in interface.states:
        if name in (state.input_name, state.output_name):
            return state.shape.index("batch") if "batch" in state.shape else int(bool(state.rows))
    return 0


def _max_error(actual: np.ndarray, expected: np.ndarray) -> float:
    if actual.shape != expected.shape:  # never let broadcasting hide a mismatch
        raise InputShapeError(f"output shape {list(actual.shape)} != reference {list(expected.shape)}")
    return float(np.abs(actual.astype(np.float64) - expected).max())


def _row_errors(actual: np.ndarray, expected: np.ndarray, batch_axis: int) -> list[float]:
    _max_error(actual, expected)
    diff = np.moveaxis(np.abs(actual.astype(np.float64) - expected), batch_axis, 0)
    return diff.reshape(diff.shape[0], -1).max(axis=1).tolist()


def _profile(case: str, output: str, steps: list[int], errors: list[float]) -> TimeProfile:
    slope = float(np.polyfit(steps, errors, 1)[0] * 1000) if len(steps) > 1 else 0.0
    return TimeProfile(case, output, steps, [float(e) for e in errors], slope, float(errors[0]), float(errors[-1]))


def _torch_fp32_baseline(
    reference: LoadedModel,
    truth: TorchReference,
    references: TorchReferences,
    cases: list[InputCase],
    interface: GraphInterface | None,
    policy: TolerancePolicy,
    torch_threads: int,
) -> CandidateResult | None:
    """torch eager fp32 as a user runs it, so on torch's own thread count (`torch_threads`): unlike float64,
    float32 results on ragged batches differ in the last bits between 1 and 2 threads."""
    if interface is None:
        return None
    fp32 = references.get("float32")
    result = CandidateResult("torch fp32", "torch", "fp32", ["torch eager (CPU)"], gated=False)
    if reference.is_native:
        from edgelstm.artifact.export_config import ExportConfig
        from edgelstm.export.native import native_interface

        assert reference.config is not None
        interface = native_interface(reference.config, ExportConfig(form="sequence", with_lengths=True))
    names = [o.name for o in interface.outputs]
    for case in cases:
        try:
            feeds: Feeds = sequence_feeds(interface, case.x, case.lengths, "torch fp32 baseline")
            with _torch_threads(torch_threads):
                actual = fp32.run(interface, feeds)
            expected = truth.run(interface, feeds)
        except (EdgelstmError, RuntimeError) as exc:
            result.cases.append(
                CaseComparison(case.name, case.batch, case.steps, error=first_line(exc, 300, last=True, with_type=True))
            )
            continue
        comparisons = [
            compare_tensors(n, a, e, policy.resolve("fp32", "torch", n).numeric)
            for n, a, e in zip(names, actual, expected, strict=False)
        ]
        result.cases.append(CaseComparison(case.name, case.batch, case.steps, comparisons))
    return result


def _head(array: np.ndarray | None, limit: int) -> np.ndarray | None:
    return None if array is None else array[:limit]


def _first_steps(case: InputCase, steps: int) -> InputCase:
    lengths = None if case.lengths is None else np.minimum(case.lengths, steps)
    return InputCase(case.name, case.x[:, :steps], lengths, case.y, case.description, case.task_metrics)


def _class_count(reference: LoadedModel, infos: list[ArtifactInfo]) -> int | None:
    """How many classes the labels index: the model's head, else the graph's last output axis when it is fixed."""
    if reference.config is not None and reference.config.head.kind in ("classify", "lm", "per_step"):
        return reference.config.head.num_outputs
    for info in infos:
        shape = info.interface.outputs[0].shape if info.interface.outputs else []
        if shape and isinstance(shape[-1], int) and shape[-1] > 1:
            return shape[-1]
    return None
