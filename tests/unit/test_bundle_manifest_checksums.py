"""The manifest layer on its own: a model file the manifest names but gives no sha256 is refused by read_manifest.

test_bundle_tamper.py checks the refusal's words; the directory listing check (an unlisted file) refuses the same
bundles one step later with other words. These tests pin the refusal to the manifest: read_manifest raises on the
manifest alone, and `bundle verify` on a bundle whose named model has no entry and no file ends in the one-line
refusal (exit 2) before any member is read or any session opened, not in an internal error (exit 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgelstm.artifact import session as session_module
from edgelstm.bundle import BundleError, read_manifest, verify_bundle
from tests.conftest import patch_everywhere
from tests.support import bundle_manifest_checksums as shared
from tests.support.bundle_manifest_checksums import NAMED, _name_unlisted

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
bundle = shared.bundle
honest = shared.honest


@pytest.fixture
def nothing_read(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records every member read and session opened; a manifest refusal must leave it empty."""
    import edgelstm.bundle.verify as verify

    calls: list[Any] = []
    real_read = verify._read_member

    def read(path: Path) -> bytes:
        calls.append(path)
        return real_read(path)

    def session(*args: Any, **kwargs: Any) -> None:
        calls.append("session")
        raise AssertionError("a session was opened for a refused bundle")

    monkeypatch.setattr(verify, "_read_member", read)
    assert patch_everywhere(monkeypatch, session_module, "session_from_onnx", session) > 1  # the factory and its callers
    return calls


def test_the_honest_manifest_reads_and_lists_every_named_file(bundle: Path) -> None:
    manifest = read_manifest(bundle / "manifest.json")
    assert set(manifest.named_files().values()) <= set(manifest.files)  # so the refusals below have a baseline


@pytest.mark.parametrize("key", sorted(NAMED))
def test_read_manifest_refuses_a_named_file_without_a_sha256(bundle: Path, key: str) -> None:
    """The manifest alone: no listing, no file on disk needed for the refusal."""
    with pytest.raises(BundleError, match="'renamed.bin' has no sha256 in 'files'"):
        read_manifest(_name_unlisted(bundle, key))


@pytest.mark.parametrize("key", sorted(NAMED))
def test_verify_refuses_it_before_reading_any_member(bundle: Path, nothing_read: list[Any], key: str) -> None:
    _name_unlisted(bundle, key)
    with pytest.raises(BundleError, match="has no sha256"):
        verify_bundle(bundle)
    assert nothing_read == []
