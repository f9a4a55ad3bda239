"""What an exported graph carries in its ONNX `metadata_props`, and how to read it back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from edgelstm.export.config import ExportConfig, GraphInterface

from edgelstm.config import ModelConfig, Preprocessing
from edgelstm.errors import LoadError

FORMAT_VERSION = "1"
KEY_PREFIX = "edgelstm."


@dataclass(frozen=True)
class ArtifactMetadata:
    interface: GraphInterface
    export_config: ExportConfig
    model_config: ModelConfig | None
    preprocessing: Preprocessing | None
    source: str  # how the model was loaded: checkpoint, factory, torch.export, pickle

    def to_props(self) -> dict[str, str]:
        props = {
            "format_version": FORMAT_VERSION,
            "interface": json.dumps(self.interface.to_dict(), sort_keys=True),
            "export_config": json.dumps(self.export_config.to_dict(), sort_keys=True),
            "source": self.source,
        }
        if self.model_config is not None:
            props["model_config"] = json.dumps(self.model_config.to_dict(), sort_keys=True)
        if self.preprocessing is not None:
            props["preprocessing"] = json.dumps(self.preprocessing.to_dict(), sort_keys=True)
        return {KEY_PREFIX + k: v for k, v in props.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ArtifactMetadata:
        def get(key: str) -> Any:
            raw = props.get(KEY_PREFIX + key)
            return None if raw is None else json.loads(raw)

        if get("interface") is None:
            raise LoadError("this ONNX file has no edgelstm metadata (it was not exported by edgelstm)")
        config = get("model_config")
        prep = get("preprocessing")
        return cls(
            interface=GraphInterface.from_dict(get("interface")),
            export_config=ExportConfig.from_dict(get("export_config")),
            model_config=None if config is None else ModelConfig.from_dict(config),
            preprocessing=None if prep is None else Preprocessing.from_dict(prep),
            source=props.get(KEY_PREFIX + "source", ""),
        )


def attach_metadata(model: onnx.ModelProto, metadata: ArtifactMetadata) -> None:
    del model.metadata_props[:]
    for key, value in sorted(metadata.to_props().items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(path: Path) -> ArtifactMetadata:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises several protobuf/decode types for corrupt files
        raise LoadError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    return ArtifactMetadata.from_props({p.key: p.value for p in model.metadata_props})
