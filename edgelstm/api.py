"""The typed Python API: what every `edgelstm` command runs, for notebooks and a project's own CI.

Each function takes the model as the CLI builds it (a `ModelSource`, or an already loaded `LoadedModel`), options
as a frozen dataclass, and returns a typed result; expected failures raise the named errors of `edgelstm.errors`
(never `SystemExit`). The commands in `edgelstm.commands` only parse options, call one of these and render::

    from pathlib import Path
    from edgelstm.api import CheckOptions, ExportOptions, check, export
    from edgelstm.model_source import ModelSource

    model = ModelSource("runs/watch-lstm")
    exported = export(model, Path("runs/watch-onnx"), ExportOptions(overwrite=True))
    verdict = check([exported.path], model, CheckOptions(providers=("cpu",)))
    assert verdict.passed, verdict.verdict

The names are not re-exported from `edgelstm` itself: `edgelstm.export`, `edgelstm.quantize`, `edgelstm.bench`,
`edgelstm.bundle` and `edgelstm.distill` are packages, and a function of the same name there would be shadowed by
(or shadow) the subpackage depending on import order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgelstm.api_quantize import QuantizeOptions, QuantizeOutcome, QuantizeTarget, quantize
from edgelstm.api_steps import (
    BundleOptions,
    BundleTarget,
    CheckOptions,
    CheckOutcome,
    DistillOptions,
    DistillOutcome,
    ExportOptions,
    ExportOutcome,
    ExportTarget,
    Model,
    bench,
    bundle,
    check,
    distill,
    export,
    streams_against_file,
    verify,
)
from edgelstm.pipeline import PipelineResult, Recipe, StepRecord, load_recipe, run_pipeline

__all__ = [
    "BundleOptions",
    "BundleTarget",
    "CheckOptions",
    "CheckOutcome",
    "DistillOptions",
    "DistillOutcome",
    "ExportOptions",
    "ExportOutcome",
    "ExportTarget",
    "Model",
    "QuantizeOptions",
    "QuantizeOutcome",
    "QuantizeTarget",
    "bench",
    "bundle",
    "check",
    "convert",
    "distill",
    "export",
    "quantize",
    "streams_against_file",
    "verify",
]


def convert(recipe: Recipe | Path, restart: bool = False, on_step: Callable[[StepRecord], None] | None = None) -> PipelineResult:
    """load -> [distill] -> export -> quantize -> check -> bench -> report -> bundle from a recipe; re-runs resume::

        result = convert(Path("recipe.toml"))
        print(result.passed, [(s.name, s.status) for s in result.steps])

    Each finished step is recorded in the output directory's pipeline.json; `restart` redoes every step.
    """
    parsed = recipe if isinstance(recipe, Recipe) else load_recipe(Path(recipe))  # validated before any work starts
    return run_pipeline(parsed, restart=restart, on_step=on_step)
