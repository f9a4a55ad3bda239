"""A distill output directory: whose run it holds, the state to resume from, and the best student it publishes.

A run's identity is its settings plus sha256 fingerprints of the teacher's weights and of the training and
validation data. It is recorded in the resume state, inside best/ (written in the same directory swap as the
checkpoint, so best/ never exists without its record) and in distill.json. A directory holding a run of another
identity is never resumed, reported or partly replaced: it is refused, untouched, unless `overwrite` is given.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import Preprocessing
from edgelstm.distill.spec import DistillConfig
from edgelstm.errors import OutputExistsError, ResumeStateError, first_line
from edgelstm.files import atomic_directory
from edgelstm.jsonio import to_jsonable
from edgelstm.model import SequenceModel
from edgelstm.parity.data import SequenceData

STATE_FILE = "distill_state.pt"
BEST_DIR = "best"
BEST_RECORD = "distill_best.json"
SUMMARY_FILE = "distill.json"
REPORT_FILES = ("distill_report.md", "distill_report.json")
OWNED = (STATE_FILE, BEST_DIR, SUMMARY_FILE, *REPORT_FILES)  # what --overwrite may remove; nothing else
STATE_KEYS = ("trainee", "optimizer", "schedule", "state", "identity")
PROGRESS_KEYS = ("epoch", "step_in_epoch", "global_step", "history", "best", "best_epoch", "bad_epochs")


@dataclass(frozen=True)
class RunIdentity:
    """What makes a distill run itself (config, teacher and data sha256s): a resume must match it."""

    config: dict[str, Any]
    teacher_sha256: str
    train_sha256: str
    validation_sha256: str

    @property
    def digest(self) -> str:
        """sha256 of the identity, stored in the run directory."""
        return hashlib.sha256(json.dumps(to_jsonable(self), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: object) -> RunIdentity | None:
        """None for anything that is not a complete identity (a run of an older edgelstm, a foreign file)."""
        if not isinstance(data, dict) or set(data) != {"config", "teacher_sha256", "train_sha256", "validation_sha256"}:
            return None
        return cls(**data) if isinstance(data["config"], dict) else None

    def differences(self, other: RunIdentity | None) -> list[str]:
        """What differs from `other`, in the words of the options that set it."""
        if other is None:
            return ["an unrecorded (older or foreign) run"]
        found = [
            what
            for what, mine, theirs in (
                ("teacher", self.teacher_sha256, other.teacher_sha256),
                ("--data", self.train_sha256, other.train_sha256),
                ("--validation", self.validation_sha256, other.validation_sha256),
            )
            if mine != theirs
        ]
        changed = sorted(_changed_keys(self.config, other.config))
        if changed:
            found.append("settings: " + ", ".join(changed))
        return found


def _changed_keys(mine: dict[str, Any], theirs: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the settings that differ (`student.hidden_size`), nested tables included."""
    changed = []
    for key in {*mine, *theirs}:
        a, b = mine.get(key), theirs.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed


def run_identity(
    teacher_module: torch.nn.Module, train: SequenceData, validation: SequenceData, config: DistillConfig
) -> RunIdentity:
    """The identity of a run from its config, teacher and data, as read back from any record."""
    settings = json.loads(json.dumps(to_jsonable(config)))  # as read back from any record (tuples become lists)
    return RunIdentity(settings, fingerprint_module(teacher_module), fingerprint_data(train), fingerprint_data(validation))


def fingerprint_data(data: SequenceData) -> str:
    """sha256 of the arrays' values, shapes and dtypes (not of the file: the same arrays from .npz or CSV match)."""
    digest = hashlib.sha256()
    for name, array in (("x", data.x), ("lengths", data.lengths), ("y", data.y)):
        digest.update(name.encode())
        if array is not None:
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.data)
    return digest.hexdigest()


