"""The first layer of the `.pt2` defence on its own: the entry allow-list refuses before torch ever opens the file.

test_pt2_safety.py proves crafted archives are refused; a second layer (weights_only loading inside
torch.export.load) would refuse most of them too, with other words. These tests pin the refusal to the first
layer: `refuse_code_in_pt2` itself raises, and in the CLI `torch.export.load` is never called for a crafted file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelstm.errors import UnsafePickleError
from edgelstm.pt2_archive import refuse_code_in_pt2
from tests.support import pt2_inspection_layer as shared
from tests.support.pt2_safety import CRAFTED, _rewrite

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
clean_pt2 = shared.clean_pt2


def _with_entry(clean: Path, target: Path, inner: str, data: bytes) -> Path:
    """The clean archive plus one extra entry under its root folder."""

    def edit(name: str, payload: bytes):  # type: ignore[no-untyped-def]
        if name.endswith("/archive_format"):
            return [(name, payload), (f"{name.split('/')[0]}/{inner}", data)]
        return [(name, payload)]

    return _rewrite(clean, target, edit)


@pytest.mark.parametrize(
    "inner",
    ["data/aotinductor/model/model.so", "data/weights/weight_0.pkl", "models/model.py", "byteorder.bak"],
)
def test_the_allow_list_refuses_an_entry_that_is_not_plain_data(clean_pt2: Path, tmp_path: Path, inner: str) -> None:
    crafted = _with_entry(clean_pt2, tmp_path / "odd.pt2", inner, b"\x7fELF not data")
    with pytest.raises(UnsafePickleError, match="is not plain data") as refused:
        refuse_code_in_pt2(crafted)
    assert inner in str(refused.value)  # names the entry it refused


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_the_inspection_alone_refuses_every_crafted_archive(clean_pt2: Path, tmp_path: Path, kind: str) -> None:
    crafted = CRAFTED[kind](clean_pt2, tmp_path / "evil.pt2", tmp_path / "ran")
    with pytest.raises(UnsafePickleError):
        refuse_code_in_pt2(crafted)
    assert not (tmp_path / "ran").exists()
