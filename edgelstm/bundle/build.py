"""`edgelstm bundle`: the directory (and zip) a mobile team ships.

Contents: the model in ORT format plus the ONNX file, the reduced operator config for a minimal ONNX Runtime
build, the mobile usability report for NNAPI and CoreML, and `manifest.json` (interface, state layout and
initial values, preprocessing, labels, quantization, parity verdict and latency it shipped with, sha256 of every
file, versions). No absolute paths anywhere; written under a temporary name and swapped into place.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.bundle.manifest import MANIFEST, MANIFEST_VERSION
from edgelstm.bundle.mobile_check import mobile_usability
from edgelstm.bundle.targets import check_targets, zip_path_for
from edgelstm.bundle.usage import streaming_usage
from edgelstm.errors import BundleError, LoadError, describe_os_error, first_line
from edgelstm.files import atomic_directory, atomic_path
from edgelstm.report.evidence import ParityEvidence, latency_rows, parity_evidence, sha256_file
from edgelstm.runtime import weight_only_session_config

__all__ = ["MANIFEST", "MANIFEST_VERSION", "BundleResult", "build_bundle"]

LATENCY_KEYS = ("name", "batch", "steps", "threads", "mode", "p50_ms", "p90_ms")


@dataclass
class BundleResult:
    directory: Path
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256
    zip_path: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def parity(self) -> dict[str, Any]:
        return dict(self.manifest.get("parity") or {})


def build_bundle(
    artifact: Path,
    out_dir: Path,
    parity_report: Path | None = None,
    bench_report: Path | None = None,
    make_zip: bool = False,
    overwrite: bool = False,
) -> BundleResult:
    artifact, out_dir = Path(artifact), Path(out_dir)
    if not artifact.exists():
        raise LoadError(f"{artifact}: no such artifact; bundle needs an .onnx file exported by edgelstm")
    if not artifact.is_file() or artifact.suffix != ".onnx":
        raise LoadError(f"{artifact}: bundle needs an .onnx artifact exported by edgelstm")
    zip_path = zip_path_for(out_dir) if make_zip else None
    check_targets(out_dir, zip_path, overwrite)
    # Everything that can be refused is read and checked before the first byte is written.
    metadata, quantization = _read_artifact(artifact)
    sha256 = sha256_file(artifact)
    parity = _parity(parity_report, artifact.name, sha256)
    latency = _latency(bench_report, artifact.name, sha256)
    with atomic_directory(out_dir, overwrite) as tmp:
        name = artifact.stem
        shutil.copyfile(artifact, tmp / f"{name}.onnx")
        if sha256_file(tmp / f"{name}.onnx") != sha256:
            raise BundleError(f"{artifact} changed while it was being bundled; run the command again")
        _convert(tmp / f"{name}.onnx", tmp / f"{name}.ort")
        _write_operator_config(tmp / f"{name}.ort", tmp / "required_operators.config")
        usability = [u.to_dict() for u in mobile_usability(tmp / f"{name}.onnx")]
        (tmp / "mobile_usability.json").write_text(json.dumps(usability, indent=2) + "\n")
        manifest = _manifest(name, metadata, usability, parity.to_dict(), latency)
        manifest["quantization"] = quantization
        if (best := _fastest_threads(latency["latencies"])) is not None:
            manifest["session_settings"] = {
                "intra_op_num_threads": best[0],
                "allow_spinning": False,
                "note": f"fastest measured at batch 1: {best[1]:.3f} ms p50 (see latency)",
            }
        if entries := weight_only_session_config(artifact):
            # The app must set these too, or its weight-only model dequantizes on every call (1.2-1.6x slower).
            manifest["session_settings"]["config_entries"] = entries
        manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        files = dict(manifest["files"])
        if zip_path is not None:
            # Written from the finished temporary directory before it is swapped in: a failure leaves neither.
            with atomic_path(zip_path, overwrite) as tmp_zip:
                _write_zip(tmp, tmp_zip)
    return BundleResult(out_dir, files, zip_path, manifest)


def _read_artifact(artifact: Path) -> tuple[Any, Any]:
    """The artifact's edgelstm metadata and its quantization record (None when it was not quantized)."""
    from edgelstm.export.metadata import ArtifactMetadata, load_onnx_file

    model = load_onnx_file(artifact)
    props = {p.key: p.value for p in model.metadata_props}
    try:
        metadata = ArtifactMetadata.from_props(props)
        raw = props.get("edgelstm.quantization")
        quantization = json.loads(raw) if raw else None
    except (LoadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoadError(f"{artifact}: {first_line(exc)}; bundle needs an artifact exported by edgelstm") from None
    return metadata, quantization


def _convert(onnx_path: Path, target: Path) -> None:
    from edgelstm.bundle.verify import onnxruntime_errors
    from edgelstm.parity.artifacts import convert_to_ort

    with tempfile.TemporaryDirectory() as work:
        try:
            converted = convert_to_ort(onnx_path, Path(work))
        except onnxruntime_errors() as exc:
            raise LoadError(f"{onnx_path.name}: onnxruntime cannot load it for conversion ({first_line(exc)})") from None
        shutil.copyfile(converted, target)


def _write_zip(directory: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, arcname=path.name)  # flat, relative names only


def _read_json(path: Path, kind: str) -> Any:
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise LoadError(f"--{kind}-report {describe_os_error(exc)}") from None
    except ValueError as exc:  # JSON and UTF-8 decoding errors alike
        raise LoadError(f"{path}: not a readable {kind} report ({first_line(exc)})") from None


def _parity(report: Path | None, artifact: str, sha256: str) -> ParityEvidence:
    """The verdict over this exact artifact, or "not checked" with the reason; never another file's verdict."""
    if report is None:
        return ParityEvidence(artifact, sha256, "not checked", None, reason="no --parity-report was given")
    return parity_evidence(_read_json(report, "parity"), Path(report), artifact, sha256)


def _latency(report: Path | None, artifact: str, sha256: str) -> dict[str, Any]:
    """This artifact's bench rows only (bench reports name artifacts by file name, and say so here)."""
    latency: dict[str, Any] = {"artifact": artifact, "artifact_sha256": sha256, "latencies": [], "settings": None}
    if report is None:
        return {**latency, "status": "not measured", "reason": "no --bench-report was given"}
    data = _read_json(report, "bench")
    rows = latency_rows(data, Path(report), artifact, sha256)
    latency["settings"] = data.get("settings")
    latency["latencies"] = [{k: r[k] for k in LATENCY_KEYS} for r in rows]
    if not rows:
        return {**latency, "status": "not measured", "reason": f"{Path(report).name} has no rows for {artifact}"}
    by_sha = all("artifact_sha256" in r for r in rows)
    return {
        **latency,
        "status": "measured",
        "matched_by": "sha256" if by_sha else "file name (the bench report records no sha256)",
    }


def _manifest(name: str, metadata: Any, usability: list[dict], parity: dict[str, Any], latency: dict[str, Any]) -> dict[str, Any]:
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
        "streaming_usage": streaming_usage(metadata.interface),
        **_calling_convention(metadata),
        "preprocessing": prep,
        "labels": prep.get("labels") if prep else None,
        "model_config": metadata.model_config.to_dict() if metadata.model_config else None,
        "quantization": None,
        "parity": parity,
        "latency": latency,
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


def _calling_convention(metadata: Any) -> dict[str, Any]:
    """A foreign graph's: scalar inputs fed on every call, the chunk length it was confirmed at, the samples of the
    previous chunk each call also sees, and the sha256 of the file it was derived from. Absent for edgelstm's own
    graphs, whose manifests keep their bytes."""
    interface = metadata.interface
    if interface.impl != "foreign":
        return {}
    return {
        "constants": dict(interface.constants),
        "chunk": interface.chunk,
        "context": interface.context,
        "source_sha256": metadata.source_sha256 or None,
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


def _fastest_threads(rows: list[dict[str, Any]]) -> tuple[int, float] | None:
    """The intra-op thread count that measured fastest for this artifact at batch 1, if the bench says."""
    ones = [r for r in rows if r["batch"] == 1]
    if not ones:
        return None
    best = min(ones, key=lambda r: r["p50_ms"])
    return int(best["threads"]), float(best["p50_ms"])
