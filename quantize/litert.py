"""`quantize --target litert`: a verified fp32 `.tflite` quantized with ai-edge-quantizer, gated like ONNX schemes.

The PT2E int8 route fails inside the LiteRT converter (`stablehlo.uniform_dequantize`), so quantization works on
the converted file: ai-edge-quantizer's recipes rewrite the `.tflite` itself. Each result is checked on the
`litert` provider against the float64 model (the same gate, tolerances and verdict as an ONNX scheme) before it
is written; one that fails is not written unless `keep_failed`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.litert_file import LiteRTSidecar, read_sidecar, sidecar_path
from edgelstm.artifact.litert_imports import optional_module
from edgelstm.artifact.litert_metadata import embed_interface
from edgelstm.artifact.litert_runner import quiet_native_output
from edgelstm.errors import ConfigError, ExportError, first_line
from edgelstm.export.litert_convert import CONVERT_EXTRA, converter_versions
from edgelstm.files import ensure_writable, write_artifact_pair
from edgelstm.jsonio import is_empty, json_meta
from edgelstm.quantize.api import Gate

# The ai-edge-quantizer recipes offered, by edgelstm's scheme names: int8 weights with float activations quantized
# per call (dynamic range), or int8 weights expanded to float (weight-only).
LITERT_RECIPES = {"dynamic-int8": "dynamic_wi8_afp32", "weight-only-int8": "weight_only_wi8_afp32"}


def _or_not_checked(parity: dict[str, Any]) -> dict[str, Any] | str:
    return parity if parity else "not checked"


@dataclass
class LiteRTQuantizeResult:
    """One `.tflite` quantized from a verified fp32 one, with the gate's verdict (its JSON: `quantize --json`)."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("target", "recipe")
    JSON_ORDER: ClassVar[tuple[str, ...]] = (
        "target",
        "scheme",
        "recipe",
        "source",
        "path",
        "written",
        "sha256",
        "size_bytes",
        "source_size_bytes",
        "parity_passed",
        "parity",
    )
    target: ClassVar[str] = "litert"  # `quantize --json` readers tell it from an ONNX result by it

    scheme: str
    source: Path
    path: Path
    sha256: str
    size_bytes: int
    source_size_bytes: int
    parity: dict[str, Any] = field(default_factory=dict, metadata=json_meta(convert=_or_not_checked))
    parity_passed: bool | None = None  # None: not checked (--no-check)
    written: bool = False
    # scheme "auto": every recipe tried (scheme, bytes, verdict), the smallest that passed written
    candidates: list[dict[str, Any]] = field(default_factory=list, metadata=json_meta(omit_if=is_empty))

    @property
    def recipe(self) -> str:
        """ai-edge-quantizer's name for the scheme."""
        return LITERT_RECIPES[self.scheme]


def _recipe(scheme: str) -> Any:
    if scheme not in LITERT_RECIPES:
        raise ConfigError(f"--target litert --scheme {scheme!r}: choose {', '.join(LITERT_RECIPES)}")
    needed = "quantizing .tflite artifacts needs ai-edge-quantizer"  # the `litert-convert` extra
    quantizer = optional_module("ai_edge_quantizer.quantizer", needed, CONVERT_EXTRA)
    recipe = optional_module("ai_edge_quantizer.recipe", needed, CONVERT_EXTRA)
    return quantizer, getattr(recipe, LITERT_RECIPES[scheme])()


def quantize_tflite(
    source: Path, out_dir: Path, scheme: str, gate: Gate | None, keep_failed: bool = False, overwrite: bool = False
) -> LiteRTQuantizeResult:
    """`source` (an fp32 .tflite edgelstm exported) quantized with `scheme`'s recipe; gated, then written with its
    sidecar (precision int8, the same interface) as `<stem>_<scheme>.tflite`."""
    quantizer, recipe = _recipe(scheme)
    sidecar, _ = read_sidecar(source)
    if sidecar.precision != "fp32":
        raise ConfigError(f"{source}: is {sidecar.precision} already; quantize the fp32 .tflite export wrote")
    target = Path(out_dir) / f"{source.stem}_{scheme.replace('-', '_')}.tflite"
    ensure_writable(target, overwrite)
    ensure_writable(sidecar_path(target), overwrite)
    try:
        with quiet_native_output():
            engine = quantizer.Quantizer(str(source))
            engine.load_quantization_recipe(recipe)
            content = bytes(engine.quantize().quantized_model)
    except Exception as exc:  # the quantizer's failure types all mean: this recipe does not apply to the file
        raise ExportError(f"ai-edge-quantizer could not apply {LITERT_RECIPES[scheme]} to {source}: {first_line(exc)}") from None
    converter = {**sidecar.converter, **converter_versions()}
    described = LiteRTSidecar(sidecar.metadata, sidecar.shape, "int8", "", converter)
    content = embed_interface(content, described.interface_json())  # before the gate: the bytes gated are the bytes written
    digest = hashlib.sha256(content).hexdigest()
    quantized = replace(described, tflite_sha256=digest)
    result = LiteRTQuantizeResult(scheme, source, target, digest, len(content), source.stat().st_size)
    text = quantized.to_json()
    if gate is not None:
        with tempfile.TemporaryDirectory(prefix="edgelstm-litert-q-") as tmp:
            candidate = Path(tmp) / target.name
            candidate.write_bytes(content)
            sidecar_path(candidate).write_text(text)
            open_artifact(candidate)  # the sidecar reads back before anything is judged
            result.parity = gate.run(candidate)
        result.parity_passed = bool(result.parity["passed"])
        if not result.parity_passed and not keep_failed:
            return result  # nothing published: a failed artifact must not look like a shippable one
        data = json.loads(text)
        data["parity"] = result.parity
        text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    write_artifact_pair(target, content, sidecar_path(target), text, overwrite)
    result.written = True
    return result


def select_tflite(source: Path, out_dir: Path, gate: Gate, overwrite: bool = False) -> LiteRTQuantizeResult:
    """`--scheme auto` for a .tflite: every recipe gated, the smallest that passed written (none: nothing written;
    the result is the smallest that failed, with every candidate's figures)."""
    with tempfile.TemporaryDirectory(prefix="edgelstm-litert-auto-") as tmp:
        tried = [quantize_tflite(source, Path(tmp), scheme, gate) for scheme in LITERT_RECIPES]
        table = [
            {"scheme": r.scheme, "size_bytes": r.size_bytes, "verdict": r.parity.get("verdict"), "passed": r.parity_passed}
            for r in tried
        ]
        passed = [r for r in tried if r.parity_passed]
        chosen = min(passed or tried, key=lambda r: r.size_bytes)
        target = Path(out_dir) / chosen.path.name
        if chosen.parity_passed:
            text = sidecar_path(chosen.path).read_text()
            write_artifact_pair(target, chosen.path.read_bytes(), sidecar_path(target), text, overwrite)
    chosen.path, chosen.written, chosen.candidates = target, bool(chosen.parity_passed), table
    return chosen
