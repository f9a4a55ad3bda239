"""The manifest layer on its own: a model file the manifest names but gives no sha256 is refused by read_manifest.

test_bundle_tamper.py checks the refusal's words; the directory listing check (an unlisted file) refuses the same
bundles one step later with other words. These tests pin the refusal to the manifest: read_manifest raises on the
manifest alone, and `bundle verify` on a bundle whose named model has no entry and no file ends in the one-line
refusal (exit 2) before any member is read or any session opened, not in an internal error (exit 3).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.refusals import assert_refused
from tests.support import bundle_manifest_checksums as shared
from tests.support.bundle_manifest_checksums import NAMED, _name_unlisted

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
bundle = shared.bundle
honest = shared.honest


@pytest.mark.parametrize("key", sorted(NAMED))
def test_bundle_verify_command_refuses_it_in_one_line(bundle: Path, key: str) -> None:
    """End to end: the named file is neither listed nor present, so no other check stands in for this one."""
    _name_unlisted(bundle, key)
    assert_refused(["bundle", "verify", bundle], "renamed.bin", "no sha256", watch=(bundle,))
