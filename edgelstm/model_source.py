"""The one model contract: what a command was told about the model it loads, parsed and validated in one place.

Every command that takes a model or a reference (inspect, export, check, quantize, bench, distill, convert's recipe)
builds a `ModelSource` from the same options and hands it to `edgelstm.loading.load_model`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgelstm.artifact.hints import InterfaceHints, parse_axes, parse_constants, parse_state_pairs
from edgelstm.errors import ConfigError
from edgelstm.jsonio import is_empty, json_meta

FACTORY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # package.module:factory

MAX_INPUT_SIZE = 2**20  # features per step; beyond this a probe batch alone would take gigabytes
MAX_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelOptions:
    """The model options of a command before it knows which argument names the model (MODEL or --reference)."""

    weights: Path | None = None
    input_size: int | None = None
    allow_pickle: bool = False
    allow_torchscript: bool = False
    constants: Mapping[str, float | int] = field(default_factory=dict)
    states: tuple[tuple[str, str], ...] = ()
    chunk: int | None = None
    # samples of the previous chunk each call also sees (silero-vad: 64 at 16 kHz); the JSON has both only when set,
    # so reports and recipe fingerprints of models without them keep their bytes
    context: int = field(default=0, metadata=json_meta(omit_if=is_empty))
    # `--axes input=time,features`: declared data axis roles (written as {input: [roles]})
    axes: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), metadata=json_meta(omit_if=is_empty, convert=dict))

    def __post_init__(self) -> None:
        # Validated here, once, so every command refuses a bad value with the same words.
        if self.input_size is not None and not 1 <= self.input_size <= MAX_INPUT_SIZE:
            raise ConfigError(f"--input-size must be a feature count in 1..{MAX_INPUT_SIZE:,}, got {self.input_size}")
        if self.chunk is not None and not 1 <= self.chunk <= MAX_CHUNK:
            raise ConfigError(f"--chunk must be between 1 and {MAX_CHUNK}, got {self.chunk}")
        if not 0 <= self.context <= MAX_CHUNK:
            raise ConfigError(f"--context must be a number of samples >= 0 (at most {MAX_CHUNK}), got {self.context}")
        if self.context and self.chunk is None:
            raise ConfigError("--context needs --chunk: it is the overlap each chunk of --chunk samples carries")

    @classmethod
    def parse(
        cls,
        weights: Path | str | None = None,
        input_size: int | None = None,
        allow_pickle: bool = False,
        allow_torchscript: bool = False,
        constants: Sequence[str] | Mapping[str, Any] = (),
        states: str | None = None,
        chunk: int | None = None,
        context: int | None = None,
        axes: str | None = None,
    ) -> ModelOptions:
        """From the command line's raw values: `--const NAME=VALUE` (repeatable), `--state IN:OUT,...`."""
        if isinstance(constants, Mapping):  # a recipe's `const = {sr = 16000}` table
            constants = [f"{name}={value}" for name, value in constants.items()]
        return cls(
            weights=Path(weights) if weights is not None else None,
            input_size=input_size,
            allow_pickle=allow_pickle,
            allow_torchscript=allow_torchscript,
            constants=parse_constants(list(constants)),
            states=tuple(parse_state_pairs(states)),
            chunk=chunk,
            context=context or 0,
            axes=parse_axes(axes),
        )

    def interface_hints(self) -> InterfaceHints:
        """What the options say about an ONNX graph's calling convention."""
        return InterfaceHints(dict(self.constants), tuple(self.states), self.chunk, self.context, tuple(self.axes))

    def source(self, spec: str) -> ModelSource:
        """The model source for `spec` with these options, the object every command and the API load models from."""
        return ModelSource(
            spec,
            self.weights,
            self.input_size,
            self.allow_pickle,
            self.allow_torchscript,
            self.constants,
            self.states,
            self.chunk,
            self.context,
            self.axes,
        )


@dataclass(frozen=True)
class ModelSource(ModelOptions):
    """A model as the user named it (checkpoint dir, .pt2, package.module:factory, TorchScript, ONNX) plus its options."""

    JSON_ORDER: ClassVar[tuple[str, ...]] = ("spec",)  # what was named first, then its options

    spec: str = ""

    def __init__(
        self,
        spec: str,
        weights: Path | None = None,
        input_size: int | None = None,
        allow_pickle: bool = False,
        allow_torchscript: bool = False,
        constants: Mapping[str, float | int] | None = None,
        states: tuple[tuple[str, str], ...] = (),
        chunk: int | None = None,
        context: int = 0,
        axes: tuple[tuple[str, tuple[str, ...]], ...] = (),
    ) -> None:
        # spec first: ModelSource("pkg.mod:build", weights=...) reads like the command line it came from.
        values = {
            "spec": spec,
            "weights": Path(weights) if weights is not None else None,
            "input_size": input_size,
            "allow_pickle": allow_pickle,
            "allow_torchscript": allow_torchscript,
            "constants": dict(constants or {}),
            "states": tuple(tuple(pair) for pair in states),
            "chunk": chunk,
            "context": context,
            "axes": tuple((name, tuple(roles)) for name, roles in axes),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        self.__post_init__()
        if not spec:
            raise ConfigError("no model given: name a checkpoint directory, a .pt2/.onnx file or package.module:factory")

    @property
    def is_factory(self) -> bool:
        """Whether the spec names a model factory (`module:function`) rather than an existing file."""
        return bool(FACTORY_PATTERN.match(self.spec)) and not Path(self.spec).exists()
