"""`edgelstm bundle`: the directory (and zip) a mobile team ships.

Contents: the model in ORT format plus the ONNX file, the reduced operator config for a minimal ONNX Runtime
build, the mobile usability report for NNAPI and CoreML, and `manifest.json` (interface, state layout and
initial values, preprocessing, labels, quantization, parity verdict and latency it shipped with, sha256 of every
file, versions). No absolute paths anywhere; written under a temporary name and swapped into place.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelstm.artifact.metadata import ArtifactMetadata, check_state_pairs, load_onnx_file
from edgelstm.artifact.runners import convert_to_ort
from edgelstm.artifact.session import weight_only_session_config
from edgelstm.bundle.manifest import MANIFEST, MANIFEST_VERSION
from edgelstm.bundle.mobile_check import mobile_usability
from edgelstm.bundle.targets import check_targets, zip_path_for
from edgelstm.bundle.usage import append_streaming_notes, streaming_usage
from edgelstm.bundle.verify import onnxruntime_errors
from edgelstm.errors import BundleError, LoadError, describe_os_error, first_line
from edgelstm.files import atomic_directory, atomic_path
from edgelstm.jsonio import to_jsonable
from edgelstm.report.evidence import ParityEvidence, latency_rows, parity_evidence, sha256_file
from edgelstm.session_policy import SessionPolicy, policy_from_bench_rows, settings_for
from edgelstm.versions import environment_record

__all__ = ["MANIFEST", "MANIFEST_VERSION", "BundleResult", "build_bundle"]

LATENCY_KEYS = ("name", "batch", "steps", "threads", "mode", "p50_ms", "p90_ms")
USAGE_NOTES = "README.md"


@dataclass
class BundleResult:
    """What `bundle` wrote: the directory, its manifest and the files in it."""

    directory: Path
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256
    zip_path: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def parity(self) -> dict[str, Any]:
        """The parity verdict the manifest carries (empty when the bundle was made without one)."""
        return dict(self.manifest.get("parity") or {})


def build_bundle(
    artifact: Path,
    out_dir: Path,
    parity_report: Path | None = None,
    bench_report: Path | None = None,
    make_zip: bool = False,
    overwrite: bool = False,
) -> BundleResult:
    """Pack an artifact with its manifest, parity evidence and usage for an app, written atomically."""
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
    latency, bench_rows, bench_data = _latency(bench_report, artifact.name, sha256)
    policy = _session_policy(bench_report, bench_data, bench_rows, artifact.name)
    with atomic_directory(out_dir, overwrite) as tmp:
        name = artifact.stem
        shutil.copyfile(artifact, tmp / f"{name}.onnx")
        if sha256_file(tmp / f"{name}.onnx") != sha256:
            raise BundleError(f"{artifact} changed while it was being bundled; run the command again")
        _convert(tmp / f"{name}.onnx", tmp / f"{name}.ort")
        _write_operator_config(tmp / f"{name}.ort", tmp / "required_operators.config")
        usability = [to_jsonable(u) for u in mobile_usability(tmp / f"{name}.onnx")]
        (tmp / "mobile_usability.json").write_text(json.dumps(usability, indent=2) + "\n")
        manifest = _manifest(name, metadata, usability, to_jsonable(parity), latency)
        manifest["quantization"] = quantization
        manifest["session_policy"] = to_jsonable(policy)
        manifest["session_settings"] = _session_settings(policy)
        if metadata.interface.form == "streaming":  # what one-chunk calls were measured fastest with (issue 21)
            manifest["session_settings"]["streaming"] = to_jsonable(policy.streaming)
        if entries := weight_only_session_config(artifact):
            # Artifacts from before issue 19 (DequantizeLinear weights): the app must set these too, or the model
            # dequantizes on every call (1.2-1.6x slower). Current weight-only artifacts fold without any entry.
            manifest["session_settings"]["config_entries"] = entries
        (tmp / USAGE_NOTES).write_text(_usage_notes(name, manifest, policy))
        # the state-binding code per language, with the session settings measured for one-chunk calls
        append_streaming_notes(tmp / USAGE_NOTES, name, metadata.interface, policy.streaming)
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
    model = load_onnx_file(artifact)
    props = {p.key: p.value for p in model.metadata_props}
    try:
        metadata = ArtifactMetadata.from_props(props)
        raw = props.get("edgelstm.quantization")
        quantization = json.loads(raw) if raw else None
    except (LoadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoadError(f"{artifact}: {first_line(exc)}; bundle needs an artifact exported by edgelstm") from None
    check_state_pairs(metadata.interface, model, artifact)  # the manifest must not promise a state the graph lacks
    return metadata, quantization


def _convert(onnx_path: Path, target: Path) -> None:
    """Convert the artifact to ORT format for ORT Mobile; a graph ORT cannot load is a LoadError with why."""
    with tempfile.TemporaryDirectory() as work:
        try:
            converted = convert_to_ort(onnx_path, Path(work))
        except onnxruntime_errors() as exc:
            raise LoadError(f"{onnx_path.name}: onnxruntime cannot load it for conversion ({first_line(exc)})") from None
        shutil.copyfile(converted, target)


def _write_zip(directory: Path, target: Path) -> None:
    """Zip the bundle directory, its files in a stable order."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, arcname=path.name)  # flat, relative names only


