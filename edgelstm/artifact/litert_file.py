"""A LiteRT (`.tflite`) artifact's interface: the sidecar JSON edgelstm writes beside it, and the file opened once.

The sidecar (`model.tflite.json`) carries the same `edgelstm.*` entries an ONNX artifact carries in its
metadata_props (interface, export config, model config, preprocessing, source), plus what only a LiteRT file has:
the one batch and chunk (or sequence length) its static shapes were converted at, its precision, and the sha256 of
the `.tflite` it describes. A sidecar is refused when the file beside it is not the one it describes.

The `.tflite` also carries the same interface as its `edgelstm.interface` metadata entry (`litert_metadata`). Where
LiteRT's schema is installed (every machine that runs the file) the two are compared on open, and a file whose
sidecar went missing (a model registry, a phone) is read from its embedded entry; without the schema the sidecar
alone is read (it needs JSON only, and it is bound to the file's bytes by their sha256).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.artifact.litert_metadata import INTERFACE_ENTRY, embedded_interface
from edgelstm.artifact.metadata import KEY_PREFIX, ArtifactMetadata
from edgelstm.errors import ConfigError, LoadError
from edgelstm.files import file_sha256
from edgelstm.jsonio import is_none, json_meta, to_jsonable

SIDECAR_FORMAT = "edgelstm.litert/1"
PRECISIONS = ("fp32", "int8")


def sidecar_path(tflite: Path) -> Path:
    """Where the interface of `tflite` is written: beside it, `.json` appended (`model.tflite.json`)."""
    return tflite.with_name(tflite.name + ".json")


@dataclass(frozen=True)
class LiteRTShape:
    """The static shape a `.tflite` was converted at: LiteRT files run at exactly one batch and one chunk (streaming)
    or one sequence length (sequence form), so each requested size is its own artifact."""

    batch: int
    # the JSON has only the axis the form has
    chunk: int | None = field(default=None, metadata=json_meta(omit_if=is_none))  # streaming form: steps per call
    steps: int | None = field(default=None, metadata=json_meta(omit_if=is_none))  # sequence form: the one sequence length

    def __post_init__(self) -> None:
        if self.batch < 1 or (self.chunk is None) == (self.steps is None):
            raise ValueError("a LiteRT shape has a positive batch and exactly one of chunk (streaming) or steps (sequence)")
        if (self.chunk or self.steps or 0) < 1:
            raise ValueError("a LiteRT shape's chunk or steps must be positive")

    @property
    def label(self) -> str:
        """The shape as a file-name part: `b1_k16` (batch 1, chunks of 16) or `b1_t100` (sequence of 100 steps)."""
        return f"b{self.batch}_k{self.chunk}" if self.chunk is not None else f"b{self.batch}_t{self.steps}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiteRTShape:
        """A shape read back from a sidecar."""
        return cls(int(data["batch"]), data.get("chunk"), data.get("steps"))


@dataclass(frozen=True)
class LiteRTSidecar:
    """What edgelstm writes beside a `.tflite`: its metadata (as ONNX artifacts carry it), shape, precision, digest."""

    metadata: ArtifactMetadata
    shape: LiteRTShape
    precision: str
    tflite_sha256: str
    converter: dict[str, str]  # the packages that wrote it (litert-torch, ai-edge-quantizer), by version

    def interface_json(self) -> dict[str, Any]:
        """What the `.tflite` itself carries (its `edgelstm.interface` metadata entry): the sidecar less the file's
        own sha256, which no file can carry about itself, and the verification, which runs on the embedded bytes."""
        return {
            "format": SIDECAR_FORMAT,
            "shape": to_jsonable(self.shape),
            "precision": self.precision,
            "converter": dict(self.converter),
            "metadata_props": self.metadata.to_props(),
        }

    def to_json(self, verification: dict[str, Any] | None = None) -> str:
        """The sidecar's text: the metadata entries under their ONNX keys, the LiteRT-only fields, and the
        verification that allowed the file to be written (a record for people; not read back)."""
        data: dict[str, Any] = {
            "format": SIDECAR_FORMAT,
            "tflite_sha256": self.tflite_sha256,
            "shape": to_jsonable(self.shape),
            "precision": self.precision,
            "converter": dict(self.converter),
            "metadata_props": self.metadata.to_props(),
        }
        if verification is not None:
            data["verification"] = verification
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> LiteRTSidecar:
        """A sidecar read back; any malformed shape of it is one LoadError naming the file."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise LoadError(f"{where}: not an edgelstm LiteRT sidecar ({type(exc).__name__}: {exc})") from None
        return cls.from_data(data, where)

    @classmethod
    def from_data(cls, data: Any, where: str) -> LiteRTSidecar:
        """A sidecar from its parsed JSON (the sidecar file's, or a file's embedded entry plus its digest)."""
        try:
            if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
                raise ValueError(f"format is not {SIDECAR_FORMAT!r}")
            precision = data["precision"]
            if precision not in PRECISIONS:
                raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
            props = data["metadata_props"]
            if not isinstance(props, dict) or not all(k.startswith(KEY_PREFIX) for k in props):
                raise ValueError("metadata_props is not a map of edgelstm entries")
            return cls(
                ArtifactMetadata.from_props(props),
                LiteRTShape.from_dict(data["shape"]),
                precision,
                str(data["tflite_sha256"]),
                dict(data.get("converter", {})),
            )
        except LoadError as exc:
            raise LoadError(f"{where}: {exc}") from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise LoadError(f"{where}: not an edgelstm LiteRT sidecar ({type(exc).__name__}: {exc})") from None


