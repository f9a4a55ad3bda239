"""`bundle --target android`: a `.tflite` for the LiteRT Interpreter, its manifest and a Kotlin usage snippet.

The manifest has the keys of an ONNX bundle's where they mean the same (inputs, outputs, state, preprocessing,
labels, parity over this exact file's sha256, files with their sha256s) and `model.tflite` instead of the ORT and
ONNX files. It also names each input and output of the file's signature, which an app passes to
`Interpreter.runSignature`: by name, so no app depends on tensor index order. Written atomically, no absolute paths.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from edgelstm.artifact.file import open_tflite
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.litert_file import read_sidecar
from edgelstm.artifact.litert_runner import SIGNATURE, LiteRTRunner
from edgelstm.bundle.build import USAGE_NOTES, BundleResult
from edgelstm.bundle.manifest import MANIFEST, MANIFEST_VERSION
from edgelstm.bundle.targets import check_targets, zip_path_for
from edgelstm.errors import BundleError, LoadError, describe_os_error, first_line
from edgelstm.files import atomic_directory, atomic_path
from edgelstm.jsonio import to_jsonable
from edgelstm.report.evidence import ParityEvidence, parity_evidence, sha256_file
from edgelstm.versions import environment_record


def build_litert_bundle(
    artifact: Path, out_dir: Path, parity_report: Path | None = None, make_zip: bool = False, overwrite: bool = False
) -> BundleResult:
    """Pack a `.tflite` edgelstm exported (its sidecar beside it) for an Android app, written atomically."""
    artifact, out_dir = Path(artifact), Path(out_dir)
    if not artifact.is_file() or artifact.suffix != ".tflite":
        raise LoadError(f"{artifact}: bundle --target android needs a .tflite exported by edgelstm (export --target litert)")
    zip_path = zip_path_for(out_dir) if make_zip else None
    check_targets(out_dir, zip_path, overwrite)
    info = open_tflite(artifact)  # the sidecar, checked against the file's sha256
    sidecar, sha256 = read_sidecar(artifact)
    signature = signature_names(artifact, info.interface)
    parity = _parity(parity_report, artifact.name, sha256)
    with atomic_directory(out_dir, overwrite) as tmp:
        name = artifact.stem
        shutil.copyfile(artifact, tmp / f"{name}.tflite")
        if sha256_file(tmp / f"{name}.tflite") != sha256:
            raise BundleError(f"{artifact} changed while it was being bundled; run the command again")
        manifest = _manifest(name, sidecar, info.interface, signature, to_jsonable(parity))
        (tmp / USAGE_NOTES).write_text(usage_notes(name, manifest))
        manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        files = dict(manifest["files"])
        if zip_path is not None:
            with atomic_path(zip_path, overwrite) as tmp_zip, zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(tmp.iterdir()):
                    archive.write(path, arcname=path.name)
    return BundleResult(out_dir, files, zip_path, manifest)


def signature_names(path: Path, interface: GraphInterface) -> dict[str, str]:
    """Each interface input/output name -> its name in the file's signature (args_0, output_0, ...), read from the
    file in the LiteRT interpreter (which also proves the file loads)."""
    return LiteRTRunner(path, interface).signature_names  # a file the interpreter refuses: one LoadError line


def _parity(report: Path | None, artifact: str, sha256: str) -> ParityEvidence:
    """The verdict over this exact file, or "not checked" with the reason; never another file's verdict."""
    if report is None:
        return ParityEvidence(artifact, sha256, "not checked", None, reason="no --parity-report was given")
    try:
        data = json.loads(Path(report).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise LoadError(f"--parity-report {describe_os_error(exc)}") from None
    except ValueError as exc:
        raise LoadError(f"{report}: not a readable parity report ({first_line(exc)})") from None
    return parity_evidence(data, Path(report), artifact, sha256)


def _manifest(
    name: str, sidecar: Any, interface: GraphInterface, signature: dict[str, str], parity: dict[str, Any]
) -> dict[str, Any]:
    data = to_jsonable(interface)
    for spec in (*data["inputs"], *data["outputs"]):
        spec["signature_name"] = signature[spec["name"]]
    prep = to_jsonable(sidecar.metadata.preprocessing) if sidecar.metadata.preprocessing else None
    config = sidecar.metadata.model_config
    return {
        "manifest_version": MANIFEST_VERSION,
        "model": {"tflite": f"{name}.tflite", "form": data["form"], "impl": data["impl"], "runtime": "LiteRT"},
        "signature": SIGNATURE,
        "static_shape": to_jsonable(sidecar.shape),
        "precision": sidecar.precision,
        "inputs": data["inputs"],
        "outputs": data["outputs"],
        "state": data["states"],
        "input_normalization": data.get("input_normalization"),
        "preprocessing": prep,
        "labels": prep.get("labels") if prep else None,
        "model_config": to_jsonable(config) if config else None,
        "parity": parity,
        "converter": sidecar.converter,
        "versions": environment_record(),
    }


def _buffer(spec: dict[str, Any], batch: int, steps: int) -> tuple[str, int]:
    dims = [batch if d == "batch" else steps if d in ("chunk", "time") else int(d) for d in spec["shape"]]
    count = 1
    for d in dims:
        count *= d
    return "x".join(map(str, dims)), count


def kotlin_snippet(name: str, manifest: dict[str, Any]) -> str:
    """Kotlin for the LiteRT Interpreter: direct buffers for every input and output, one `runSignature` per
    chunk, and each state output buffer swapped with its input buffer after the call."""
    shape = manifest["static_shape"]
    batch, steps = shape["batch"], shape.get("chunk") or shape.get("steps")
    states = {s["input_name"]: s["output_name"] for s in manifest["state"]}
    lines = [
        "import org.tensorflow.lite.Interpreter  // LiteRT: com.google.ai.edge.litert:litert",
        "import java.nio.ByteBuffer",
        "import java.nio.ByteOrder",
        "",
        "fun buffer(floats: Int): ByteBuffer = ByteBuffer.allocateDirect(4 * floats).order(ByteOrder.nativeOrder())",
        "",
        f'val interpreter = Interpreter(loadModelFile("{name}.tflite"), Interpreter.Options().setNumThreads(1))',
    ]
    for spec in (*manifest["inputs"], *manifest["outputs"]):
        dims, count = _buffer(spec, batch, steps)
        role = "state (zeros to start)" if spec["name"] in states or spec["name"] in states.values() else spec["name"]
        lines.append(f"var {_kt(spec['name'])} = buffer({count})  // {spec['name']} [{dims}] float32: {role}")
    inputs = ", ".join(f'"{s["signature_name"]}" to {_kt(s["name"])}' for s in manifest["inputs"])
    outputs = ", ".join(f'"{s["signature_name"]}" to {_kt(s["name"])}' for s in manifest["outputs"])
    lines += [
        "",
        f"// one call = {steps} step(s) of {batch} stream(s); fill {_kt(manifest['inputs'][0]['name'])} first",
        "fun step() {",
        f'    interpreter.runSignature(mapOf({inputs}), mapOf({outputs}), "{manifest["signature"]}")',
    ]
    for state_in, state_out in states.items():
        a, b = _kt(state_in), _kt(state_out)
        lines.append(f"    {a} = {b}.also {{ {b} = {a} }}  // this call's {state_out} is the next call's {state_in}")
    lines += [
        "    listOf("
        + ", ".join(_kt(s["name"]) for s in (*manifest["inputs"], *manifest["outputs"]))
        + ").forEach { it.rewind() }",
        "}",
    ]
    return "\n".join(lines)


def _kt(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def usage_notes(name: str, manifest: dict[str, Any]) -> str:
    """README.md of the bundle: the file, what to feed, and the Kotlin that runs it chunk by chunk."""
    shape = manifest["static_shape"]
    lines = [f"# {name}: an edgelstm LiteRT bundle", "", "## Files", ""]
    lines += [
        f"- `{name}.tflite`: the model for the LiteRT Interpreter ({manifest['precision']}), static shape {shape}",
        "- `manifest.json`: inputs, outputs, state layout, preprocessing, parity, the sha256 of every file",
        "",
        "## Inputs and outputs (fixed shapes: this file runs at no other batch or chunk)",
        "",
    ]
    batch, steps = shape["batch"], shape.get("chunk") or shape.get("steps")
    for role, key in (("input", "inputs"), ("output", "outputs")):
        lines += [
            f"- {role} `{t['name']}` ({t['signature_name']}) {t['dtype']} [{_buffer(t, batch, steps)[0]}]" for t in manifest[key]
        ]
    if manifest.get("input_normalization"):
        lines += ["", "The model standardises its input itself: feed raw features as the device gives them."]
    if manifest.get("labels"):
        lines += ["", "## Labels (output index: class)", ""] + [f"- {i}: {lab}" for i, lab in enumerate(manifest["labels"])]
    lines += ["", "## Kotlin", "", "```kotlin", kotlin_snippet(name, manifest), "```"]
    return "\n".join(lines) + "\n"