def _read_json(path: Path, kind: str) -> Any:
    """A JSON report given to `bundle`; an unreadable or malformed one is a LoadError naming the file."""
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


def _latency(report: Path | None, artifact: str, sha256: str) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    """This artifact's bench rows only (bench reports name artifacts by file name, and say so here); with the
    rows as the report has them and the report itself."""
    latency: dict[str, Any] = {"artifact": artifact, "artifact_sha256": sha256, "latencies": [], "settings": None}
    if report is None:
        return {**latency, "status": "not measured", "reason": "no --bench-report was given"}, [], None
    data = _read_json(report, "bench")
    rows = latency_rows(data, Path(report), artifact, sha256)
    latency["settings"] = data.get("settings")
    latency["latencies"] = [{k: r[k] for k in LATENCY_KEYS} | {"allow_spinning": r.get("allow_spinning")} for r in rows]
    if not rows:
        return {**latency, "status": "not measured", "reason": f"{Path(report).name} has no rows for {artifact}"}, [], data
    by_sha = all("artifact_sha256" in r for r in rows)
    matched = "sha256" if by_sha else "file name (the bench report records no sha256)"
    return {**latency, "status": "measured", "matched_by": matched}, rows, data


def _session_policy(report: Path | None, data: Any, rows: list[dict[str, Any]], artifact: str) -> SessionPolicy:
    """The policy measured on this artifact (the bench's own best-setting rule over its rows), or "not measured"
    with the reason: never one made up."""
    if report is None:
        return SessionPolicy.not_measured("no --bench-report was given", artifact)
    versions = data.get("versions") if isinstance(data.get("versions"), dict) else {}
    return policy_from_bench_rows(rows, artifact, Path(report).name, versions)


def _session_settings(policy: SessionPolicy) -> dict[str, Any]:
    """The settings for one sequence at a time (what `bundle verify` runs), as an app sets them."""
    one = settings_for(policy, 1)
    note = "measured fastest at batch 1; other batch sizes: see session_policy" if policy.measured else "not measured: defaults"
    settings: dict[str, Any] = {"intra_op_num_threads": one.intra_op_threads, "allow_spinning": one.allow_spinning, "note": note}
    if one.execution_mode == "parallel":  # measured fastest: nodes side by side on inter-op threads
        settings.update(execution_mode="parallel", inter_op_num_threads=one.inter_op_threads)
    return settings


def _manifest(name: str, metadata: Any, usability: list[dict], parity: dict[str, Any], latency: dict[str, Any]) -> dict[str, Any]:
    """The manifest's content: files, inputs, streaming settings, mobile findings, parity and latency."""
    interface = to_jsonable(metadata.interface)
    prep = to_jsonable(metadata.preprocessing) if metadata.preprocessing else None
    return {
        "manifest_version": MANIFEST_VERSION,
        "model": {"ort": f"{name}.ort", "onnx": f"{name}.onnx", "form": interface["form"], "impl": interface["impl"]},
        "inputs": interface["inputs"],
        "outputs": interface["outputs"],
        "state": interface["states"],
        "streaming_usage": streaming_usage(metadata.interface),
        **_calling_convention(metadata),
        "preprocessing": prep,
        **_input_note(metadata),
        "labels": prep.get("labels") if prep else None,
        "model_config": to_jsonable(metadata.model_config) if metadata.model_config else None,
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
        "versions": environment_record(),
    }


