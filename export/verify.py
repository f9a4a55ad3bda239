"""Run an exported graph in ONNX Runtime at shapes other than the export example and compare with torch.

A graph that only works at the example shape (a frozen time axis, a baked-in batch size) is a failed export.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.feeds import data_for_graph, sequence_feeds
from edgelstm.artifact.interface import GraphInterface
from edgelstm.artifact.layout import run_batch_first
from edgelstm.artifact.session import SessionSettings, session_from_onnx
from edgelstm.comparison import FP32_TOLERANCE, CaseComparison, Tolerance, compare_tensors
from edgelstm.errors import ConfigError, InputShapeError, first_line
from edgelstm.export.native import random_inputs_like
from edgelstm.jsonio import json_meta
from edgelstm.model import SequenceModel
from edgelstm.state import torch_state_groups

Feeds = dict[str, np.ndarray]
GraphRun = Callable[[list[str], Feeds], list[np.ndarray]]  # a session's run, batch-first (edgelstm.artifact.layout)
MAX_VERIFY_STEPS = 10_000
MAX_VERIFY_BATCH = 1024
TorchReference = Callable[[Feeds], list[np.ndarray]]


@dataclass(frozen=True)
class VerificationConfig:
    """The shape grid. `steps=None` derives it from the example length: (1, 7, example, 4 x example)."""

    batches: tuple[int, ...] = (1, 3, 8)
    steps: tuple[int, ...] | None = None
    example_steps: int = 16
    chunk_sizes: tuple[int, ...] = (1, 7)
    tolerance: Tolerance = FP32_TOLERANCE
    seed: int = 0

    def __post_init__(self) -> None:
        # Verification runs batch x 4 x example_steps inputs: bounds keep a typo from asking for gigabytes.
        if not 1 <= self.example_steps <= MAX_VERIFY_STEPS:
            raise ConfigError(f"--example-steps must be in 1..{MAX_VERIFY_STEPS}, got {self.example_steps}")
        for option, values, limit in (
            ("--batches", self.batches, MAX_VERIFY_BATCH),
            ("--steps", self.steps or (), MAX_VERIFY_STEPS),
            ("chunk sizes", self.chunk_sizes, MAX_VERIFY_STEPS),
        ):
            if any(not 1 <= v <= limit for v in values):
                raise ConfigError(f"{option} values must be in 1..{limit}, got {list(values)}")
        if self.steps is not None and not self.steps:
            raise ConfigError("--steps needs at least one length")
        if not self.batches:
            raise ConfigError("--batches needs at least one batch size")

    def step_grid(self) -> tuple[int, ...]:
        """The sequence lengths the export is verified at (given ones, else a default spread that includes long inputs)."""
        if self.steps is not None:
            return self.steps
        return tuple(sorted({1, 7, self.example_steps, 4 * self.example_steps}))


@dataclass
class VerificationResult:
    """Every verification case of an export against torch; the artifact is published only if all pass."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("passed", "max_abs_error", "max_rel_error")
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("passed", "max_abs_error", "max_rel_error", "tolerance", "session", "cases")

    cases: list[CaseComparison] = field(default_factory=list)
    tolerance: Tolerance = FP32_TOLERANCE
    settings: SessionSettings = field(default_factory=SessionSettings, metadata=json_meta(name="session"))

    @property
    def passed(self) -> bool:
        """Whether at least one case ran and every case matched torch within tolerance."""
        return bool(self.cases) and all(self.cases)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_abs_error(self) -> float:
        """The largest absolute error over every case and output (0.0 when nothing ran)."""
        return max((o.max_abs_error for c in self.cases for o in c.outputs), default=0.0)

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over every case and output (0.0 when nothing ran)."""
        return max((o.max_rel_error for c in self.cases for o in c.outputs), default=0.0)

    def failures(self) -> list[CaseComparison]:
        """The cases that did not match, for the error message that names them."""
        return [c for c in self.cases if not c.passed]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerificationResult:
        """Read back a verification as `to_jsonable` writes it."""
        return cls(
            cases=[CaseComparison.from_dict(c) for c in data["cases"]],
            tolerance=Tolerance(**data["tolerance"]),
            settings=SessionSettings(**data["session"]),
        )


def native_reference(model: SequenceModel, interface: GraphInterface) -> TorchReference:
    """The torch computation an edgelstm graph must reproduce, outputs in the graph's order."""
    model = model.eval()
    groups = torch_state_groups(interface.states)  # the slim layout's per-layer states, stacked as torch holds them
    normalization = interface.normalization

    def run(feeds: Feeds) -> list[np.ndarray]:
        # A graph that takes raw features standardises them first: the model sees (x - mean) / std, computed here
        # in x's own dtype with the same two operations, so the float32 graph and torch see identical bits.
        x = torch.from_numpy(normalization.standardize(feeds["x"]) if normalization else feeds["x"])
        states = tuple(torch.cat([torch.from_numpy(feeds[s.input_name]) for s in group]) for group in groups) or None
        with torch.no_grad():
            if interface.form == "streaming":
                y, final = model.forward_streaming(x, states)
            else:
                lengths = torch.from_numpy(feeds["lengths"]) if "lengths" in feeds else None
                y, final = model(x, lengths, states)
        if not groups:  # a sequence graph without state inputs: its state outputs are torch's, in torch's order
            return [y.numpy(), *(s.numpy() for s in final)]
        finals: dict[str, np.ndarray] = {}
        for group, value in zip(groups, final, strict=True):
            sizes = [len(s.rows) for s in group] if len(group) > 1 else [value.shape[0]]
            finals.update((s.output_name, part.numpy()) for s, part in zip(group, torch.split(value, sizes), strict=True))
        return [y.numpy(), *(finals[o.name] for o in interface.outputs[1:])]

    return run