def read_sidecar(tflite: Path) -> tuple[LiteRTSidecar, str]:
    """The interface of `tflite` and the file's sha256: from the sidecar, refused when it was written for other bytes
    or disagrees with the interface embedded in the file; from the embedded entry when the sidecar is missing."""
    side = sidecar_path(tflite)
    digest = file_sha256(tflite)
    embedded = readable_embedded_interface(tflite)
    if not side.is_file():
        if embedded is None:
            raise LoadError(
                f"{tflite}: no {side.name} beside it and no readable {INTERFACE_ENTRY} entry inside it; edgelstm runs "
                "the .tflite files it exported (`edgelstm export MODEL --target litert`), whose interface those record"
            )
        return LiteRTSidecar.from_data({**embedded, "tflite_sha256": digest}, f"{tflite} ({INTERFACE_ENTRY} entry)"), digest
    sidecar = LiteRTSidecar.from_json(side.read_text(encoding="utf-8"), str(side))
    if digest != sidecar.tflite_sha256:
        raise LoadError(
            f"{side}: describes a .tflite with sha256 {sidecar.tflite_sha256[:12]}, but {tflite.name} has {digest[:12]}; "
            "the file was replaced or edited after export"
        )
    recorded = sidecar.interface_json()
    if embedded is not None and embedded != recorded:
        differ = sorted(k for k in {*embedded, *recorded} if embedded.get(k) != recorded.get(k))
        raise LoadError(
            f"{side}: disagrees with the {INTERFACE_ENTRY} entry inside {tflite.name} (on {', '.join(differ)}); "
            "the sidecar was edited after export"
        )
    return sidecar, digest


def readable_embedded_interface(tflite: Path) -> dict[str, Any] | None:
    """The interface `tflite` carries inside it, or None: none written, LiteRT's schema not installed (the sidecar
    alone is read then), or bytes that are no flatbuffer (the interpreter refuses those when the file is run)."""
    try:
        return embedded_interface(tflite.read_bytes())
    except ConfigError:  # ai-edge-litert not installed: nothing here can run the file either
        return None
    except Exception:  # flatbuffer accessors over arbitrary bytes raise any error; such a file has no entry
        return None
