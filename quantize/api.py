"""`quantize`: one scheme applied to an exported graph (or a checkpoint), checked by the parity gate."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import onnx

from edgelstm.artifact.child import crash_reason
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import data_for_graph, data_shape, sequence_feeds
from edgelstm.artifact.foreign import source_metadata
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.layout import caller_shape, graph_feeds, to_caller
from edgelstm.artifact.metadata import ArtifactMetadata, attach_metadata, read_metadata
from edgelstm.errors import ExportError, LoadError, first_line
from edgelstm.export.api import build_onnx, check_onnx, export_user_module_graph
from edgelstm.export.native import fused_unsupported_reason
from edgelstm.files import check_output_dir, ensure_writable, write_artifact_pair
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.parity.data import SequenceData
from edgelstm.parity.stream_data import StreamData
from edgelstm.quantize import schemes  # noqa: F401  # registers the built-in handlers
from edgelstm.quantize.calibration import CalibrationSource
from edgelstm.quantize.compact import compact_model
from edgelstm.quantize.config import SchemeConfig
from edgelstm.quantize.graph_facts import initializer_bytes, stored_tensor_bytes
from edgelstm.quantize.registry import QuantizeInput, SchemeRefused, handler_for
from edgelstm.quantize.split import DataSplit


class Gate(Protocol):
    """What `quantize` asks of a parity gate (ParityGate against a torch model, StreamGate against an ONNX graph):
    a summary of the artifact's verdict with at least `passed`."""

    def run(self, path: Path) -> dict[str, Any]:
        """Judge the artifact at `path`; the summary's `passed` decides whether it is published."""
        ...


@runtime_checkable
class DecliningGate(Gate, Protocol):
    """A gate that may decline an artifact on its size alone (`--scheme auto`: it cannot win): the summary to
    record instead of a verdict, or None to gate it. A declined artifact is never run here, so never probed."""

    def decline(self, size_bytes: int, at_least: bool = False) -> dict[str, Any] | None:
        """A not-gated summary when an artifact of `size_bytes` cannot win (skip building or gating it), else None."""
        ...


# A foreign artifact whose stored tensors kept at least this share of their bytes was not quantized.
NOTHING_QUANTIZED = 0.99


@dataclass
class QuantizeResult:
    """What one quantization produced: the artifact, its sizes, its implementation and the gate's verdict. Its JSON
    is the `.quant.json` written beside the artifact."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("compression", "weight_compression")
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "scheme",
        "config",
        "source",
        "source_bytes",
        "path",
        "size_bytes",
        "size_is_floor",
        "compression",
        "source_weight_bytes",
        "weight_bytes",
        "weight_compression",
        "impl",
        "slower_form",
        "notes",
        "refused",
        "parity_passed",
        "parity",
        "data_split",
    )

    scheme: str
    config: dict[str, Any]
    source: str
    source_bytes: int
    path: Path | None = None
    size_bytes: int = 0
    source_weight_bytes: int = 0  # stored tensors only: what quantization acts on (files add graph + metadata)
    weight_bytes: int = 0
    impl: str = ""
    notes: list[str] = field(default_factory=list)
    refused: str = ""
    parity: dict[str, Any] | None = None  # summary of the gate run on the artifact
    parity_passed: bool | None = None
    size_is_floor: bool = False  # size_bytes is a lower bound: the artifact was declined before it was built
    data_split: dict[str, Any] | None = None  # which data calibrated and which gated (quantize.split.DataSplit)
    # Why the artifact's graph form is one that can run slower than the float graph (a fused LSTM/GRU op replaced by a
    # Loop of MatMuls, for want of an int8 kernel); "" when the scheme kept the float graph's form.
    slower_form: str = ""

    @property
    def compression(self) -> float:
        """Source file bytes over artifact bytes ("x smaller"); 0.0 when no artifact was written."""
        return self.source_bytes / self.size_bytes if self.size_bytes else 0.0

    @property
    def weight_compression(self) -> float:
        """Stored weight bytes before over after: the weights alone, without the graph's fixed cost."""
        return self.source_weight_bytes / self.weight_bytes if self.weight_bytes else 0.0


