"""A `.tflite` artifact run in the LiteRT interpreter (XNNPACK on CPU, as on a phone), pinned to its one shape.

LiteRT files have static shapes. The interpreter lets a caller resize an input, and for some graphs (a GRU stream)
it then returns outputs of the wrong shape with no error; so this runner never resizes: a feed of any other shape
than the file's is refused with the shape it takes, and every output's shape is compared with the file's before
it is returned.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.litert_imports import optional_module
from edgelstm.errors import InputShapeError, LoadError, first_line

LITERT_EXTRA = 'pip install "edgelstm[litert]"  (ai-edge-litert: the LiteRT interpreter)'
SIGNATURE = "serving_default"  # the one signature litert-torch writes


def litert_interpreter_class() -> Any:
    """LiteRT's `Interpreter`, or one ConfigError line saying which extra to install."""
    needed = "running .tflite artifacts needs the LiteRT interpreter"
    return optional_module("ai_edge_litert.interpreter", needed, LITERT_EXTRA).Interpreter


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """LiteRT and its converter print progress lines and absl logs (some from C++, straight to file descriptors 1
    and 2): kept off the CLI's output, which is one table or one `error:` line."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _ordered(names: list[str]) -> list[str]:
    """Signature names in call order: litert-torch names them args_0.. / output_0.. (args_10 after args_9)."""
    return sorted(names, key=lambda n: (int(m.group(1)) if (m := re.search(r"(\d+)$", n)) else -1, n))


class LiteRTRunner:
    """One `.tflite` in one interpreter; `run(names, feeds)` as ORT sessions are run, at the file's shape only."""

    provider = "litert"
    ignores_sequence_lens = False

    def __init__(self, path: Path, interface: GraphInterface, threads: int = 1) -> None:
        self.path = Path(path)
        self.interface = interface
        interpreter_class = litert_interpreter_class()
        try:
            with quiet_native_output():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
                self._interpreter = interpreter_class(model_path=str(self.path), num_threads=threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:  # the interpreter's refusals of a file (not a flatbuffer, bad ops)
            raise LoadError(f"{self.path}: the LiteRT interpreter cannot load it ({first_line(exc)})") from None
        # The signature's names -> tensor details (the signature runner itself would resize inputs to any feed).
        signature = self._interpreter._get_full_signature_list()[SIGNATURE]
        details = {d["index"]: d for d in (*self._interpreter.get_input_details(), *self._interpreter.get_output_details())}
        inputs = {name: details[index] for name, index in signature["inputs"].items()}
        outputs = {name: details[index] for name, index in signature["outputs"].items()}
        if len(inputs) != len(interface.inputs) or len(outputs) != len(interface.outputs):
            raise InputShapeError(
                f"{self.path}: the file takes {len(inputs)} inputs and gives {len(outputs)} outputs, its sidecar "
                f"describes {len(interface.inputs)} and {len(interface.outputs)}"
            )
        # The sidecar's names, in the order the converter wrote the module's arguments and results.
        self._inputs = {t.name: inputs[n] for t, n in zip(interface.inputs, _ordered(list(inputs)), strict=True)}
        self._outputs = {t.name: outputs[n] for t, n in zip(interface.outputs, _ordered(list(outputs)), strict=True)}
        # what an app passes to Interpreter.runSignature: each interface name's name in the file's signature
        ins, outs = (
            zip(interface.inputs, _ordered(list(inputs)), strict=True),
            zip(interface.outputs, _ordered(list(outputs)), strict=True),
        )
        self.signature_names = {t.name: n for t, n in (*ins, *outs)}
        self.providers_used = [f"LiteRT interpreter (XNNPACK CPU, {threads} thread{'s' if threads > 1 else ''})"]

    def input_shape(self, name: str) -> list[int]:
        """The one shape input `name` takes in this file."""
        return [int(d) for d in self._inputs[name]["shape"]]

    def run(self, output_names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One invoke on `feeds` (each at the file's exact shape and dtype); the named outputs, shapes checked."""
        for name, detail in self._inputs.items():
            if name not in feeds:
                raise InputShapeError(f"{self.path.name}: no feed for input {name!r}")
            value = feeds[name]
            expected = [int(d) for d in detail["shape"]]
            if list(value.shape) != expected:
                raise InputShapeError(
                    f"{self.path.name}: input {name} is {list(value.shape)}, but this .tflite runs at {expected} only "
                    "(LiteRT shapes are static; resizing is refused: export the batch and chunk you need)"
                )
            self._interpreter.set_tensor(detail["index"], np.ascontiguousarray(value, dtype=detail["dtype"]))
        self._interpreter.invoke()
        results = []
        for name in output_names:
            detail = self._outputs[name]
            value = np.array(self._interpreter.get_tensor(detail["index"]))  # a copy: the next invoke reuses the buffer
            if list(value.shape) != [int(d) for d in detail["shape"]]:
                raise InputShapeError(
                    f"{self.path.name}: output {name} came back {list(value.shape)}, the file declares {list(detail['shape'])}"
                )
            results.append(value)
        return results
