"""`run_check`: every artifact x provider against the float64 torch reference, over time, chunk by chunk."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from edgelstm.artifact.child import crash_reason
from edgelstm.artifact.file import ArtifactInfo, open_artifact
from edgelstm.config import ModelConfig
from edgelstm.errors import InputShapeError
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.parity.candidate_check import CandidateCheck, Progress
from edgelstm.parity.cases import InputCase, build_cases
from edgelstm.parity.check_config import CheckConfig
from edgelstm.parity.data import SequenceData, check_labels
from edgelstm.parity.evidence import reference_evidence
from edgelstm.parity.reference import TorchReference, TorchReferences
from edgelstm.parity.report import CandidateResult, ParityReport
from edgelstm.parity.tolerances import TolerancePolicy
from edgelstm.parity.torch_baseline import torch_fp32_baseline, torch_on_threads
from edgelstm.versions import environment_record


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
    with torch_on_threads(config.threads) as torch_default:
        return _run_check(
            artifacts, reference, data, config, policy, progress, reference_weights, references, torch_default, baseline
        )


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
    """The check itself, on the thread count already set: open, run every candidate, add the fp32 baseline."""
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
        settings={**to_jsonable(config), "intra_op_threads": config.threads, "allow_spinning": False},
    )
    # A graph that crashes ONNX Runtime (seen: SIGSEGV on some fp16 graphs) must fail the gate with a reason, not
    # take the gate's own process down. The probes are child processes, one at a time in the background: the next
    # artifacts' probes run on another core while the first artifact is checked here on one thread.
    probes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgelstm-crash-probe")
    crashes = [
        probes.submit(crash_reason, info.path, sha256=info.sha256, model=info.model) if info.format == "onnx" else None
        for info in infos
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="edgelstm-check-") as workdir:
            _check_each(infos, crashes, truth, cases, config, policy, task, Path(workdir), progress, report)
    finally:
        probes.shutdown(wait=True, cancel_futures=True)
    interface = infos[0].interface if infos and baseline else None
    report.baseline = torch_fp32_baseline(reference, truth, references, cases, interface, policy, torch_default)
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
            checker = CandidateCheck(info, provider, truth, cases, config, policy, task, workdir, progress)
            report.candidates.append(checker.run())


def _check_compatible(info: ArtifactInfo, reference: LoadedModel) -> None:
    """Refuse an artifact whose inputs or architecture do not match the reference (a wrong --reference)."""
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
    """The task metrics to judge: the one asked for, or (auto) the one the model's head implies."""
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


def _class_count(reference: LoadedModel, infos: list[ArtifactInfo]) -> int | None:
    """How many classes the labels index: the model's head, else the graph's last output axis when it is fixed."""
    if reference.config is not None and reference.config.head.kind in ("classify", "lm", "per_step"):
        return reference.config.head.num_outputs
    for info in infos:
        shape = info.interface.outputs[0].shape if info.interface.outputs else []
        if shape and isinstance(shape[-1], int) and shape[-1] > 1:
            return shape[-1]
    return None
