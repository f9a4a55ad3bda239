"""Scheme config type -> handler. New schemes register a handler; nothing dispatches on strings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import onnx

from edgelstm.artifact.interface import GraphInterface
from edgelstm.config import ModelConfig
from edgelstm.errors import EdgelstmError
from edgelstm.quantize.calibration import CalibrationSource
from edgelstm.quantize.config import SchemeConfig


class SchemeRefused(EdgelstmError):
    """The scheme cannot apply to this model/graph; the message says why."""


@dataclass(frozen=True)
class QuantizeInput:
    """What a handler works on: the fp32 graph on disk and what it is."""

    path: Path
    model: onnx.ModelProto
    interface: GraphInterface
    model_config: ModelConfig | None
    calibration: list[dict[str, np.ndarray]] | None  # feeds for static calibration
    # The calls that gather layer-input statistics (GPTQ): the calibration feeds, or a stream run chunk by chunk
    # with its state carried for a graph with state; never the gate's data.
    calibration_source: CalibrationSource | None = None


class Handler:
    """choose_impl: which export form suits the scheme for a model; refuse: why a given graph cannot take it;
    apply: write the quantized graph to `target` and return what happened (one line each)."""

    def choose_impl(self, config: SchemeConfig, model: ModelConfig) -> str:
        """The recurrent implementation this scheme needs the float graph exported in (fused, loop or unrolled)."""
        raise NotImplementedError

    def refuse(self, config: SchemeConfig, source: QuantizeInput) -> str | None:
        """Why this scheme cannot apply to `source`, or None; a refusal is reported, never an error."""
        return None

    def apply(self, config: SchemeConfig, source: QuantizeInput, target: Path) -> list[str]:
        """Quantize `source` into `target` and return notes on what was done."""
        raise NotImplementedError

    def size_floor(self, config: SchemeConfig, source: QuantizeInput) -> int | None:
        """Bytes the artifact cannot be smaller than, known before `apply` (None: no such bound). Lets `auto`
        decline a scheme that cannot win on size without paying for its build."""
        return None


HANDLERS: dict[type[SchemeConfig], Handler] = {}
H = TypeVar("H", bound=Handler)


def register(config_type: type[SchemeConfig]) -> Callable[[type[H]], type[H]]:
    """Class decorator: the handler of `config_type`, one instance kept in HANDLERS."""

    def wrap(handler_cls: type[H]) -> type[H]:
        HANDLERS[config_type] = handler_cls()
        return handler_cls

    return wrap


def handler_for(config: SchemeConfig) -> Handler:
    """The handler registered for the config's type (the built-in ones register when edgelstm.quantize.api loads)."""
    return HANDLERS[type(config)]
