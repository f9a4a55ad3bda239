"""Dynamic int8 (CPU): int8 weights, activations quantized at run time."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx

from edgelstm.artifact.session import session_from_onnx
from edgelstm.artifact.walk import nodes
from edgelstm.config import ModelConfig
from edgelstm.export.rnn_rewrite import rewrite_fused_rnns
from edgelstm.quantize.config import DynamicInt8Config, SchemeConfig
from edgelstm.quantize.graph_facts import describe_ops, op_counts
from edgelstm.quantize.registry import Handler, QuantizeInput, register


@register(DynamicInt8Config)
class DynamicInt8Handler(Handler):
    """Dynamic int8 (ORT's quantize_dynamic): int8 weights, activations quantized per call."""

    def choose_impl(self, config: SchemeConfig, model: ModelConfig) -> str:
        """Fused for LSTM without projection (ORT has DynamicQuantizeLSTM), else the Loop form of MatMuls."""
        # ORT has DynamicQuantizeLSTM (peephole included) but no int8 GRU and no projection in the fused LSTM.
        return "fused" if model.cell in ("lstm", "peephole") and not model.proj_size else "loop"

    def refuse(self, config: SchemeConfig, source: QuantizeInput) -> str | None:
        """Refuse a fused GRU where the Loop form is the better path: ORT has no int8 GRU kernel."""
        if not op_counts(source.model)["GRU"]:
            return None
        if source.interface.impl == "fused":  # edgelstm's own graph: exporting the loop form is the better path
            return (
                "ONNX Runtime has no int8 kernel for the fused GRU op; quantize the loop form "
                "(edgelstm export --impl loop, or give the checkpoint and edgelstm picks it)"
            )
        _, report = rewrite_fused_rnns(source.model, ops=("GRU",))
        if report.refused:
            reasons = "; ".join(f"{r.name or '(unnamed)'}: {r.reason}" for r in report.refused)
            return f"ONNX Runtime has no int8 kernel for the fused GRU op, and it cannot be rewritten to a Loop ({reasons})"
        return None

    def apply(self, config: SchemeConfig, source: QuantizeInput, target: Path) -> list[str]:
        """Rewrite fused GRUs to Loops where needed, then run ORT's quantize_dynamic on the graph."""
        with tempfile.TemporaryDirectory() as tmp:
            source, rewritten = _gru_as_loop(source, Path(tmp))
            return rewritten + self._apply(config, source, target)

    def _apply(self, config: SchemeConfig, source: QuantizeInput, target: Path) -> list[str]:
        """The quantization itself, once the graph is in a form ORT's dynamic quantizer covers."""
        assert isinstance(config, DynamicInt8Config)
        if config.reduce_range is not None:
            _quantize(config, source.path, target, config.reduce_range)
            return _notes(target, config.reduce_range, "as requested", config.exclude)
        if not source.calibration:
            # No data to measure with: 7-bit where MatMulInteger runs the recurrence (saturation risk on x86).
            reduce_range = op_counts(source.model)["Loop"] > 0
            _quantize(config, source.path, target, reduce_range)
            return _notes(target, reduce_range, "no data given: chosen by graph form", config.exclude)
        # Measure both on the user's data against the fp32 graph and keep the better one: which wins depends on
        # the model and the CPU (seen here: 7-bit won for a GRU Loop graph, 8-bit for the reference LSTM).
        with tempfile.TemporaryDirectory() as tmp:
            scores = {}
            for reduce_range in (False, True):
                path = Path(tmp) / f"rr{int(reduce_range)}.onnx"
                _quantize(config, source.path, path, reduce_range)
                scores[reduce_range] = _worst_snr_db(source.path, path, source.calibration)
            best = max(scores, key=lambda k: scores[k])
            shutil.copyfile(Path(tmp) / f"rr{int(best)}.onnx", target)
        detail = f"measured on the data: worst-output SNR {scores[False]:.1f} dB with 8-bit, {scores[True]:.1f} dB with 7-bit"
        return _notes(target, best, detail, config.exclude)


def _gru_as_loop(source: QuantizeInput, tmp: Path) -> tuple[QuantizeInput, list[str]]:
    """A graph made elsewhere with fused GRUs (refuse() let it through, so all rewrite): the Loop form, whose
    MatMuls quantize_dynamic turns into MatMulInteger (there is no int8 GRU kernel)."""
    if not op_counts(source.model)["GRU"] or source.interface.impl == "fused":
        return source, []
    model, report = rewrite_fused_rnns(source.model, ops=("GRU",))
    path = tmp / f"{source.path.stem}.loop.onnx"
    onnx.save(model, str(path))
    note = f"fused GRU rewritten to a Loop of MatMuls first ({len(report.rewritten)} node(s)): no int8 GRU kernel"
    return replace(source, path=path, model=model), [note]


def excluded_node_names(model: onnx.ModelProto, parts: tuple[str, ...]) -> list[str]:
    """Node names (Loop bodies included) of the weight-carrying ops in the excluded parts of an edgelstm graph."""
    prefixes = []
    for part in parts:
        prefixes.append({"head": "node_head", "embedding": "node_embedded"}.get(part, f"node_{part}_"))
    kinds = ("MatMul", "LSTM", "GRU", "Gather")
    return [n.name for n in nodes(model.graph) if n.op_type in kinds and any(n.name.startswith(p) for p in prefixes)]


def _quantize(config: DynamicInt8Config, source: Path, target: Path, reduce_range: bool) -> None:
    """Run ORT's quantize_dynamic with this config's options (reduce_range, excluded nodes)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = excluded_node_names(onnx.load(str(source)), config.exclude) if config.exclude else None
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8 if config.weight_type == "int8" else QuantType.QUInt8,
        per_channel=config.per_channel,
        reduce_range=reduce_range,
        op_types_to_quantize=["LSTM", "MatMul"] + (["Gather"] if config.quantize_embedding else []),
        nodes_to_exclude=excluded,
        # The Loop form's recurrent MatMul lives in the Loop body: without this it would stay float.
        extra_options={"EnableSubgraph": True},
    )
    if op_counts(onnx.load(str(target), load_external_data=False))["Loop"]:
        _sort_topologically(target)


def _sort_topologically(path: Path) -> None:
    """quantize_dynamic appends the int8 replacement of a MatMul at the end of the graph, after the Loop whose body
    reads its output from the outer scope: ORT runs that, but it is not valid ONNX (onnx.checker: "Nodes in a
    graph must be topologically sorted ... input 'layer0_fwd_xw'") and onnx.reference cannot run it. onnx-ir's
    sort orders each graph with the outer-scope reads of its subgraphs counted as dependencies."""
    import onnx_ir as ir
    from onnx_ir.passes.common import TopologicalSortPass

    model = ir.from_proto(onnx.load(str(path)))
    TopologicalSortPass()(model)
    onnx.save(ir.to_proto(model), str(path))


def _worst_snr_db(reference: Path, candidate: Path, feeds: list[dict[str, np.ndarray]]) -> float:
    """The lowest output SNR of `candidate` against `reference` over `feeds`: reduce_range on or off is picked by it."""
    ref, cand = session_from_onnx(reference), session_from_onnx(candidate)
    signal: np.ndarray | None = None
    noise: np.ndarray | None = None
    for batch in feeds:
        expected = ref.run(None, batch)
        actual = cand.run(None, batch)
        s = np.array([float(np.sum(e.astype(np.float64) ** 2)) for e in expected])
        n = np.array([float(np.sum((a.astype(np.float64) - e) ** 2)) for a, e in zip(actual, expected, strict=True)])
        signal = s if signal is None else signal + s
        noise = n if noise is None else noise + n
    assert signal is not None and noise is not None
    return float(np.min(10 * np.log10(signal / np.maximum(noise, 1e-30))))


def _notes(target: Path, reduce_range: bool, why: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """The notes for the result: ops after quantization, reduce_range and why, excluded parts."""
    after = op_counts(onnx.load(str(target), load_external_data=False))
    notes = [
        f"int8 compute: {describe_ops(after, ('DynamicQuantizeLSTM', 'MatMulInteger'))}; "
        f"{'7' if reduce_range else '8'}-bit weights ({why})"
    ]
    if after["MatMul"] or after["LSTM"]:
        kept = f" ({', '.join(exclude)} excluded on purpose)" if exclude else ""
        notes.append(f"left in float: {describe_ops(after, ('MatMul', 'LSTM'))}{kept}")
    return notes
