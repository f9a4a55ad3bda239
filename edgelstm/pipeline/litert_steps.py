"""The LiteRT steps of `convert` (`[export] target = "litert"`): one verified streaming `.tflite` per chunk length,
each quantized by ai-edge-quantizer and gated on the `litert` provider, the chosen one bundled for Android.

check, bench and report are the ONNX recipe's own steps: each runs a `.tflite` on its own provider and shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgelstm.api_steps import ExportOptions, export
from edgelstm.errors import ExportError
from edgelstm.export.litert import LiteRTExportResult
from edgelstm.loading import LoadedModel
from edgelstm.parity import TolerancePolicy
from edgelstm.parity.data import SequenceData
from edgelstm.pipeline.recipe import Recipe
from edgelstm.quantize import ParityGate
from edgelstm.quantize.litert import LiteRTQuantizeResult, quantize_tflite, select_tflite

__all__ = ["LiteRTQuantized", "export_tflites", "quantize_tflites"]


def export_tflites(loaded: LoadedModel, recipe: Recipe) -> list[Path]:
    """The streaming form at every `[export] chunks` length (batch 1), each verified against torch before it is written."""
    options = ExportOptions(target="litert", form="streaming", chunks=recipe.chunks, overwrite=True)
    result = export(loaded, recipe.out_dir / "export", options)
    if not isinstance(result, LiteRTExportResult):  # target litert always makes .tflite files
        raise ExportError(f"litert export returned {type(result).__name__}")
    if not result.passed:
        failed = [a.path.name for a in result.artifacts if not a.verification.passed]
        raise ExportError(f"litert export failed verification ({', '.join(failed) or 'nothing converted'})")
    return [a.path for a in result.artifacts]


@dataclass(frozen=True)
class LiteRTQuantized:
    """What the quantize step published: the gated int8 files, the one to bundle, and a note per file."""

    published: list[Path] = field(default_factory=list)
    best: Path | None = None  # the first chunk's passing int8 file (None: none passed; the bundle takes fp32)
    notes: list[str] = field(default_factory=list)


def quantize_tflites(
    loaded: LoadedModel, data: SequenceData, policy: TolerancePolicy, recipe: Recipe, exports: list[Path]
) -> LiteRTQuantized:
    """Every exported `.tflite` through each scheme of the recipe (`auto`: the smallest recipe that passes), gated
    on `litert` against the float64 model with the held-out data; only what passes is written."""
    gate = ParityGate(loaded, data, policy, provider="litert")  # reference outputs computed once for every file
    published: list[Path] = []
    notes: list[str] = []
    best: Path | None = None
    for source in exports:
        for scheme in recipe.schemes:
            out = recipe.out_dir / "quantize"
            if scheme == "auto":
                result = select_tflite(source, out, gate, overwrite=True)
            else:
                result = quantize_tflite(source, out, scheme, gate, overwrite=True)
            notes.append(_note(source, scheme, result))
            if result.written:
                published.append(result.path)
                best = best or (result.path if source == exports[0] else None)
    return LiteRTQuantized(published, best, notes)


def _note(source: Path, scheme: str, result: LiteRTQuantizeResult) -> str:
    if scheme == "auto" and not result.written:
        return f"{source.name}: auto: no recipe passed the parity gate, nothing written"
    picked = f"auto picked {result.scheme}" if scheme == "auto" else result.scheme
    verdict = "written" if result.written else "failed the parity gate, not written"
    return f"{source.name}: {picked} {result.size_bytes:,} bytes, {verdict}"