def quantize(
    model: LoadedModel | Path,
    config: SchemeConfig,
    out_dir: Path,
    calibration: SequenceData | None = None,
    overwrite: bool = False,
    gate: Gate | None = None,
    keep_failed: bool = False,
    foreign: InterfaceHints | None = None,
    calibration_stream: StreamData | None = None,
    data_split: DataSplit | None = None,
) -> QuantizeResult:
    """Quantize an exported edgelstm graph (.onnx) or a checkpoint (exported here in the form the scheme suits).

    `foreign`: the graph is an ONNX file made elsewhere (silero-vad's): its interface is described and probed with
    these hints (--const, --state, --chunk, --context) and written into the artifact's metadata with the sha256 of
    the file it came from. The scheme's handler gets the graph as it is; no export happens.
    `calibration_stream`: for a graph with state, the audio that calibrates (GPTQ's layer statistics), streamed
    chunk by chunk with the state carried; it must not be the gate's data (quantize.split does that).

    Raises SchemeRefused with the reason when the scheme cannot apply. With a `gate`, the artifact is checked
    before it is published and one that fails is not written (its numbers are in the result) unless
    `keep_failed`. The artifact and its `.quant.json` are written atomically; an interrupted run leaves nothing.
    """
    check_output_dir(Path(out_dir))
    handler = handler_for(config)
    with tempfile.TemporaryDirectory(prefix="edgelstm-quantize-") as tmp:
        source_path, metadata = _fp32_source(model, config, Path(tmp), calibration, foreign)
        graph = onnx.load(str(source_path))
        source_weight_bytes = initializer_bytes(graph)  # before apply: some quantizers edit the model in place
        source_stored_bytes = stored_tensor_bytes(graph)
        is_foreign = metadata.interface.impl == "foreign"
        feeds = (
            _calibration_feeds(calibration, metadata, getattr(config, "calibration_sequences", 0))
            if calibration and not is_foreign
            else None
        )
        source = QuantizeInput(
            source_path,
            graph,
            metadata.interface,
            metadata.model_config,
            feeds,
            _calibration_source(metadata, feeds, calibration, calibration_stream),
        )
        result = QuantizeResult(
            config.scheme,
            to_jsonable(config),
            str(model.origin if isinstance(model, LoadedModel) else model),
            source_path.stat().st_size,
            impl=metadata.interface.impl,
        )
        if data_split is not None:
            result.data_split = to_jsonable(data_split)
        if (reason := handler.refuse(config, source)) is not None:
            raise SchemeRefused(f"{config.scheme} refused: {reason}")
        # A foreign graph's artifact is named after the file it came from (silero_vad.weight-only-int8.onnx).
        stem = (
            f"{source_path.stem}.{config.tag}"
            if is_foreign
            else f"{metadata.interface.form}_{metadata.interface.impl.replace('.', '_')}.{config.tag}"
        )
        target = Path(out_dir) / f"{stem}.onnx"
        ensure_writable(target, overwrite)
        ensure_writable(target.with_suffix(".quant.json"), overwrite)
        if isinstance(gate, DecliningGate) and (floor := handler.size_floor(config, source)) is not None:
            if (declined := gate.decline(floor, at_least=True)) is not None:
                return _declined(result, declined, floor, source_weight_bytes, None)  # not built
        staged = Path(tmp) / "quantized.onnx"
        with quiet_onnxruntime_logs():
            result.notes = handler.apply(config, source, staged)
        quantized, compacted = compact_model(onnx.load(str(staged)))  # names, doc strings, types: not weights
        result.notes.append(compacted.note())
        if data_split is not None:
            result.notes.extend(data_split.lines())
        result.slower_form = _slower_form(model, metadata, result.notes)
        attach_metadata(quantized, metadata)
        entry = quantized.metadata_props.add()
        entry.key, entry.value = "edgelstm.quantization", json.dumps(to_jsonable(config), sort_keys=True)
        data = quantized.SerializeToString(deterministic=True)
        # Probed as published (metadata attached): the gate's probe of the same bytes and feeds is then answered
        # from crash_reason's verdicts instead of a second child process.
        checked = Path(tmp) / target.name
        checked.write_bytes(data)
        if isinstance(gate, DecliningGate) and (declined := gate.decline(len(data))) is not None:
            return _declined(result, declined, len(data), source_weight_bytes, initializer_bytes(quantized))
        if (crash := crash_reason(checked, feeds=_probe_feeds(metadata, Path(tmp)))) is not None:
            raise SchemeRefused(f"{config.scheme} refused: {crash}")
        result.size_bytes = len(data)
        if is_foreign and stored_tensor_bytes(quantized) >= NOTHING_QUANTIZED * source_stored_bytes:
            # Seen on silero-vad: its weights are Constant nodes inside If branches, which some quantizers never
            # reach (dynamic-int8 leaves its LSTMs float). Compared on stored tensors, not file size: the compact
            # pass alone makes any file ~5 % smaller, which is no quantization, whatever a gate would say.
            raise SchemeRefused(
                f"{config.scheme} refused: {source_path.name}'s weights got no smaller ({source_stored_bytes:,} -> "
                f"{stored_tensor_bytes(quantized):,} bytes stored; {'; '.join(result.notes) or 'nothing quantized'})"
            )
        result.source_weight_bytes, result.weight_bytes = source_weight_bytes, initializer_bytes(quantized)
        if gate is not None:
            result.parity = gate.run(checked)
            result.parity_passed = bool(result.parity["passed"])
            if not result.parity_passed and not keep_failed:
                return result  # nothing published: a failed artifact must not look like a shippable one
        result.path = target  # the sidecar describes the published pair
        try:
            report = json.dumps(to_jsonable(result), indent=2) + "\n"
            write_artifact_pair(target, data, target.with_suffix(".quant.json"), report, overwrite)
        except BaseException:
            result.path = None
            raise
        return result


