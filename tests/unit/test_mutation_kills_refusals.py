"""`.pt2` and TorchScript refusals (edgelstm/pt2_archive.py, edgelstm/torchscript.py): what the mutation run
(docs/testing/mutation.md) found unguarded.

- a zip whose central directory is corrupt is not taken for a TorchScript archive (it is not readable at all);
- a `.pt2` payload entry stored as a pickle is refused naming the entry it is stored in; a payload config without
  a table describes nothing, one with a wrong table is refused naming it; every refusal names the file, and an
  unreadable one says why in words;
- a named pipe is never opened to look for TorchScript (a read would block).
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import threading
import zipfile
from pathlib import Path

import pytest
import torch

from edgelstm.errors import LoadError, UnsafePickleError
from edgelstm.pt2_archive import _archive_root, _check_payload_config, _check_weights_only, refuse_code_in_pt2
from edgelstm.torchscript import is_torchscript_archive
from tests.support.pt2_constants import save_with_constants, with_pickled_constant


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


def test_a_payload_config_without_a_table_is_empty_and_a_wrong_table_is_named(tmp_path: Path) -> None:
    where = tmp_path / "m.pt2"
    _check_payload_config(where, "m/data/weights/model_weights_config.json", b"{}")  # describes no payloads: nothing to refuse
    with pytest.raises(LoadError, match=re.escape(f"{where}: entry 'm/data/weights/c_config.json' has no payload table")):
        _check_payload_config(where, "m/data/weights/c_config.json", b'{"config": [1]}')


def test_a_pt2_refusal_names_the_file(tmp_path: Path) -> None:
    where = _zip(tmp_path / "two_roots.pt2", ["m/archive_format", "n/data/weights/w0"])
    with pytest.raises(LoadError, match=re.escape(f"{where}: not a readable torch.export program (no single root")):
        refuse_code_in_pt2(where)


def test_an_unreadable_pt2_says_why_in_words(tmp_path: Path) -> None:
    folder = tmp_path / "folder.pt2"
    folder.mkdir()
    with pytest.raises(LoadError, match=re.escape(f"{folder}: cannot read (Is a directory)") + "$"):
        refuse_code_in_pt2(folder)


def test_a_fifo_is_not_torchscript_and_is_never_opened(tmp_path: Path) -> None:
    # Only a regular file is looked into: opening a named pipe nobody writes to would block the command.
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    answer: list[bool] = []
    worker = threading.Thread(target=lambda: answer.append(is_torchscript_archive(fifo)), daemon=True)
    worker.start()
    worker.join(timeout=5)
    blocked = worker.is_alive()
    if blocked:  # release the reader: open the write end and close it (the reader then sees end of file)
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=5)
    assert not blocked and answer == [False]


def test_a_pickled_sample_input_is_refused_even_when_torch_is_told_not_to_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD turns weights-only loading off unless the call asks for it explicitly.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    buffer = io.BytesIO()
    torch.save({"f": print}, buffer)  # a reference to a Python callable: more than tensors
    with pytest.raises(UnsafePickleError, match="holds pickled Python objects beyond tensors"):
        _check_weights_only(tmp_path / "m.pt2", "m/data/sample_inputs/model.pt", buffer.getvalue())


# The full run of refusals' mutants (docs/testing/mutation.md, "Full run") left these unguarded.


def test_a_payload_config_that_is_not_json_is_refused_naming_the_file_and_entry(tmp_path: Path) -> None:
    where = tmp_path / "m.pt2"
    with pytest.raises(LoadError, match=re.escape(f"{where}: entry 'm/data/weights/c_config.json' is not valid JSON") + "$"):
        _check_payload_config(where, "m/data/weights/c_config.json", b"{not json")


def test_a_truncated_sample_input_is_refused_as_corrupt_naming_the_error(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    torch.save((torch.ones(2),), buffer)
    truncated = buffer.getvalue()[: len(buffer.getvalue()) // 2]  # torch's zip reader raises RuntimeError
    where = tmp_path / "m.pt2"
    with pytest.raises(
        LoadError, match=re.escape(f"{where}: entry 'm/data/sample_inputs/model.pt' is corrupt (RuntimeError)") + "$"
    ):
        _check_weights_only(where, "m/data/sample_inputs/model.pt", truncated)


def _saved_on_cuda(value: torch.Tensor) -> bytes:
    """torch.save's bytes of `value` as a GPU machine writes them (storage location "cuda:0"), made without a GPU."""
    buffer = io.BytesIO()
    torch.save((value,), buffer)
    source, out = zipfile.ZipFile(io.BytesIO(buffer.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("data.pkl"):  # the pickled location string: length-prefixed "cpu" -> "cuda:0"
                assert data.count(b"X\x03\x00\x00\x00cpu") == 1
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            target.writestr(info, data)
    return out.getvalue()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA tensor loads anyway where CUDA is available")
def test_a_sample_input_saved_on_a_gpu_is_checked_on_the_cpu_not_refused_as_corrupt(tmp_path: Path) -> None:
    # A program exported on a GPU machine stores its sample inputs on "cuda:0": the check maps them to the CPU.
    payload = _saved_on_cuda(torch.ones(2))
    with pytest.raises(RuntimeError, match="CUDA"):  # what torch does without map_location on a CPU-only machine
        torch.load(io.BytesIO(payload), weights_only=True)
    _check_weights_only(tmp_path / "m.pt2", "m/data/sample_inputs/model.pt", payload)  # no refusal


def test_a_payload_entry_that_is_not_a_table_is_refused_naming_what_it_is(tmp_path: Path) -> None:
    where = tmp_path / "m.pt2"
    raw = json.dumps({"config": {"lstm.weight_ih_l0": ["weight_0"]}}).encode()
    expected = f"{where}: entry 'm/data/weights/c_config.json' describes 'lstm.weight_ih_l0' with a list"
    with pytest.raises(LoadError, match=re.escape(expected) + "$"):
        _check_payload_config(where, "m/data/weights/c_config.json", raw)


def test_tensor_constants_are_plain_data(tmp_path: Path) -> None:
    where = tmp_path / "m.pt2"
    _check_payload_config(where, "m/data/constants/model_constants_config.json", _config(path_name="tensor_0", use_pickle=False))
    save_with_constants(where)
    with zipfile.ZipFile(where) as archive:
        assert any(n.endswith("data/constants/tensor_0") for n in archive.namelist())
    refuse_code_in_pt2(where)  # torch's own archive with constants: no refusal


def test_a_pickled_constant_is_refused_naming_the_constant_and_its_entry(tmp_path: Path) -> None:
    clean = tmp_path / "clean.pt2"
    save_with_constants(clean)
    crafted = with_pickled_constant(clean, tmp_path / "crafted.pt2")
    with pytest.raises(UnsafePickleError, match=re.escape(f"{crafted}: 'scale' is stored as a pickled object (tensor_1)")):
        refuse_code_in_pt2(crafted)
    # where it is described: a config that is not JSON names its entry in the archive
    broken = tmp_path / "broken.pt2"
    with zipfile.ZipFile(clean) as archive, zipfile.ZipFile(broken, "w") as out:
        for info in archive.infolist():
            data = archive.read(info.filename)
            out.writestr(info, b"{not json" if info.filename.endswith("model_constants_config.json") else data)
    with pytest.raises(LoadError, match=re.escape("entry 'clean/data/constants/model_constants_config.json' is not valid JSON")):
        refuse_code_in_pt2(broken)


def test_a_corrupt_sample_input_in_an_archive_is_named_by_its_entry(tmp_path: Path) -> None:
    clean = tmp_path / "clean.pt2"
    save_with_constants(clean)
    broken = tmp_path / "broken.pt2"
    with zipfile.ZipFile(clean) as archive, zipfile.ZipFile(broken, "w") as out:
        for info in archive.infolist():
            data = archive.read(info.filename)
            out.writestr(info, data[: len(data) // 2] if info.filename.endswith("data/sample_inputs/model.pt") else data)
    with pytest.raises(LoadError, match=re.escape(f"{broken}: entry 'clean/data/sample_inputs/model.pt' is corrupt (")):
        refuse_code_in_pt2(broken)


def test_a_pt2_that_is_not_a_zip_is_refused_saying_so(tmp_path: Path) -> None:
    where = tmp_path / "model.pt2"
    where.write_text("not a zip archive")
    with pytest.raises(LoadError, match=re.escape(f"{where}: not a readable torch.export program (not a zip archive: ")):
        refuse_code_in_pt2(where)
