"""What an exported graph carries in its ONNX `metadata_props`, and how to read it back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from edgelstm.artifact.checks import check_graph_file
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.graph_io import read_value_infos
from edgelstm.artifact.interface import GraphInterface
from edgelstm.config import ModelConfig, Preprocessing
from edgelstm.errors import ConfigError, LoadError, describe_decode_error, first_line
from edgelstm.jsonio import to_jsonable

FORMAT_VERSION = "1"
KEY_PREFIX = "edgelstm."


@dataclass(frozen=True)
class ArtifactMetadata:
    """What edgelstm records inside every graph it writes, so a graph can be checked and streamed without its source."""

    interface: GraphInterface
    export_config: ExportConfig
    model_config: ModelConfig | None
    preprocessing: Preprocessing | None
    source: str  # how the model was loaded: checkpoint, factory, torch.export, pickle, foreign onnx
    source_sha256: str = ""  # of the ONNX file a foreign graph's artifact was derived from (written only when set)
    # A user module's graph: how its forward was called when traced (the `--const` values baked in, lengths, state)
    # and its weights' sha256; every artifact derived from the graph carries it (written only when set).
    user_module: dict[str, Any] | None = None

    def to_props(self) -> dict[str, str]:
        """The metadata as ONNX metadata_props entries (JSON strings under edgelstm's key prefix)."""
        props = {
            "format_version": FORMAT_VERSION,
            "interface": json.dumps(to_jsonable(self.interface), sort_keys=True),
            "export_config": json.dumps(to_jsonable(self.export_config), sort_keys=True),
            "source": self.source,
        }
        if self.model_config is not None:
            props["model_config"] = json.dumps(to_jsonable(self.model_config), sort_keys=True)
        if self.preprocessing is not None:
            props["preprocessing"] = json.dumps(to_jsonable(self.preprocessing), sort_keys=True)
        if self.source_sha256:
            props["source_sha256"] = self.source_sha256
        if self.user_module is not None:
            props["user_module"] = json.dumps(self.user_module, sort_keys=True)
        return {KEY_PREFIX + k: v for k, v in props.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ArtifactMetadata:
        """Metadata read back from a graph's metadata_props."""

        def get(key: str) -> Any:
            raw = props.get(KEY_PREFIX + key)
            return None if raw is None else json.loads(raw)

        if KEY_PREFIX + "interface" not in props:
            raise LoadError("this ONNX file has no edgelstm metadata (it was not exported by edgelstm)")
        version = props.get(KEY_PREFIX + "format_version")
        if version is not None and version != FORMAT_VERSION:
            raise LoadError(f"edgelstm metadata format {version!r} is not the {FORMAT_VERSION!r} this version reads")
        # Metadata is text anyone can edit: every malformed shape of it is one refusal, never a crash.
        try:
            config = get("model_config")
            prep = get("preprocessing")
            user_module = get("user_module")
            if user_module is not None and not isinstance(user_module, dict):
                raise TypeError("user_module is not a JSON object")
            return cls(
                interface=GraphInterface.from_dict(get("interface")),
                export_config=ExportConfig.from_dict(get("export_config")),
                model_config=None if config is None else ModelConfig.from_dict(config),
                preprocessing=None if prep is None else Preprocessing.from_dict(prep),
                source=props.get(KEY_PREFIX + "source", ""),
                source_sha256=props.get(KEY_PREFIX + "source_sha256", ""),
                user_module=user_module,
            )
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, ConfigError) as exc:
            raise LoadError(f"its edgelstm metadata is malformed ({type(exc).__name__}: {first_line(exc)})") from None


def attach_metadata(model: onnx.ModelProto, metadata: ArtifactMetadata) -> None:
    """Replace the graph's metadata_props with `metadata`, sorted so the exported bytes are reproducible."""
    del model.metadata_props[:]
    for key, value in sorted(metadata.to_props().items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def load_onnx_file(path: Path) -> onnx.ModelProto:
    """An ONNX file's graph (weights stay external), or one LoadError line for an empty or undecodable file, or one
    ONNX Runtime could not load (external data missing or outside the folder, an unknown op domain, a newer opset)."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise LoadError(f"{path}: empty file, not an ONNX model")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except OSError:
        raise
    except Exception as exc:  # onnx raises several protobuf/decode types for corrupt files
        raise LoadError(f"{path}: not a readable ONNX file ({describe_decode_error(exc)})") from None
    if not model.graph.node and not model.graph.output:
        raise LoadError(f"{path}: not an ONNX model (no graph in it)")
    check_graph_file(model, path)
    return model


FOREIGN_SOURCE = "foreign onnx"


def read_metadata(path: Path) -> ArtifactMetadata:
    """The edgelstm metadata of the graph at `path`."""
    return metadata_of(load_onnx_file(path), path)


def metadata_of(model: onnx.ModelProto, path: Path) -> ArtifactMetadata:
    """The edgelstm metadata of a graph already read from `path` (a LoadError when it has none or it is malformed)."""
    try:
        metadata = ArtifactMetadata.from_props({p.key: p.value for p in model.metadata_props})
    except LoadError as exc:
        raise LoadError(f"{path}: {exc}") from None
    check_state_pairs(metadata.interface, model, path)
    return metadata


def check_state_pairs(interface: GraphInterface, model: onnx.ModelProto, path: Path) -> None:
    """Metadata is text anyone can edit: a state pair it names must be an input and an output of the graph, or every
    command would feed (and a bundle would promise) a state the graph does not have. A ConfigError, not a LoadError:
    readers that take a LoadError as "no edgelstm metadata, describe the graph afresh" must not pass it over."""
    values = read_value_infos(model)
    inputs, outputs = ([v.name for v in side] for side in values)
    for state in interface.states:
        for name, names, kind in ((state.input_name, inputs, "input"), (state.output_name, outputs, "output")):
            if name not in names:
                raise ConfigError(
                    f"{path}: its edgelstm metadata names state pair {state.input_name} -> {state.output_name}, but the "
                    f"graph has no {kind} {name!r} ({kind}s: {', '.join(names)})"
                )


def recorded_user_module(path: Path) -> dict[str, Any] | None:
    """The call record of the user module an artifact was traced from (constants, state, weights), if it has one."""
    props = {p.key: p.value for p in load_onnx_file(path).metadata_props}
    if KEY_PREFIX + "interface" not in props:
        return None
    return read_metadata(path).user_module
