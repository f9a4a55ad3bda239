"""Bad input to `bundle`, `bundle verify` and `report`: one `error:` line, exit 2, nothing written or changed.

Each case builds its own bad input in a fresh directory and names what the error line must say. The expensive
parts (one tiny exported model and one honest bundle) are built once for the module.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.bundle import build_bundle
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model
from tests.refusals import assert_refused


@dataclass(frozen=True)
class World:
    artifact: Path  # a tiny streaming export
    bundle: Path  # an honest bundle of it


@dataclass
class Case:
    args: list[Any]
    fragments: tuple[str, ...]
    watch: tuple[Path, ...]


Setup = Callable[[Path, World], Case]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("bad_bundle")
    save_checkpoint(tiny_model(cell="gru"), root / "ckpt")
    artifact = export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form="streaming")).path
    return World(artifact, build_bundle(artifact, root / "bundle").directory)


# --- `bundle ARTIFACT --out DIR` ---------------------------------------------------------------------------------


def build_args(world: World, tmp: Path, *extra: Any, artifact: Path | None = None) -> list[Any]:
    return ["bundle", artifact or world.artifact, "--out", tmp / "b", *extra]


def missing_artifact(tmp: Path, world: World) -> Case:
    return Case(build_args(world, tmp, artifact=tmp / "nope.onnx"), ("nope.onnx", "no such artifact"), (tmp,))


def artifact_not_onnx(tmp: Path, world: World) -> Case:
    (tmp / "model.txt").write_text("hello")
    return Case(build_args(world, tmp, artifact=tmp / "model.txt"), ("needs an .onnx",), (tmp,))


def artifact_garbage(tmp: Path, world: World) -> Case:
    (tmp / "model.onnx").write_bytes(b"\xff\x00garbage" * 10)
    return Case(build_args(world, tmp, artifact=tmp / "model.onnx"), ("model.onnx",), (tmp,))


def artifact_not_from_edgelstm(tmp: Path, world: World) -> Case:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(onnx.helper.make_model(graph), str(tmp / "foreign.onnx"))
    return Case(build_args(world, tmp, artifact=tmp / "foreign.onnx"), ("not exported by edgelstm",), (tmp,))


def artifact_corrupt_metadata(tmp: Path, world: World) -> Case:
    model = onnx.load(str(world.artifact))
    for prop in model.metadata_props:
        if prop.key == "edgelstm.interface":
            prop.value = "{not json"
    onnx.save(model, str(tmp / "edited.onnx"))
    return Case(build_args(world, tmp, artifact=tmp / "edited.onnx"), ("edited.onnx", "metadata"), (tmp,))


def out_is_a_file(tmp: Path, world: World) -> Case:
    (tmp / "b").write_text("a file")
    return Case(build_args(world, tmp), ("not a directory",), (tmp,))


def overwrite_a_run_folder(tmp: Path, world: World) -> Case:
    (tmp / "b").mkdir()
    (tmp / "b" / "notes.txt").write_text("mine")
    (tmp / "b" / "train.npz").write_bytes(b"data")
    return Case(build_args(world, tmp, "--overwrite"), ("not one", "nothing was deleted"), (tmp,))


def existing_bundle_without_overwrite(tmp: Path, world: World) -> Case:
    shutil.copytree(world.bundle, tmp / "b")
    return Case(build_args(world, tmp), ("already exists", "--overwrite"), (tmp,))


def existing_zip(tmp: Path, world: World) -> Case:
    (tmp / "b.zip").write_bytes(b"an old zip")
    return Case(build_args(world, tmp, "--zip"), ("b.zip already exists",), (tmp,))


def overwrite_a_foreign_zip(tmp: Path, world: World) -> Case:
    with zipfile.ZipFile(tmp / "b.zip", "w") as archive:
        archive.writestr("photos.txt", "not a bundle")
    return Case(build_args(world, tmp, "--zip", "--overwrite"), ("only an edgelstm bundle zip",), (tmp,))


def parity_report(tmp: Path, content: str | bytes) -> Path:
    path = tmp / "check.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def parity_not_json(tmp: Path, world: World) -> Case:
    report = parity_report(tmp, "{ truncated")
    return Case(build_args(world, tmp, "--parity-report", report), ("not a readable parity report",), (tmp,))


def parity_a_list(tmp: Path, world: World) -> Case:
    report = parity_report(tmp, "[1, 2]")
    return Case(build_args(world, tmp, "--parity-report", report), ("no 'candidates' list",), (tmp,))


def parity_candidate_without_artifact(tmp: Path, world: World) -> Case:
    report = parity_report(tmp, json.dumps({"candidates": [{"provider": "cpu", "verdict": "pass"}]}))
    return Case(build_args(world, tmp, "--parity-report", report), ("candidates[0]", "'artifact'"), (tmp,))


def parity_bad_sha256(tmp: Path, world: World) -> Case:
    candidate = {"artifact": "a.onnx", "provider": "cpu", "verdict": "pass", "artifact_sha256": "xyz"}
    report = parity_report(tmp, json.dumps({"candidates": [candidate]}))
    return Case(build_args(world, tmp, "--parity-report", report), ("artifact_sha256",), (tmp,))


def parity_missing_file(tmp: Path, world: World) -> Case:
    return Case(
        build_args(world, tmp, "--parity-report", tmp / "gone.json"), ("--parity-report", "gone.json", "no such file"), (tmp,)
    )


def bench_row_missing_keys(tmp: Path, world: World) -> Case:
    (tmp / "bench.json").write_text(json.dumps({"latencies": [{"name": "x.onnx", "p50_ms": "fast"}]}))
    return Case(build_args(world, tmp, "--bench-report", tmp / "bench.json"), ("latencies[0]",), (tmp,))


def bench_not_utf8(tmp: Path, world: World) -> Case:
    (tmp / "bench.json").write_bytes(b"\xff\xfe\x00{")
    return Case(build_args(world, tmp, "--bench-report", tmp / "bench.json"), ("not a readable bench report",), (tmp,))


def no_out(tmp: Path, world: World) -> Case:
    return Case(["bundle", world.artifact], ("usage",), (tmp,))


def verify_without_location(tmp: Path, world: World) -> Case:
    return Case(["bundle", "verify"], ("usage: edgelstm bundle verify",), (tmp,))


def verify_two_locations(tmp: Path, world: World) -> Case:
    return Case(["bundle", "verify", tmp, tmp], ("usage: edgelstm bundle verify",), (tmp,))


# --- `bundle verify DIR|ZIP` -------------------------------------------------------------------------------------


def copy_bundle(tmp: Path, world: World) -> Path:
    shutil.copytree(world.bundle, tmp / "b")
    return tmp / "b"


def with_manifest(change: Callable[[dict[str, Any]], Any], *fragments: str) -> Setup:
    def setup(tmp: Path, world: World) -> Case:
        bundle = copy_bundle(tmp, world)
        manifest = json.loads((bundle / "manifest.json").read_text())
        replaced = change(manifest)
        (bundle / "manifest.json").write_text(json.dumps(manifest if replaced is None else replaced))
        return Case(["bundle", "verify", bundle], fragments, (tmp,))

    return setup


def with_manifest_bytes(content: bytes, *fragments: str) -> Setup:
    def setup(tmp: Path, world: World) -> Case:
        bundle = copy_bundle(tmp, world)
        (bundle / "manifest.json").write_bytes(content)
        return Case(["bundle", "verify", bundle], fragments, (tmp,))

    return setup


def verify_missing_dir(tmp: Path, world: World) -> Case:
    return Case(["bundle", "verify", tmp / "nope"], ("no such bundle",), (tmp,))


def verify_no_manifest(tmp: Path, world: World) -> Case:
    bundle = copy_bundle(tmp, world)
    (bundle / "manifest.json").unlink()
    return Case(["bundle", "verify", bundle], ("no manifest.json",), (tmp,))


def zip_file(tmp: Path, data: bytes) -> Path:
    (tmp / "b.zip").write_bytes(data)
    return tmp / "b.zip"


def verify_corrupt_zip(tmp: Path, world: World) -> Case:
    return Case(["bundle", "verify", zip_file(tmp, b"PK\x03\x04 truncated")], ("not a readable zip",), (tmp,))


def verify_zero_byte_zip(tmp: Path, world: World) -> Case:
    return Case(["bundle", "verify", zip_file(tmp, b"")], ("not a readable zip",), (tmp,))


def verify_empty_zip(tmp: Path, world: World) -> Case:
    zipfile.ZipFile(tmp / "b.zip", "w").close()
    return Case(["bundle", "verify", tmp / "b.zip"], ("the zip is empty",), (tmp,))


def verify_zip_with_traversal(tmp: Path, world: World) -> Case:
    with zipfile.ZipFile(tmp / "b.zip", "w") as archive:
        for path in sorted(world.bundle.iterdir()):
            archive.write(path, arcname=path.name)
        archive.writestr("../../escape.sh", "touch pwned")
    return Case(["bundle", "verify", tmp / "b.zip"], ("outside the bundle",), (tmp.parent,))


def verify_text_file(tmp: Path, world: World) -> Case:
    (tmp / "notes.txt").write_text("not a bundle")
    return Case(["bundle", "verify", tmp / "notes.txt"], ("not a readable zip",), (tmp,))


def rename_first_input(m: dict[str, Any]) -> None:
    m["inputs"][0]["name"] = "renamed"


# --- `report RUN_DIR` --------------------------------------------------------------------------------------------


def run_with(files: dict[str, str | bytes], *fragments: str) -> Setup:
    def setup(tmp: Path, world: World) -> Case:
        run = tmp / "run"
        run.mkdir()
        for name, content in files.items():
            (run / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        return Case(["report", run], fragments, (tmp,))

    return setup


def report_missing_dir(tmp: Path, world: World) -> Case:
    return Case(["report", tmp / "nope"], ("no such run directory",), (tmp,))


def report_json_malformed(tmp: Path, world: World) -> Case:
    (tmp / "report.json").write_text(json.dumps({"run_dir": "x", "artifacts": [{"nme": "typo"}]}))
    return Case(["report", tmp / "report.json", "--out", tmp / "again"], ("not an edgelstm report.json",), (tmp,))


def report_json_bad_bench(tmp: Path, world: World) -> Case:
    summary = {"run_dir": "x", "artifacts": [], "check": None, "bench": {"latencies": [{}]}, "quantize": [], "machine": {}}
    (tmp / "report.json").write_text(json.dumps(summary))
    return Case(["report", tmp / "report.json", "--out", tmp / "again"], ("not an edgelstm report.json",), (tmp,))


def report_out_is_a_file(tmp: Path, world: World) -> Case:
    run = tmp / "run"
    run.mkdir()
    (run / "x.quant.json").write_text(json.dumps({"path": "x.onnx", "scheme": "dynamic-int8"}))
    (tmp / "out").write_text("a file")
    return Case(["report", run, "--out", tmp / "out"], ("--out", "is a file"), (tmp,))


CANDIDATE = {"artifact": "a.onnx", "provider": "cpu", "verdict": "pass"}

CASES: dict[str, Setup] = {
    # bundle
    "bundle/missing-artifact": missing_artifact,
    "bundle/artifact-not-onnx": artifact_not_onnx,
    "bundle/artifact-garbage": artifact_garbage,
    "bundle/artifact-not-from-edgelstm": artifact_not_from_edgelstm,
    "bundle/artifact-corrupt-metadata": artifact_corrupt_metadata,
    "bundle/out-is-a-file": out_is_a_file,
    "bundle/overwrite-a-run-folder": overwrite_a_run_folder,
    "bundle/existing-bundle-no-overwrite": existing_bundle_without_overwrite,
    "bundle/existing-zip": existing_zip,
    "bundle/overwrite-foreign-zip": overwrite_a_foreign_zip,
    "bundle/parity-not-json": parity_not_json,
    "bundle/parity-a-list": parity_a_list,
    "bundle/parity-candidate-no-artifact": parity_candidate_without_artifact,
    "bundle/parity-bad-sha256": parity_bad_sha256,
    "bundle/parity-missing-file": parity_missing_file,
    "bundle/bench-row-missing-keys": bench_row_missing_keys,
    "bundle/bench-not-utf8": bench_not_utf8,
    "bundle/no-out": no_out,
    # bundle verify
    "verify/no-location": verify_without_location,
    "verify/two-locations": verify_two_locations,
    "verify/missing-dir": verify_missing_dir,
    "verify/no-manifest": verify_no_manifest,
    "verify/manifest-not-json": with_manifest_bytes(b'{"files": ', "not valid JSON"),
    "verify/manifest-not-utf8": with_manifest_bytes(b"\xff\xfe{}", "not valid JSON"),
    "verify/manifest-a-list": with_manifest(lambda m: [m], "must be a JSON object"),
    "verify/manifest-a-number": with_manifest(lambda m: 7, "must be a JSON object"),
    "verify/manifest-no-files": with_manifest(lambda m: m.pop("files") and None, "missing key 'files'"),
    "verify/manifest-files-a-list": with_manifest(lambda m: m.update(files=["a"]), "'files' must be an object"),
    "verify/manifest-no-model": with_manifest(lambda m: m.pop("model") and None, "missing key 'model'"),
    "verify/manifest-model-ort-a-number": with_manifest(lambda m: m["model"].update(ort=3), "'model.ort' must be a string"),
    "verify/manifest-inputs-a-string": with_manifest(lambda m: m.update(inputs="x"), "'inputs' must be a list"),
    "verify/manifest-input-not-an-object": with_manifest(lambda m: m.update(inputs=[1]), "inputs[0] must be an object"),
    "verify/manifest-huge-dimension": with_manifest(lambda m: m["inputs"][0].update(shape=[10**12]), "shape entry"),
    "verify/manifest-version-unknown": with_manifest(lambda m: m.update(manifest_version=99), "manifest_version 99"),
    "verify/manifest-version-a-string": with_manifest(lambda m: m.update(manifest_version="1"), "must be an integer"),
    "verify/checksum-not-hex": with_manifest(
        lambda m: m["files"].update(dict.fromkeys(m["files"], "g" * 64)), "not 64 lower-case hex digits"
    ),
    "verify/checksum-a-number": with_manifest(
        lambda m: m["files"].update(dict.fromkeys(m["files"], 1)), "not 64 lower-case hex digits"
    ),
    "verify/inputs-not-the-models": with_manifest(rename_first_input, "not the model's inputs"),
    "verify/parity-claim-another-artifact": with_manifest(
        lambda m: m.update(parity={"passed": True, "artifact_sha256": "0" * 64}), "must name the artifact it judged"
    ),
    "verify/parity-passed-a-string": with_manifest(
        lambda m: m.update(parity={"passed": "yes", "artifact_sha256": m["files"][m["model"]["onnx"]]}), "true, false or null"
    ),
    "verify/corrupt-zip": verify_corrupt_zip,
    "verify/zero-byte-zip": verify_zero_byte_zip,
    "verify/empty-zip": verify_empty_zip,
    "verify/zip-traversal": verify_zip_with_traversal,
    "verify/a-text-file": verify_text_file,
    # report
    "report/missing-dir": report_missing_dir,
    "report/empty-dir": run_with({}, "nothing to report"),
    "report/check-not-json": run_with({"check.json": "{"}, "check.json", "not valid JSON"),
    "report/check-not-utf8": run_with({"check.json": b"\xff\xfe"}, "check.json", "not valid JSON"),
    "report/check-a-list": run_with({"check.json": "[]"}, "expected a JSON object"),
    "report/check-no-candidates": run_with({"check.json": "{}"}, "no 'candidates' list"),
    "report/check-candidate-a-string": run_with({"check.json": '{"candidates": ["a.onnx"]}'}, "candidates[0]"),
    "report/check-missing-report-keys": run_with({"check.json": json.dumps({"candidates": [CANDIDATE]})}, "check --report"),
    "report/check-sha256-a-number": run_with(
        {"check.json": json.dumps({"candidates": [{**CANDIDATE, "artifact_sha256": 5}]})}, "artifact_sha256"
    ),
    "report/bench-missing-keys": run_with({"bench.json": json.dumps({"latencies": []})}, "bench.json", "bench --report"),
    "report/quant-a-list": run_with({"m.quant.json": "[]"}, "m.quant.json", "expected a JSON object"),
    "report/quant-no-path": run_with({"m.quant.json": '{"scheme": "dynamic-int8"}'}, "m.quant.json", "'path'"),
    "report/report-json-malformed": report_json_malformed,
    "report/report-json-bad-bench": report_json_bad_bench,
    "report/out-is-a-file": report_out_is_a_file,
}


@pytest.mark.parametrize("setup", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_refused_with_one_line(setup: Setup, world: World, tmp_path: Path) -> None:
    case = setup(tmp_path, world)
    assert_refused(case.args, *case.fragments, watch=case.watch)
