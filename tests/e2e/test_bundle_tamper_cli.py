"""`bundle verify` against a hostile bundle: it loads nothing that is not a listed, unaltered member.

Every case starts from one honest bundle built once for the module, copies it, and changes one thing the way an
attacker (or an accident) would. Where a case points the manifest at a file outside the bundle, that file is not a
model at all: a load error would prove it was opened, so the refusal must be the membership error, and the
session factory must never be called.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgelstm.bundle import BundleError, safe_extract, verify_bundle
from tests.refusals import assert_refused
from tests.support import bundle_tamper as shared
from tests.support.bundle_tamper import NOT_A_MODEL, ONNX, ORT, edit_manifest, flip_byte, outside_model, sha256, zip_of

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
bundle = shared.bundle
honest = shared.honest


def test_the_honest_bundle_verifies_and_names_what_it_checked(bundle: Path) -> None:
    result = verify_bundle(bundle)
    assert result.ran == ORT and result.files_checked == 5
    assert set(result.files) == {ORT, ONNX, "required_operators.config", "mobile_usability.json", "README.md"}
    assert result.ran_sha256 == sha256((bundle / ORT).read_bytes())


def test_the_cli_refuses_a_traversal_model_path_with_one_line(bundle: Path) -> None:
    outside_model(bundle)
    edit_manifest(bundle, lambda m: m["model"].__setitem__("ort", "../../outside/evil.ort"))
    assert_refused(["bundle", "verify", bundle], "evil.ort", "only its own members", watch=(bundle.parent.parent,))


# --- the listing: nothing in the bundle that the manifest does not list ----------------------------------------


def test_an_unlisted_file_is_named_and_never_run(bundle: Path) -> None:
    (bundle / "payload.sh").write_bytes(NOT_A_MODEL)
    os.chmod(bundle / "payload.sh", 0o755)
    refusal = assert_refused(
        ["bundle", "verify", bundle], "payload.sh", "not listed", watch=(bundle,), markers=(bundle / "ran.marker",)
    )
    assert "OK" not in refusal.result.stdout


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


def test_a_zip_with_a_tampered_member_fails_its_checksum(bundle: Path, tmp_path: Path) -> None:
    flip_byte(bundle / ORT)
    archive = zip_of(bundle, tmp_path / "tampered.zip")
    assert_refused(["bundle", "verify", archive], ORT, "does not match its sha256", watch=(tmp_path,))