def _input_note(metadata: Any) -> dict[str, Any]:
    """What the data input takes, for a model trained on standardised features: raw values (the graph standardises
    them inside) or standardised ones (the app applies preprocessing's mean/std). Absent for models without
    statistics, whose manifests keep their bytes."""
    prep = metadata.preprocessing
    normalization = metadata.interface.normalization
    if normalization is None and (prep is None or prep.feature_mean is None or prep.feature_std is None):
        return {}
    if normalization is not None:
        note = "feed raw features as the device gives them: the graph standardises them itself ((x - mean) / std, training statistics)"
    else:
        note = "feed standardised features: (x - preprocessing.feature_mean) / preprocessing.feature_std per feature"
    return {"input_normalization": {"in_graph": normalization is not None, "note": note}}


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


def _usage_notes(name: str, manifest: dict[str, Any], policy: SessionPolicy) -> str:
    """README.md of the bundle: what to load, what to feed, and the session settings measured for it."""
    lines = [f"# {name}: an edgelstm bundle", "", "## Files", ""]
    lines += [
        f"- `{name}.ort`: the model in ORT format, for ONNX Runtime Mobile and minimal builds",
        f"- `{name}.onnx`: the same model as ONNX",
        "- `required_operators.config`: the operators a minimal ONNX Runtime build must include",
        "- `mobile_usability.json`: which nodes NNAPI and CoreML would take",
        "- `manifest.json`: inputs, outputs, state layout, preprocessing, parity, latency, the sha256 of every file",
        "",
        "## Inputs and outputs",
        "",
    ]
    lines += [f"- input `{i['name']}` {i['dtype']} {i['shape']}" for i in manifest["inputs"]]
    lines += [f"- output `{o['name']}` {o['dtype']} {o['shape']}" for o in manifest["outputs"]]
    if manifest.get("input_normalization"):
        lines += ["", "## Input", "", manifest["input_normalization"]["note"] + "."]
    if manifest.get("labels"):
        lines += ["", "## Labels (output index: class)", ""]
        lines += [f"- {i}: {label}" for i, label in enumerate(manifest["labels"])]
    if manifest.get("streaming_usage"):
        lines += ["", "## Streaming", "", manifest["streaming_usage"]]
    lines += ["", "## Session settings (threads and spinning per batch size)", "", f"Policy: {policy.summary}."]
    if policy.measured:
        where = ", ".join(f"{k} {v}" for k, v in policy.measured_on.items())
        lines += [
            f"Measured by `edgelstm bench` ({policy.source}{'; ' + where if where else ''}); re-measure on the target device."
        ]
        lines += [f"- from batch {e.from_batch}: {e.describe()}" for e in policy.entries]
    one = manifest["session_settings"]
    spin = "1" if one["allow_spinning"] else "0"
    lines += [
        "",
        f"For one sequence at a time: {one['intra_op_num_threads']} intra-op thread(s), spinning {spin}:",
        "",
        f"- C/C++: `options.SetIntraOpNumThreads({one['intra_op_num_threads']}); "
        f'options.AddConfigEntry("session.intra_op.allow_spinning", "{spin}");`',
        f"- Java/Kotlin: `options.setIntraOpNumThreads({one['intra_op_num_threads']}); "
        f'options.addConfigEntry("session.intra_op.allow_spinning", "{spin}")`',
        f"- Swift/Objective-C: `try options.setIntraOpNumThreads({one['intra_op_num_threads']}); "
        f'try options.addConfigEntry(withKey: "session.intra_op.allow_spinning", value: "{spin}")`',
        "- Python: `edgelstm.session_policy.settings_for(policy, batch)` gives the settings for any batch size",
    ]
    if one.get("execution_mode") == "parallel":
        inter = one["inter_op_num_threads"]
        lines += [
            f"- parallel execution ({inter} inter-op threads): C/C++ `options.SetExecutionMode(ExecutionMode::ORT_PARALLEL); "
            f"options.SetInterOpNumThreads({inter});`, Java/Kotlin `options.setExecutionMode("
            f"OrtSession.SessionOptions.ExecutionMode.PARALLEL); options.setInterOpNumThreads({inter})`",
        ]
    for key, value in (one.get("config_entries") or {}).items():
        lines.append(f'- also set config entry `"{key}"` = `"{value}"` (without it this model runs slower)')
    if manifest.get("streaming_usage"):
        streaming = policy.streaming
        lines += [
            "",
            f"Streaming, one chunk per call: {streaming.describe()} (measured by {streaming.measured_by}):",
            "the code under Streaming from an app sets them; in Python `StreamingSession.open(path)` opens with them",
            "(`edgelstm.bundle.manifest.read_manifest(...).session_policy.streaming.settings()` reads them back).",
        ]
    return "\n".join(lines) + "\n"
