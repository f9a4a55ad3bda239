"""Bundle verification's rules, each pinned to its exact outcome (the survivors of the full mutation run over
edgelstm/bundle/verify.py and manifest.py, docs/testing/mutation.md):

- every refusal starts with the bundle the user gave and names the member (listing, parity claim, state pair, feed
  size, load error, run error, NaN/Inf output), and the load and run errors keep onnxruntime's cause;
- the listing names each odd entry with what it is (subdirectory, symbolic link to a file or a folder, not a regular
  file) and joins several entries, or several unlisted files, with ", ";
- a graph that outputs NaN/Inf on the zero input is refused;
- the parity claim reads exactly "pass", and a failed claim whose `candidates` is not a list reads "FAIL";
- the result names what ran and what parity judged, with their sha256s, for an ORT bundle and a LiteRT bundle (whose
  listed, unaltered .tflite bytes and parsed manifest reach the LiteRT runner), and `named_files` keys each file the
  manifest names outside `files` exactly as the manifest does.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import edgelstm.bundle.verify as verify
from edgelstm.bundle import BundleError, read_manifest, verify_bundle
from edgelstm.bundle.manifest import MANIFEST, member_name_problem
from tests.support import bundle_manifest_checksums as shared
from tests.support.bundle_tamper import edit_manifest, sha256
from tests.support.bundle_verify_rules import TFLITE, TFLITE_BYTES, litert_bundle, swap_in_nan_model

# the honest bundle (a streaming GRU: inputs x and h_in, state h_in -> h_out) and a fresh copy of it per test
honest, bundle = shared.honest, shared.bundle


def refusal(location: Path) -> str:
    with pytest.raises(BundleError) as raised:
        verify_bundle(location)
    return str(raised.value)


# --- the listing -------------------------------------------------------------------------------------------------


def test_an_unlisted_file_is_refused_naming_the_bundle_then_the_file(bundle: Path) -> None:
    (bundle / "extra.txt").write_text("x")
    assert refusal(bundle) == (
        f"{bundle}: extra.txt not listed in manifest.json 'files' (no sha256); a bundle holds only the files its manifest lists"
    )


def test_several_unlisted_files_are_joined_by_a_comma(bundle: Path) -> None:
    for name in ("b.txt", "a.txt"):
        (bundle / name).write_text("x")
    assert refusal(bundle).startswith(f"{bundle}: a.txt, b.txt not listed in manifest.json 'files'")


def test_a_folder_and_links_to_a_file_and_to_a_folder_are_each_named(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (bundle / "a_dir").mkdir()
    (bundle / "b_file_link").symlink_to(bundle / "README.md")  # a link to a listed member is still a link
    (bundle / "c_dir_link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert refusal(bundle) == (
        f"{bundle}: a bundle holds only regular files; refusing "
        "a_dir (subdirectory), b_file_link (symbolic link), c_dir_link (symbolic link)"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_an_entry_that_is_not_a_regular_file_is_named_as_such(bundle: Path) -> None:
    os.mkfifo(bundle / "pipe")  # never opened: a read would block
    assert refusal(bundle) == f"{bundle}: a bundle holds only regular files; refusing pipe (not a regular file)"


# --- the parity claim --------------------------------------------------------------------------------------------


def _claim(bundle: Path, parity: dict[str, Any]) -> None:
    edit_manifest(bundle, lambda m: m.__setitem__("parity", parity))


def test_a_pass_over_the_shipped_onnx_file_reads_pass(bundle: Path) -> None:
    manifest = read_manifest(bundle / MANIFEST)
    _claim(bundle, {"passed": True, "artifact_sha256": manifest.files[manifest.model_onnx], "candidates": []})
    assert verify._parity_claim(read_manifest(bundle / MANIFEST), bundle) == "pass"
    assert verify_bundle(bundle).parity == "pass"


def test_a_claim_for_another_file_is_refused_naming_the_bundle(bundle: Path) -> None:
    other = sha256(b"another file")
    _claim(bundle, {"passed": True, "artifact_sha256": other})
    assert refusal(bundle).startswith(f"{bundle}: the manifest's parity verdict names sha256 '{other}', not the shipped")


@pytest.mark.parametrize("candidates", [None, 7], ids=["null", "a-number"])
def test_a_failed_claim_whose_candidates_are_not_a_list_reads_fail(honest: Path, candidates: Any) -> None:
    manifest = read_manifest(honest / MANIFEST)
    failed = {"passed": False, "artifact_sha256": manifest.files[manifest.model_onnx], "candidates": candidates}
    assert verify._parity_claim(replace(manifest, parity=failed), honest) == "FAIL"


# --- the model run -----------------------------------------------------------------------------------------------


def test_the_result_names_what_ran_and_what_parity_judged(honest: Path) -> None:
    manifest = read_manifest(honest / MANIFEST)
    result = verify_bundle(honest)
    assert (result.ran, result.ran_sha256) == (manifest.model_ort, manifest.files[manifest.model_ort])
    assert (result.parity_artifact, result.parity_sha256) == (manifest.model_onnx, manifest.files[manifest.model_onnx])
    assert result.files == manifest.files and result.files_checked == len(manifest.files)


def _list_member(bundle: Path, name: str, data: bytes) -> None:
    (bundle / name).write_bytes(data)
    edit_manifest(bundle, lambda m: m["files"].__setitem__(name, sha256(data)))


def test_a_listed_model_onnxruntime_cannot_load_is_named_with_the_cause(bundle: Path) -> None:
    ort = read_manifest(bundle / MANIFEST).model_ort
    _list_member(bundle, ort, b"not a model at all")
    pattern = rf"{re.escape(str(bundle))}: {re.escape(ort)} is listed and unaltered but onnxruntime cannot load it \((.*)\)"
    match = re.fullmatch(pattern, refusal(bundle))
    assert match and "protobuf parsing failed" in match[1], refusal(bundle)


def test_a_model_that_does_not_run_on_the_manifest_shapes_is_named_with_the_cause(bundle: Path) -> None:
    ort = read_manifest(bundle / MANIFEST).model_ort
    edit_manifest(bundle, lambda m: m["inputs"][0].__setitem__("shape", ["chunk", "batch", 7]))  # the model takes 5
    pattern = rf"{re.escape(str(bundle))}: {re.escape(ort)} did not run on the manifest's input shapes \((.*)\)"
    match = re.fullmatch(pattern, refusal(bundle))
    assert match and "invalid dimensions for input: x" in match[1], refusal(bundle)


def test_a_model_that_outputs_nan_or_inf_on_zeros_is_refused(bundle: Path) -> None:
    ort = swap_in_nan_model(bundle)
    assert refusal(bundle) == f"{bundle}: {ort} produced NaN/Inf on zero input"


def test_a_state_pair_the_model_lacks_is_refused_naming_the_bundle(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m["state"][0].__setitem__("output_name", "h_gone"))
    assert refusal(bundle).startswith(f"{bundle}: the manifest's state pair h_in -> h_gone is not the model's")


def test_input_shapes_over_the_feed_limit_are_refused_naming_the_bundle(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m["inputs"][0].__setitem__("shape", [65536, 65536, 5]))
    assert refusal(bundle) == f"{bundle}: the manifest's input shapes ask for more than 10,000,000 values"


# --- a LiteRT bundle and the files a manifest names --------------------------------------------------------------


def test_a_litert_bundle_runs_its_listed_tflite_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = litert_bundle(tmp_path / "android")
    calls: list[tuple[bytes, dict[str, Any], Path]] = []

    def runner(model: bytes, manifest_data: dict[str, Any], where: Path) -> list[str]:
        calls.append((model, manifest_data, where))
        return ["y"]

    monkeypatch.setattr(verify, "run_bundled_tflite", runner)
    result = verify_bundle(directory)
    assert calls == [(TFLITE_BYTES, json.loads((directory / MANIFEST).read_text()), directory)]
    digest = sha256(TFLITE_BYTES)
    assert (result.ran, result.ran_sha256, result.outputs) == (TFLITE, digest, ["y"])
    assert (result.parity, result.parity_artifact, result.parity_sha256) == ("pass", TFLITE, digest)
    assert result.session_policy == "LiteRT Interpreter, 1 thread (no ORT session policy)"


def test_named_files_key_each_file_as_the_manifest_does(honest: Path, tmp_path: Path) -> None:
    manifest = read_manifest(honest / MANIFEST)
    assert manifest.operators_config == "required_operators.config"
    assert manifest.named_files() == {
        "model.ort": manifest.model_ort,
        "model.onnx": manifest.model_onnx,
        "required_operators_config": "required_operators.config",
    }
    assert replace(manifest, operators_config=None).named_files() == {
        "model.ort": manifest.model_ort,
        "model.onnx": manifest.model_onnx,
    }
    assert read_manifest(litert_bundle(tmp_path / "android") / MANIFEST).named_files() == {"model.tflite": TFLITE}


@pytest.mark.parametrize("name", ["", 5, None, b"model.ort"])
def test_an_empty_or_non_string_member_name_is_not_a_file_name(name: object) -> None:
    assert member_name_problem(name) == "is not a file name"


@pytest.mark.parametrize("name", [".hidden", "..", ".model.ort"])
def test_a_member_name_starting_with_a_dot_is_named_as_hidden(name: str) -> None:
    assert member_name_problem(name) == "starts with '.' (hidden files and '..' are not bundle members)"
