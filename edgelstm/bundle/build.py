"""`edgelstm bundle`: the directory (and zip) a mobile team ships.

Contents: the model in ORT format plus the ONNX file, the reduced operator config for a minimal ONNX Runtime
build, the mobile usability report for NNAPI and CoreML, and `manifest.json` (interface, state layout and
initial values, preprocessing, labels, quantization, parity verdict and latency it shipped with, sha256 of every
file, versions). No absolute paths anywhere; written under a temporary name and swapped into place.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.bundle.mobile_check import mobile_usability
from edgelstm.errors import LoadError
from edgelstm.export.metadata import read_metadata
from edgelstm.files import atomic_directory, atomic_path
from edgelstm.parity.artifacts import convert_to_ort

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass
class BundleResult:
    directory: Path
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256
    zip_path: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)


def build_bundle(
    artifact: Path,
    out_dir: Path,
    parity_report: Path | None = None,
    bench_report: Path | None = None,
    make_zip: bool = False,
    overwrite: bool = False,
) -> BundleResult:
    artifact = Path(artifact)
    if not artifact.is_file() or artifact.suffix != ".onnx":
        raise LoadError(f"{artifact}: bundle needs an .onnx artifact exported by edgelstm")
    metadata = read_metadata(artifact)
    with atomic_directory(Path(out_dir), overwrite) as tmp:
        name = artifact.stem
        shutil.copyfile(artifact, tmp / f"{name}.onnx")
        with tempfile.TemporaryDirectory() as work:
            converted = convert_to_ort(artifact, Path(work))
            shutil.copyfile(converted, tmp / f"{name}.ort")
        _write_operator_config(tmp / f"{name}.ort", tmp / "required_operators.config")
        usability = [u.to_dict() for u in mobile_usability(tmp / f"{name}.onnx")]
        (tmp / "mobile_usability.json").write_text(json.dumps(usability, indent=2) + "\n")
        manifest = _manifest(name, metadata, usability, _summary(parity_report, "parity"), _summary(bench_report, "bench"))
        manifest["quantization"] = _quantization(artifact)
        if (best := _fastest_threads(bench_report, artifact.name)) is not None:
            manifest["session_settings"] = {
                "intra_op_num_threads": best[0],
                "allow_spinning": False,
                "note": f"fastest measured at batch 1: {best[1]:.3f} ms p50 (see latency)",
            }
        manifest["files"] = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        files = dict(manifest["files"])
    result = BundleResult(Path(out_dir), files, manifest=manifest)
    if make_zip:
        zip_path = Path(out_dir).with_suffix(".zip")
        with atomic_path(zip_path, overwrite) as tmp_zip, zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(out_dir).iterdir()):
                archive.write(path, arcname=path.name)  # flat, relative names only
        result.zip_path = zip_path
    return result


def _manifest(name: str, metadata: Any, usability: list[dict], parity: dict | None, bench: dict | None) -> dict[str, Any]:
    import onnx
    import onnxruntime as ort

    from edgelstm import __version__

    interface = metadata.interface.to_dict()
    prep = metadata.preprocessing.to_dict() if metadata.preprocessing else None
    return {
        "manifest_version": MANIFEST_VERSION,
        "model": {"ort": f"{name}.ort", "onnx": f"{name}.onnx", "form": interface["form"], "impl": interface["impl"]},
        "inputs": interface["inputs"],
        "outputs": interface["outputs"],
        "state": interface["states"],
        "streaming_usage": (
            "call with x [batch, chunk, features] and every *_in state (initial values above); feed each *_out "
            "back as the matching *_in on the next call"
        )
        if interface["form"] == "streaming"
        else None,
        "preprocessing": prep,
        "labels": prep.get("labels") if prep else None,
        "model_config": metadata.model_config.to_dict() if metadata.model_config else None,
        "quantization": None,
        "parity": parity,
        "latency": bench,
        "session_settings": {
            "intra_op_num_threads": 1,
            "allow_spinning": False,
            "note": "measured best on small CPUs; see latency",
        },
        "mobile_usability": usability,
        "required_operators_config": "required_operators.config",
        "versions": {
            "edgelstm": __version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "python": platform.python_version(),
        },
    }


def _write_operator_config(ort_model: Path, target: Path) -> None:
    """The operator list for a minimal ONNX Runtime build (build.py --include_ops_by_config)."""
    import logging

    from onnxruntime.tools.ort_format_model import create_config_from_models

    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    create_config_from_models([ort_model], target, enable_type_reduction=False)
    # The tool records the absolute path of its input in a comment; a bundle carries no absolute paths.
    lines = [f"# - {ort_model.name}" if line.startswith("# - ") else line for line in target.read_text().splitlines()]
    target.write_text("\n".join(lines) + "\n")


def _quantization(artifact: Path) -> Any:
    import onnx

    props = {p.key: p.value for p in onnx.load(str(artifact), load_external_data=False).metadata_props}
    raw = props.get("edgelstm.quantization")
    return json.loads(raw) if raw else None


def _summary(path: Path | None, kind: str) -> dict[str, Any] | None:
    """The verdict/latency the artifact shipped with, from a `check --report` or `bench --report` JSON."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LoadError(f"{path}: not a readable {kind} report ({exc})") from None
    if kind == "parity":
        return {
            "passed": data.get("passed"),
            "reference_dtype": data.get("reference_dtype"),
            "candidates": [
                {"artifact": Path(c["artifact"]).name, "provider": c["provider"], "verdict": c["verdict"]}
                for c in data.get("candidates", [])
            ],
            "versions": data.get("versions"),
        }
    return {
        "latencies": [
            {k: r[k] for k in ("name", "batch", "steps", "threads", "mode", "p50_ms", "p90_ms")}
            for r in data.get("latencies", [])
        ],
        "settings": data.get("settings"),
    }


def _fastest_threads(bench_report: Path | None, artifact_name: str) -> tuple[int, float] | None:
    """The intra-op thread count that measured fastest for this artifact at batch 1, if the bench says."""
    if bench_report is None:
        return None
    rows = [
        r
        for r in json.loads(Path(bench_report).read_text()).get("latencies", [])
        if r.get("name") == artifact_name and r.get("batch") == 1 and r.get("kind") == "artifact"
    ]
    if not rows:
        return None
    best = min(rows, key=lambda r: r["p50_ms"])
    return int(best["threads"]), float(best["p50_ms"])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
