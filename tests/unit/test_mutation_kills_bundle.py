"""Bundle verification (edgelstm/bundle/verify.py, manifest.py): what the mutation run (docs/testing/mutation.md)
found unguarded.

- refusals name what is wrong: an unlisted file, the listed files that are missing, a state pair the model lacks;
- a member swapped for a symbolic link is not followed when it is read;
- the parity claim: none is "not checked", a claim for another file names the sha256 it names, a failed gate whose
  candidates were only unresolved reads "inconclusive";
- the model is opened under the manifest's session policy; named_files keys the model by "model.ort".
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import edgelstm.bundle.verify as verify
from edgelstm.bundle import BundleError, read_manifest, verify_bundle
from edgelstm.bundle.manifest import MANIFEST
from tests.support import bundle_manifest_checksums as shared
from tests.support.bundle_tamper import edit_manifest, plant_path, sha256, zip_of

# the honest bundle (a streaming GRU) and a fresh copy of it per test, shared with the checksum tests
honest, bundle = shared.honest, shared.bundle


def test_an_unlisted_file_is_refused_with_the_rule(bundle: Path) -> None:
    (bundle / "extra.txt").write_text("x")
    with pytest.raises(
        BundleError,
        match=re.escape(
            "extra.txt not listed in manifest.json 'files' (no sha256); a bundle holds only the files its manifest lists"
        ),
    ):
        verify_bundle(bundle)


def test_every_missing_listed_file_is_named(bundle: Path) -> None:
    listed = sorted(read_manifest(bundle / MANIFEST).files)
    for name in listed[:2]:
        (bundle / name).unlink()
    with pytest.raises(BundleError, match=re.escape(f"{listed[0]}, {listed[1]} listed in the manifest but missing")):
        verify_bundle(bundle)


def test_a_member_read_does_not_follow_a_symbolic_link(tmp_path: Path) -> None:
    (tmp_path / "real.onnx").write_bytes(b"model")
    (tmp_path / "link.onnx").symlink_to(tmp_path / "real.onnx")
    assert verify._read_member(tmp_path / "real.onnx") == b"model"
    with pytest.raises(OSError) as raised:
        verify._read_member(tmp_path / "link.onnx")
    assert raised.value.errno == errno.ELOOP


def test_a_state_pair_the_model_lacks_names_the_missing_end() -> None:
    manifest = SimpleNamespace(state_pairs=(("h", "h_out"),))
    with pytest.raises(
        BundleError, match=re.escape("b: the manifest's state pair h -> h_out is not the model's: it has no input 'h' (x, c)")
    ):
        verify._check_state_pairs(manifest, ["x", "c"], ["h_out"], Path("b"))  # type: ignore[arg-type]
    with pytest.raises(BundleError, match=re.escape("it has no output 'h_out' (y)")):
        verify._check_state_pairs(manifest, ["x", "h"], ["y"], Path("b"))  # type: ignore[arg-type]


def test_the_parity_claim_reads_not_checked_another_sha_or_inconclusive(honest: Path) -> None:
    manifest = read_manifest(honest / MANIFEST)
    shipped = manifest.files[manifest.model_onnx]
    assert verify._parity_claim(replace(manifest, parity=None), honest) == "not checked"
    other = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(BundleError, match=f"names sha256 '{other}', not the shipped"):
        verify._parity_claim(replace(manifest, parity={"passed": True, "artifact_sha256": other}), honest)
    unresolved = {"passed": False, "artifact_sha256": shipped, "candidates": [{"verdict": "inconclusive"}]}
    assert verify._parity_claim(replace(manifest, parity=unresolved), honest) == "inconclusive"
    failed = {"passed": False, "artifact_sha256": shipped, "candidates": [{"verdict": "FAIL"}]}
    assert verify._parity_claim(replace(manifest, parity=failed), honest) == "FAIL"


def test_the_model_is_opened_under_the_manifests_session_policy(honest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = verify.session_from_onnx

    def spy(model: bytes, settings: Any = None, *args: Any, **kwargs: Any) -> Any:
        seen.append(settings)
        return real(model, settings, *args, **kwargs)

    monkeypatch.setattr(verify, "session_from_onnx", spy)
    verify_bundle(honest)
    assert seen == [verify._policy_settings(read_manifest(honest / MANIFEST))] and seen[0] is not None


def test_named_files_key_the_model_by_its_role(honest: Path) -> None:
    manifest = read_manifest(honest / MANIFEST)
    named = manifest.named_files()
    assert named["model.ort"] == manifest.model_ort and named["model.onnx"] == manifest.model_onnx


def test_the_result_carries_outputs_parity_and_policy(honest: Path) -> None:
    import onnxruntime as ort

    manifest = read_manifest(honest / MANIFEST)
    result = verify_bundle(honest)
    session = ort.InferenceSession(str(honest / manifest.model_ort), providers=["CPUExecutionProvider"])
    assert result.outputs == [o.name for o in session.get_outputs()] and result.outputs
    assert result.parity == "not checked"  # built without a parity report
    assert result.session_policy == manifest.session_policy.summary


def test_a_member_name_may_be_255_characters_and_no_more() -> None:
    from edgelstm.bundle.manifest import member_name_problem

    assert member_name_problem("m" * 251 + ".ort") is None
    assert member_name_problem("m" * 252 + ".ort") == "is longer than a file name can be"


# --- relocatable: no path of the builder's machine, on any platform ------------------------------------------

# Every platform's absolute paths as they appear in a JSON member (escaped) and in a plain text line.
ABSOLUTE = ["/Users/alice/model.onnx", "/home/ci/run/model.onnx", "/tmp/x/y", "C:\\Users\\alice\\model.onnx", "d:\\models\\m.ort"]
ABSOLUTE += ["\\\\buildserver\\share\\model.onnx"]
RELATIVE = ["model.onnx", "models/home/x.onnx", "data/tmp/x", "https://example.com/home/x", "ai.onnx:GRU", "\\d\\s", "a:b"]


@pytest.mark.parametrize("path", ABSOLUTE)
def test_an_absolute_path_is_found_raw_and_json_escaped(path: str) -> None:
    assert verify._has_absolute_path(path)
    assert verify._has_absolute_path(f"# built from {path}\n")
    assert verify._has_absolute_path(json.dumps({"built_from": path}))
    assert verify._has_absolute_path(f"--model={path}")


@pytest.mark.parametrize("text", RELATIVE)
def test_a_relative_path_or_name_is_not_absolute(text: str) -> None:
    assert not verify._has_absolute_path(text)
    assert not verify._has_absolute_path(json.dumps({"built_from": text}))


@pytest.mark.parametrize("member", ["mobile_usability.json", "required_operators.config"])
@pytest.mark.parametrize("path", ["/Users/alice/model.onnx", "C:\\Users\\alice\\model.onnx", "\\\\buildserver\\share\\m.onnx"])
def test_a_listed_unaltered_member_naming_the_builders_machine_is_refused(bundle: Path, member: str, path: str) -> None:
    plant_path(bundle, member, path)
    with pytest.raises(
        BundleError, match=re.escape(f"{bundle}: {member} contains an absolute path; bundles must be relocatable")
    ):
        verify_bundle(bundle)


def test_a_zip_bundles_refusal_names_the_zip_not_its_temporary_folder(bundle: Path, tmp_path: Path) -> None:
    plant_path(bundle, "mobile_usability.json", "/Users/alice/model.onnx")
    archive = zip_of(bundle, tmp_path / "shipped.zip")
    with pytest.raises(BundleError) as raised:
        verify_bundle(archive)
    assert str(raised.value).startswith(f"{archive}: mobile_usability.json contains an absolute path")


def test_a_member_is_read_where_the_platform_has_no_O_NOFOLLOW(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows has no O_NOFOLLOW; verify must still read members there (the listing already refused links).
    (tmp_path / "m.onnx").write_bytes(b"model")
    monkeypatch.delattr(os, "O_NOFOLLOW")
    assert verify._read_member(tmp_path / "m.onnx") == b"model"


@pytest.mark.parametrize("name", ["sub/model.ort", "..\\model.ort", "C:model.ort", "model\x00.ort"])
def test_a_member_name_with_a_path_in_it_is_called_a_path(name: str) -> None:
    from edgelstm.bundle.manifest import member_name_problem

    assert member_name_problem(name) == "is a path, not a plain file name inside the bundle"


def test_a_parity_claim_for_another_file_shows_at_most_a_sha256s_length_of_it(honest: Path) -> None:
    manifest = read_manifest(honest / MANIFEST)
    claimed = "ab" * 40  # 80 characters: only the first 64 are shown
    with pytest.raises(BundleError, match=re.escape(f"names sha256 '{claimed[:64]}', not the shipped")):
        verify._parity_claim(replace(manifest, parity={"passed": True, "artifact_sha256": claimed}), honest)


def test_a_member_that_is_not_utf8_is_still_searched_for_absolute_paths(bundle: Path) -> None:
    # Bytes that are not UTF-8 are replaced, not an error: the member verifies, and a path beside them is found.
    config = bundle / "required_operators.config"
    original = config.read_bytes()
    for extra, refused in ((b"# \xff\xfe\n", False), (b"# \xff\xfe /home/ci/model.ort\n", True)):
        config.write_bytes(original + extra)
        edit_manifest(bundle, lambda m: m["files"].__setitem__(config.name, sha256(config.read_bytes())))
        if refused:
            with pytest.raises(BundleError, match="required_operators.config contains an absolute path"):
                verify_bundle(bundle)
        else:
            assert verify_bundle(bundle).files_checked == 5
