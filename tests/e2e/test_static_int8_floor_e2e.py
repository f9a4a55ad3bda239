"""static-int8's size floor: known before the (slow) build, never above the built artifact's size, and used by
`--scheme auto` to decline the scheme without building it when a smaller row already passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.loading import load_model
from edgelstm.quantize import StaticInt8Config, quantize
from tests.conftest import random_checkpoint, tiny_model
from tests.support.static_int8_floor import _data, _FloorSpy

# Weights dominate its bytes (96 hidden, 12 unrolled steps): a floor that forgot the weights shrink to one byte per
# value would sit above the built artifact here.
WIDE_LSTM = ModelConfig(input_size=5, hidden_size=96, cell="lstm", head=HeadConfig("classify", 3, "last"))


@pytest.mark.slow
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
