"""The edgelstm interface inside a `.tflite`: one model metadata entry (`edgelstm.interface`), beside the sidecar.

A `.tflite` is a flatbuffer whose Model table has a `metadata` list of (name, buffer) pairs that the interpreter
ignores (litert-torch already writes `min_runtime_version` there). Adding an entry adds one buffer and one name; the
subgraphs, tensors and operators are unpacked and packed back unchanged (the LiteRT wheel's own generated schema
does the work), and export verifies the file *after* the entry is added, so the bytes written are the bytes run.

The sidecar stays the source of truth: it also names the file's sha256, which a file cannot carry about itself.
The embedded copy lets a tool that has only the `.tflite` (on a phone, in a model registry) read its interface.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edgelstm.artifact.litert_imports import optional_module
from edgelstm.artifact.litert_runner import LITERT_EXTRA

__all__ = ["INTERFACE_ENTRY", "embed_interface", "embedded_interface"]

INTERFACE_ENTRY = "edgelstm.interface"
FILE_IDENTIFIER = b"TFL3"


def _schema() -> tuple[Any, Any]:
    needed = "writing .tflite metadata needs the LiteRT schema"
    schema = optional_module("ai_edge_litert.schema_py_generated", needed, LITERT_EXTRA)
    return optional_module("flatbuffers", needed, LITERT_EXTRA), schema  # flatbuffers: a dependency of ai-edge-litert


def embed_interface(content: bytes, interface: dict[str, Any]) -> bytes:
    """`content` with `interface` (JSON) as its `edgelstm.interface` metadata entry, replacing an earlier one."""
    flatbuffers, schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    data = np.frombuffer(json.dumps(interface, sort_keys=True).encode("utf-8"), np.uint8)
    earlier = next((m for m in (model.metadata or []) if _name(m.name) == INTERFACE_ENTRY), None)
    if earlier is not None:  # re-embedding (a quantized copy): its buffer is reused, nothing is left orphaned
        model.buffers[earlier.buffer].data = data
    else:
        buffer = schema.BufferT()
        buffer.data = data
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = INTERFACE_ENTRY
        entry.buffer = len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(len(content) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def embedded_interface(content: bytes) -> dict[str, Any] | None:
    """The `edgelstm.interface` entry of a `.tflite`, or None when it has none (a file from another tool)."""
    _, schema = _schema()
    model = schema.Model.GetRootAs(bytearray(content), 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if _name(entry.Name()) == INTERFACE_ENTRY:
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return dict(json.loads(bytes(data).decode("utf-8")))
    return None


def _name(name: bytes | str | None) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else str(name or "")
