"""Bad input to `check` and `bench`: one `error:` line, exit 2, nothing written, before any graph runs (issue 12).

Also what `check` must say rather than claim: skipped providers are not checks, a contrib-op artifact is skipped
on onnx.reference with the reason, and every verdict names the sha256 of what it judged.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model
from tests.refusals import assert_refused, run_cli


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-class LSTM classifier and an 11-token language model, each exported once, plus valid data."""
    root = tmp_path_factory.mktemp("bad_input_check")
    save_checkpoint(tiny_model(cell="lstm", head="classify-last"), root / "ckpt")
    export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form="sequence", impl="fused"))
    save_checkpoint(tiny_model(cell="gru", head="lm"), root / "lm")
    export_model(load_model(str(root / "lm")), root / "lm_onnx", ExportConfig(form="sequence", impl="fused"))
    (root / "data").mkdir()
    rng = np.random.default_rng(0)
    np.savez(root / "data/good.npz", x=rng.standard_normal((4, 6, 5)).astype(np.float32), y=np.array([0, 1, 2, 1]))
    (root / "out").mkdir()
    return root


def _x(n: int = 4, t: int = 6) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, t, 5)).astype(np.float32)


def _npz(**arrays: np.ndarray) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = directory / "bad.npz"
        np.savez(path, **arrays)
        return path

    return make


