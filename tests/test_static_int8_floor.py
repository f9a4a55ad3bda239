"""static-int8's size floor: known before the (slow) build, never above the built artifact's size, and used by
`--scheme auto` to decline the scheme without building it when a smaller row already passed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.loading import load_model
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import DynamicInt8Config, StaticInt8Config, quantize
from edgelstm.quantize.cannot_win import CannotWinGate
from edgelstm.quantize.schemes.static_int8 import StaticInt8Handler
from tests.conftest import random_checkpoint, tiny_model


class _FloorSpy:
    """A declining gate that never declines: it records the floors it is shown and passes every artifact."""

    def __init__(self) -> None:
        self.floors: list[int] = []

    def decline(self, size_bytes: int, at_least: bool = False) -> dict[str, Any] | None:
        if at_least:
            self.floors.append(size_bytes)
        return None

    def run(self, path: Path) -> dict[str, Any]:
        return {"passed": True, "failures": []}


def _data(features: int, steps: int = 12, count: int = 16) -> SequenceData:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((count, steps, features)).astype(np.float32)
    return SequenceData(x, None, rng.integers(0, 3, size=count), "floor data")


# Weights dominate its bytes (96 hidden, 12 unrolled steps): a floor that forgot the weights shrink to one byte per
# value would sit above the built artifact here.
WIDE_LSTM = ModelConfig(input_size=5, hidden_size=96, cell="lstm", head=HeadConfig("classify", 3, "last"))


@pytest.mark.parametrize(
    "spec", [{"cell": "lstm"}, {"cell": "gru"}, {"cell": "lstm", "layers": 2}, {"cell": "peephole"}, "wide"], ids=str
)
def test_the_floor_is_never_above_the_built_artifact(spec: dict | str, tmp_path: Path) -> None:
    if spec == "wide":
        random_checkpoint(tmp_path / "ckpt", WIDE_LSTM)
    else:
        save_checkpoint(tiny_model(**spec), tmp_path / "ckpt")
    model = load_model(str(tmp_path / "ckpt"))
    spy = _FloorSpy()
    result = quantize(model, StaticInt8Config(), tmp_path / "q", calibration=_data(model.signature.size), gate=spy)
    assert result.path is not None and len(spy.floors) == 1
    floor, built = spy.floors[0], result.path.stat().st_size
    assert 0 < floor <= built, (floor, built)
    assert floor > built // 2  # a floor this far below the artifact would decline nothing: keep it useful


def test_auto_declines_static_int8_without_building_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_checkpoint(tiny_model(cell="lstm"), tmp_path / "ckpt")
    model = load_model(str(tmp_path / "ckpt"))
    data = _data(model.signature.size)
    built: list[str] = []
    real_apply = StaticInt8Handler.apply
    monkeypatch.setattr(StaticInt8Handler, "apply", lambda self, *a: built.append("static") or real_apply(self, *a))
    gate = CannotWinGate(_FloorSpy(), "size", 1.1, lambda path: 1.0)
    bar = quantize(model, DynamicInt8Config(), tmp_path / "q", calibration=data, gate=gate)
    from edgelstm.quantize.selection_table import Candidate

    gate.consider(Candidate("dynamic-int8", bar, passed=True))
    assert gate.bar is not None
    result = quantize(model, StaticInt8Config(), tmp_path / "q", calibration=data, gate=gate)
    assert built == []  # never built, so never probed, gated or written
    assert result.path is None and result.size_is_floor and result.size_bytes > bar.size_bytes
    reason = result.parity["not_gated"]
    assert reason.startswith(f"cannot win: larger than dynamic-int8 (at least {result.size_bytes:,} > ")
    assert reason.endswith("which passed the gate; not built")
    assert result.to_dict()["size_is_floor"] is True
    assert not list((tmp_path / "q").glob("*static-int8*"))
