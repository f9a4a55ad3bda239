"""What the user says about a graph made elsewhere (`--const`, `--state`, `--chunk`, `--context`, `--axes`), parsed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edgelstm.errors import ConfigError

ROLES = ("batch", "time", "features")  # of the data input's axes; "frames" is read as "time"


@dataclass(frozen=True)
class InterfaceHints:
    """What the user said about a foreign graph's calling convention: `--const`, `--state`, `--chunk`, `--axes`."""

    constants: Mapping[str, float | int] = field(default_factory=dict)
    states: tuple[tuple[str, str], ...] = ()
    chunk: int | None = None
    context: int = 0  # samples of the previous chunk prepended to each call (silero-vad: 64 at 16 kHz)
    axes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # `--axes input=time,features`: declared roles of an input

    def __post_init__(self) -> None:
        if self.context < 0:
            raise ConfigError(f"--context must be a number of samples >= 0, got {self.context}")
        if self.context and self.chunk is None:
            raise ConfigError("--context needs --chunk: it is the overlap each chunk of --chunk samples carries")

    def __bool__(self) -> bool:
        return bool(self.constants or self.states or self.chunk or self.axes)


def parse_state_pairs(text: str | None) -> list[tuple[str, str]]:
    """`--state state:stateN,h:hn` -> [("state", "stateN"), ("h", "hn")]."""
    pairs = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        parts = [p.strip() for p in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"--state expects INPUT:OUTPUT pairs separated by commas, got {item.strip()!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


def parse_axes(text: str | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`--axes input=time,features` -> (("input", ("time", "features")),); roles checked against the graph later."""
    if not text or not text.strip():
        return ()
    name, sep, roles = text.partition("=")
    parsed = tuple(r.strip().lower() for r in roles.split(",") if r.strip())
    if not sep or not name.strip() or not parsed:
        raise ConfigError(f"--axes expects INPUT=ROLE,ROLE,... (roles batch, time or frames, features), got {text!r}")
    unknown = [r for r in parsed if r not in (*ROLES, "frames")]
    if unknown:
        raise ConfigError(f"--axes {name.strip()}: unknown role {unknown[0]!r}; roles are batch, time (or frames), features")
    return ((name.strip(), parsed),)


def parse_constants(items: Sequence[str]) -> dict[str, float | int]:
    """`--const sr=16000` (repeatable) -> {"sr": 16000}."""
    constants: dict[str, float | int] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--const expects NAME=VALUE, got {item!r}")
        try:
            value: float | int = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"--const {name}: {raw!r} is not a number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"--const {name}: {raw!r} is not a finite number")
        constants[name.strip()] = value
    return constants
