"""`export_litert`: a model as LiteRT (`.tflite`) files, one per static shape, each verified before it is written.

LiteRT files have static shapes (`torch.export` fixes every axis; a resized GRU stream silently returns outputs of
the wrong shape), so each batch size and chunk length asked for is its own artifact: the streaming form (one chunk
per call, every state an input and an output) or the sequence form at one length T. The interface is the one the
ONNX export of the same model has, its axes fixed, written to a sidecar beside the file (`litert_file`).

Each file is verified in the LiteRT interpreter against the float64 torch model before it is written: at its shape
(from random states, so every state input is proven wired) and, for the streaming form, by streaming a long
sequence chunk by chunk, state carried, against one whole-sequence run.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.interface import GraphInterface, InputNormalization, TensorSpec
from edgelstm.artifact.layout import as_batch_first
from edgelstm.artifact.litert_file import LiteRTShape, LiteRTSidecar, sidecar_path
from edgelstm.artifact.litert_metadata import embed_interface
from edgelstm.artifact.litert_runner import LiteRTRunner
from edgelstm.artifact.metadata import ArtifactMetadata
from edgelstm.comparison import FP32_TOLERANCE, CaseComparison, compare_tensors
from edgelstm.errors import ConfigError, ExportError, first_line
from edgelstm.export.foreign import build_foreign_onnx, call_record
from edgelstm.export.litert_convert import convert_module, converter_versions
from edgelstm.export.native import input_normalization, native_interface, random_inputs_like
from edgelstm.export.verify import VerificationResult, module_reference, native_reference
from edgelstm.files import ensure_writable, write_artifact_pair
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel
from edgelstm.state import StateSpec, torch_state_groups

MIN_STREAM_STEPS = 64  # the streamed verification covers at least this many steps (and at least 4 chunks)


@dataclass(frozen=True)
class LiteRTExportConfig:
    """What to convert: the form, and the static shapes (one artifact per batch x chunk, or per batch at T steps)."""

    form: str = "streaming"  # streaming | sequence
    batches: tuple[int, ...] = (1,)
    chunks: tuple[int, ...] = (1,)  # streaming form: steps per call
    steps: int | None = None  # sequence form: the one length T
    normalize_input: bool = True

    def __post_init__(self) -> None:
        if self.form not in ("streaming", "sequence"):
            raise ConfigError(f"--form {self.form!r}: LiteRT artifacts take streaming or sequence")
        if self.form == "sequence" and self.steps is None:
            raise ConfigError(
                "--target litert: the sequence form needs --fixed-steps T (a LiteRT file runs at one length); "
                "or --form streaming (one chunk per call, state in and out)"
            )
        if any(not 1 <= v <= 4096 for v in (*self.batches, *self.chunks, self.steps or 1)) or not self.batches:
            raise ConfigError("LiteRT batch sizes, chunk lengths and --fixed-steps must be in 1..4096")

    def shapes(self) -> list[LiteRTShape]:
        """One static shape per artifact, in the order asked for."""
        if self.form == "sequence":
            return [LiteRTShape(b, steps=self.steps) for b in self.batches]
        return [LiteRTShape(b, chunk=k) for b in self.batches for k in self.chunks]


@dataclass
class LiteRTArtifact:
    """One `.tflite` of an export: its shape, digest and the verification that allowed it to be written."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("sidecar",)
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("path", "sidecar", "shape", "sha256", "size_bytes", "written")

    path: Path
    shape: LiteRTShape
    verification: VerificationResult
    sha256: str = ""
    size_bytes: int = 0
    written: bool = False

    @property
    def sidecar(self) -> Path:
        """The sidecar JSON written beside the `.tflite`."""
        return sidecar_path(self.path)


@dataclass
class LiteRTExportResult:
    """Every `.tflite` an export made; truthy when each one verified (only verified files are written)."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("target", "passed")
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("target", "passed", "converter", "interface")
    target: ClassVar[str] = "litert"  # `export --json` readers tell it from an ONNX export by it

    interface: GraphInterface
    artifacts: list[LiteRTArtifact] = field(default_factory=list)
    converter: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every artifact matched torch within tolerance."""
        return bool(self.artifacts) and all(a.verification.passed for a in self.artifacts)

    def __bool__(self) -> bool:
        return self.passed


