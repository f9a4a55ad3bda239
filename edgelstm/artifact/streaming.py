"""`StreamingSession`: a streaming graph called chunk by chunk at what the model costs, not what Python costs.

The states live in ONNX Runtime values for the whole stream: two buffers per state, and two IO bindings that
read one buffer and write the other, so each call's state outputs are the next call's inputs without a copy, a
numpy round trip or a rebinding. The data input and the other outputs are pre-allocated buffers bound once per
chunk shape, and the constants (silero's `sr`) are bound when a binding is made. A step is then: copy the chunk in,
run the binding, copy the outputs out.

Measured on ORT 1.32 CPU (2x128 LSTM streaming graph, 1 intra-op thread, no spinning, one step per call, loaded
2-core machine, medians of 400 interleaved calls; per-step cost / one-call per-step cost at chunk 1 and chunk 16):
  session.run with a feed dict, numpy states ........................ 5.2x  1.15x
  run_with_ort_values, OrtValue states ............................. 12.0x  1.58x  (slowest: per-call OrtValue wrapping)
  one binding, states rebound in / out every call ................... 4.7x  1.10x
  bind_cpu_input for the chunk instead of a pre-allocated buffer .... 4.6x  1.10x
  outputs allocated by ORT (bind_output) instead of pre-allocated ... 5.2x  1.14x
  two pre-bound bindings swapped ping-pong, everything pre-allocated  4.3x  1.08x  (kept)
At chunk 1 what is left is the graph's own per-call cost (22 nodes, ~2.5 us of ORT per run even for Identity).
Issue 21 cut the graph to its recurrent nodes and head (6 nodes for a 2x128 LSTM: one state pair per layer, no
Slice/Concat/Identity, time-major data so no Transpose), opens the session at STREAMING_SESSION (CPU arena off) and
trims `step`: the chunk goes in by item assignment into a batch-first view of the graph-layout buffer, and
`step(chunk, copy=False)` returns read-only views of the output buffers (no allocation per call; the next step of
the same chunk shape overwrites them). Callers keep batch-first arrays whatever the graph's layout
(edgelstm.artifact.layout).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from edgelstm.artifact.chunks import can_stream
from edgelstm.artifact.feeds import data_shape, sequence_feeds
from edgelstm.artifact.file import ArtifactInfo, open_artifact
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.layout import graph_feeds, to_caller
from edgelstm.artifact.session import STREAMING_SESSION, SessionSettings, ort_binding, session_from_onnx
from edgelstm.errors import InputShapeError, NotStreamableError, first_line

__all__ = ["StreamingSession"]


@dataclass
class _ShapeBinding:
    """Everything bound for one data shape: the chunk buffer and two bindings, one per direction of the swap."""

    data: np.ndarray  # [batch, context + chunk, ...] (a view of the graph-layout buffer the bindings read in place)
    bindings: tuple[Any, Any]  # [0]: states A -> B, [1]: states B -> A
    outputs: dict[str, np.ndarray]  # non-state outputs, batch-first views of the buffers both bindings write
    views: Mapping[str, np.ndarray]  # read-only views of `outputs`, what step(copy=False) returns every call


class StreamingSession:
    """A streaming artifact (edgelstm's streaming form, or a foreign graph with its state pairs and constants)
    called one chunk at a time: `step(chunk) -> outputs`, `reset(batch=...)`, `state`."""

    def __init__(self, session: Any, interface: GraphInterface, batch: int = 1, where: str = "streaming graph") -> None:
        if not can_stream(interface):
            raise NotStreamableError(
                f"{where}: takes no state back in ({interface.form} form, {len(interface.states)} state pairs); export "
                "it with --form streaming, or describe a graph made elsewhere with --state IN:OUT"
            )
        import onnxruntime as ort  # heavy: loaded when a session opens, so `edgelstm --help` stays instant

        self._ort = ort
        states = ort_binding()
        self._run_errors = (states.Fail, states.InvalidArgument, states.RuntimeException, RuntimeError)
        self._session = session
        self.interface = interface
        self.where = where
        self.output_names = [o.name for o in interface.outputs if o.name not in self._state_outputs]
        self.bindings_made = 0  # IO bindings created: two per chunk shape and batch, never per call
        self.steps_taken = 0
        self.reset(batch)

    @classmethod
    def open(
        cls,
        artifact: str | Path | ArtifactInfo,
        settings: SessionSettings | None = None,
        hints: InterfaceHints | None = None,
        batch: int = 1,
    ) -> StreamingSession:
        """Opens the artifact's interface through `open_artifact` (hints describe a foreign graph: `--const`,
        `--state`, `--chunk`, `--context`) and one session with `settings` (default: STREAMING_SESSION, the settings
        measured fastest for one-chunk calls: 1 thread, no spinning, CPU arena off)."""
        info = artifact if isinstance(artifact, ArtifactInfo) else open_artifact(Path(artifact), hints)
        if hints is not None and hints.context and info.interface.context != hints.context:
            info = replace(info, interface=replace(info.interface, context=hints.context))
        session = session_from_onnx(info.path, settings or STREAMING_SESSION)
        return cls(session, info.interface, batch, str(info.path))

    @property
    def _state_outputs(self) -> dict[str, str]:
        return {s.output_name: s.input_name for s in self.interface.states}

    @property
    def batch(self) -> int:
        """The number of streams the session currently holds state for."""
        return self._batch

    @property
    def state(self) -> dict[str, np.ndarray]:
        """The states the next step starts from, by input name (copies: the buffers keep changing)."""
        return {name: buffers[self._current].copy() for name, buffers in self._states.items()}

    def reset(self, batch: int | None = None) -> None:
        """Back to the initial states (and zeros for the context), optionally at a new batch size."""
        batch = getattr(self, "_batch", 1) if batch is None else batch
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InputShapeError(f"{self.where}: batch must be a positive integer, got {batch!r}")
        fixed = self.interface.fixed_batch
        if fixed is not None and batch != fixed:  # frames-first: a second row would be read as the next frame
            raise InputShapeError(
                f"{self.where}: this graph runs at batch {fixed} only (axis 0 of {self.interface.data_input.name} is "
                f"frames); open one session per stream, got batch {batch}"
            )
        self._batch = batch
        zeros = np.zeros(data_shape(self.interface, batch), np.dtype(self.interface.data_input.dtype))
        initial = sequence_feeds(self.interface, zeros, None, self.where)  # the one feed builder decides initial values
        # Two buffers per state; the OrtValues wrap the numpy arrays, which `state` reads.
        self._states = {
            s.input_name: (initial[s.input_name].copy(), np.empty_like(initial[s.input_name])) for s in self.interface.states
        }
        self._state_values = {
            name: tuple(self._ort.OrtValue.ortvalue_from_numpy(b) for b in buffers) for name, buffers in self._states.items()
        }
        self._constants = {name: self._ort.OrtValue.ortvalue_from_numpy(initial[name]) for name in self.interface.constants}
        self._current = 0  # which buffer of each pair holds the state the next step reads
        self._bound: dict[tuple[int, ...], _ShapeBinding] = {}  # chunk shape -> its buffers and bindings
        self._context = np.zeros((batch, self.interface.context, *zeros.shape[2:]), zeros.dtype)

    def step(self, chunk: np.ndarray, *, copy: bool = True) -> Mapping[str, np.ndarray]:
        """One call on `chunk` [batch, steps, ...] (new samples only: a graph with context gets the previous
        samples put in front here); the non-state outputs by name.

        `copy=True`: fresh arrays the caller owns. `copy=False`: read-only views of the buffers the graph writes
        into, in one mapping made when the chunk shape was first bound; no allocation per call, and every view is
        **overwritten by the next step of the same chunk shape** (copy what you keep)."""
        # At one step per call every line here is a visible part of the step (issue 21: ~2 us of Python around a
        # 3 us run on a pass-through graph), so the common case does no more than it must.
        if type(chunk) is not np.ndarray:
            chunk = np.asarray(chunk)
        bound = self._bound.get(chunk.shape)  # keyed by the chunk's shape: a known shape was validated when bound
        if bound is None:
            bound = self._bound[chunk.shape] = self._bind(self._data_shape(chunk))
        if self.interface.context:
            self._fill(bound.data, chunk)
        elif chunk.dtype is bound.data.dtype:  # no cast to check: item assignment is ~0.5 us cheaper than copyto
            bound.data[...] = chunk
        else:
            try:
                np.copyto(bound.data, chunk, casting="same_kind")
            except (TypeError, ValueError) as exc:  # numpy refuses the cast (e.g. float data for token ids)
                raise self._cast_refused(bound.data, chunk, exc) from exc
        self._session.run_with_iobinding(bound.bindings[self._current])
        self._current ^= 1
        self.steps_taken += 1
        if copy:
            return {name: value.copy() for name, value in bound.outputs.items()}
        return bound.views

    def _data_shape(self, chunk: np.ndarray) -> tuple[int, ...]:
        interface = self.interface
        if chunk.ndim < 2 or chunk.shape[0] != self._batch or chunk.shape[1] < 1:
            raise InputShapeError(
                f"{self.where}: a chunk is [batch={self._batch}, steps, ...] with at least one step, got "
                f"{list(chunk.shape)} (reset(batch=...) changes the batch)"
            )
        if interface.chunk is not None and chunk.shape[1] != interface.chunk:
            raise InputShapeError(
                f"{self.where}: this graph was confirmed at chunks of {interface.chunk} steps, got {chunk.shape[1]}"
            )
        shape = (self._batch, interface.context + chunk.shape[1], *chunk.shape[2:])
        expected = data_shape(interface, self._batch, shape[1])
        if list(shape) != expected:
            raise InputShapeError(f"{self.where}: {interface.data_input.name} must be {expected}, got {list(shape)}")
        return shape

    def _fill(self, data: np.ndarray, chunk: np.ndarray) -> None:
        context = self.interface.context
        try:
            np.copyto(data[:, :context], self._context)
            np.copyto(data[:, context:], chunk, casting="same_kind")
            np.copyto(self._context, data[:, -context:])
        except (TypeError, ValueError) as exc:  # numpy refuses the cast (e.g. float data for token ids)
            raise self._cast_refused(data, chunk, exc) from exc

    def _cast_refused(self, data: np.ndarray, chunk: np.ndarray, exc: Exception) -> InputShapeError:
        return InputShapeError(f"{self.where}: chunk of {chunk.dtype} does not fit {data.dtype}: {first_line(exc)}")

    def _bind(self, shape: tuple[int, ...]) -> _ShapeBinding:
        """Buffers and two bindings for a new data shape. The non-state output shapes come from one probe run
        at this shape on zeros (the states are not touched)."""
        interface = self.interface
        name = interface.data_input.name
        # The buffers are in the graph's layout (time-major for the slim streaming graph); the session copies the
        # chunk into, and reads the outputs out of, batch-first views of them (edgelstm.artifact.layout).
        feeds = sequence_feeds(interface, np.zeros(shape, np.dtype(interface.data_input.dtype)), None, self.where)
        feeds = graph_feeds(interface, feeds)
        data = feeds[name]
        try:
            probe = self._session.run(self.output_names, feeds)
        except self._run_errors as exc:  # the graph rejects this shape: a user's input, not a bug
            raise InputShapeError(f"{self.where}: the graph does not run on {list(shape)}: {first_line(exc, last=True)}") from exc
        buffers = {output: np.empty_like(value) for output, value in zip(self.output_names, probe, strict=True)}
        outputs = {output: to_caller(interface, output, buffer) for output, buffer in buffers.items()}
        value = self._ort.OrtValue.ortvalue_from_numpy
        fixed = {name: value(data), **self._constants}
        if "lengths" in feeds:  # a graph that takes lengths: every row of a chunk is full
            fixed["lengths"] = value(feeds["lengths"])
        bindings = []
        for reads in (0, 1):
            binding = self._session.io_binding()
            for fed, ort_value in fixed.items():
                binding.bind_ortvalue_input(fed, ort_value)
            for spec in interface.states:
                pair = self._state_values[spec.input_name]
                binding.bind_ortvalue_input(spec.input_name, pair[reads])
                binding.bind_ortvalue_output(spec.output_name, pair[1 - reads])
            for output, buffer in buffers.items():
                binding.bind_ortvalue_output(output, value(buffer))
            bindings.append(binding)
        self.bindings_made += 2
        # The OrtValues wrapping `data` and `outputs` are kept alive by the bindings; the arrays by this record.
        views = MappingProxyType(_read_only_views(outputs))
        return _ShapeBinding(to_caller(interface, name, data), (bindings[0], bindings[1]), outputs, views)


def _read_only_views(buffers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A view of each buffer that the caller cannot write through (the graph's next call writes the buffer)."""
    views = {}
    for name, buffer in buffers.items():
        view = buffer.view()
        view.flags.writeable = False
        views[name] = view
    return views
