"""Knowledge distillation into a smaller edgelstm student (classification, regression, language models)."""

from edgelstm.distill.fake_quant import FakeQuantSpec
from edgelstm.distill.metrics import TaskMetric
from edgelstm.distill.sizing import parse_count, spec_for_budget
from edgelstm.distill.spec import DistillConfig, StudentSpec
from edgelstm.distill.trainer import DistillResult, StepProgress, distill, student_config

__all__ = [
    "DistillConfig",
    "DistillResult",
    "FakeQuantSpec",
    "StepProgress",
    "StudentSpec",
    "TaskMetric",
    "distill",
    "parse_count",
    "spec_for_budget",
    "student_config",
]
