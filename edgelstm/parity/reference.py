"""The ground truth: the torch model run in float64 on CPU (an upcast copy), with results cached per input."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import numpy as np

from edgelstm.export.config import GraphInterface
from edgelstm.export.verify import module_reference, native_reference
from edgelstm.loading import LoadedModel
from edgelstm.parity.chunked import run_in_chunks


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

    def run(self, interface: GraphInterface, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Reference outputs for these feeds; cached by content, so every artifact sharing an input reuses them."""
        key = _content_key(interface, feeds)
        if key in self._cache:
            return self._cache[key]
        cast = {
            k: (v.astype(np.float64 if self.dtype == "float64" else np.float32) if v.dtype.kind == "f" else v)
            for k, v in feeds.items()
        }
        try:
            outputs = run_in_chunks(self._reference_for(interface), interface, cast, self.chunk_steps)
        except (RuntimeError, TypeError) as exc:
            if self.dtype != "float64":
                raise
            # Some programs (torch.export graphs with baked dtypes) cannot run upcast: fall back, and say so.
            self.dtype, self.module = "float32", copy.deepcopy(self.loaded.module).float()
            self.note = f"reference ran in float32: the module cannot run in float64 ({str(exc).splitlines()[0][:120]})"
            self._cache.clear()
            return self.run(interface, feeds)
        self._cache[key] = outputs
        return outputs

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
