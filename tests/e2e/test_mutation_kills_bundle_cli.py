"""`bundle verify` end to end on what the mutation run (docs/testing/mutation.md) found unguarded in bundle
verification: a listed, unaltered member that names the builder's machine (a macOS home, a Windows drive, a Windows
network share) is refused, a member that is not UTF-8 is not an error, a model path with a folder in it is called a
path, a zip's refusal names the zip the user gave, not the folder it was unpacked into, a listed, unaltered model
that outputs NaN/Inf on zeros is refused, and so are links to a file and to a folder inside the bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.refusals import assert_refused, run_cli
from tests.support import bundle_tamper as shared
from tests.support.bundle_tamper import edit_manifest, plant_path, sha256, zip_of
from tests.support.bundle_verify_rules import swap_in_nan_model

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


def test_bundle_verify_accepts_a_member_that_is_not_utf8(bundle: Path) -> None:
    config = bundle / "required_operators.config"
    config.write_bytes(config.read_bytes() + b"# \xff\xfe\n")
    edit_manifest(bundle, lambda m: m["files"].__setitem__(config.name, sha256(config.read_bytes())))
    result = run_cli(["bundle", "verify", bundle])
    assert result.exit_code == 0, result.output


def test_bundle_verify_calls_a_model_path_with_a_folder_a_path(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m["model"].__setitem__("ort", "sub/evil.ort"))
    assert_refused(
        ["bundle", "verify", bundle], "'sub/evil.ort' is a path, not a plain file name inside the bundle", watch=(bundle,)
    )


def test_bundle_verify_refuses_a_model_that_outputs_nan_on_zeros(bundle: Path) -> None:
    ort = swap_in_nan_model(bundle)
    refusal = assert_refused(["bundle", "verify", bundle], watch=(bundle,))
    assert refusal.stderr_lines[0] == f"error: {bundle}: {ort} produced NaN/Inf on zero input"


def test_bundle_verify_refuses_links_to_a_file_and_to_a_folder(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (bundle / "notes.txt").symlink_to(bundle / "README.md")
    (bundle / "data").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    refusal = assert_refused(["bundle", "verify", bundle], watch=(bundle,))
    assert refusal.stderr_lines[0] == (
        f"error: {bundle}: a bundle holds only regular files; refusing data (symbolic link), notes.txt (symbolic link)"
    )
