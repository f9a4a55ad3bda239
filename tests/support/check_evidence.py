"""Helpers and fixtures that both halves of tests/test_check_evidence.py need: tests/unit/test_check_evidence.py and
tests/e2e/test_check_evidence_cli.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.checkpoint import save_checkpoint
from edgelstm.export.api import export_model
from edgelstm.loading import load_model
from tests.conftest import tiny_model

# Numbers are not gated (the artifact is meant to differ); the task budgets are what this file is about.
TOLERANCES = """
[default]
atol = inf
rtol = inf
min_top1_agreement = 0.98
max_accuracy_drop = 0.01
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evidence")
    save_checkpoint(tiny_model(cell="gru", head="classify-last"), root / "ckpt")
    assert export_model(load_model(str(root / "ckpt")), root / "onnx", ExportConfig(form="sequence", impl="fused"))
    (root / "parity.toml").write_text(TOLERANCES)
    return root


def one_flip(root: Path, count: int, tag: str) -> tuple[Path, Path]:
    """`count` sequences labelled with the float graph's own predictions, and an artifact whose logits move
    toward class 0 by just enough to change the prediction of exactly one of them (the smallest margin)."""
    rng = np.random.default_rng(count)
    x = rng.standard_normal((count, 12, 5)).astype(np.float32)
    source = root / "onnx" / "sequence_fused.onnx"
    logits = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(
        ["output"], {"x": x, "lengths": np.full(count, 12, np.int64)}
    )[0]
    predicted = logits.argmax(-1)
    margins = np.sort((logits.max(-1) - logits[:, 0])[predicted != 0])
    assert len(margins) >= 2 and margins[1] - margins[0] > 1e-3, "the data must single out one sequence"
    shift = np.zeros(logits.shape[-1], np.float32)
    shift[0] = (margins[0] + margins[1]) / 2
    graph = onnx.load(str(source))
    producer = next(n for n in graph.graph.node if "output" in n.output)
    producer.output[list(producer.output).index("output")] = "output_before_shift"
    graph.graph.initializer.append(numpy_helper.from_array(shift, "logit_shift"))
    graph.graph.node.append(helper.make_node("Add", ["output_before_shift", "logit_shift"], ["output"]))
    artifact = root / f"shifted_{tag}.onnx"
    onnx.save(graph, str(artifact))
    np.savez(root / f"data_{tag}.npz", x=x, y=predicted)
    return artifact, root / f"data_{tag}.npz"
