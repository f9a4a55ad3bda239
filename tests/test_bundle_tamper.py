"""`bundle verify` against a hostile bundle: it loads nothing that is not a listed, unaltered member.

Every case starts from one honest bundle built once for the module, copies it, and changes one thing the way an
attacker (or an accident) would. Where a case points the manifest at a file outside the bundle, that file is not a
model at all: a load error would prove it was opened, so the refusal must be the membership error, and the
session factory must never be called.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgelstm.artifact import session as session_module
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bundle import BundleError, build_bundle, safe_extract, verify_bundle
from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import Preprocessing
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import patch_everywhere, tiny_model
from tests.refusals import assert_refused

ORT, ONNX = "streaming_fused.ort", "streaming_fused.onnx"
NOT_A_MODEL = b"#!/bin/sh\ntouch ran.marker\n"  # what the outside file holds: a load would fail, not succeed


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tamper")
    save_checkpoint(
        tiny_model(cell="gru"),
        root / "ckpt",
        Preprocessing(labels=["a", "b", "c"], feature_mean=[0.0] * 5, feature_std=[1.0] * 5),
    )
    artifact = export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form="streaming")).path
    return build_bundle(artifact, root / "bundle").directory


@pytest.fixture
def bundle(honest: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "work" / "bundle"
    shutil.copytree(honest, copy)
    return copy


@pytest.fixture
def no_session(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every attempt to open a model; a refused bundle must leave this empty."""
    calls: list[Any] = []

    def refuse(model: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(model)
        raise AssertionError("a session was opened for a refused bundle")

    assert patch_everywhere(monkeypatch, session_module, "session_from_onnx", refuse) > 1  # the factory and its callers
    return calls


def edit_manifest(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_of(directory: Path, target: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, arcname=path.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def test_the_honest_bundle_verifies_and_names_what_it_checked(bundle: Path) -> None:
    result = verify_bundle(bundle)
    assert result.ran == ORT and result.files_checked == 5
    assert set(result.files) == {ORT, ONNX, "required_operators.config", "mobile_usability.json", "README.md"}
    assert result.ran_sha256 == sha256((bundle / ORT).read_bytes())


# --- the model path: only a plain member name with a checksum ---------------------------------------------------


def outside_model(bundle: Path) -> Path:
    outside = bundle.parent.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "evil.ort").write_bytes(NOT_A_MODEL)
    return outside / "evil.ort"


@pytest.mark.parametrize(
    "model_path",
    [
        "../../outside/evil.ort",
        "../../../outside/evil.ort",
        "ABSOLUTE",  # replaced by the outside file's absolute path
        "/proc/self/cwd/evil.ort",
        "./streaming_fused.ort",
        "sub/streaming_fused.ort",
        "..\\..\\outside\\evil.ort",
    ],
)
@pytest.mark.parametrize("key", ["ort", "onnx"])
def test_a_model_path_outside_the_bundle_is_refused_before_anything_is_opened(
    bundle: Path, no_session: list[Any], model_path: str, key: str
) -> None:
    evil = outside_model(bundle)
    path = str(evil) if model_path == "ABSOLUTE" else model_path

    def point_outside(m: dict[str, Any]) -> None:
        m["model"][key] = path
        m["files"][path] = sha256(NOT_A_MODEL)  # even a "matching" checksum entry must not make it a member

    edit_manifest(bundle, point_outside)
    with pytest.raises(BundleError, match="not a plain file name|a path, not|starts with '.'") as refused:
        verify_bundle(bundle)
    assert "cannot load" not in str(refused.value) and no_session == []
    assert not (bundle.parent / "ran.marker").exists()


def test_a_model_path_outside_the_bundle_without_a_checksum_entry_is_refused(bundle: Path, no_session: list[Any]) -> None:
    evil = outside_model(bundle)
    edit_manifest(bundle, lambda m: m["model"].__setitem__("ort", str(evil)))
    with pytest.raises(BundleError, match="a bundle names only its own members"):
        verify_bundle(bundle)
    assert no_session == []


def test_the_cli_refuses_a_traversal_model_path_with_one_line(bundle: Path) -> None:
    outside_model(bundle)
    edit_manifest(bundle, lambda m: m["model"].__setitem__("ort", "../../outside/evil.ort"))
    assert_refused(["bundle", "verify", bundle], "evil.ort", "only its own members", watch=(bundle.parent.parent,))


def test_a_model_that_is_a_member_but_has_no_checksum_is_not_loaded(bundle: Path, no_session: list[Any]) -> None:
    (bundle / "other.ort").write_bytes(NOT_A_MODEL)
    edit_manifest(bundle, lambda m: m["model"].__setitem__("ort", "other.ort"))
    with pytest.raises(BundleError, match="other.ort' has no sha256"):
        verify_bundle(bundle)
    assert no_session == []


# --- checksums: every named file carries one, and it matches ----------------------------------------------------


@pytest.mark.parametrize("member", [ORT, ONNX, "required_operators.config", "mobile_usability.json"])
def test_a_tampered_member_fails_its_checksum(bundle: Path, no_session: list[Any], member: str) -> None:
    flip_byte(bundle / member)
    with pytest.raises(BundleError, match=f"{member} does not match its sha256"):
        verify_bundle(bundle)
    assert no_session == []


@pytest.mark.parametrize("member", [ORT, ONNX, "required_operators.config", "mobile_usability.json"])
def test_deleting_a_checksum_entry_is_a_failure_not_a_pass(bundle: Path, no_session: list[Any], member: str) -> None:
    flip_byte(bundle / member)  # the attack: alter the file, then drop the entry that would catch it
    edit_manifest(bundle, lambda m: m["files"].pop(member))
    with pytest.raises(BundleError, match=f"{member}.*(no sha256|not listed)"):
        verify_bundle(bundle)
    assert no_session == []


def test_a_checksum_that_is_not_hex_is_refused(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m["files"].__setitem__(ORT, "z" * 64))
    with pytest.raises(BundleError, match="not 64 lower-case hex digits"):
        verify_bundle(bundle)


def test_a_listed_member_that_is_missing_is_refused(bundle: Path) -> None:
    (bundle / "mobile_usability.json").unlink()
    with pytest.raises(BundleError, match="mobile_usability.json listed in the manifest but missing"):
        verify_bundle(bundle)


# --- the listing: nothing in the bundle that the manifest does not list ----------------------------------------


def test_an_unlisted_file_is_named_and_never_run(bundle: Path) -> None:
    (bundle / "payload.sh").write_bytes(NOT_A_MODEL)
    os.chmod(bundle / "payload.sh", 0o755)
    refusal = assert_refused(
        ["bundle", "verify", bundle], "payload.sh", "not listed", watch=(bundle,), markers=(bundle / "ran.marker",)
    )
    assert "OK" not in refusal.result.stdout


def test_a_subdirectory_is_refused(bundle: Path) -> None:
    (bundle / "extra").mkdir()
    (bundle / "extra" / "x.ort").write_bytes(NOT_A_MODEL)
    with pytest.raises(BundleError, match="extra \\(subdirectory\\)"):
        verify_bundle(bundle)


def test_a_member_replaced_by_a_symlink_is_refused_even_with_the_right_content(bundle: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.ort"
    shutil.move(bundle / ORT, real)  # same bytes, so only the link itself can be the reason
    (bundle / ORT).symlink_to(real)
    with pytest.raises(BundleError, match="symbolic link"):
        verify_bundle(bundle)


def test_a_symlinked_manifest_is_refused(bundle: Path, tmp_path: Path) -> None:
    shutil.move(bundle / "manifest.json", tmp_path / "manifest.json")
    (bundle / "manifest.json").symlink_to(tmp_path / "manifest.json")
    with pytest.raises(BundleError, match="manifest.json is not a regular file"):
        verify_bundle(bundle)


# --- zips: names checked before a byte is written --------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "why"),
    [
        ("../escape.txt", "outside the bundle"),
        ("../../etc/cron.d/x", "outside the bundle"),
        ("/tmp/absolute.txt", "outside the bundle"),
        ("..\\escape.txt", "outside the bundle"),
        ("C:/escape.txt", "outside the bundle"),
        ("sub/streaming_fused.ort", "flat"),
        ("sub/", "flat"),
        (".hidden", "starts with '.'"),
    ],
)
def test_zip_members_that_escape_or_nest_are_refused_before_extraction(
    bundle: Path, tmp_path: Path, member: str, why: str
) -> None:
    archive = zip_of(bundle, tmp_path / "evil.zip", {member: b"x"})
    target = tmp_path / "unpacked"
    with pytest.raises(BundleError, match=why):
        safe_extract(archive, target)
    assert not target.exists() or not any(target.iterdir())
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()
    assert_refused(["bundle", "verify", archive], why, watch=(tmp_path,))


def test_a_zip_symlink_member_is_refused(bundle: Path, tmp_path: Path) -> None:
    archive = zip_of(bundle, tmp_path / "link.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo("evil.ort")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BundleError, match="symbolic link"):
        verify_bundle(archive)


def test_a_zip_with_a_tampered_member_fails_its_checksum(bundle: Path, tmp_path: Path) -> None:
    flip_byte(bundle / ORT)
    archive = zip_of(bundle, tmp_path / "tampered.zip")
    assert_refused(["bundle", "verify", archive], ORT, "does not match its sha256", watch=(tmp_path,))


def test_a_zip_with_an_unlisted_member_is_refused(bundle: Path, tmp_path: Path) -> None:
    archive = zip_of(bundle, tmp_path / "extra.zip", {"payload.sh": NOT_A_MODEL})
    with pytest.raises(BundleError, match="payload.sh not listed"):
        verify_bundle(archive)


def test_a_zip_with_a_duplicate_member_is_refused(bundle: Path, tmp_path: Path) -> None:
    archive = zip_of(bundle, tmp_path / "dup.zip")
    with pytest.warns(UserWarning), zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(ORT, NOT_A_MODEL)  # the second copy would win on extraction
    with pytest.raises(BundleError, match="appears twice"):
        verify_bundle(archive)


def test_an_honest_zip_verifies(bundle: Path, tmp_path: Path) -> None:
    assert verify_bundle(zip_of(bundle, tmp_path / "ok.zip")).ran == ORT


# --- claims: a parity verdict must name the shipped artifact ---------------------------------------------------


def test_a_parity_pass_naming_another_artifact_is_refused(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m["parity"].update(passed=True, status="checked", artifact_sha256="0" * 64))
    with pytest.raises(BundleError, match="a verdict must name the artifact it judged"):
        verify_bundle(bundle)


def test_a_parity_pass_naming_no_artifact_is_refused(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m.__setitem__("parity", {"passed": True}))
    with pytest.raises(BundleError, match="a verdict must name the artifact it judged"):
        verify_bundle(bundle)