def fingerprint_module(module: torch.nn.Module) -> str:
    """sha256 of the module's class, configuration (edgelstm models) and every tensor of its state dict."""
    digest = hashlib.sha256(type(module).__qualname__.encode())
    config = getattr(module, "config", None)
    if isinstance(module, SequenceModel) and config is not None:
        digest.update(config.to_json().encode())
    for name, value in sorted(module.state_dict().items()):
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{tensor.dtype}{tuple(value.shape)}".encode())
            digest.update(tensor.view(torch.uint8).numpy().data)  # raw bytes: also bfloat16, which numpy lacks
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def claim_run_dir(out: Path, identity: RunIdentity, overwrite: bool, device: torch.device) -> tuple[dict[str, Any] | None, bool]:
    """(the saved state to resume from or None, whether the directory's earlier run must be cleared first).

    Reads only: a refusal leaves the directory exactly as it was. Every record of a run found there (resume state,
    best/'s record, distill.json) must name this identity; one that does not, or a best/ with no record, is
    another run: refused unless `overwrite`.
    """
    present = [name for name in OWNED if (out / name).exists()]
    if not present:
        return None, False
    state_path = out / STATE_FILE
    try:
        saved = read_state(state_path, device) if state_path.exists() else None
        recorded = [RunIdentity.from_dict(saved["identity"])] if saved is not None else []
        recorded += [_read_identity(out / BEST_DIR / BEST_RECORD)] if (out / BEST_DIR).exists() else []
        recorded += [_read_identity(out / SUMMARY_FILE)] if (out / SUMMARY_FILE).exists() else []
    except ResumeStateError:
        if overwrite:
            return None, True
        raise
    others = [r for r in recorded if r != identity]  # None: a record without an identity
    if others or not recorded:
        if overwrite:
            return None, True
        differs = "; ".join(identity.differences(others[0] if others else None))
        raise OutputExistsError(
            f"{out} holds another distill run ({', '.join(present)}; it differs in {differs}); "
            "pass --overwrite to replace it, or choose another --out"
        )
    if saved is not None and saved["state"]["best_epoch"] >= 1 and not (out / BEST_DIR).exists():
        raise ResumeStateError(
            f"{out / BEST_DIR} is missing but {state_path} records a best epoch; pass --overwrite to train again"
        )
    return saved, False


def clear_run(out: Path) -> None:
    """Remove what an earlier run wrote here (only distill's own files: anything else in the directory stays)."""
    for name in OWNED:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def read_state(path: Path, device: torch.device) -> dict[str, Any]:
    """The resume state, checked for the entries resuming needs; a truncated or foreign file is a named error."""
    how = "delete it (or pass --overwrite) to start the run over"
    try:
        saved = torch.load(path, weights_only=True, map_location=device)  # never unpickles code
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError... for damaged files
        raise ResumeStateError(f"{path}: truncated or corrupt resume state ({first_line(exc, 120)}); {how}") from None
    if not isinstance(saved, dict) or any(key not in saved for key in STATE_KEYS):
        raise ResumeStateError(f"{path}: not a resume state of this edgelstm version (missing entries); {how}")
    progress = saved["state"]
    if not isinstance(progress, dict) or any(key not in progress for key in PROGRESS_KEYS):
        raise ResumeStateError(f"{path}: resume state without its training position; {how}")
    return saved


def _read_identity(record: Path) -> RunIdentity | None:
    """The identity recorded in a run directory, or None when there is none."""
    if not record.is_file():
        return None  # a best/ without a record: written by something else (or an older edgelstm)
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise ResumeStateError(
            f"{record}: unreadable run record ({first_line(exc, 120)}); pass --overwrite to start over"
        ) from None
    return RunIdentity.from_dict(data.get("identity") if isinstance(data, dict) else None)


def save_best(
    out: Path, student: SequenceModel, preprocessing: Preprocessing | None, identity: RunIdentity, epoch: int, loss: float
) -> None:
    """Publish best/ (checkpoint + the record of which run and epoch produced it) in one directory swap.

    A failure anywhere (a full disk) leaves the previous best/ as it was and no partial directory.
    """
    record = {"identity": to_jsonable(identity), "epoch": epoch, "validation_loss": loss}
    with atomic_directory(out / BEST_DIR, overwrite=True) as tmp:
        save_checkpoint(student, tmp, preprocessing, overwrite=True)  # swaps its files into our temporary directory
        (tmp / BEST_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
