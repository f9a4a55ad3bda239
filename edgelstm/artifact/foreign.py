"""The interface of an ONNX graph edgelstm did not write: its inputs, axes, scalar constants and state pairs.

A foreign graph (silero-vad's, a colleague's torch.onnx export) carries no edgelstm metadata, so its calling
convention is read from the graph and then confirmed by running it:
- state pairs are declared (`--state state:stateN`) or detected: an input and an output of the same element type
  and rank whose names follow a recurrent convention (`state`->`stateN`, `h`->`hn`, `h0`->`hn`, `h_in`->`h_out`);
- scalar inputs (rank 0, like silero's `sr`) take constant values the user fixes (`--const sr=16000`);
- the roles of the data input's axes (batch, time/frames, features) follow from the state inputs' batch
  dimension: states with a free dimension run at any batch, so the data is batch-first; states of a fixed shape
  (silero's sequence graph: `h [1, 1, 128]`) run at batch 1, so the data's one free leading axis is frames
  (`input [sequence_length, 576]`). Anything else that cannot be told apart is refused until `--axes` declares it;
- which axis of every tensor follows the leading axis, and a chunk length the graph accepts, are confirmed by a
  probe run at two sizes of that axis, not guessed from dimension names (exporters often leave them as `?`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgelstm.artifact.export_config import ExportConfig, Form
from edgelstm.artifact.feeds import data_shape, sequence_feeds, zero_state_interface
from edgelstm.artifact.graph_io import read_value_infos
from edgelstm.artifact.hints import ROLES, InterfaceHints
from edgelstm.artifact.interface import GraphInterface, StatePair, TensorSpec, ValueInfo
from edgelstm.artifact.layout import Layout, graph_feeds
from edgelstm.artifact.metadata import FOREIGN_SOURCE, KEY_PREFIX, ArtifactMetadata, load_onnx_file, read_metadata
from edgelstm.artifact.session import SessionSettings, handed_over, session_from_onnx
from edgelstm.errors import ConfigError, LoadError, first_line
from edgelstm.files import file_sha256
from edgelstm.state import StateSpec

_PROBE_CHUNKS = (16, 64, 256, 512, 1024, 1, 4)  # tried in order when the graph fixes no chunk length


@dataclass
class ForeignInterface:
    """How to call a foreign graph: the data input, its axes, scalar constants, state pairs, other outputs."""

    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    data_input: str
    states: list[StatePair] = field(default_factory=list)
    scalars: list[str] = field(default_factory=list)
    constants: dict[str, float | int] = field(default_factory=dict)
    batch_axis: dict[str, int] = field(default_factory=dict)  # tensor name -> axis that follows the batch size
    frames_axis: dict[str, int] = field(default_factory=dict)  # frames-first: tensor name -> axis that follows the frames
    roles: tuple[str, ...] = ()  # of the data input's axes: batch, time (frames), features
    roles_from: str = ""  # how the roles were found: declared, or read from the states' batch dimension
    chunk: int | None = None  # the length along the data input's axis 1 used for the probe (first accepted)
    accepted_chunks: list[int] = field(default_factory=list)  # every tried length the graph ran at
    probe: str = "not run"  # what the probe established, or why it could not run

    @property
    def is_streaming(self) -> bool:
        """Whether the graph carries state between calls (has state pairs), so it can be run chunk by chunk."""
        return bool(self.states)

    @property
    def time_major(self) -> bool:
        """The data is time-major, [time, batch, ...]: an edgelstm streaming graph whose metadata says so (issue 21)."""
        return self.roles[:2] == ("time", "batch")

    @property
    def frames_first(self) -> bool:
        """Axis 0 of the data is frames (time) at batch 1: each data row is one frame, fed in order."""
        return bool(self.roles) and self.roles[0] == "time" and not self.time_major

    def to_graph_interface(self, context: int = 0) -> GraphInterface:
        """The one interface type every command reads: batch axes named "batch", the data's axis 1 "chunk",
        state pairs as StateSpecs (initial value 0), constants and the confirmed chunk length carried along."""
        if not self.probe.startswith("ran"):
            raise ConfigError(f"the graph's interface is not confirmed: probe {self.probe}")
        by_input = {v.name: v for v in self.inputs}

        def shape(value: ValueInfo) -> list[int | str]:
            dims: list[int | str] = []
            for axis, dim in enumerate(value.shape):
                if self.batch_axis.get(value.name) == axis:
                    dims.append("batch")
                elif self.frames_axis.get(value.name) == axis:
                    dims.append("frames")
                elif value.name == self.data_input and axis == 1 and not isinstance(dim, int):
                    dims.append("chunk")
                else:
                    dims.append(dim)
            return dims

        state_out = {pair.output: pair.input for pair in self.states}
        inputs = [TensorSpec(v.name, v.dtype, shape(v)) for v in self.inputs]
        # A state output has its input's layout; exporters often leave the output's dims unnamed.
        outputs = [
            TensorSpec(v.name, v.dtype, shape(by_input[state_out[v.name]]) if v.name in state_out else shape(v))
            for v in self.outputs
        ]
        states = [
            StateSpec(
                name=pair.input,
                input_name=pair.input,
                output_name=pair.output,
                shape=shape(by_input[pair.input]),
                rows=[],
                initial_value=0.0,
                dtype=by_input[pair.input].dtype,
                description=f"recurrent state of a foreign graph ({'declared' if pair.declared else 'detected by name'})",
            )
            for pair in self.states
        ]
        form: Form = "streaming" if states else "sequence"
        chunk = None if self.chunk is None else self.chunk - context
        return GraphInterface(form, "foreign", inputs, outputs, states, dict(self.constants), chunk, context)


def foreign_graph_interface(
    path: Path, hints: InterfaceHints | None = None, model: onnx.ModelProto | None = None
) -> GraphInterface:
    """A foreign graph's confirmed interface, or one ConfigError line saying which option is missing.
    With a context, the probe runs at the length each call really has: context + chunk. `model`: the file's graph
    when already parsed."""
    hints = hints or InterfaceHints()
    length = None if hints.chunk is None else hints.chunk + hints.context
    described = describe_onnx(Path(path), hints.states, hints.constants, length, axes=hints.axes, model=model)
    if not described.probe.startswith("ran"):
        raise ConfigError(f"{path}: cannot run the graph to confirm its interface: probe {described.probe}")
    return described.to_graph_interface(hints.context)


def _output_names_for(input_name: str) -> list[str]:
    """Output names that conventionally carry `input_name`'s next value."""
    names = [input_name + suffix for suffix in ("N", "n", "_out", "_n", "out", "_new", "_next")]
    for ending in ("_in", "In", "_0", "0", "_prev"):
        if input_name.endswith(ending) and len(input_name) > len(ending):
            stem = input_name[: -len(ending)]
            names += [stem + suffix for suffix in ("_out", "Out", "n", "N", "_n", "_new", "_next", "")]
    return names


