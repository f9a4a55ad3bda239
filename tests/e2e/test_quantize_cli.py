"""Quantization schemes on small models trained on real smartwatch data, each judged by the parity gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from edgelstm import jsonio
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.session import session_from_onnx
from edgelstm.checkpoint import save_checkpoint
from edgelstm.cli import app
from edgelstm.config import HeadConfig, ModelConfig
from edgelstm.datasets import load_watch_windows
from edgelstm.errors import ConfigError, OutputExistsError
from edgelstm.export.api import export_model
from edgelstm.loading import LoadedModel, load_model
from edgelstm.model import SequenceModel
from edgelstm.parity import TolerancePolicy
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import DynamicInt8Config, Fp16Config, Int4Config, SchemeRefused, StaticInt8Config, quantize
from edgelstm.quantize.graph_facts import op_counts
from edgelstm.quantize.selection import check_artifact
from edgelstm.training import TrainConfig, train_classifier

ARCHITECTURES = {
    "lstm": {"cell": "lstm"},
    "gru": {"cell": "gru"},
    "peephole": {"cell": "peephole"},
    "bidirectional": {"cell": "lstm", "bidirectional": True},
    "stacked": {"cell": "gru", "num_layers": 2},
}


@pytest.fixture(scope="module")
def watch_slice() -> tuple[np.ndarray, np.ndarray, SequenceData]:
    data = load_watch_windows(window=40, stride=40)
    flat = data.train_x.reshape(-1, 6)
    mean, std = flat.mean(0), flat.std(0)
    train_x = ((data.train_x - mean) / std).astype(np.float32)[::3]
    held_x = ((data.test_x - mean) / std).astype(np.float32)[::3][:400]
    return train_x, data.train_y[::3], SequenceData(held_x, None, data.test_y[::3][:400], "watch held-out slice")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, watch_slice) -> dict[str, LoadedModel]:
    """Hidden-24 models, 4 epochs at 1 thread on real IMU windows (held-out subjects for validation): about 0.5 s each.
    (At 3 epochs the 1-thread peephole sat exactly on the gate's accuracy limit: -1.0 %, inconclusive.)"""
    train_x, train_y, held = watch_slice
    root = tmp_path_factory.mktemp("trained")
    models = {}
    for name, arch in ARCHITECTURES.items():
        torch.manual_seed(0)
        model = SequenceModel(ModelConfig(input_size=6, hidden_size=24, head=HeadConfig("classify", 7), **arch))
        train_classifier(model, train_x, train_y, held.x, held.y, TrainConfig(epochs=4, batch_size=32, learning_rate=1e-2))
        save_checkpoint(model, root / name)
        models[name] = load_model(str(root / name))
    return models


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("config", [DynamicInt8Config(), Fp16Config()], ids=lambda c: c.scheme)
def test_scheme_passes_the_parity_gate_at_its_default_tolerance(trained, watch_slice, tmp_path: Path, arch: str, config) -> None:
    held = watch_slice[2]
    result = quantize(trained[arch], config, tmp_path, calibration=held)
    summary = check_artifact(result, trained[arch], held, TolerancePolicy.defaults())
    assert summary["passed"], summary["failures"]
    assert summary["top1_agreement"] >= 0.98
    assert result.size_bytes < result.source_bytes
    assert result.path is not None and result.path.with_suffix(".quant.json").exists()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_dynamic_int8_computes_in_int8_everywhere(trained, tmp_path: Path, arch: str) -> None:
    result = quantize(trained[arch], DynamicInt8Config(), tmp_path)
    counts = op_counts(onnx.load(str(result.path)))
    if trained[arch].config.cell == "gru":
        # no int8 GRU kernel: the loop form, with the recurrent MatMul quantized inside the Loop body
        assert result.impl == "loop" and counts["MatMul"] == 0 and counts["MatMulInteger"] >= 3
    else:
        assert result.impl == "fused" and counts["DynamicQuantizeLSTM"] == trained[arch].config.num_layers
    assert result.weight_compression > 3.0  # file ratio is lower on hidden 24: fixed graph + metadata bytes


def test_fused_gru_graph_is_refused_for_dynamic_int8_with_the_reason(trained, tmp_path: Path) -> None:
    fused = export_model(trained["gru"], tmp_path / "fp32", ExportConfig(impl="fused"))
    with pytest.raises(SchemeRefused, match="no int8 kernel for the fused GRU op"):
        quantize(fused.path, DynamicInt8Config(), tmp_path / "q")


def test_fp16_reports_that_the_cpu_computes_lstm_in_float32(trained, tmp_path: Path) -> None:
    result = quantize(trained["lstm"], Fp16Config(), tmp_path)
    assert any("no fp16 LSTM kernel" in note for note in result.notes)
    assert result.weight_compression > 1.9


def test_int4_packs_every_matmul_and_reports_parity(trained, watch_slice, tmp_path: Path) -> None:
    """int4 blocks of 32 over hidden 24 lose accuracy on these small models; the gate must say so honestly."""
    held = watch_slice[2]
    result = quantize(trained["gru"], Int4Config(), tmp_path, calibration=held)
    counts = op_counts(onnx.load(str(result.path)))
    assert counts["MatMulNBits"] >= 3 and counts["MatMul"] == 0
    summary = check_artifact(result, trained["gru"], held, TolerancePolicy.defaults())
    assert 0.8 <= summary["top1_agreement"] <= 1.0
    assert summary["passed"] == (summary["top1_agreement"] >= 0.95 and not summary["failures"])


def test_static_int8_is_calibrated_and_its_clipping_is_caught(trained, watch_slice, tmp_path: Path) -> None:
    """Static ranges come from calibration: inputs 10x outside them saturate, and the gate's 'large' stress case
    catches it, while the held-out data itself stays in agreement."""
    held = watch_slice[2]
    result = quantize(trained["lstm"], StaticInt8Config(), tmp_path, calibration=held)
    graph = onnx.load(str(result.path))
    counts = op_counts(graph)
    assert result.impl == "unrolled" and counts["Loop"] == 0
    # every MatMul (input projection, 40 recurrent steps, head) reads a Q/DQ'd int8 weight
    weights_dq = {n.output[0] for n in graph.graph.node if n.op_type == "DequantizeLinear"}
    matmuls = [n for n in graph.graph.node if n.op_type == "MatMul"]
    assert len(matmuls) == 42 and all(n.input[1] in weights_dq for n in matmuls)
    assert any("unrolled for T=40" in note for note in result.notes)
    assert result.weight_compression > 2.5
    summary = check_artifact(result, trained["lstm"], held, TolerancePolicy.defaults())
    assert not summary["passed"] and all(line.startswith("large") for line in summary["failures"][:2])
    assert summary["top1_agreement"] >= 0.95


def test_static_int8_without_calibration_data_is_refused(trained, tmp_path: Path) -> None:
    with pytest.raises(SchemeRefused, match="calibration data"):
        quantize(trained["lstm"], StaticInt8Config(), tmp_path)


def test_no_overwrite_and_metadata_survive(trained, tmp_path: Path) -> None:
    first = quantize(trained["lstm"], DynamicInt8Config(), tmp_path)
    with pytest.raises(Exception, match="already exists"):
        quantize(trained["lstm"], DynamicInt8Config(), tmp_path)
    props = {p.key: p.value for p in onnx.load(str(first.path)).metadata_props}
    assert json.loads(props["edgelstm.quantization"])["scheme"] == "dynamic-int8"
    assert "edgelstm.interface" in props and "edgelstm.model_config" in props


@pytest.mark.slow
def test_cli_auto_reports_every_candidate_and_picks_a_winner(trained, watch_slice, tmp_path: Path) -> None:
    held = watch_slice[2]
    np.savez(tmp_path / "held.npz", x=held.x, y=held.y)
    result = CliRunner().invoke(
        app,
        [
            "quantize",
            trained["lstm"].origin,
            "--scheme",
            "auto",
            "--data",
            str(tmp_path / "held.npz"),
            "--out",
            str(tmp_path / "q"),
            "--json",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.output[result.output.index("{") :])
    candidates = {c["scheme"]: c for c in report["candidates"]}
    assert set(candidates) == {
        "fp32",
        "dynamic-int8",
        "weight-only-int8",
        "weight-only-int8-gptq-auto",  # GPTQ rounding, blocks where outliers sit: calibrated on rows the gate does not see
        "weight-only-int4",
        "int4",
        "static-int8",
        "fp16",
        "mixed",
    }
    assert candidates["weight-only-int8-gptq-auto"]["result"]["config"]["rounding"] == "gptq"
    split = candidates["weight-only-int8-gptq-auto"]["result"]["data_split"]
    assert split["calibration"] != split["gate"] and split["calibration_sha256"] != split["gate_sha256"]
    assert candidates["mixed"]["details"]["layers"]  # the per-layer sensitivity table travels in the JSON
    assert candidates["fp32"]["role"] == "reference" and candidates["fp32"]["latency_vs_fp32"] == 1.0
    assert candidates["dynamic-int8"]["passed"]
    # a row larger than a smaller one that passed cannot win by size: listed with the reason, not gated, not written
    assert candidates["weight-only-int8"]["passed"] or not candidates["weight-only-int8"]["gated"]
    for c in candidates.values():
        if c["role"] == "candidate" and c["result"] and not c["gated"]:
            assert c["lost"].startswith("not gated: cannot win: ") and c["result"]["path"] is None, c
    # the rule, checked on the reported numbers (which scheme wins depends on measured latency): judged in a plain
    # ORT session (issue 19), the worse of ORT's default threads and 1 thread, against the fp32 graph there

    def ratio(c: dict) -> float:
        assert c["speed_rule_judged_on"] == "plain session", c
        return c["plain_session"]["latency_vs_fp32"]

    eligible = [c for c in candidates.values() if c["role"] == "candidate" and c["passed"] and ratio(c) <= 1.1]
    expected = min(eligible, key=lambda c: c["size_bytes"])["scheme"] if eligible else None
    assert report["winner"] == expected and result.exit_code == (0 if expected else 1)
    for c in candidates.values():
        assert (c["lost"] == "") == (c["scheme"] == report["winner"]), c
        if c["role"] == "candidate" and c["passed"] and ratio(c) > 1.1:
            assert "slower than fp32" in c["lost"] and c["result"]["path"] is None  # refused: not published
            assert not list((tmp_path / "q").glob(f"*.{c['scheme']}.onnx"))


def test_cli_errors_are_one_line(trained, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["quantize", trained["lstm"].origin, "--scheme", "int2", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown scheme" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["quantize", trained["lstm"].origin, "--scheme", "auto", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--data" in result.output
    np.savez(tmp_path / "nan.npz", x=np.full((2, 5, 6), np.nan, np.float32))
    result = runner.invoke(
        app,
        [
            "quantize",
            trained["lstm"].origin,
            "--scheme",
            "static-int8",
            "--data",
            str(tmp_path / "nan.npz"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "NaN" in result.output
    with pytest.raises(ConfigError):
        StaticInt8Config(method="guess")


@pytest.mark.parametrize("arch,part", [("stacked", "layer0"), ("lstm", "head"), ("gru", "layer0")])
def test_dynamic_int8_can_keep_a_part_in_float(trained, tmp_path: Path, arch: str, part: str) -> None:
    full = quantize(trained[arch], DynamicInt8Config(), tmp_path / "full")
    partial = quantize(trained[arch], DynamicInt8Config(exclude=(part,)), tmp_path / "partial")
    assert partial.path is not None and partial.path.name.endswith(f"dynamic-int8-no-{part}.onnx")
    full_counts, part_counts = op_counts(onnx.load(str(full.path))), op_counts(onnx.load(str(partial.path)))
    assert part_counts["MatMul"] + part_counts["LSTM"] > full_counts["MatMul"] + full_counts["LSTM"]
    assert partial.weight_bytes > full.weight_bytes
    assert any(f"{part} excluded on purpose" in note for note in partial.notes)


@pytest.mark.slow
def test_auto_tries_exclusions_when_dynamic_int8_misses_the_budget(trained, watch_slice, tmp_path: Path) -> None:
    from edgelstm.parity import TolerancePolicy
    from edgelstm.quantize.selection import select_scheme

    budget = tmp_path / "budget.toml"
    budget.write_text("[precision.int8]\nmin_snr_db = 200\n")  # unreachable: every int8 variant must fail
    selection = select_scheme(
        trained["stacked"],
        watch_slice[2],
        tmp_path / "q",
        TolerancePolicy.from_toml(budget),
        schemes=(DynamicInt8Config(),),
        mixed=False,
        # no speed rule: the stacked GRU's int8 Loop graph is far slower than fp32, which would decline it ungated
        objective="size-at-any-cost",
    )
    names = [c.scheme for c in selection.candidates if c.role == "candidate"]  # the fp32 row is timed beside
    assert names == ["dynamic-int8", "dynamic-int8-no-head", "dynamic-int8-no-layer0", "dynamic-int8-no-layer1"]
    assert selection.winner is None and "no scheme met" in selection.why
    # The table is saved beside the artifacts for `edgelstm report`, and never over an earlier one unasked.
    saved = json.loads((tmp_path / "q" / "auto.json").read_text())
    assert saved == json.loads(jsonio.dumps(selection))
    with pytest.raises(OutputExistsError, match="auto.json already exists"):
        select_scheme(trained["stacked"], watch_slice[2], tmp_path / "q", TolerancePolicy.defaults(), schemes=(), mixed=False)


def test_an_artifact_that_fails_the_gate_is_not_published(trained, watch_slice, tmp_path: Path) -> None:
    from edgelstm.parity import TolerancePolicy
    from edgelstm.quantize.gate import ParityGate

    held = watch_slice[2]
    budget = tmp_path / "budget.toml"
    budget.write_text("[precision.int4]\nmin_top1_agreement = 1.0\nmin_snr_db = 60\n")  # out of int4's reach
    gate = ParityGate(trained["gru"], held, TolerancePolicy.from_toml(budget))
    result = quantize(trained["gru"], Int4Config(), tmp_path / "out", calibration=held, gate=gate)
    assert result.parity_passed is False and result.path is None
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    kept = quantize(trained["gru"], Int4Config(), tmp_path / "kept", calibration=held, gate=gate, keep_failed=True)
    assert kept.path is not None and kept.path.exists() and kept.parity_passed is False
    cli = CliRunner().invoke(
        app,
        [
            "quantize",
            trained["gru"].origin,
            "--scheme",
            "int4",
            "--data",
            str(_save(held, tmp_path)),
            "--budget",
            str(budget),
            "--out",
            str(tmp_path / "cli"),
        ],
        env={"COLUMNS": "200"},
    )
    assert cli.exit_code == 1 and "not written" in cli.output


def _save(data: SequenceData, directory: Path) -> Path:
    path = directory / "held.npz"
    np.savez(path, x=data.x, y=data.y)
    return path


def test_uint8_weights_change_the_loop_form_matmuls(trained, tmp_path: Path) -> None:
    signed = quantize(trained["gru"], DynamicInt8Config(reduce_range=False), tmp_path / "s8")
    unsigned = quantize(trained["gru"], DynamicInt8Config(reduce_range=False, weight_type="uint8"), tmp_path / "u8")
    eight_bit = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)  # weights and their zero points (names are compacted)
    types = {i.data_type for i in onnx.load(str(unsigned.path)).graph.initializer if i.data_type in eight_bit}
    assert types == {onnx.TensorProto.UINT8}
    assert signed.path is not None and signed.path.read_bytes() != unsigned.path.read_bytes()
    with pytest.raises(ConfigError, match="weight_type"):
        DynamicInt8Config(weight_type="int16")


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("config", [Int4Config(), StaticInt8Config()], ids=lambda c: c.scheme)
def test_every_cell_either_passes_or_is_not_published_with_the_reason(
    trained, watch_slice, tmp_path: Path, arch: str, config
) -> None:
    from edgelstm.parity import TolerancePolicy
    from edgelstm.quantize.gate import ParityGate

    held = watch_slice[2]
    try:
        result = quantize(
            trained[arch], config, tmp_path, calibration=held, gate=ParityGate(trained[arch], held, TolerancePolicy.defaults())
        )
    except SchemeRefused as exc:
        assert str(exc).startswith(f"{config.scheme} refused: ")
        return
    assert result.parity is not None
    if result.parity_passed:
        assert result.path is not None and result.path.exists()
    else:
        assert result.path is None and not list(tmp_path.glob("*.onnx"))
        assert result.parity["failures"], "a failed gate must say which comparison failed"


def test_static_int8_with_a_fixed_batch_is_taken_whole_by_nnapi(trained, watch_slice, tmp_path: Path) -> None:
    """Static shapes (batch 1, T=40, no lengths mask, states as inputs, no Shape ops): ORT's usability checker
    assigns every node to NNAPI. The gate runs it one sequence at a time."""
    from edgelstm.bundle.mobile_check import mobile_usability
    from edgelstm.parity import TolerancePolicy
    from edgelstm.quantize.gate import ParityGate

    held = SequenceData(watch_slice[2].x[:48], None, watch_slice[2].y[:48], "slice")
    result = quantize(
        trained["lstm"],
        StaticInt8Config(fixed_batch=1),
        tmp_path,
        calibration=held,
        gate=ParityGate(trained["lstm"], held, TolerancePolicy.defaults()),
        keep_failed=True,
    )
    graph = onnx.load(str(result.path))
    assert [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim] == [1, 40, 6]
    assert [i.name for i in graph.graph.input] == ["x", "h_in", "c_in"]
    assert "Shape" not in op_counts(graph)
    nnapi = next(u for u in mobile_usability(result.path) if u.execution_provider == "NNAPI")
    assert nnapi.supported_nodes == nnapi.nodes and nnapi.partitions == 1 and nnapi.verdict == "YES"
    assert result.parity is not None and result.parity["top1_agreement"] >= 0.9  # ran through the gate, batch by batch


def test_dynamic_int8_loop_graph_is_valid_onnx_and_runs_in_the_reference_evaluator(trained, tmp_path: Path) -> None:
    """quantize_dynamic appended the int8 input projection after the Loop that reads it (issue 11): sorted now."""
    import onnx.reference

    result = quantize(trained["gru"], DynamicInt8Config(), tmp_path)
    assert result.impl == "loop" and result.path is not None
    model = onnx.load(str(result.path))
    onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 5, 6)).astype(np.float32)
    feeds = {"x": x, "lengths": np.array([5, 3], np.int64)}
    expected = session_from_onnx(result.path).run(None, feeds)
    actual = onnx.reference.ReferenceEvaluator(model).run(None, feeds)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, atol=1e-4)
