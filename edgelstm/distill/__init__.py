"""Knowledge distillation into a smaller edgelstm student (classification, regression, language models)."""

from edgelstm.distill.trainer import DistillConfig, DistillResult, StudentSpec, distill, student_config

__all__ = ["DistillConfig", "DistillResult", "StudentSpec", "distill", "student_config"]
