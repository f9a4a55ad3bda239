"""static-int8's size floor: known before the (slow) build, never above the built artifact's size, and used by
`--scheme auto` to decline the scheme without building it when a smaller row already passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.checkpoint import save_checkpoint
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import load_model
from edgelstm.quantize import DynamicInt8Config, StaticInt8Config, quantize
from edgelstm.quantize.cannot_win import CannotWinGate
from edgelstm.quantize.schemes.static_int8 import StaticInt8Handler
from tests.conftest import tiny_model
from tests.support.static_int8_floor import _data, _FloorSpy


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
    assert to_jsonable(result)["size_is_floor"] is True
    assert not list((tmp_path / "q").glob("*static-int8*"))