def _slower_form(model: LoadedModel | Path, metadata: ArtifactMetadata, notes: list[str]) -> str:
    """Say so when the scheme's graph is a Loop where the float graph has a fused LSTM/GRU op: ORT runs the fused op
    as one kernel and a Loop as one body call per step, so the artifact can be many times slower than its float
    graph (issue 19: a GRU's dynamic-int8 Loop graph measured 15-24x). Stated, not timed here: bench measures it."""
    if any("rewritten to a Loop" in note for note in notes):  # a foreign graph's fused GRU, rewritten first
        return "its fused GRU was rewritten to a Loop of MatMuls (no int8 GRU kernel): it can run slower than the float graph"
    config = metadata.model_config
    if not isinstance(model, LoadedModel) or config is None or metadata.interface.impl != "loop":
        return ""
    if fused_unsupported_reason(config) is not None:
        return ""  # the float graph is a Loop too: same form
    return (
        f"Loop form of the {config.cell.upper()} (no int8 kernel for the fused op): it can run slower than the fused "
        "float graph `edgelstm export` writes"
    )


def _declined(
    result: QuantizeResult, summary: dict[str, Any], size_bytes: int, source_weight_bytes: int, weight_bytes: int | None
) -> QuantizeResult:
    """The row of an artifact a DecliningGate declined: not gated, so never published. `weight_bytes` None: it was
    declined on its size floor before it was built (size_bytes is then that floor)."""
    result.size_bytes, result.size_is_floor = size_bytes, weight_bytes is None
    result.source_weight_bytes, result.weight_bytes = source_weight_bytes, weight_bytes or 0
    result.parity, result.parity_passed = summary, False
    return result


@contextmanager
def quiet_onnxruntime_logs() -> Iterator[None]:
    """ORT's quantizers log every node at INFO and nag at WARNING on the root logger; our notes say what matters."""
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _probe_feeds(metadata: ArtifactMetadata, tmp: Path) -> Path | None:
    """The crash probe's inputs for a foreign graph (its constants, its chunk length); None: the probe's zeros."""
    interface = metadata.interface
    if interface.impl != "foreign":
        return None

    x = np.zeros(data_shape(interface, 1), np.dtype(interface.data_input.dtype))
    feeds = graph_feeds(interface, sequence_feeds(interface, x, None, "crash probe"))  # as the graph takes them
    path = tmp / "probe_feeds.npz"
    np.savez(path, **feeds)  # type: ignore[arg-type]  # numpy stubs: a ** dict might bind allow_pickle
    return path


