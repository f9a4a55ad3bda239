"""Distillation losses by task: what the student is trained to match."""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F


def classification_loss(student: Tensor, teacher: Tensor, labels: Tensor | None, alpha: float, temperature: float) -> Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels); KL only without labels."""
    t = temperature
    kd = F.kl_div(F.log_softmax(student / t, dim=-1), F.softmax(teacher / t, dim=-1), reduction="batchmean") * t * t
    if labels is None:
        return kd
    return alpha * kd + (1 - alpha) * F.cross_entropy(student, labels)


def regression_loss(student: Tensor, teacher: Tensor, targets: Tensor | None, alpha: float, huber: bool) -> Tensor:
    """alpha * loss(student, teacher) + (1 - alpha) * loss(student, targets); MSE or Huber."""
    loss = F.huber_loss if huber else F.mse_loss
    to_teacher = loss(student, teacher)
    if targets is None:
        return to_teacher
    return alpha * to_teacher + (1 - alpha) * loss(student, targets.reshape(student.shape).to(student.dtype))


def language_model_loss(
    student: Tensor, teacher: Tensor, next_tokens: Tensor | None, mask: Tensor | None, alpha: float, temperature: float
) -> Tensor:
    """Per-token KL to the teacher's next-token distribution (x T^2), mixed with cross-entropy on the true next
    tokens when given (alpha weighs the teacher term); valid steps only."""
    t = temperature
    per_token = F.kl_div(F.log_softmax(student / t, dim=-1), F.softmax(teacher / t, dim=-1), reduction="none").sum(-1) * t * t
    if next_tokens is not None:
        ce = F.cross_entropy(student.reshape(-1, student.shape[-1]), next_tokens.reshape(-1), reduction="none")
        per_token = alpha * per_token + (1 - alpha) * ce.reshape(per_token.shape)
    if mask is None:
        return per_token.mean()
    weights = mask.to(per_token.dtype)
    return (per_token * weights).sum() / weights.sum().clamp(min=1.0)


def hidden_state_loss(projected_student: Tensor, teacher: Tensor) -> Tensor:
    """MSE between the projected student final hidden state and the teacher's (both [B, width])."""
    return F.mse_loss(projected_student, teacher)