def pair_states(
    inputs: Sequence[ValueInfo], outputs: Sequence[ValueInfo], declared: Sequence[tuple[str, str]] = ()
) -> list[StatePair]:
    """Declared pairs (validated), else pairs detected by name, element type and rank."""
    by_input = {v.name: v for v in inputs}
    by_output = {v.name: v for v in outputs}
    if declared:
        pairs = []
        for in_name, out_name in declared:
            if in_name not in by_input:
                raise ConfigError(
                    f"--state {in_name}:{out_name}: the graph has no input {in_name!r} (inputs: {', '.join(by_input)})"
                )
            if out_name not in by_output:
                raise ConfigError(
                    f"--state {in_name}:{out_name}: the graph has no output {out_name!r} (outputs: {', '.join(by_output)})"
                )
            if not _compatible(by_input[in_name], by_output[out_name]):
                raise ConfigError(
                    f"--state {in_name}:{out_name}: {in_name} is {by_input[in_name].dtype}{list(by_input[in_name].shape)} "
                    f"but {out_name} is {by_output[out_name].dtype}{list(by_output[out_name].shape)}"
                )
            pairs.append(StatePair(in_name, out_name, declared=True))
        return pairs
    pairs, taken = [], set()
    for value in inputs:
        for candidate in _output_names_for(value.name):
            if candidate in by_output and candidate not in taken and _compatible(value, by_output[candidate]):
                pairs.append(StatePair(value.name, candidate))
                taken.add(candidate)
                break
    return pairs


def _compatible(a: ValueInfo, b: ValueInfo) -> bool:
    if a.dtype != b.dtype or a.rank != b.rank or a.rank == 0:
        return False
    return all(not (isinstance(x, int) and isinstance(y, int)) or x == y for x, y in zip(a.shape, b.shape, strict=True))