def _fp32_source(
    model: LoadedModel | Path,
    config: SchemeConfig,
    tmp: Path,
    calibration: SequenceData | None,
    foreign: InterfaceHints | None = None,
) -> tuple[Path, ArtifactMetadata]:
    """The float graph a scheme starts from: exported in the form the handler needs, or the user's ONNX file."""
    if isinstance(model, LoadedModel):
        if not model.is_native:  # a user module: its graph as `export` writes it, verified against the module
            return export_user_module_graph(model, tmp / "export")

        assert model.config is not None
        impl = handler_for(config).choose_impl(config, model.config)
        fixed_steps = None
        if impl == "unrolled":
            if calibration is None:
                raise SchemeRefused(
                    f"{config.scheme} refused: it needs calibration data (--data), whose length fixes the unrolled graph's"
                )
            fixed_steps = calibration.max_steps
        fixed_batch = getattr(config, "fixed_batch", None) if impl == "unrolled" else None
        export_config = ExportConfig(
            form="sequence",
            impl=impl,  # type: ignore[arg-type]
            fixed_steps=fixed_steps,
            fixed_batch=fixed_batch,
            with_lengths=fixed_batch is None,  # static shapes: the app pads, the graph has no mask
            with_state_inputs=fixed_batch is not None,
        )
        graph, interface = build_onnx(model, export_config)
        metadata = ArtifactMetadata(interface, export_config, model.config, model.preprocessing, model.source)
        attach_metadata(graph, metadata)
        check_onnx(graph)
        path = tmp / "fp32.onnx"
        onnx.save(graph, str(path))
        return path, metadata
    path = Path(model)
    if not path.is_file():
        raise ExportError(f"{path}: no such ONNX file")
    if foreign is not None:
        metadata = source_metadata(path, foreign)  # its own metadata when it has some, else described and probed
    else:
        metadata = read_metadata(path)  # refuses files that are empty, corrupt or not exported by edgelstm
    try:
        onnx.load(str(path))
    except Exception as exc:  # external data missing or unreadable: protobuf/OS/decode errors alike
        raise LoadError(f"{path}: cannot load the ONNX graph ({type(exc).__name__}: {first_line(exc)})") from None
    return path, metadata


def _calibration_source(
    metadata: ArtifactMetadata,
    feeds: list[dict[str, np.ndarray]] | None,
    calibration: SequenceData | None,
    stream: StreamData | None,
) -> CalibrationSource | None:
    """The calls that gather layer statistics: the calibration sequences as batches, or the stream in chunks."""
    interface = metadata.interface
    if stream is not None and interface.chunk and interface.states:
        usable = stream.samples - stream.samples % interface.chunk
        x = stream.x[:, :usable]
        description = f"{stream.source}, {x.shape[0]} row(s) x {usable} samples{_sha(stream.sha256)}"
        return CalibrationSource(interface, [sequence_feeds(interface, x, None, stream.source)], interface.chunk, description)
    if feeds and calibration is not None:
        data = interface.data_input.name  # the feeds are in the graph's layout: rows counted batch-first
        rows = sum(int(to_caller(interface, data, f[data]).shape[0]) for f in feeds)
        return CalibrationSource(interface, feeds, None, f"{calibration.source}, {rows} sequences{_sha(calibration.sha256)}")
    return None


def _sha(digest: str) -> str:
    """ ", sha256 X" for a note, or "" when the digest is unknown."""
    return f", sha256 {digest}" if digest else ""


def _calibration_feeds(data: SequenceData, metadata: ArtifactMetadata, limit: int) -> list[dict[str, np.ndarray]]:
    """Batches of real inputs shaped for the graph (x, lengths, zero states), in its layout (a time-major streaming
    graph's data turned by edgelstm.artifact.layout): ORT's calibration and every session here take them as they are."""
    fixed_batch = caller_shape(metadata.interface, metadata.interface.inputs[0])[0]
    size = fixed_batch if isinstance(fixed_batch, int) else 16
    count = min(data.count, limit or data.count)
    if isinstance(fixed_batch, int):
        count -= count % size  # a fixed-batch graph takes whole batches only
    batches = []
    for start in range(0, count, size):
        x = data.x[start : min(start + size, count)]
        lengths = data.lengths[start : start + len(x)].astype(np.int64) if data.lengths is not None else None
        x = data_for_graph(metadata.interface, x)  # raw features for a graph that standardises inside
        batches.append(graph_feeds(metadata.interface, sequence_feeds(metadata.interface, x, lengths, "calibration data")))
    return batches