def export_litert(loaded: LoadedModel, out_dir: Path, config: LiteRTExportConfig, overwrite: bool = False) -> LiteRTExportResult:
    """Convert, verify and write one `.tflite` (+ sidecar) per static shape; a shape that fails is not written."""
    base = _base_interface(loaded, config)
    metadata_base = ArtifactMetadata(
        base,
        ExportConfig(form=config.form, normalize_input=config.normalize_input),  # type: ignore[arg-type]
        loaded.config,
        loaded.preprocessing,
        loaded.source,
        user_module=call_record(loaded),
    )
    result = LiteRTExportResult(base, converter=converter_versions())
    for shape in config.shapes():
        interface = fixed_interface(base, shape)
        path = Path(out_dir) / f"{config.form}_litert_{shape.label}.tflite"
        ensure_writable(path, overwrite)
        ensure_writable(sidecar_path(path), overwrite)
        module = _callable_module(loaded, interface)
        described = LiteRTSidecar(_with_interface(metadata_base, interface), shape, "fp32", "", result.converter)
        # the interface goes inside the file before it is verified: the bytes written are the bytes that ran
        content = embed_interface(convert_module(module, example_args(interface, shape)), described.interface_json())
        vocab = loaded.signature.size if loaded.signature.kind == "tokens" else 0
        verification = verify_tflite(content, interface, shape, _reference(loaded, interface), vocab)
        artifact = LiteRTArtifact(path, shape, verification, _sha256(content), len(content))
        if verification.passed:
            sidecar = replace(described, tflite_sha256=artifact.sha256)
            write_artifact_pair(path, content, sidecar_path(path), sidecar.to_json(to_jsonable(verification)), overwrite)
            artifact.written = True
        result.artifacts.append(artifact)
    return result


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _with_interface(metadata: ArtifactMetadata, interface: GraphInterface) -> ArtifactMetadata:
    return ArtifactMetadata(
        interface,
        metadata.export_config,
        metadata.model_config,
        metadata.preprocessing,
        metadata.source,
        user_module=metadata.user_module,
    )


def _base_interface(loaded: LoadedModel, config: LiteRTExportConfig) -> GraphInterface:
    """The interface the ONNX export of this model has (no lengths input: a LiteRT file has one length), batch-first:
    the converted torch step takes batch-first data (the ONNX streaming graph is time-major, issue 21)."""
    onnx_config = ExportConfig(form=config.form, with_lengths=False, normalize_input=config.normalize_input)  # type: ignore[arg-type]
    if loaded.is_native:
        assert loaded.config is not None  # is_native says so
        if config.form == "streaming" and loaded.config.bidirectional:
            raise ExportError("a bidirectional model cannot stream: its backward direction needs the whole sequence")
        normalization = input_normalization(loaded.config, onnx_config, loaded.preprocessing)
        return as_batch_first(native_interface(loaded.config, onnx_config, normalization))
    # A user module: its interface exactly as the ONNX export describes it (names, states, output axes).
    _, interface = build_foreign_onnx(loaded, onnx_config, config.steps or max(config.chunks))
    return as_batch_first(interface)  # its streaming graph is time-major where batch_first layers allowed it


def fixed_interface(base: GraphInterface, shape: LiteRTShape) -> GraphInterface:
    """`base` at one static shape: the batch axis of every input fixed and the time axis fixed (sequence) or the
    chunk recorded. Outputs and state specs keep their "batch" symbol: it says which axis of each follows the batch
    (every feeder sizes states by the data's batch; the runner refuses any batch but the file's)."""

    def fix(spec: TensorSpec, batch: int | str) -> TensorSpec:
        dims = [batch if d == "batch" else (shape.steps if d == "time" and shape.steps else d) for d in spec.shape]
        return TensorSpec(spec.name, spec.dtype, dims, spec.description)

    return GraphInterface(
        base.form,
        "litert",
        [fix(t, shape.batch) for t in base.inputs],
        [fix(t, "batch") for t in base.outputs],
        list(base.states),
        dict(base.constants),
        shape.chunk,
        base.context,
        base.normalization,
    )


class NativeStream(torch.nn.Module):
    """An edgelstm model's streaming step as one traceable call: raw features in (standardised here when the graph
    does it), every state in and out, as the ONNX streaming graph computes it."""

    def __init__(self, model: Any, normalization: InputNormalization | None, states: Sequence[StateSpec] = ()) -> None:
        super().__init__()
        self.model = model
        self.normalization = normalization
        # The graph's states as torch holds them: the slim layout's per-layer h0, h1 are one h, stacked on axis 0.
        self.groups = [len(group) for group in torch_state_groups(list(states))]
        self.rows = [len(spec.rows) or 1 for spec in states]

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """x as the model sees it: (x - mean) / std when the graph takes raw features."""
        if self.normalization is None:
            return x
        mean, std = self.normalization.arrays()
        return (x - torch.from_numpy(mean)) / torch.from_numpy(std)

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One chunk: the per-step output, then every state's next value, in the graph's state order."""
        grouped, start = [], 0
        for size in self.groups:
            grouped.append(torch.cat(states[start : start + size]) if size > 1 else states[start])
            start += size
        y, final = self.model.forward_streaming(self.standardized(x), tuple(grouped))
        parts, start = [], 0
        for size, value in zip(self.groups, final, strict=True):
            rows = self.rows[start : start + size]
            parts += list(torch.split(value, rows)) if size > 1 else [value]
            start += size
        return (y, *parts)


class NativeSequence(NativeStream):
    """The sequence form: the whole (fixed-length) sequence in, the output and the final recurrent state out."""

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The whole sequence: the output, then the final recurrent state."""
        y, final = self.model(self.standardized(x))
        return (y, *final)


