"""The ground truth a candidate is compared with: one `run(interface, feeds)` for both kinds of reference.

- TorchReference: the torch model run in float64 on CPU (an upcast copy), with results cached per input;
- OnnxReference: an ONNX graph (e.g. the shipped fp32 file a quantized artifact came from) run in ONNX Runtime on
  CPU in float32, chunk by chunk with the state carried exactly as the candidate is run.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgelstm.errors import first_line
from edgelstm.export.config import GraphInterface
from edgelstm.export.verify import module_reference, native_reference
from edgelstm.loading import LoadedModel
from edgelstm.parity.chunked import run_in_chunks
from edgelstm.parity.evidence import file_sha256


class Reference(Protocol):
    """What a parity check needs of its ground truth."""

    dtype: str
    note: str

    @property
    def origin(self) -> str: ...

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


class OnnxReference:
    """An ONNX graph as the reference: ORT CPU, fp32, one intra-op thread, the same chunking as the candidate."""

    def __init__(self, path: Path, chunk_steps: int = 8192) -> None:
        from edgelstm.runtime import SessionSettings, session_from_onnx

        self.path = Path(path)
        self._sha256 = file_sha256(self.path)
        self.dtype = "float32"
        self.note = ""
        self.chunk_steps = chunk_steps
        self.providers = ["CPUExecutionProvider"]
        self._session = session_from_onnx(self.path, SessionSettings(provider="cpu", intra_op_threads=1))
        self._cache: dict[Any, list[np.ndarray]] = {}

    @property
    def origin(self) -> str:
        return str(self.path)

    @property
    def sha256(self) -> str:
        return self._sha256

    @property
    def runtime(self) -> str:
        return "ONNX Runtime CPU, float32"

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self._session.get_inputs()]

    def run(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        key = _content_key(interface, feeds)
        if key not in self._cache:
            self._cache[key] = run_in_chunks(lambda f: self.run_once(interface, f), interface, feeds, self.chunk_steps)
        return self._cache[key]

    def run_once(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(v) for v in self._session.run([o.name for o in interface.outputs], feeds)]

    def noise_floor(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
        return None  # a float32 graph as reference: gated on decisions and |delta p|, not on a float64 floor


class TorchReference:
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
        return self.loaded.origin

    @property
    def sha256(self) -> str:
        path = Path(self.loaded.origin)
        return file_sha256(path) if path.is_file() else ""

    @property
    def runtime(self) -> str:
        return f"torch {self.dtype}"

    def run_once(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(v) for v in self._reference_for(interface)(self._cast(feeds))]

    def _cast(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
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
        if self.loaded.is_native:
            return native_reference(self.module, interface)
        return module_reference(self.module, [t.name for t in interface.inputs])


def _content_key(interface: GraphInterface, feeds: dict[str, np.ndarray]) -> tuple[Any, ...]:
    digest = hashlib.sha1()
    for name in sorted(feeds):
        array = np.ascontiguousarray(feeds[name])
        digest.update(f"{name}:{array.dtype}:{array.shape}".encode())
        digest.update(array.tobytes())
    return (interface.form, tuple(o.name for o in interface.outputs), digest.hexdigest())
