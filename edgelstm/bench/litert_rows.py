"""`.tflite` artifacts in a bench run: one call of the LiteRT interpreter at the file's one shape, per thread count,
timed interleaved with the ONNX variants; a streaming file's calls feed each state output back in, as an app does.

LiteRT files have static shapes, so a file is timed at its own batch and chunk (or length) only, never at the
bench's --batches/--steps: labelling its batch-1 time as batch 32 would claim 32x the throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgelstm.artifact.feeds import data_for_graph, data_shape, sequence_feeds
from edgelstm.artifact.file import ArtifactInfo
from edgelstm.artifact.litert_file import read_sidecar
from edgelstm.artifact.litert_runner import LiteRTRunner
from edgelstm.bench.results import StreamingCostResult
from edgelstm.bench.rows import LatencyResult
from edgelstm.timing import Call


@dataclass(frozen=True)
class LiteRTCall:
    """One thing to time: a .tflite in an interpreter of `threads` threads, called at its own batch and steps."""

    name: str
    batch: int
    steps: int
    threads: int
    call: Call


def litert_calls(info: ArtifactInfo, threads: tuple[int, ...], rng: np.random.Generator) -> list[LiteRTCall]:
    """One call per thread count (an interpreter each), random data at the file's shape, states fed back."""
    shape, _ = read_sidecar(info.path)
    steps = shape.shape.chunk or shape.shape.steps or 1
    interface = info.interface
    dims = data_shape(interface, shape.shape.batch, steps)
    x = data_for_graph(interface, rng.standard_normal(dims).astype(np.float32))
    names = [o.name for o in interface.outputs]
    fed_back = [(names.index(s.output_name), s.input_name) for s in interface.states if interface.form == "streaming"]
    calls = []
    for count in threads:
        runner = LiteRTRunner(info.path, interface, count)
        feeds = sequence_feeds(interface, x, None, str(info.path))

        def call(r: LiteRTRunner = runner, f: dict[str, np.ndarray] = feeds) -> object:
            outputs = r.run(names, f)
            for index, name in fed_back:  # the next call continues the stream: each state output back in
                f[name] = outputs[index]
            return outputs

        calls.append(LiteRTCall(info.name, shape.shape.batch, steps, count, call))
    return calls


def litert_streaming(rows: list[LatencyResult], infos: list[ArtifactInfo]) -> list[StreamingCostResult]:
    """Per-step cost of each streaming .tflite at 1 thread, from its interleaved per-call row (batch 1 only, as the
    ONNX streaming rows are): call time / chunk. No one-call-over-the-sequence figure (0.0): the file takes one chunk."""
    streaming = {i.name for i in infos if i.format == "tflite" and i.interface.form == "streaming"}
    return [
        StreamingCostResult(r.name, r.steps, r.steps, "litert", r.p50_ms * 1e3 / r.steps, 0.0)
        for r in rows
        if r.name in streaming and r.provider == "litert" and r.threads == 1 and r.batch == 1
    ]
