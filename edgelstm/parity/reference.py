"""The ground truth a candidate is compared with: one `run(interface, feeds)` for both kinds of reference.

- TorchReference: the torch model run in float64 on CPU (an upcast copy), with results cached per input;
- OnnxReference: an ONNX graph (e.g. the shipped fp32 file a quantized artifact came from) run in ONNX Runtime on
  CPU in float32, chunk by chunk with the state carried exactly as the candidate is run;
- TorchScriptReference: a TorchScript archive (silero_vad.jit), loaded only behind --unsafe-allow-torchscript, run
  in torch float32 chunk by chunk with the state carried the same way.

`open_file_reference` picks the file kind; every caller that takes a reference file goes through it.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.metadata import load_onnx_file, metadata_of
from edgelstm.artifact.session import SessionSettings, handed_over, session_from_onnx
from edgelstm.errors import ConfigError, InputShapeError, LoadError, UserCodeError, first_line
from edgelstm.export.verify import module_reference, native_reference
from edgelstm.files import file_sha256
from edgelstm.loading import LoadedModel
from edgelstm.torchscript import is_torchscript_archive, refuse_torchscript


class Reference(Protocol):
    """What a parity check needs of its ground truth."""

    dtype: str
    note: str

    @property
    def origin(self) -> str:
        """The reference's file or name, as the report names it."""
        ...

    @property
    def sha256(self) -> str:
        """Of the one file the reference is, or "" when it is several (a checkpoint directory) or code."""
        ...

    @property
    def runtime(self) -> str:
        """How it runs, for the verdict: "ONNX Runtime CPU, float32", "torch float64"."""
        ...

    def run(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs for a whole input (a streaming graph's run chunk by chunk), as one call of the artifact gives."""
        ...

    def run_once(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One call, no chunking: for callers that drive the chunked runner themselves (the streaming check)."""
        ...

    def noise_floor(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
        """Per output element, how far float32 rounding alone moves the reference; None where not measured."""
        ...


class _FileReference:
    """What the file references share: one float32 file, its digest, and outputs cached per input, run chunk by
    chunk through `run_once` with the state carried as the candidate's is. Subclasses load the file and run it."""

    def __init__(self, path: Path, chunk_steps: int = 8192) -> None:
        self.path = Path(path)
        self._sha256 = file_sha256(self.path)
        self.dtype = "float32"
        self.note = ""
        self.chunk_steps = chunk_steps
        self._cache: dict[Any, list[np.ndarray]] = {}

    @property
    def origin(self) -> str:
        """The reference file's path, as the report names it."""
        return str(self.path)

    @property
    def sha256(self) -> str:
        """sha256 of the reference file, computed when it was opened."""
        return self._sha256

    def run(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The reference's outputs for these feeds, chunked when the graph streams, cached by content."""
        key = _content_key(interface, feeds)
        if key not in self._cache:
            chunk = self._chunk_for(interface)
            self._cache[key] = run_in_chunks(lambda f: self.run_once(interface, f), interface, feeds, chunk)
        return self._cache[key]

    def _chunk_for(self, interface: GraphInterface) -> int:
        """Steps per call when the reference is run in chunks."""
        return self.chunk_steps

    def run_once(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One call of the reference on `feeds` (each file kind implements it)."""
        raise NotImplementedError

    def noise_floor(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
        """None: a float32 file has no float64 floor to measure."""
        return None  # a float32 file as reference: gated on decisions and |delta p|, not on a float64 floor


class OnnxReference(_FileReference):
    """An ONNX graph as the reference: ORT CPU, fp32, one intra-op thread, the same chunking as the candidate."""

    def __init__(self, path: Path, chunk_steps: int = 8192) -> None:
        model = load_onnx_file(Path(path))  # an empty, undecodable or unloadable file refused in its own words, before ORT
        super().__init__(path, chunk_steps)
        self.providers = ["CPUExecutionProvider"]
        with handed_over(self.path):  # a reference file is always the user's: ORT refusing it is an expected failure
            session = session_from_onnx(self.path, SessionSettings(provider="cpu", intra_op_threads=1))
        self._session = session
        # Feeds and outputs are batch-first; a reference edgelstm wrote time-major (a slim streaming graph) is fed
        # through the layout adapter, by its own interface (any other file is taken as batch-first).
        try:
            own = metadata_of(model, self.path).interface
        except (LoadError, ConfigError):
            own = None
        self._run = session.run if own is None else run_batch_first(own, session.run)

    @property
    def runtime(self) -> str:
        """How this reference runs, in the report's words."""
        return "ONNX Runtime CPU, float32"

    @property
    def input_names(self) -> list[str]:
        """The reference graph's input names, to check the artifact takes the same ones."""
        return [i.name for i in self._session.get_inputs()]

    def run_once(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One call of the reference graph on `feeds` (its own inputs picked out), every output."""
        with handed_over(self.path):
            return [np.asarray(v) for v in self._run([o.name for o in interface.outputs], feeds)]


class TorchScriptReference(_FileReference):
    """A TorchScript archive as the reference (the caller has the user's consent to load it: it carries code).

    Its forward's arguments are matched to the artifact's inputs by name (the data input, when no argument has its
    name, goes to the first tensor argument: silero's `input` to `x`); scalar constants (`--const sr=16000`) are
    passed as the schema's int/float. What the artifact takes as an input but forward does not (silero_vad.jit's
    `state`, and the `context` samples it keeps from the previous call) the module must keep in an attribute named
    like it (`state` or `_state`, `context` or `_context`): set from the feeds before each call and, for states,
    read back after it. So every call is a function of its feeds, and the one chunked runner carries the state
    between calls exactly as it does for the artifact. `reset_states()`, when the module has one, is called first
    so its own bookkeeping (last batch size, last rate) cannot reset what was just set.
    """

    def __init__(self, path: Path, chunk_steps: int = 8192) -> None:
        import torch

        super().__init__(path, chunk_steps)
        try:
            self.module = torch.jit.load(str(self.path), map_location="cpu").eval()
        except Exception as exc:  # torch raises RuntimeError variants for corrupt or incompatible archives
            raise LoadError(f"{self.path}: not a loadable TorchScript archive ({first_line(exc)})") from None
        schema = self.module.forward.schema
        self.arguments = [(a.name, str(a.type)) for a in schema.arguments if a.name != "self"]

    @property
    def runtime(self) -> str:
        """How this reference runs, in the report's words."""
        return "TorchScript (torch CPU), float32"

    def _chunk_for(self, interface: GraphInterface) -> int:
        """The graph's chunk when it has one, else the configured steps per call."""
        # A graph confirmed at one chunk length (silero: 512 at 16 kHz) is called at that length only.
        return interface.chunk or self.chunk_steps

    def run_once(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One call of the TorchScript module on `feeds`, outputs as float32 arrays in the graph's order."""
        import torch

        taken = {name for name, _ in self.arguments}
        x_name = interface.data_input.name
        x = feeds[x_name]
        # The data goes to the argument of its name, else to forward's first tensor argument (silero: input -> x).
        data_arg = x_name if x_name in taken else next((n for n, kind in self.arguments if kind == "Tensor"), x_name)
        held = {s.input_name: feeds[s.input_name] for s in interface.states if s.input_name not in taken}
        if interface.context and "context" not in taken:  # the module prepends the context it keeps itself
            held["context"], x = x[:, : interface.context], x[:, interface.context :]
        if hasattr(self.module, "reset_states"):
            self.module.reset_states()
        attributes = {name: self._attribute_for(name) for name in held}
        for name, value in held.items():
            setattr(self.module, attributes[name], torch.from_numpy(np.ascontiguousarray(value)))
        args = []
        for name, kind in self.arguments:
            if name == data_arg:
                args.append(torch.from_numpy(np.ascontiguousarray(x)))
            elif name in feeds and feeds[name].ndim == 0 and kind in ("int", "float", "bool"):
                args.append({"int": int, "float": float, "bool": bool}[kind](feeds[name]))
            elif name in feeds:
                args.append(torch.from_numpy(np.ascontiguousarray(feeds[name])))
            else:
                raise InputShapeError(
                    f"{self.path.name}: forward takes {name!r}, which the artifact has no input for "
                    f"(its inputs: {', '.join(t.name for t in interface.inputs)})"
                )
        try:
            with torch.no_grad():
                returned = self.module(*args)
        except Exception as exc:  # TorchScript raises its interpreter's error; the user's message is its last line
            shape = list(args[0].shape) if args and hasattr(args[0], "shape") else []
            raise UserCodeError(f"running {self.path.name} on {shape} failed: {first_line(exc, last=True)}") from None
        tensors = list(returned) if isinstance(returned, (tuple, list)) else [returned]
        returned_arrays = [t.detach().numpy() for t in tensors]
        if len(returned_arrays) == len(interface.outputs):
            return returned_arrays
        held_out = {s.output_name: s.input_name for s in interface.states if s.input_name in held}
        others = [o.name for o in interface.outputs if o.name not in held_out]
        if len(returned_arrays) != len(others):
            raise InputShapeError(
                f"{self.path.name}: forward returned {len(returned_arrays)} tensor(s); the artifact has "
                f"{len(interface.outputs)} output(s) ({', '.join(o.name for o in interface.outputs)})"
            )
        by_name = dict(zip(others, returned_arrays, strict=True))
        for out_name, in_name in held_out.items():
            by_name[out_name] = getattr(self.module, attributes[in_name]).detach().numpy()
        return [by_name[o.name] for o in interface.outputs]

    def _attribute_for(self, name: str) -> str:
        """The module attribute a constant input (e.g. `sr`) is passed as."""
        import torch

        for candidate in (name, f"_{name}"):
            if isinstance(getattr(self.module, candidate, None), torch.Tensor):
                return candidate
        raise InputShapeError(
            f"{self.path.name}: the artifact takes {name!r}, but the archive's forward takes no such argument and the "
            f"module keeps no tensor attribute {name!r} or '_{name}' to set it in"
        )


def open_file_reference(path: Path, allow_torchscript: bool = False) -> OnnxReference | TorchScriptReference:
    """A reference given as a file: an ONNX graph, or a TorchScript archive (refused unless the user opted in)."""
    path = Path(path)
    if is_torchscript_archive(path):
        if not allow_torchscript:
            raise refuse_torchscript(path)
        return TorchScriptReference(path)
    return OnnxReference(path)


class TorchReference:
    """The torch model as the truth, in float64 (or float32 for the baseline), on the graph's own inputs."""

    def __init__(self, loaded: LoadedModel, dtype: str = "float64", chunk_steps: int = 8192) -> None:
        import torch

        self.loaded = loaded
        self.dtype = dtype
        self.chunk_steps = chunk_steps  # streaming graphs: long inputs run chunk by chunk, memory bounded by the chunk
        self.note = ""
        self._cache: dict[Any, list[np.ndarray]] = {}
        module = copy.deepcopy(loaded.module)
        self.module = module.double() if dtype == "float64" else module.float()
        self._torch_dtype = torch.float64 if dtype == "float64" else torch.float32

    @property
    def origin(self) -> str:
        """The model's origin, as the report names it."""
        return self.loaded.origin

    @property
    def sha256(self) -> str:
        """sha256 of the reference file, so a verdict names exactly what it compared with."""
        path = Path(self.loaded.origin)
        return file_sha256(path) if path.is_file() else ""

    @property
    def runtime(self) -> str:
        """How this reference runs, in the report's words."""
        return f"torch {self.dtype}"

    def run_once(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The torch outputs for one set of graph feeds, in the graph's output order."""
        return [np.asarray(v) for v in self._reference_for(interface)(self._cast(feeds))]

    def _cast(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float feeds in the reference's dtype (float64 for the truth)."""
        dtype = np.float64 if self.dtype == "float64" else np.float32
        return {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in feeds.items()}

    def run(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Reference outputs for these feeds; cached by content, so every artifact sharing an input reuses them."""
        key = _content_key(interface, feeds)
        if key in self._cache:
            return self._cache[key]
        cast = self._cast(feeds)
        try:
            outputs = run_in_chunks(self._reference_for(interface), interface, cast, self.chunk_steps)
        except (RuntimeError, TypeError) as exc:
            if self.dtype != "float64":
                raise
            # Some programs (torch.export graphs with baked dtypes) cannot run upcast: fall back, and say so.
            self.dtype, self.module = "float32", copy.deepcopy(self.loaded.module).float()
            self.note = f"reference ran in float32: the module cannot run in float64 ({first_line(exc, 120)})"
            self._cache.clear()
            return self.run(interface, feeds)
        self._cache[key] = outputs
        return outputs

    def noise_floor(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
        """Per output element: how far float32 rounding alone moves this reference (None where not measurable).

        The float64 reference is run again with its float data input changed by one float32 ulp (a relative
        2**-23, random sign per element). Near a gate's decision boundary a recurrent model amplifies that change
        over the steps; no float32 implementation can be asked to do better there than the model itself allows.
        """
        x_name = interface.data_input.name
        if self.dtype != "float64" or x_name not in feeds or feeds[x_name].dtype.kind != "f":
            return None
        key = ("noise floor", *_content_key(interface, feeds))
        if key not in self._cache:
            x = feeds[x_name].astype(np.float64)
            signs = np.random.default_rng(0).choice((-1.0, 1.0), size=x.shape)
            nudged = {**feeds, x_name: x * (1.0 + signs * 2.0**-23)}
            moved = run_in_chunks(self._reference_for(interface), interface, self._cast(nudged), self.chunk_steps)
            base = self.run(interface, feeds)
            self._cache[key] = [
                np.abs(np.asarray(m, np.float64) - np.asarray(b, np.float64)) for m, b in zip(moved, base, strict=True)
            ]
        return self._cache[key]

    def _reference_for(self, interface: GraphInterface):  # type: ignore[no-untyped-def]
        """The torch callable that takes this interface's feeds (native model or user module)."""
        if self.loaded.is_native:
            return native_reference(self.module, interface)
        return module_reference(self.module, [t.name for t in interface.inputs])


class TorchReferences:
    """One model's torch references, kept across parity checks: a gate that judges several candidates against
    the same model and data (`quantize --scheme auto`) then runs each reference forward once per distinct input,
    not once per candidate. Each reference copies the module when first asked for, as a fresh one would."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self._by_setting: dict[tuple[str, int], TorchReference] = {}

    def get(self, dtype: str = "float64", chunk_steps: int = 8192) -> TorchReference:
        """The reference in `dtype` with its chunking, made once and kept for later artifacts."""
        key = (dtype, chunk_steps)
        if key not in self._by_setting:
            self._by_setting[key] = TorchReference(self.loaded, dtype, chunk_steps)
        return self._by_setting[key]


def _content_key(interface: GraphInterface, feeds: dict[str, np.ndarray]) -> tuple[Any, ...]:
    """A cache key from the interface and the feeds' bytes, so the same input is run once."""
    digest = hashlib.sha1()
    for name in sorted(feeds):
        array = np.ascontiguousarray(feeds[name])
        digest.update(f"{name}:{array.dtype}:{array.shape}".encode())
        digest.update(array.tobytes())
    return (interface.form, tuple(o.name for o in interface.outputs), digest.hexdigest())
