"""`bundle verify` against a hostile bundle: it loads nothing that is not a listed, unaltered member.

Every case starts from one honest bundle built once for the module, copies it, and changes one thing the way an
attacker (or an accident) would. Where a case points the manifest at a file outside the bundle, that file is not a
model at all: a load error would prove it was opened, so the refusal must be the membership error, and the
session factory must never be called.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from edgelstm.artifact import session as session_module
from edgelstm.bundle import BundleError, verify_bundle
from tests.conftest import patch_everywhere
from tests.support import bundle_tamper as shared
from tests.support.bundle_tamper import NOT_A_MODEL, ONNX, ORT, edit_manifest, flip_byte, outside_model, sha256, zip_of

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
bundle = shared.bundle
honest = shared.honest


@pytest.fixture
def no_session(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every attempt to open a model; a refused bundle must leave this empty."""
    calls: list[Any] = []

    def refuse(model: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(model)
        raise AssertionError("a session was opened for a refused bundle")

    assert patch_everywhere(monkeypatch, session_module, "session_from_onnx", refuse) > 1  # the factory and its callers
    return calls


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


def test_a_zip_symlink_member_is_refused(bundle: Path, tmp_path: Path) -> None:
    archive = zip_of(bundle, tmp_path / "link.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo("evil.ort")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BundleError, match="symbolic link"):
        verify_bundle(archive)


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
