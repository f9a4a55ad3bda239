"""The one-command pipeline: a typed recipe, run step by step, resumable."""

from edgelstm.pipeline.recipe import Recipe, load_recipe
from edgelstm.pipeline.run import PipelineError, PipelineResult, StepRecord, run_pipeline

__all__ = ["PipelineError", "PipelineResult", "Recipe", "StepRecord", "load_recipe", "run_pipeline"]