def describe_onnx(
    path: Path,
    declared_states: Sequence[tuple[str, str]] = (),
    constants: Mapping[str, float | int] | None = None,
    chunk: int | None = None,
    probe: bool = True,
    axes: Sequence[tuple[str, Sequence[str]]] = (),
    model: onnx.ModelProto | None = None,
) -> ForeignInterface:
    """Read a foreign graph's interface and, unless `probe` is off, confirm it by running the graph in ORT.
    `axes`: declared roles of the data input's axes (`--axes`), when the states' batch dimension cannot tell.
    `model`: the file's graph when the caller already parsed it."""
    model = model if model is not None else load_onnx_file(path)
    recorded = _recorded_interface(model)
    if recorded is not None:  # an artifact derived from a foreign graph: what it was confirmed with, unless overridden
        constants = {**recorded.constants, **(constants or {})}
        if not axes and recorded.data_input.shape and recorded.data_input.shape[0] == "frames":
            axes = [(recorded.data_input.name, _frames_first_roles(len(recorded.data_input.shape)))]
        if chunk is None and recorded.chunk is not None:
            chunk = recorded.chunk + recorded.context
        if not declared_states:
            declared_states = [(s.input_name, s.output_name) for s in recorded.states if "declared" in s.description]
    inputs, outputs = read_value_infos(model)
    states = pair_states(inputs, outputs, declared_states)
    state_inputs = {pair.input for pair in states}
    scalars = [v.name for v in inputs if v.rank == 0]
    data_inputs = [v for v in inputs if v.name not in state_inputs and v.rank > 0]
    if not data_inputs:
        raise ConfigError(f"{path}: every input is a state or a scalar; there is no data input to feed")
    constants = dict(constants or {})
    unknown = sorted(set(constants) - {v.name for v in inputs})
    if unknown:
        raise ConfigError(
            f"--const {unknown[0]}: the graph has no input of that name (inputs: {', '.join(v.name for v in inputs)})"
        )
    by_name = {v.name: v for v in inputs}
    declared = dict(axes)
    for name in declared:
        if name not in by_name:
            raise ConfigError(f"--axes {name}: the graph has no input of that name (inputs: {', '.join(by_name)})")
        if name != data_inputs[0].name:
            raise ConfigError(f"--axes {name}: roles are read for the data input {data_inputs[0].name!r} only")
    data = data_inputs[0]
    roles, roles_from = axis_roles(data, [by_name[p.input] for p in states], declared.get(data.name))
    if not declared and _recorded_layout(model) == "time_major":  # edgelstm's slim streaming graph (issue 21)
        roles = ("time", "batch", *("features",) * (data.rank - 2))
        roles_from = "time-major, as its edgelstm metadata declares"
    interface = ForeignInterface(inputs, outputs, data.name, states, scalars, constants, roles=roles, roles_from=roles_from)
    if probe:
        _probe(path, interface, chunk)
    return interface


def _frames_first_roles(rank: int) -> tuple[str, ...]:
    return ("time", *("features",) * (rank - 1))


def axis_roles(
    data: ValueInfo, state_inputs: Sequence[ValueInfo], declared: Sequence[str] | None = None
) -> tuple[tuple[str, ...], str]:
    """The roles of the data input's axes and how they were found (declared, or from the states' batch dimension).

    A state with a free dimension follows the batch, so the data is batch-first (the probe then confirms which
    axis doubles). States of a fixed shape run at their batch only (1): the data's one free axis, when it is axis 0,
    is frames. Several free axes beside fixed-shape states cannot be told apart: refused, `--axes` declares them.
    """
    if declared:
        return _declared_roles(data, declared), "declared (--axes)"
    default = ("batch", "time", *("features",) * (data.rank - 2))[: data.rank]
    fixed_states = bool(state_inputs) and all(isinstance(d, int) for s in state_inputs for d in s.shape)
    if not fixed_states:
        how = "states with a free batch dimension" if state_inputs else "no state: batch-first as exported"
        return default, how
    free = [axis for axis, dim in enumerate(data.shape) if not isinstance(dim, int)]
    if free == [0]:
        batch = ", ".join(f"{s.name} {list(s.shape)}" for s in state_inputs)
        return _frames_first_roles(data.rank), f"frames-first: the states have a fixed batch ({batch})"
    if 0 in free:  # e.g. [?, ?, F] beside [layers, 1, H]: [frames, batch 1, F] or [batch 1, time, F]?
        example = ",".join(("time", "features", "features")[: data.rank]) if data.rank <= 3 else "..."
        raise ConfigError(
            f"cannot tell the axes of {data.name} {list(data.shape)}: its states have a fixed shape (batch 1), so its "
            f"free axes {free} may be frames or batch; declare them, e.g. --axes {data.name}={example}"
        )
    return default, "the data's leading axis is fixed"


