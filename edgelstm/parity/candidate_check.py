"""One artifact on one provider against the float64 torch reference: every case, the time profile, streaming, determinism."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgelstm.artifact.chunks import can_stream, run_in_chunks
from edgelstm.artifact.feeds import data_for_graph, sequence_feeds
from edgelstm.artifact.file import ArtifactInfo
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.layout import caller_shape
from edgelstm.artifact.runners import NotApplicable, OrtFormatError, Runner, open_runner
from edgelstm.artifact.session import ProviderError
from edgelstm.comparison import CaseComparison, Tolerance, compare_tensors
from edgelstm.errors import InputShapeError, first_line
from edgelstm.parity.batch_axis import batch_axis_of, fixed_batch, run_in_fixed_batches
from edgelstm.parity.cases import InputCase
from edgelstm.parity.check_config import CheckConfig
from edgelstm.parity.reference import TorchReference
from edgelstm.parity.report import CandidateResult, DeterminismCheck, TimeProfile
from edgelstm.parity.task_checks import classification_checks, regression_checks
from edgelstm.parity.tolerances import TolerancePolicy

Feeds = dict[str, np.ndarray]


Progress = Callable[[str], None]


class CandidateCheck:
    """One artifact on one provider against the reference: runs every case and fills one CandidateResult."""

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
        """Every case, the task metrics, the error-vs-time profile, streaming and determinism; the provider's verdict."""
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
        if self.info.format == "tflite" and not self.result.cases:  # checked on nothing is not a pass
            self.result.status = "error"
            self.result.reason = "no input of this check fits the .tflite's one shape; export the length the data has"
            return self.result
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
        shape = caller_shape(self.interface, self.interface.inputs[0])  # batch-first, as the feeds hold it
        return shape[1] if len(shape) >= 2 and isinstance(shape[1], int) else None

    @property
    def fixed_batch(self) -> int | None:
        """The graph's one batch size (its data input's batch axis is a number), else None."""
        return fixed_batch(self.interface)

    @property
    def litert_chunk(self) -> int | None:
        """A streaming .tflite's one chunk length: it is called at exactly that many steps (its shapes are static)."""
        return self.interface.chunk if self.info.format == "tflite" and self.interface.form == "streaming" else None

    def _whole_chunks(self, x: np.ndarray) -> np.ndarray:
        """`x` cut to a whole number of a .tflite's chunks (unchanged for other artifacts)."""
        chunk = self.litert_chunk
        return x if chunk is None else x[:, : max(chunk, x.shape[1] - x.shape[1] % chunk)]

    def _run(self, runner: Runner, names: list[str], feeds: Feeds) -> list[np.ndarray]:
        """Run, in slices of the graph's fixed batch when it has one (the last slice padded, then trimmed)."""
        fixed = self.fixed_batch
        if fixed is None:
            return self._run_streamed(runner, names, feeds)
        return run_in_fixed_batches(lambda f: self._run_streamed(runner, names, f), self.interface, names, feeds, fixed)

    def _run_streamed(self, runner: Runner, names: list[str], feeds: Feeds) -> list[np.ndarray]:
        """A streaming graph takes a long input chunk by chunk, its state carried: memory bounded by the chunk."""
        if not can_stream(self.interface):
            return runner.run(names, feeds)
        every = self.output_names  # the state outputs are what carries over to the next chunk
        chunk = self.litert_chunk or self.config.chunk_steps
        outputs = run_in_chunks(lambda f: runner.run(every, f), self.interface, feeds, chunk)
        by_name = dict(zip(every, outputs, strict=True))
        return [by_name[n] for n in names]

    def _fit_fixed_length(self, case: InputCase) -> InputCase | None:
        """The case padded to a fixed-length graph's T (with its true lengths), or None when it cannot fit."""
        chunk = self.litert_chunk
        if chunk is not None and case.steps % chunk:
            # A static .tflite streams whole chunks only; the first whole chunks of a sequence are a sequence too.
            if case.steps < chunk:
                self.result.notes.append(f"{case.name}: not run, {case.steps} steps are less than one chunk of {chunk}")
                return None
            whole = case.steps - case.steps % chunk
            self.result.notes.append(f"{case.name}: the first {whole} of {case.steps} steps (whole chunks of {chunk})")
            case = first_steps(case, whole)
        fixed = self.fixed_steps
        if fixed is None or case.steps == fixed:
            return case
        if self.info.format == "tflite" and case.steps > fixed:
            # A sequence .tflite has one length and no lengths input: its first T steps are a whole sequence of T.
            self.result.notes.append(f"{case.name}: the first {fixed} of {case.steps} steps (the .tflite's one length)")
            return first_steps(case, fixed)
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
        """The runs a case becomes here: fitted, cut to onnx.reference's limits, split by length where needed."""
        fitted = self._fit_fixed_length(case)
        if fitted is None:
            return []
        case = fitted
        limit = self.config.reference_limit if self.provider == "reference" else None
        if limit is not None and case.batch > limit:
            case = InputCase(
                case.name,
                case.x[:limit],
                head_rows(case.lengths, limit),
                head_rows(case.y, limit),
                case.description,
                case.task_metrics,
            )
        if self.provider == "reference" and case.steps > self.config.reference_max_steps:
            case = first_steps(case, self.config.reference_max_steps)
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
        """The graph's feeds for model-space sequences, through the one feed builder."""
        # Cases hold model-space data; a graph that standardises inside gets raw features (its torch truth
        # standardises them back with the same operations).
        return sequence_feeds(self.interface, data_for_graph(self.interface, x), lengths, str(self.info.path))

    def _reference(self, feeds: Feeds) -> list[np.ndarray]:
        """The float64 truth for these feeds."""
        return self.truth.run(self.interface, feeds)

    def _tolerance(self, output: str) -> Tolerance:
        """The per-element budget of one output for this artifact's precision and provider."""
        return self.policy.resolve(self.info.precision, self.provider, output).numeric

    # -- checks ------------------------------------------------------------------------------------------
    def _run_case(
        self, runner: Runner, case: InputCase
    ) -> tuple[CaseComparison, list[np.ndarray] | None, list[np.ndarray] | None]:
        """Run one case and compare every output with the truth (a runtime failure is the case's error, not a crash)."""
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
        measured = self.truth.noise_floor(self.interface, feeds)
        floors: list[np.ndarray | None] = list(measured) if measured else [None] * len(expected)
        outputs = [
            compare_tensors(n, a, e, self._tolerance(n), floor)
            for n, a, e, floor in zip(self.output_names, actual, expected, floors, strict=False)
        ]
        return CaseComparison(case.name, case.batch, case.steps, outputs), actual, expected

    def _task_checks(self, raw: dict[str, tuple[list[np.ndarray], list[np.ndarray], InputCase]]) -> None:
        """Task metrics over the real-data cases: agreement and accuracy, or MAE, each judged with its interval."""
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
            self.result.tasks += classification_checks(name, cand, ref, y, spec, unit, strict)
        elif y is not None and y.size == cand.size:
            self.result.tasks += regression_checks(name, cand, ref, y, spec, unit, self.config.seed, strict)

    @property
    def _per_step_output(self) -> bool:
        """The first output has a step axis (on axis 1 as callers hold it, whatever the graph's layout)."""
        shape = caller_shape(self.interface, self.interface.outputs[0])
        return len(shape) >= 3 and shape[1] in ("time", "chunk")

    def _rows(self, output: np.ndarray, case: InputCase) -> np.ndarray:
        """One prediction per sequence (pooled heads) or per valid step (per-step heads)."""
        config = self.truth.loaded.config
        pooled = config is None or config.head.is_pooled
        per_step_output = self._per_step_output
        lengths = case.lengths if case.lengths is not None else np.full(case.batch, case.steps)
        if per_step_output and pooled:  # streaming pooled head: the prediction after the last valid step
            return output[np.arange(case.batch), lengths - 1]
        if per_step_output:
            mask = np.arange(case.steps)[None, :] < lengths[:, None]
            return output[mask]
        return output.reshape(case.batch, -1) if self.task == "regress" else output

    def _time_profile(self, runner: Runner) -> None:
        """Error against time step over the long case (or the fixed length), to show error that grows with length."""
        long = next((c for c in self.cases if c.name == "long"), None)
        if long is None:
            return
        if self.fixed_steps is not None:
            # A fixed-length graph cannot take the long input: profile the first real sequence over its steps.
            first = self._fit_fixed_length(InputCase("profile", self.cases[0].x[:1], None, None, ""))
            if first is None:
                return
            long = InputCase("long", first.x, None, None, "")
        x = self._whole_chunks(long.x[:1])
        if self.provider == "reference":
            x = x[:, : self.config.reference_max_steps]
        steps = x.shape[1]
        self._tell(f"  error-vs-time profile over {steps} steps", InputCase("profile", x, None, None, ""))
        # Prefix lengths: the profile runs each prefix (or a copy cut at each length), so long inputs get fewer.
        count = max(2, min(self.config.time_points, self.config.profile_step_budget // max(steps, 1)))
        points = sorted({int(p) for p in np.linspace(1, steps, min(count, steps))})
        try:
            if self._per_step_output:
                feeds = self._feeds(x, None)
                per_step = self._run(runner, self.output_names[:1], feeds)[0]
                per_step_ref = self._reference(feeds)[0]
                max_error(per_step, per_step_ref)  # shape check
                errors = np.abs(per_step.astype(np.float64) - per_step_ref).reshape(1, steps, -1).max(axis=(0, 2))
                self.result.time_profiles.append(
                    time_profile("long", self.output_names[0], list(range(1, steps + 1)), errors.tolist())
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
                    per_output[spec.name] = row_errors(a, e, batch_axis_of(self.interface, spec.name))
            else:
                for k in points:
                    feeds = self._feeds(x[:, :k], None)
                    actual = self._run(runner, self.output_names, feeds)
                    expected = self._reference(feeds)
                    for name, a, e in zip(self.output_names, actual, expected, strict=False):
                        per_output[name].append(max_error(a, e))
        except Exception as exc:  # a graph that cannot run long inputs already failed its case; note why
            self.result.notes.append(f"time profile not measured: {first_line(exc, 300, last=True, with_type=True)}")
            return
        for name, errors in per_output.items():
            if errors:
                self.result.time_profiles.append(time_profile("long", name, points, errors))

    def _streaming(self, runner: Runner) -> None:
        """A streaming graph run chunk by chunk at each chunk size, compared with one call and with the truth."""
        long = next((c for c in self.cases if c.name == "long"), self.cases[0])
        x = self._whole_chunks(long.x[:, : self.config.streaming_steps])
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
        # A .tflite runs at its one chunk: that chunk streamed is compared with the float64 whole-sequence truth.
        for chunk in (self.litert_chunk,) if self.litert_chunk else self.config.chunk_sizes:
            try:
                chunked = self._in_chunks(runner, feeds, chunk)
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

    def _in_chunks(self, runner: Runner, feeds: Feeds, chunk: int) -> list[np.ndarray]:
        """Every output, the input streamed in chunks of `chunk` (in slices of the graph's fixed batch when it has one)."""

        def chunked(f: Feeds) -> list[np.ndarray]:
            return run_in_chunks(lambda g: runner.run(self.output_names, g), self.interface, f, chunk)

        fixed = self.fixed_batch
        return chunked(feeds) if fixed is None else run_in_fixed_batches(chunked, self.interface, self.output_names, feeds, fixed)

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


def max_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest absolute difference, refusing mismatched shapes (broadcasting would hide the bug)."""
    if actual.shape != expected.shape:  # never let broadcasting hide a mismatch
        raise InputShapeError(f"output shape {list(actual.shape)} != reference {list(expected.shape)}")
    return float(np.abs(actual.astype(np.float64) - expected).max())


def row_errors(actual: np.ndarray, expected: np.ndarray, batch_axis: int) -> list[float]:
    """Largest absolute difference per row along `batch_axis` (one row per prefix length in the profile)."""
    max_error(actual, expected)
    diff = np.moveaxis(np.abs(actual.astype(np.float64) - expected), batch_axis, 0)
    return diff.reshape(diff.shape[0], -1).max(axis=1).tolist()


def time_profile(case: str, output: str, steps: list[int], errors: list[float]) -> TimeProfile:
    """Error against time step for one output, with its least-squares slope per 1000 steps."""
    slope = float(np.polyfit(steps, errors, 1)[0] * 1000) if len(steps) > 1 else 0.0
    return TimeProfile(case, output, steps, [float(e) for e in errors], slope, float(errors[0]), float(errors[-1]))


def head_rows(array: np.ndarray | None, limit: int) -> np.ndarray | None:
    """The first `limit` rows of an optional array."""
    return None if array is None else array[:limit]


def first_steps(case: InputCase, steps: int) -> InputCase:
    """The case cut to its first `steps` steps, lengths cut with it (onnx.reference's step limit)."""
    lengths = None if case.lengths is None else np.minimum(case.lengths, steps)
    return InputCase(case.name, case.x[:, :steps], lengths, case.y, case.description, case.task_metrics)
