"""`bundle verify` end to end on what the mutation run (docs/testing/mutation.md) found unguarded in bundle
verification: a listed, unaltered member that names the builder's machine (a macOS home, a Windows drive, a Windows
network share) is refused, and a zip's refusal names the zip the user gave, not the folder it was unpacked into."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.refusals import assert_refused, run_cli
from tests.support import bundle_tamper as shared
from tests.support.bundle_tamper import plant_path, zip_of

# Fixtures shared with the tamper tests: pytest finds them by name in this module.
bundle = shared.bundle
honest = shared.honest


@pytest.mark.parametrize("path", ["/Users/alice/model.onnx", "C:\\Users\\alice\\model.onnx", "\\\\buildserver\\share\\m.onnx"])
def test_bundle_verify_refuses_a_member_naming_the_builders_machine(bundle: Path, path: str) -> None:
    assert run_cli(["bundle", "verify", bundle]).exit_code == 0  # the same bundle passes before the path is planted
    plant_path(bundle, "mobile_usability.json", path)
    assert_refused(
        ["bundle", "verify", bundle], "mobile_usability.json contains an absolute path", "relocatable", watch=(bundle,)
    )


def test_bundle_verify_of_a_zip_names_the_zip_in_its_refusal(bundle: Path, tmp_path: Path) -> None:
    plant_path(bundle, "required_operators.config", "C:\\build\\model.ort")
    archive = zip_of(bundle, tmp_path / "shipped.zip")
    refusal = assert_refused(["bundle", "verify", archive], watch=(archive,))
    assert refusal.stderr_lines[0].startswith(f"error: {archive}: required_operators.config contains an absolute path")