def _declared_roles(data: ValueInfo, declared: Sequence[str]) -> tuple[str, ...]:
    roles = tuple("time" if r == "frames" else r for r in declared)
    spelled = f"--axes {data.name}={','.join(declared)}"
    if len(roles) != data.rank:
        raise ConfigError(f"{spelled}: {data.name} has {data.rank} axes {list(data.shape)}, got {len(roles)} role(s)")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ConfigError(f"{spelled}: unknown role {unknown[0]!r}; roles are batch, time (or frames), features")
    if roles.count("batch") > 1 or roles.count("time") > 1:
        raise ConfigError(f"{spelled}: at most one batch axis and one time axis")
    if roles[0] not in ("batch", "time") or (roles[0] == "time" and "batch" in roles):
        raise ConfigError(
            f"{spelled}: edgelstm feeds a data input batch-first (batch,time,...) or frames-first at batch 1 "
            "(time,features,...); transpose the graph's input for other layouts"
        )
    return roles


def _recorded_interface(model: Any) -> GraphInterface | None:
    """The foreign interface an edgelstm artifact records in its metadata, if it records one."""
    props = {p.key: p.value for p in model.metadata_props}
    try:
        interface = ArtifactMetadata.from_props(props).interface
    except LoadError:  # no metadata, or malformed: the graph is described from scratch, as any foreign graph
        return None
    return interface if interface.impl == "foreign" else None


def _recorded_layout(model: Any) -> str:
    """The data layout an edgelstm artifact's metadata declares (batch_first when it has none)."""
    try:
        return ArtifactMetadata.from_props({p.key: p.value for p in model.metadata_props}).interface.layout
    except LoadError:
        return "batch_first"


def _probe(path: Path, interface: ForeignInterface, chunk: int | None) -> None:
    """Run the graph at batch 1 and 2: which axis of each tensor follows the batch, and which chunk length works."""
    missing = [name for name in interface.scalars if name not in interface.constants]
    if missing:
        interface.probe = f"not run: scalar input {missing[0]!r} needs a value (--const {missing[0]}=VALUE)"
        return
    with handed_over(path):  # only graphs made elsewhere are probed: ORT refusing one is the user's error, every command
        session = session_from_onnx(path, SessionSettings())
    data = next(v for v in interface.inputs if v.name == interface.data_input)
    fixed = data.shape[1] if data.rank > 1 and isinstance(data.shape[1], int) else None
    candidates = [c for c in (chunk, fixed) if c] or list(_PROBE_CHUNKS)
    errors: list[str] = []
    for length in candidates if data.rank > 1 else candidates[:1]:
        try:
            one = _run(session, interface, 1, length)
            two = _run(session, interface, 2, length)
        except Exception as exc:  # ORT raises its own error types for shapes a graph rejects
            errors.append(f"{length}: {first_line(exc)}")
            continue
        if interface.chunk is None:
            interface.chunk = length if data.rank > 1 else None
            following = _batch_axes(interface, one, two)
            if interface.frames_first:
                interface.frames_axis = following
            else:
                interface.batch_axis = following
        interface.accepted_chunks.append(length)
    leading = "1 and 2 frames (batch 1)" if interface.frames_first else "batch 1 and 2"
    if interface.accepted_chunks or (data.rank == 1 and not errors):
        tried = ", ".join(map(str, candidates))
        interface.probe = f"ran at {leading}" + (f"; chunk lengths tried: {tried}" if data.rank > 1 else "")
        _refute_roles(interface)
    else:
        hint = f"; if axis 0 is not frames, declare the axes (--axes {data.name}=batch,...)" if interface.frames_first else ""
        interface.probe = f"not run: the graph rejected every probe at {leading} ({'; '.join(errors)[:300]}){hint}"


