"""`.pt2` and TorchScript refusals (edgelstm/pt2_archive.py, edgelstm/torchscript.py): what the mutation run
(docs/testing/mutation.md) found unguarded.

- a zip whose central directory is corrupt is not taken for a TorchScript archive (it is not readable at all);
- a `.pt2` payload entry stored as a pickle is refused naming the entry it is stored in.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from pathlib import Path

import pytest

from edgelstm.errors import LoadError, UnsafePickleError
from edgelstm.pt2_archive import _archive_root, _check_payload_config
from edgelstm.torchscript import is_torchscript_archive


def test_a_zip_with_a_corrupt_central_directory_is_not_torchscript(tmp_path: Path) -> None:
    # an end-of-central-directory record (so zipfile.is_zipfile says yes) pointing at garbage (so ZipFile fails)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"garbage!" * 10 + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 46, 0, 0))
    assert not is_torchscript_archive(broken)
    assert not is_torchscript_archive(tmp_path)  # a directory
    (tmp_path / "plain.pt").write_bytes(b"not a zip")
    assert not is_torchscript_archive(tmp_path / "plain.pt")


def _config(**meta: object) -> bytes:
    return json.dumps({"config": {"lstm.weight_ih_l0": meta}}).encode()


def test_a_pickled_payload_is_refused_naming_where_it_is_stored(tmp_path: Path) -> None:
    where = tmp_path / "m.pt2"
    _check_payload_config(where, "model/weights_config.json", _config(path_name="weight_0", use_pickle=False))  # plain data
    with pytest.raises(UnsafePickleError, match=r"'lstm.weight_ih_l0' is stored as a pickled object \(weight_0\)"):
        _check_payload_config(where, "model/weights_config.json", _config(path_name="weight_0", use_pickle=True))
    with pytest.raises(UnsafePickleError, match=r"stored as a pickled object \(obj_3\)"):
        _check_payload_config(where, "model/weights_config.json", _config(path_name="obj_3"))


def test_the_refusal_says_how_to_load_a_trusted_file(tmp_path: Path) -> None:
    with pytest.raises(
        UnsafePickleError, match=re.escape("so it is refused (pass --unsafe-allow-pickle only if you trust this file)") + "$"
    ):
        _check_payload_config(tmp_path / "m.pt2", "model/weights_config.json", _config(path_name="obj_3"))


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"")
    return path


@pytest.mark.parametrize(
    ("names", "scripted"),
    [
        (["m/code/m.py", "m/constants.pkl"], True),
        (["m/code/m.py", "m/data.pkl"], True),
        (["m/code/m.py", "m/version"], False),
        (["m/data.pkl", "m/constants.pkl"], False),
    ],
)
def test_torchscript_is_code_plus_either_pickle(tmp_path: Path, names: list[str], scripted: bool) -> None:
    assert is_torchscript_archive(_zip(tmp_path / "m.pt", names)) is scripted


def test_a_pt2_needs_one_root_folder_with_its_archive_format_at_the_top(tmp_path: Path) -> None:
    where = tmp_path / "m.pt2"
    assert _archive_root(where, ["m/archive_format", "m/data/weights/w0"]) == "m/"
    for names in (["m/x/archive_format", "m/data/weights/w0"], ["m/archive_format", "n/data/weights/w0"]):
        with pytest.raises(LoadError, match="no single root folder with an archive_format entry"):
            _archive_root(where, names)
