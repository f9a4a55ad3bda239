"""What this CPU can do: a float and an int8 GEMM measured in the same run as the artifacts they are compared with.

Each ceiling is one ORT MatMul (fp32) or MatMulInteger (uint8 x int8 -> int32) node, run with the thread count and
spinning of the rows it is set beside. Its weight matrix is the artifact's largest, [k, n]; its rows m make it do
the work of one call of the artifact (MACs per call / (k x n)), so the ceiling pays one call's overhead for the same
work, as the artifact does. A [batch, k] x [k, n] GEMM per call would mostly time the Python-to-ORT call (a few
microseconds against well under one for the multiply at batch 1) and read below what the artifacts reach. Rows
are capped at 512: beyond that the GEMM's input and output leave the caches and it times memory, not the multiply
(measured here, [m, 128] x [128, 512] fp32, 1 thread: 48 GMAC/s at 332 rows, 38 at 1,024, 19 at 2,048 and 10,601).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.bench.results import CeilingSpec
from edgelstm.timing import Call, TimerSettings, Timing, time_interleaved

KINDS = ("fp32", "int8")
MAX_ROWS = 512


def gemm_rows(macs_per_call: int, k: int, n: int, batch: int) -> int:
    """Rows that make a [rows, k] x [k, n] GEMM do one call's work (at least one per sequence in the batch)."""
    return int(min(max(math.ceil(macs_per_call / max(k * n, 1)), batch, 1), MAX_ROWS))


def measure_ceilings(specs: Sequence[CeilingSpec], timer: TimerSettings) -> list[tuple[CeilingSpec, Timing]]:
    """Every distinct spec timed once, all interleaved (the machine's load drifts; so do the artifacts')."""
    unique = list(dict.fromkeys(specs))
    rng = np.random.default_rng(timer.seed)
    calls: list[Call] = [_gemm_call(spec, rng) for spec in unique]
    return list(zip(unique, time_interleaved(calls, timer), strict=True))


def _gemm_call(spec: CeilingSpec, rng: np.random.Generator) -> Call:
    """A timed call of the ceiling GEMM in an ORT session like the bench's."""
    session = session_from_onnx(
        _gemm_graph(spec, rng), SessionSettings(intra_op_threads=spec.threads, allow_spinning=spec.allow_spinning)
    )
    if spec.kind == "fp32":
        a: np.ndarray = rng.standard_normal((spec.m, spec.k)).astype(np.float32)
    else:
        a = rng.integers(0, 256, size=(spec.m, spec.k), dtype=np.uint8)
    feeds = {"a": a}
    return lambda: session.run(None, feeds)


def _gemm_graph(spec: CeilingSpec, rng: np.random.Generator) -> bytes:
    """A one-MatMul graph of the ceiling's size, serialised."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if spec.kind not in KINDS:
        raise ValueError(f"ceiling kind {spec.kind!r} is not one of {KINDS}")
    if spec.kind == "fp32":
        weight = numpy_helper.from_array(rng.standard_normal((spec.k, spec.n)).astype(np.float32), "b")
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
    else:  # what quantize_dynamic writes: uint8 activations, int8 weights, int32 accumulators
        weight = numpy_helper.from_array(rng.integers(-128, 128, size=(spec.k, spec.n), dtype=np.int8), "b")
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    graph = helper.make_graph(
        [node],
        f"ceiling_{spec.kind}",
        [helper.make_tensor_value_info("a", a_type, [spec.m, spec.k])],
        [helper.make_tensor_value_info("y", y_type, [spec.m, spec.n])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def gmacs(spec: CeilingSpec, timing: Timing) -> float:
    """Billions of multiply-accumulates per second of the ceiling GEMM at its median time."""
    return spec.m * spec.k * spec.n / (timing.p50_ms * 1e6)
