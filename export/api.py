"""`export_model`: build the graph, check it, verify it in ONNX Runtime at unseen shapes, then write it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import onnx

from edgelstm import __version__
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.metadata import ArtifactMetadata, attach_metadata, read_metadata
from edgelstm.errors import ExportError, first_line
from edgelstm.export.foreign import build_foreign_onnx, call_record
from edgelstm.export.native import build_native_onnx
from edgelstm.export.verify import (
    VerificationConfig,
    VerificationResult,
    load_data_feeds,
    module_reference,
    native_reference,
    verify_graph,
)
from edgelstm.files import check_output_dir, ensure_writable, write_artifact_pair, write_bytes_atomic
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel


@dataclass
class ExportResult:
    """What `export_model` wrote: the artifact, its metadata and the verification against torch that allowed it.
    Its JSON is the `.export.json` written beside the artifact."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed",)
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "path",
        "written",
        "passed",
        "sha256",
        "size_bytes",
        "source",
        "checks",
        "export_config",
        "interface",
        "verification",
    )

    path: Path
    interface: GraphInterface
    export_config: ExportConfig
    source: str
    verification: VerificationResult
    checks: list[str] = field(default_factory=list)
    sha256: str = ""
    size_bytes: int = 0
    written: bool = False

    @property
    def passed(self) -> bool:
        """Whether the exported graph matched torch within tolerance (only a passing export is published)."""
        return self.verification.passed

    def __bool__(self) -> bool:
        return self.passed

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportResult:
        """Read back a result as `to_jsonable` writes it, so a pipeline can resume from it."""
        return cls(
            path=Path(data["path"]),
            interface=GraphInterface.from_dict(data["interface"]),
            export_config=ExportConfig.from_dict(data["export_config"]),
            source=data["source"],
            verification=VerificationResult.from_dict(data["verification"]),
            checks=list(data["checks"]),
            sha256=data["sha256"],
            size_bytes=data["size_bytes"],
            written=data["written"],
        )


def artifact_name(export_config: ExportConfig, impl: str) -> str:
    """The artifact's file stem, naming its form and implementation (e.g. `sequence_fused`), so runs never collide."""
    return f"{export_config.form}_{impl.replace('.', '_')}"


def build_onnx(
    loaded: LoadedModel, export_config: ExportConfig, example_steps: int | None = None
) -> tuple[onnx.ModelProto, GraphInterface]:
    """The graph for `loaded`; `example_steps` is the trace length for user modules (native graphs need none)."""
    if loaded.is_native:
        return build_native_onnx(loaded.module, export_config, loaded.preprocessing)

    return build_foreign_onnx(loaded, export_config, example_steps or loaded.signature.example_steps)


def check_onnx(model: onnx.ModelProto) -> list[str]:
    """Full checker and strict shape inference; raises ExportError naming the failed check."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the graph: {first_line(exc)}") from None
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        raise ExportError(f"ONNX shape inference failed: {first_line(exc)}") from None
    return ["onnx.checker (full_check)", "shape inference (strict, type-checked)"]


def export_model(
    loaded: LoadedModel,
    out_dir: Path,
    export_config: ExportConfig | None = None,
    verification: VerificationConfig | None = None,
    overwrite: bool = False,
    data: Path | None = None,
) -> ExportResult:
    """Export, check and verify; the .onnx and its .export.json are written only if verification passes.

    `data`: an optional .npz of real inputs (`x`, optional `lengths`) verified in addition to the shape grid.
    """
    check_output_dir(Path(out_dir))
    export_config = export_config or ExportConfig()
    verification = verification or VerificationConfig(example_steps=loaded.signature.example_steps)
    if export_config.fixed_steps is not None:  # an unrolled graph runs at exactly one length
        verification = replace(verification, steps=(export_config.fixed_steps,), example_steps=export_config.fixed_steps)
    if export_config.fixed_batch is not None:
        verification = replace(verification, batches=(export_config.fixed_batch,))
    # One example length drives both the trace and the verification grid built around it.
    model, interface = build_onnx(loaded, export_config, verification.example_steps)
    name = artifact_name(export_config, interface.impl)
    onnx_path = Path(out_dir) / f"{name}.onnx"
    report_path = Path(out_dir) / f"{name}.export.json"
    ensure_writable(onnx_path, overwrite)
    ensure_writable(report_path, overwrite)

    model.producer_version = __version__

    metadata = ArtifactMetadata(interface, export_config, loaded.config, loaded.preprocessing, loaded.source)
    if (record := call_record(loaded)) is not None:
        metadata = replace(metadata, user_module=record)
    attach_metadata(model, metadata)
    checks = check_onnx(model)
    serialized = model.SerializeToString(deterministic=True)
    if loaded.is_native:
        reference = native_reference(loaded.module, interface)  # standardises x as the graph does, when it does
    else:
        reference = module_reference(loaded.module, [t.name for t in interface.inputs])
    vocab = loaded.signature.size if loaded.signature.kind == "tokens" else 0
    feeds = load_data_feeds(data, interface) if data is not None else None
    result = verify_graph(serialized, interface, reference, verification, vocab_size=vocab, data=feeds)
    export_result = ExportResult(
        path=onnx_path,
        interface=interface,
        export_config=export_config,
        source=loaded.source,
        verification=result,
        checks=[*checks, f"onnxruntime at {len(result.cases)} shapes vs torch"],
        sha256=hashlib.sha256(serialized).hexdigest(),
        size_bytes=len(serialized),
    )
    if export_result.passed:
        export_result.written = True  # the report describes the published pair, so it says so before it exists
        report = json.dumps(to_jsonable(export_result), indent=2) + "\n"
        try:
            write_artifact_pair(onnx_path, serialized, report_path, report, overwrite)
        except BaseException:
            export_result.written = False
            raise
    return export_result


def export_user_module_graph(loaded: LoadedModel, directory: Path) -> tuple[Path, ArtifactMetadata]:
    """A user module's sequence graph exactly as `export` writes it (traced, checked, verified in ONNX Runtime against
    the module at unseen shapes), in `directory`: what `quantize pkg.mod:build --weights w.pt` starts from."""
    result = export_model(loaded, directory)
    if not result.passed:
        case = result.verification.failures()[0]
        detail = f" (first failing case: {case.label}, batch {case.batch}, {case.steps} steps{': ' + case.error if case.error else ''})"
        raise ExportError(f"{loaded.origin}: its ONNX export does not match the module{detail}; nothing to quantize")
    return result.path, read_metadata(result.path)


def write_stacked_streaming(loaded: LoadedModel, path: Path) -> Path:
    """The streaming graph of a native model in the layout written before issue 21 (states stacked over layers,
    Slice / Concat / Identity around the fused nodes), with its metadata, at `path`: not verified and not what
    `export` writes; kept so the slim layout can be compared with it and old graphs tested (scripts/bench_slim_step.py,
    the old-layout compatibility tests)."""
    export_config = ExportConfig(form="streaming")
    model, interface = build_native_onnx(loaded.module, export_config, loaded.preprocessing, streaming_layout="stacked")
    model.producer_version = __version__
    attach_metadata(model, ArtifactMetadata(interface, export_config, loaded.config, loaded.preprocessing, loaded.source))
    write_bytes_atomic(Path(path), model.SerializeToString(deterministic=True), overwrite=True)
    return Path(path)
