"""An artifact run on one provider: cpu / cuda as given, mobile as ORT Mobile runs it (ORT format), onnx.reference,
or litert (a `.tflite` in the LiteRT interpreter)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx.external_data_helper import uses_external_data

from edgelstm.artifact.file import ArtifactInfo, open_artifact, stores_tensors
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.litert_runner import LiteRTRunner
from edgelstm.artifact.session import SessionSettings, session_from_onnx, write_optimized
from edgelstm.artifact.walk import graphs
from edgelstm.errors import EdgelstmError, first_line

PROVIDERS = ("cpu", "cuda", "mobile", "reference", "litert")


class NotApplicable(EdgelstmError):
    """This provider cannot run this artifact (e.g. onnx.reference on an ORT-format file)."""


class Runner:
    """Runs one artifact on one provider; records the providers actually used."""

    def __init__(
        self,
        provider: str,
        providers_used: list[str],
        session: Any,
        ignores_sequence_lens: bool = False,
        interface: GraphInterface | None = None,
    ):
        self.provider = provider
        self.providers_used = providers_used
        self._session = session
        self.ignores_sequence_lens = ignores_sequence_lens
        # feeds and outputs batch-first whatever the graph's layout (a time-major streaming graph: issue 21)
        self._run = session.run if interface is None else run_batch_first(interface, session.run)

    def run(self, output_names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the session on batch-first feeds and return its outputs as batch-first numpy arrays."""
        return [np.asarray(v) for v in self._run(output_names, feeds)]


def open_runner(artifact: ArtifactInfo, provider: str, workdir: Path, threads: int = 1) -> Runner:
    """cpu / cuda: the artifact as given; mobile: converted to ORT format and run the way ORT Mobile runs it
    (pre-optimised ORT-format session, 1 thread, no further graph optimisation); reference: onnx.reference;
    litert: a .tflite in the LiteRT interpreter at its one shape (each provider runs only its own file format)."""
    if (artifact.format == "tflite") != (provider == "litert"):
        runs = "LiteRT runs .tflite artifacts" if provider == "litert" else f"{provider} runs ONNX artifacts"
        raise NotApplicable(f"not applicable: {runs} ({artifact.name} is {artifact.format})")
    if provider == "litert":
        litert = LiteRTRunner(artifact.path, artifact.interface, threads)
        return Runner(provider, litert.providers_used, litert)
    if provider in ("cpu", "cuda"):
        settings = SessionSettings(provider=provider, intra_op_threads=threads)
        session = session_from_onnx(artifact.path, settings, artifact.model)
        return Runner(provider, list(session.get_providers()), session, interface=artifact.interface)
    if provider == "mobile":
        # A mobile (minimal) build cannot re-optimise: the ORT file carries the optimised graph.
        settings = SessionSettings(provider="cpu", intra_op_threads=1, graph_optimization="disable")
        try:  # the conversion too: ORT refusing to write the ORT format is the same finding
            ort_path = artifact.path if artifact.format == "ort" else convert_to_ort(artifact.path, workdir, artifact.model)
            session = session_from_onnx(ort_path, settings)
        except Exception as exc:  # ORT raises its own types; the finding is that ORT Mobile cannot load this file
            raise OrtFormatError(f"ORT Mobile cannot load it: {first_line(exc, 200, last=True)}") from None
        return Runner(provider, [*session.get_providers(), "ORT format"], session, interface=artifact.interface)
    if provider == "reference":
        if artifact.format == "ort":
            raise NotApplicable("not applicable: onnx.reference reads ONNX files, not ORT format")
        if artifact.contrib_ops:
            ops = ", ".join(artifact.contrib_ops)
            raise NotApplicable(f"not runnable in onnx.reference (contrib op {ops}); the other providers gate it")
        from onnx.reference import ReferenceEvaluator  # optional: loads every op's reference kernel; reference runs only

        evaluator = ReferenceEvaluator(_reference_input(artifact))
        return Runner(
            provider, ["onnx.reference.ReferenceEvaluator"], evaluator, artifact.fused_rnn_with_lengths, artifact.interface
        )
    raise EdgelstmError(f"unknown provider {provider!r}; choose from {', '.join(PROVIDERS)}")


def _reference_input(artifact: ArtifactInfo) -> onnx.ModelProto | str:
    """The graph already parsed, unless its weights live in external files: that parse left them on disk, and
    onnx.reference needs them loaded (from the path)."""
    model = artifact.model
    if model is None or any(uses_external_data(t) for g in graphs(model.graph) for t in g.initializer):
        return str(artifact.path)
    return model


class OrtFormatError(EdgelstmError):
    """The artifact does not survive conversion to ORT format (ORT Mobile's): onnxruntime 1.32 writes int4
    initializers it cannot read back. A verdict for the mobile provider, not a crash."""


def ort_format_problem(path: Path) -> str | None:
    """Why this ONNX artifact cannot ship to ORT Mobile (converted to ORT format, the file does not load), or None."""
    with tempfile.TemporaryDirectory(prefix="edgelstm-ort-format-") as workdir:
        try:
            open_runner(open_artifact(path), "mobile", Path(workdir))
        except OrtFormatError as exc:
            return str(exc)
    return None


def convert_to_ort(path: Path, workdir: Path, model: onnx.ModelProto | None = None) -> Path:
    """ONNX -> ORT format as onnxruntime.tools.convert_onnx_models_to_ort's 'Fixed' style does, but optimised at
    the EXTENDED level: ALL adds layout transforms for the converting machine's CPU (NCHWc on x86), and this file
    is meant for phones. `model`: the file's graph when already parsed (`ArtifactInfo.model`)."""
    target = Path(tempfile.mkdtemp(dir=workdir)) / (path.stem + ".ort")
    # the graph's structure and dtypes are all that is read: external weights stay on disk
    graph = model if model is not None else onnx.load(str(path), load_external_data=False)
    disabled = ["ConstantFolding"] if keeps_int8_weights_in_ort_format(graph) else []
    return write_optimized(path, target, "extended", ort_format=True, disabled_optimizers=disabled)


def keeps_int8_weights_in_ort_format(model: onnx.ModelProto) -> bool:
    """Whether the ORT-format file keeps int8-stored weights (Cast + Mul) unfolded.

    Folding them at conversion would write float32 weights into the .ort, 4x the bytes. An ORT-format file is loaded
    as written (minimal builds do not optimize), so the phone expands them on every call, as it ran DequantizeLinear
    before. int4 storage is folded instead: the ORT format cannot hold 4-bit tensors (ORT 1.32 refuses to load such a
    file: "Unsupported tensor data type"), so its .ort carries float32 weights."""
    int4 = (onnx.TensorProto.INT4, onnx.TensorProto.UINT4)
    return _casts_stored_int8(model.graph) and not stores_tensors(model, int4)


def _casts_stored_int8(graph: onnx.GraphProto, outer: frozenset[str] = frozenset()) -> bool:
    """A Cast reads a stored int8 tensor (weight-only storage; static/dynamic int8 read theirs otherwise), in this
    graph or in a body that reads it from an outer scope (`outer`: the int8 tensors stored around it)."""
    stored = set(outer) | {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.INT8}
    stored |= {
        n.output[0]
        for n in graph.node
        if n.op_type == "Constant" and n.attribute and n.attribute[0].t.data_type == onnx.TensorProto.INT8
    }
    for node in graph.node:
        if node.op_type == "Cast" and node.input and node.input[0] in stored:
            return True
        if any(
            attr.type == onnx.AttributeProto.GRAPH and _casts_stored_int8(attr.g, frozenset(stored)) for attr in node.attribute
        ):
            return True
    return False