def _refute_roles(interface: ForeignInterface) -> None:
    """The probe's evidence against the roles: a state that grows with axis 0 follows a batch (so axis 0 is not
    frames); states that all stay put while the batch doubled are not per row (so axis 0 is not a batch). One
    state that does not follow (a step counter beside h and c) is no evidence."""
    data = interface.data_input
    if interface.frames_first:
        followed = [p.output for p in interface.states if p.output in interface.frames_axis]
        if followed:
            interface.probe = (
                f"not run: {data}'s axis 0 was read as frames, but state {followed[0]} grows with it; "
                f"declare the axes, e.g. --axes {data}=batch,time"
            )
        return
    if data not in interface.batch_axis:
        return  # the data itself did not double (rank 1, a fixed leading axis): nothing was doubled to judge by
    stuck = [p.output for p in interface.states if p.output not in interface.batch_axis]
    if stuck and len(stuck) == len(interface.states):
        roles = ",".join(_frames_first_roles(len(next(v for v in interface.inputs if v.name == data).shape)))
        interface.probe = (
            f"not run: {data}'s axis 0 was read as batch, but state {stuck[0]} keeps its shape when it doubles "
            f"(axis 0 looks like frames); declare the axes, e.g. --axes {data}={roles}"
        )


def probe_feeds(interface: ForeignInterface, batch: int, chunk: int) -> dict[str, np.ndarray]:
    """Feeds for one probe call, from the one feed builder: a smooth random data chunk, the fixed constants, and
    zero states (any other input too) whose free axes follow the batch, which the probe confirms or refutes."""
    specs = [TensorSpec(v.name, v.dtype, list(v.shape)) for v in interface.inputs]
    layout: Layout = "time_major" if interface.time_major else "batch_first"
    roles = () if interface.time_major else interface.roles
    provisional = zero_state_interface(specs, interface.constants, interface.data_input, roles, layout)
    dims = data_shape(provisional, batch, chunk)
    dtype = np.dtype(provisional.data_input.dtype)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(dims)).astype(dtype) if dtype.kind == "f" else np.zeros(dims, dtype)
    return graph_feeds(provisional, sequence_feeds(provisional, x, None, "probe"))  # as the graph takes them


def _run(session: Any, interface: ForeignInterface, batch: int, chunk: int) -> dict[str, np.ndarray]:
    import onnxruntime as ort  # heavy: loaded when a probe runs, so `edgelstm --help` stays instant

    feeds = probe_feeds(interface, batch, chunk)
    names = [o.name for o in session.get_outputs()]
    quiet = ort.RunOptions()
    quiet.log_severity_level = 4  # a rejected probe length is expected; ORT would log it as an error
    results = dict(zip(names, session.run(names, feeds, quiet), strict=True))
    results.update({f"input:{k}": v for k, v in feeds.items()})
    return results


def _batch_axes(interface: ForeignInterface, one: dict[str, np.ndarray], two: dict[str, np.ndarray]) -> dict[str, int]:
    axes: dict[str, int] = {}
    for value in interface.inputs:
        key = f"input:{value.name}"
        axes.update(_axis_that_doubles(value.name, one.get(key), two.get(key)))
    for value in interface.outputs:
        axes.update(_axis_that_doubles(value.name, one.get(value.name), two.get(value.name)))
    return axes


def _axis_that_doubles(name: str, one: np.ndarray | None, two: np.ndarray | None) -> dict[str, int]:
    if one is None or two is None or one.ndim != two.ndim:
        return {}
    changed = [axis for axis, (a, b) in enumerate(zip(one.shape, two.shape, strict=True)) if (a, b) == (1, 2)]
    return {name: changed[0]} if len(changed) == 1 else {}


def foreign_metadata(
    path: Path, hints: InterfaceHints | None = None, model: onnx.ModelProto | None = None, sha256: str = ""
) -> ArtifactMetadata:
    """Metadata for an ONNX file edgelstm did not write: its described and probed interface, and its sha256, so
    every artifact derived from it says what it came from. `model`, `sha256`: the file's graph and digest when the
    caller already has them (`open_artifact`)."""
    interface = foreign_graph_interface(path, hints, model)
    export_config = ExportConfig(form=interface.form, impl="auto")
    return ArtifactMetadata(interface, export_config, None, None, FOREIGN_SOURCE, sha256 or file_sha256(Path(path)))


def source_metadata(path: Path, hints: InterfaceHints | None = None) -> ArtifactMetadata:
    """An ONNX file's edgelstm metadata, or the described interface of a foreign graph when it has none."""
    model = load_onnx_file(path)
    props = {p.key: p.value for p in model.metadata_props}
    if KEY_PREFIX + "interface" in props:
        return read_metadata(path)
    return foreign_metadata(path, hints)