def _raw(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = directory / name
        path.write_bytes(content)
        return path

    return make


def _object_npz(directory: Path) -> Path:
    path = directory / "bad.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))
    return path


_NAN = _x()
_NAN[0, 0, 0] = np.nan
_INF = _x()
_INF[1, 2, 3] = np.inf

# (id, data file maker, model: "ckpt" | "lm", fragments the error line must name)
DATA_CASES: list[tuple[str, Callable[[Path], Path], str, tuple[str, ...]]] = [
    ("x-strings", _npz(x=np.array([[["a"] * 5] * 6] * 2)), "ckpt", ("dtype",)),
    ("x-object", _object_npz, "ckpt", ("pickled",)),
    ("x-complex", _npz(x=_x().astype(np.complex64)), "ckpt", ("complex",)),
    ("x-empty", _npz(x=np.zeros((0, 6, 5), np.float32)), "ckpt", ("empty",)),
    ("x-empty-time", _npz(x=np.zeros((3, 0, 5), np.float32)), "ckpt", ("empty",)),
    ("x-nan", _npz(x=_NAN), "ckpt", ("NaN",)),
    ("x-inf", _npz(x=_INF), "ckpt", ("Inf",)),
    ("x-float64-beyond-float32", _npz(x=_x().astype(np.float64) * 1e300), "ckpt", ("float32",)),
    ("x-rank-2", _npz(x=np.zeros((4, 6), np.float32)), "ckpt", ("[N, T, features]",)),
    ("x-rank-4", _npz(x=np.zeros((4, 6, 5, 1), np.float32)), "ckpt", ("[N, T, features]",)),
    ("x-wrong-features", _npz(x=np.zeros((4, 6, 4), np.float32)), "ckpt", ("4 features", "expects 5")),
    ("no-x", _npz(inputs=_x()), "ckpt", ("'x'",)),
    ("lengths-strings", _npz(x=_x(), lengths=np.array(["3", "4", "5", "6"])), "ckpt", ("lengths", "integers")),
    ("lengths-negative", _npz(x=_x(), lengths=np.array([3, -3, 5, 6])), "ckpt", ("length -3",)),
    ("lengths-zero", _npz(x=_x(), lengths=np.array([3, 0, 5, 6])), "ckpt", ("length 0",)),
    ("lengths-longer-than-T", _npz(x=_x(), lengths=np.array([3, 99, 5, 6])), "ckpt", ("length 99", "[1, 6]")),
    ("lengths-fractional", _npz(x=_x(), lengths=np.array([3.5, 4, 5, 6])), "ckpt", ("whole numbers",)),
    ("lengths-wrong-count", _npz(x=_x(), lengths=np.array([3, 4])), "ckpt", ("one per sequence",)),
    ("labels-out-of-range", _npz(x=_x(), y=np.array([0, 99, 1, 2])), "ckpt", ("label 99", "3 classes")),
    ("labels-negative", _npz(x=_x(), y=np.array([0, -1, 1, 2])), "ckpt", ("label -1",)),
    ("labels-not-integer", _npz(x=_x(), y=np.array([0.0, 1.5, 1.0, 2.0])), "ckpt", ("label 1.5", "whole numbers")),
    ("labels-strings", _npz(x=_x(), y=np.array(["cat", "dog", "cat", "dog"])), "ckpt", ("y must hold numbers",)),
    ("labels-wrong-count", _npz(x=_x(), y=np.array([0, 1])), "ckpt", ("2 entries", "4 sequences")),
    ("labels-nan", _npz(x=_x(), y=np.array([0.0, np.nan, 1.0, 2.0])), "ckpt", ("NaN",)),
    ("tokens-out-of-range", _npz(x=np.array([[1, 2, 11], [0, 1, 2]])), "lm", ("token id 11", "[0, 10]")),
    ("tokens-negative", _npz(x=np.array([[1, -1, 3], [0, 1, 2]])), "lm", ("token id -1",)),
    ("tokens-float", _npz(x=np.array([[1.0, 2.0], [0.5, 1.0]])), "lm", ("integer token ids",)),
    ("csv-not-utf8", _raw("bad.csv", "f0,f1\n\xe9,\xff\n".encode("latin-1")), "ckpt", ("not a readable CSV",)),
    ("csv-labels-out-of-range", _raw("bad.csv", b"f0,f1,f2,f3,f4,label\n1,2,3,4,5,99\n"), "ckpt", ("label 99", "3 classes")),
    ("npz-corrupt-zip", _raw("bad.npz", b"PK\x03\x04" + b"\x00" * 64), "ckpt", ("not a readable .npz",)),
    ("npz-not-a-zip", _raw("bad.npz", b"this is not numpy"), "ckpt", ("not a zip",)),
    ("npy-truncated", _raw("bad.npy", b"\x93NUMPY\x01\x00"), "ckpt", ("not a readable .npy",)),
    ("unsupported-suffix", _raw("bad.txt", b"1,2,3"), "ckpt", ("unsupported data format",)),
]


@pytest.mark.parametrize(("make", "model", "fragments"), [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_check_refuses_bad_data(
    ws: Path, tmp_path: Path, make: Callable[[Path], Path], model: str, fragments: tuple[str, ...]
) -> None:
    data = make(tmp_path)
    artifact = ws / ("onnx" if model == "ckpt" else "lm_onnx") / "sequence_fused.onnx"
    args = ["check", artifact, "--reference", ws / model, "--data", data, "--providers", "cpu", "--report", tmp_path / "r.json"]
    assert_refused(args, *fragments, watch=(tmp_path, ws / "onnx", ws / "lm_onnx"))


# (id, extra options, fragments); the placeholders {artifact}, {ckpt}, {data}, {out} are filled in per workspace
OPTION_CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("providers-empty", ["--providers", ""], ("--providers", "cpu, cuda, mobile, reference")),
    ("providers-only-separators", ["--providers", " , ,"], ("--providers",)),
    ("providers-unknown", ["--providers", "cpu,gpu"], ("gpu", "cpu, cuda, mobile, reference")),
    ("allow-missing-unknown", ["--allow-missing", "tpu"], ("tpu", "cpu, cuda, mobile, reference")),
    ("task-unknown", ["--task", "segment"], ("segment",)),
    ("limit-zero", ["--limit", "0"], ("--limit",)),
    ("report-is-the-artifact", ["--report", "{artifact}"], ("--report", "input")),
    ("junit-is-the-data", ["--junit", "{data}"], ("--junit", "input")),
    ("markdown-is-the-reference-dir", ["--markdown", "{ckpt}"], ("--markdown", "directory")),
    ("plot-is-the-artifact", ["--plot", "{artifact}"], ("--plot", "input")),
    ("report-inside-the-checkpoint", ["--report", "{ckpt}/model.safetensors"], ("--report", "inside the input")),
    ("report-is-a-directory", ["--report", "{out}"], ("--report", "is a directory")),
    ("two-reports-one-file", ["--report", "{out}/r.txt", "--markdown", "{out}/r.txt"], ("--markdown", "same file")),
]


@pytest.mark.parametrize(("extra", "fragments"), [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_check_refuses_bad_options(ws: Path, extra: list[str], fragments: tuple[str, ...]) -> None:
    places = {
        "artifact": ws / "onnx/sequence_fused.onnx",
        "ckpt": ws / "ckpt",
        "data": ws / "data/good.npz",
        "out": ws / "out",
    }
    filled = [e.format(**places) for e in extra]
    args = ["check", places["artifact"], "--reference", ws / "ckpt", "--data", places["data"], *filled]
    assert_refused(args, *fragments, watch=(ws / "onnx", ws / "ckpt", ws / "data", ws / "out"))


BENCH_CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("steps-100-million", ["--steps", "100000000"], ("--steps 100000000", "GiB", "available")),
    ("batches-too-large", ["--batches", "1000000", "--steps", "100000"], ("--batches 1000000", "GiB")),
    ("steps-zero", ["--steps", "0"], ("--steps", "positive")),
    ("batches-not-numbers", ["--batches", "one"], ("--batches", "integers")),
    ("rounds-too-few", ["--rounds", "1"], ("rounds",)),
    ("artifact-not-onnx", ["{ckpt}/config.json"], ("not an .onnx, .ort or .tflite",)),
]


@pytest.mark.parametrize(("extra", "fragments"), [c[1:] for c in BENCH_CASES], ids=[c[0] for c in BENCH_CASES])
def test_bench_refuses_bad_input_before_allocating(ws: Path, extra: list[str], fragments: tuple[str, ...]) -> None:
    filled = [e.format(ckpt=ws / "ckpt") for e in extra]
    artifact = [] if filled and filled[0].endswith(".json") else [ws / "onnx/sequence_fused.onnx"]
    args = ["bench", *artifact, *filled, "--no-cold-start", "--no-baselines", "--report", ws / "out/bench.json"]
    assert_refused(args, *fragments, watch=(ws / "out", ws / "onnx"))


# -- claims need evidence ---------------------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_verdict_names_what_it_judged(ws: Path, tmp_path: Path) -> None:
    artifact, data = ws / "onnx/sequence_fused.onnx", ws / "data/good.npz"
    report, junit, markdown = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "m.md"
    args = ["check", artifact, "--reference", ws / "ckpt", "--data", data, "--providers", "cpu", "--no-stress"]
    result = run_cli([*args, "--report", report, "--junit", junit, "--markdown", markdown])
    assert result.exit_code == 0, result.output
    doc = json.loads(report.read_text())
    assert doc["candidates"][0]["artifact_sha256"] == _sha(artifact)
    assert doc["reference_files"][str(ws / "ckpt/model.safetensors")] == _sha(ws / "ckpt/model.safetensors")
    assert doc["data_source"] == str(data) and doc["data_sha256"] == _sha(data)
    assert doc["providers"] == ["cpu"] and doc["checks_run"] == 1
    props = {p.get("name"): p.get("value") for p in ET.fromstring(junit.read_text()).iter("property")}
    assert props["artifact_sha256"] == _sha(artifact) and props["data_sha256"] == _sha(data)
    assert props["providers"] == "cpu" and props[f"reference_sha256:{ws / 'ckpt/model.safetensors'}"]
    text = markdown.read_text()
    assert _sha(artifact) in text and _sha(data) in text and _sha(ws / "ckpt/model.safetensors") in text
    assert _sha(artifact) in result.stdout  # the terminal verdict too


def test_synthetic_data_is_named_as_such(ws: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    args = ["check", ws / "onnx/sequence_fused.onnx", "--reference", ws / "ckpt", "--providers", "cpu", "--no-stress"]
    assert run_cli([*args, "--report", report]).exit_code == 0
    doc = json.loads(report.read_text())
    assert doc["data_source"].startswith("synthetic") and doc["data_sha256"] == ""


def test_contrib_op_artifact_is_skipped_on_reference_and_gated_elsewhere(ws: Path, tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = tmp_path / "int8.onnx"
    quantize_dynamic(str(ws / "onnx/sequence_fused.onnx"), str(quantized), weight_type=QuantType.QInt8)
    report = tmp_path / "r.json"
    args = ["check", quantized, "--reference", ws / "ckpt", "--data", ws / "data/good.npz", "--report", report]
    result = run_cli(args)  # the default providers: cpu, mobile, reference
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    by_provider = {c["provider"]: c for c in json.loads(report.read_text())["candidates"]}
    assert by_provider["reference"]["status"] == "skipped"
    assert "not runnable in onnx.reference (contrib op DynamicQuantizeLSTM" in by_provider["reference"]["reason"]
    assert by_provider["cpu"]["status"] == "run" and by_provider["cpu"]["cases"]
    assert by_provider["mobile"]["status"] == "run"
    assert "2 artifact x provider checks; 1 skipped: int8.onnx on reference" in result.stdout


def test_every_provider_skipped_is_not_a_pass(ws: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("needs a machine without CUDA: the check would run")
    args = ["check", ws / "onnx/sequence_fused.onnx", "--reference", ws / "ckpt", "--providers", "cuda"]
    result = run_cli([*args, "--allow-missing", "cuda", "--no-stress"])
    assert result.exit_code == 1, result.output
    assert "0 artifact x provider checks; 1 skipped" in result.stdout and "nothing was checked" in result.stdout


def test_output_refusal_leaves_the_model_intact(ws: Path) -> None:
    artifact = ws / "onnx/sequence_fused.onnx"
    before = _sha(artifact)
    assert_refused(["check", artifact, "--reference", ws / "ckpt", "--report", artifact], "--report")
    assert _sha(artifact) == before
