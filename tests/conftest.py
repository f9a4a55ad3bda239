"""Shared fixtures and the one place that decides hardware skips."""

from __future__ import annotations

import os

# One thread per process, set before torch is imported (torch reads it once) and inherited by every CLI subprocess a
# test starts. pytest-xdist runs one worker per core; torch's default of one OpenMP thread per core in every worker
# oversubscribes the cores, and a multi-threaded op then waits on a descheduled thread: 3 epochs of a hidden-24 LSTM
# took 17.7 s at 2 threads and 1.4 s at 1 with the other core busy (2 vCPUs). No verdict depends on the thread count;
# tests about threads set them explicitly. A developer may override it (OMP_NUM_THREADS=2 pytest ...).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest
import torch

from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.model import SequenceModel

HEADS = {
    "classify-last": HeadConfig("classify", 3, "last"),
    "classify-mean": HeadConfig("classify", 3, "mean"),
    "forecast": HeadConfig("forecast", 2, "last", horizon=4),
    "per_step": HeadConfig("per_step", 3),
    "lm": HeadConfig("lm", 11),
}


def tiny_config(
    cell: str = "lstm", layers: int = 1, bidirectional: bool = False, head: str = "classify-last", **kw
) -> ModelConfig:
    """Hidden 8, 5 features; the lm head reads token ids from an 11-symbol vocabulary."""
    if head == "lm":
        kw.setdefault("input_kind", "tokens")
        kw.setdefault("vocab_size", 11)
    return ModelConfig(
        input_size=5, hidden_size=8, cell=cell, num_layers=layers, bidirectional=bidirectional, head=HEADS[head], **kw
    )


def tiny_model(seed: int = 0, **kw) -> SequenceModel:
    torch.manual_seed(seed)
    model = SequenceModel(tiny_config(**kw)).eval()
    # Push biases away from zero so masking/state mistakes cannot hide behind zero-valued padding.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias" in name:
                p.add_(0.3)
    return model


def random_checkpoint(path: Path, config: ModelConfig, seed: int = 0) -> Path:
    """`config` with random weights (torch seed `seed`) saved at `path`: for gates that compare a model with itself."""
    from edgelstm.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    save_checkpoint(SequenceModel(config).eval(), path)
    return path


def patch_everywhere(monkeypatch: pytest.MonkeyPatch, module: object, name: str, replacement: object) -> int:
    """Replace `module.name` and every loaded edgelstm module's binding of it (imports are at module level, so a
    caller holds its own reference); returns how many modules were patched."""
    import sys

    real = getattr(module, name)
    patched = 0
    for loaded_name, loaded in list(sys.modules.items()):
        if loaded_name.startswith("edgelstm") and getattr(loaded, name, None) is real:
            monkeypatch.setattr(loaded, name, replacement)
            patched += 1
    return patched


@pytest.fixture
def in_user_dir(user, monkeypatch: pytest.MonkeyPatch):
    """The test module's `user` folder (tests.user_modules.user_folder) as the working directory and on sys.path."""
    root, name = user
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    return root, name


def cuda_provider_available() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


# Work that takes minutes on their own (README.md and every docs page through the shell, whole `convert` pipelines,
# torchrun, silero quantized to every scheme), as pytest-xdist's loadscope scopes: a module, or `module::Class` for a
# class's tests. Under `-n ... --dist loadscope --no-loadscope-reorder` (the README's test command) a scope runs whole
# on one worker, so its fixtures are built once; these are handed out first, in this order, so the run does not end
# with one worker finishing one of them alone. README.md's run (the docs module's own tests) goes first and the docs
# pages, which start from its result, after the other long modules: a worker handed a page before README.md is done
# would wait for it idle.
DOCS = "tests/e2e/test_docs_commands_cli.py"
LONG_SCOPES = (
    DOCS,
    "tests/e2e/test_quantize_cli.py",
    "tests/e2e/test_check_cli.py",
    "tests/e2e/test_convert_cli.py",
    "tests/e2e/test_silero_sequence_cli.py",
    "tests/e2e/test_distill_training_cli.py",
    "tests/e2e/test_litert_e2e.py",
    "tests/e2e/test_bench_cli.py",
    f"{DOCS}::TestOtherPages",
    f"{DOCS}::TestCommandPages",
)


def xdist_scope(nodeid: str) -> str:
    """The loadscope scope of a test id: `module::Class` for a class's test, else the module."""
    module, _, rest = nodeid.partition("::")
    head = rest.split("::", 1)[0]
    return f"{module}::{head}" if "::" in rest else module


def long_scopes_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """`items` with the LONG_SCOPES' tests first, in that order; every scope stays contiguous, the rest in order."""
    rank = {scope: i for i, scope in enumerate(LONG_SCOPES)}

    def key(item: pytest.Item) -> int:
        scope = xdist_scope(item.nodeid)
        return rank.get(scope, rank.get(scope.split("::", 1)[0], len(rank)))

    return sorted(items, key=key)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: its collection order is the order work is handed out
        items[:] = long_scopes_first(items)
    if cuda_provider_available():
        return
    skip = pytest.mark.skip(reason="onnxruntime has no CUDAExecutionProvider here (install edgelstm[gpu] on a CUDA machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


CELL_LOOP_MODULE = """
import torch
class CellLoop(torch.nn.Module):
    # Loops over time in Python: torch.onnx's tracer unrolls it at the example length (a frozen time axis).
    def __init__(self):
        super().__init__()
        self.cell = torch.nn.LSTMCell({features}, 8)
        self.fc = torch.nn.Linear(8, 3)
    def forward(self, x):
        h = x.new_zeros(x.shape[0], 8)
        c = x.new_zeros(x.shape[0], 8)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return self.fc(h)
def build():
    torch.manual_seed(0)
    return CellLoop()
"""


def write_cell_loop_module(directory, module_name: str, features: int) -> None:
    """A user model file `module_name.py` whose `build()` returns a Python-loop LSTMCell classifier."""
    (directory / f"{module_name}.py").write_text(CELL_LOOP_MODULE.format(features=features))