def _callable_module(loaded: LoadedModel, interface: GraphInterface) -> torch.nn.Module:
    if not loaded.is_native:
        return loaded.module  # called as the ONNX export calls it: (x) or (x, *states)
    model = copy.deepcopy(loaded.module).float().eval()
    if interface.form == "streaming":
        return NativeStream(model, interface.normalization, interface.states)
    return NativeSequence(model, interface.normalization)


def example_args(interface: GraphInterface, shape: LiteRTShape) -> tuple[torch.Tensor, ...]:
    """Zeros at the artifact's shape for every input, in the interface's order: what the converter traces with."""
    steps = shape.chunk or shape.steps or 1
    return tuple(
        torch.zeros([steps if d in ("chunk", "time") else int(d) for d in t.shape], dtype=getattr(torch, t.dtype))
        for t in interface.inputs
    )


def _reference(loaded: LoadedModel, interface: GraphInterface) -> Any:
    """The float64 torch computation the file must reproduce, outputs in the interface's order."""
    module = copy.deepcopy(loaded.module).double().eval()
    if loaded.is_native:
        return native_reference(module, interface)
    return module_reference(module, [t.name for t in interface.inputs])


def verify_tflite(
    content: bytes, interface: GraphInterface, shape: LiteRTShape, reference: Any, vocab: int = 0
) -> VerificationResult:
    """The file in the LiteRT interpreter against float64 torch: at its shape from random states, and (streaming)
    a long sequence streamed chunk by chunk against one whole-sequence run."""
    result = VerificationResult(tolerance=FP32_TOLERANCE)
    names = [o.name for o in interface.outputs]
    with tempfile.TemporaryDirectory(prefix="edgelstm-litert-") as workdir:
        path = Path(workdir) / "candidate.tflite"
        path.write_bytes(content)
        try:
            runner = LiteRTRunner(path, interface)
        except Exception as exc:  # the interpreter refusing the converter's file is the export's failure, with why
            result.cases.append(CaseComparison("load in the LiteRT interpreter", shape.batch, 0, error=first_line(exc)))
            return result
        steps = shape.chunk or shape.steps or 1
        feeds = random_inputs_like(interface, shape.batch, steps, vocab, seed=0)
        label = f"at its shape ({shape.label})" + (", random states" if interface.states else "")
        result.cases.append(_compare(label, runner, reference, feeds, names, steps))
        if shape.chunk is not None and interface.states:
            chunks = max(4, -(-MIN_STREAM_STEPS // shape.chunk))
            x = random_inputs_like(interface, shape.batch, shape.chunk * chunks, vocab, seed=1)[interface.data_input.name]
            whole = sequence_feeds(interface, x, None, "streamed verification")  # every state from its initial value
            try:
                streamed = run_in_chunks(lambda f: runner.run(names, f), interface, whole, shape.chunk)
            except Exception as exc:  # a runtime refusal is this case's finding
                result.cases.append(CaseComparison("streamed", shape.batch, x.shape[1], error=first_line(exc)))
                return result
            expected = reference({k: v.astype(np.float64) for k, v in whole.items()})
            outputs = [compare_tensors(n, a, e, FP32_TOLERANCE) for n, a, e in zip(names, streamed, expected, strict=True)]
            label = f"{chunks} chunks of {shape.chunk}, state carried, vs one whole-sequence run"
            result.cases.append(CaseComparison(label, shape.batch, x.shape[1], outputs))
    return result


def _compare(
    label: str, runner: LiteRTRunner, reference: Any, feeds: dict[str, np.ndarray], names: list[str], steps: int
) -> CaseComparison:
    batch = next(iter(feeds.values())).shape[0]
    try:
        actual = runner.run(names, feeds)
    except Exception as exc:  # a runtime refusal is this case's finding
        return CaseComparison(label, batch, steps, error=first_line(exc))
    expected = reference({k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in feeds.items()})
    return CaseComparison(
        label, batch, steps, [compare_tensors(n, a, e, FP32_TOLERANCE) for n, a, e in zip(names, actual, expected, strict=True)]
    )