def module_reference(module: torch.nn.Module, input_names: Sequence[str]) -> TorchReference:
    """For a user module: call it with the graph's inputs in order, flatten tensor outputs."""
    module = module.eval()

    def run(feeds: Feeds) -> list[np.ndarray]:
        with torch.no_grad():
            result = module(*(torch.from_numpy(feeds[n]) for n in input_names))
        return [t.detach().numpy() for t in _flatten(result)]

    return run


def _flatten(value: Any) -> list[torch.Tensor]:
    """The tensors of a torch output (a tensor, or nested tuples of them), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flatten(v)]
    if isinstance(value, dict):
        return [t for k in value for t in _flatten(value[k])]
    return []


def load_data_feeds(path: Path, interface: GraphInterface, limit: int = 256) -> Feeds:
    """Real inputs from an .npz with `x` (and optional `lengths`), checked against the graph's input spec."""
    path = Path(path)
    if not path.is_file():
        raise InputShapeError(f"{path}: no such data file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputShapeError(f"{path}: not a readable .npz file ({exc})") from None
    if "x" not in arrays:
        raise InputShapeError(f"{path}: needs an array named 'x' (found: {', '.join(arrays) or 'none'})")
    x_spec = interface.inputs[0]
    x = arrays["x"][:limit]
    kinds = "fiu" if x_spec.dtype == "float32" else "iu"  # token ids must be integers
    if x.dtype.kind not in kinds:
        wanted = "numbers" if x_spec.dtype == "float32" else "integer token ids"
        raise InputShapeError(f"{path}: x must hold {wanted}, got dtype {x.dtype}")
    if x.size == 0:
        raise InputShapeError(f"{path}: x is empty (shape {list(x.shape)}); give at least one sequence of at least one step")
    if x.ndim != len(x_spec.shape) or (x_spec.dtype == "float32" and x.shape[-1] != x_spec.shape[-1]):
        raise InputShapeError(f"{path}: x has shape {list(x.shape)}, the graph expects {x_spec.shape}")
    if x_spec.dtype == "float32":
        if not np.isfinite(x).all():
            raise InputShapeError(f"{path}: x contains NaN or Inf")
        x = x.astype(np.float32)
    else:
        x = x.astype(np.int64)

    lengths = None
    if any(t.name == "lengths" for t in interface.inputs):
        lengths = arrays.get("lengths")
        if lengths is not None and lengths.dtype.kind not in "iu":
            raise InputShapeError(f"{path}: lengths must be integers, got dtype {lengths.dtype}")
        lengths = np.full(len(x), x.shape[1], np.int64) if lengths is None else lengths[:limit].astype(np.int64)
        if lengths.shape != (len(x),) or lengths.min() < 1 or lengths.max() > x.shape[1]:
            raise InputShapeError(f"{path}: lengths must be [{len(x)}] values in [1, {x.shape[1]}]")
    # The file holds what the model was trained on; a graph that standardises inside takes the raw features.
    return sequence_feeds(interface, data_for_graph(interface, x), lengths, str(path))  # states at their initial value


def verify_graph(
    model_bytes: bytes,
    interface: GraphInterface,
    reference: TorchReference,
    config: VerificationConfig,
    vocab_size: int = 0,
    settings: SessionSettings | None = None,
    data: Feeds | None = None,
) -> VerificationResult:
    """Run the exported graph in ONNX Runtime against the torch model over a grid of lengths and batches, per output."""
    settings = settings or SessionSettings()
    # feeds and outputs batch-first, as torch takes and gives them, whatever the graph's layout
    run = run_batch_first(interface, session_from_onnx(model_bytes, settings).run)
    output_names = [o.name for o in interface.outputs]
    result = VerificationResult(tolerance=config.tolerance, settings=settings)
    seed = config.seed
    for batch in config.batches:
        for steps in config.step_grid():
            seed += 1
            feeds = random_inputs_like(interface, batch, steps, vocab_size, seed)
            result.cases.append(_run_case(f"B={batch} T={steps}", run, output_names, feeds, reference, config.tolerance))
    if data is not None:
        batch, steps = data["x"].shape[:2]
        result.cases.append(_run_case(f"real data B={batch} T={steps}", run, output_names, data, reference, config.tolerance))
    if interface.form == "streaming":
        steps = max(config.step_grid())
        for chunk in config.chunk_sizes:
            seed += 1
            feeds = random_inputs_like(interface, 3, steps, vocab_size, seed)
            result.cases.append(_run_chunked(chunk, run, interface, feeds, reference, config.tolerance))
    return result


def _run_case(
    label: str, run: GraphRun, output_names: list[str], feeds: Feeds, reference: TorchReference, tolerance: Tolerance
) -> CaseComparison:
    """One verification case: the graph in ONNX Runtime and torch on the same feeds, each output compared."""
    batch, steps = feeds["x"].shape[:2]
    try:
        actual = run(output_names, feeds)
    except Exception as exc:  # ORT raises its own exception types; the message is the finding
        return CaseComparison(label, batch, steps, error=first_line(exc, 400, last=True, with_type=True))
    try:
        expected = reference(feeds)
    except Exception as exc:  # a user module that cannot run at this shape: a fixed-shape model
        return CaseComparison(
            label, batch, steps, error="torch reference failed: " + first_line(exc, 400, last=True, with_type=True)
        )
    return CaseComparison(
        label,
        batch,
        steps,
        [compare_tensors(n, a, e, tolerance) for n, a, e in zip(output_names, actual, expected, strict=False)],
    )


def _run_chunked(
    chunk: int, run: GraphRun, interface: GraphInterface, feeds: Feeds, reference: TorchReference, tolerance: Tolerance
) -> CaseComparison:
    """Feed the sequence `chunk` steps at a time through the one chunked runner, state carried between calls."""
    x = feeds[interface.data_input.name]
    batch, steps = x.shape[:2]
    label = f"chunks of {chunk}, B={batch} T={steps}"
    output_names = [o.name for o in interface.outputs]
    try:
        actual = run_in_chunks(lambda f: run(output_names, f), interface, feeds, chunk)
    except Exception as exc:
        return CaseComparison(label, batch, steps, error=first_line(exc, 400, last=True, with_type=True))
    expected = reference(feeds)
    return CaseComparison(
        label,
        batch,
        steps,
        [compare_tensors(n, a, e, tolerance) for n, a, e in zip(output_names, actual, expected, strict=False)],
    )
