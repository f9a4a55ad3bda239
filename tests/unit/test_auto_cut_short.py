"""auto's time (issue 13): a row that cannot win is listed with the reason instead of gated, mixed ranks its layers on
fewer windows, and the artifacts that are published are gated exactly as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgelstm.checkpoint import save_checkpoint
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel, load_model
from edgelstm.parity.data import SequenceData
from edgelstm.quantize import DynamicInt8Config, Fp16Config, WeightOnlyInt8Config, quantize
from edgelstm.quantize import api as api_module
from edgelstm.quantize import gate as gate_module
from edgelstm.quantize import mixed as mixed_module
from edgelstm.quantize import selection as selection_module
from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.cannot_win import CannotWinGate, premise_holds
from edgelstm.quantize.gate import NOT_GATED, ParityGate, spread_subset
from edgelstm.quantize.pareto import loss_reason
from edgelstm.quantize.selection import select_scheme
from edgelstm.quantize.selection_table import Candidate
from tests.conftest import tiny_model

BATCH, STEPS = 24, 10


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedModel, SequenceData]:
    root = tmp_path_factory.mktemp("cut-short")
    save_checkpoint(tiny_model(cell="lstm", head="classify-last"), root / "ckpt")
    rng = np.random.default_rng(0)
    data = SequenceData(
        rng.standard_normal((BATCH, STEPS, 5)).astype(np.float32), None, rng.integers(0, 3, size=BATCH), "cut-short data"
    )
    return load_model(str(root / "ckpt")), data


class _Gate:
    """Passes everything and remembers what it was asked to judge."""

    def __init__(self) -> None:
        self.judged: list[Path] = []

    def run(self, path: Path) -> dict[str, Any]:
        self.judged.append(Path(path))
        return {"passed": True, "failures": []}


def _row(name: str, size: int, passed: bool = True, path: str | None = "a.onnx") -> Candidate:
    result = QuantizeResult(name, {}, "m", 100_000, path=None if path is None else Path(path), size_bytes=size)
    return Candidate(name, result, passed=passed)


def test_a_row_larger_than_a_passing_one_is_declined_by_its_size_with_the_reason() -> None:
    bounded = CannotWinGate(_Gate(), "size", 1.1, lambda path: 1.0)
    assert bounded.decline(10**9) is None  # no bar yet: everything is gated
    bounded._last_ratio = 0.7  # the early timing of the row just gated
    bounded.consider(_row("dynamic-int8", 23_000))
    assert bounded.bar is not None and bounded.bar.scheme == "dynamic-int8"
    assert bounded.decline(23_000) is None  # as small: it could win on latency
    summary = bounded.decline(40_000)
    assert summary is not None and summary["passed"] is False
    assert summary[NOT_GATED] == "cannot win: larger than dynamic-int8 (40,000 > 23,000 bytes), which passed the gate"


def test_only_a_published_passing_row_within_the_speed_rule_becomes_the_bar() -> None:
    bounded = CannotWinGate(_Gate(), "size", 1.1, lambda path: 1.0)
    for row, ratio in (
        (_row("failed", 10_000, passed=False), 0.5),
        (_row("unpublished", 10_000, path=None), 0.5),
        (_row("too-slow", 10_000), 1.5),  # the speed rule would refuse it: a larger row may still win
        (_row("not-timed", 10_000), None),
    ):
        bounded._last_ratio = ratio
        bounded.consider(row)
        assert bounded.bar is None, row.scheme
    # size-at-any-cost has no speed rule; speed has no size bar at all
    at_any_cost = CannotWinGate(_Gate(), "size-at-any-cost", 1.1, lambda path: 1.0)
    at_any_cost.consider(_row("int4", 10_000))
    assert at_any_cost.bar is not None
    speed = CannotWinGate(_Gate(), "speed", 1.1, lambda path: 1.0)
    speed._last_ratio = 0.5
    speed.consider(_row("int8", 10_000))
    assert speed.bar is None


def test_a_clearly_slower_row_is_not_gated_and_a_row_near_the_limit_is(tmp_path: Path) -> None:
    inner = _Gate()
    ratios = {"slow.onnx": 12.3, "near.onnx": 1.5}
    bounded = CannotWinGate(inner, "size", 1.1, lambda path: ratios[path.name])
    slow = bounded.run(tmp_path / "slow.onnx")
    assert slow["passed"] is False and slow[NOT_GATED].startswith("cannot win: 12.30x slower than fp32 at batch 1")
    assert "--objective size-at-any-cost gates and publishes it" in slow[NOT_GATED]
    assert bounded.run(tmp_path / "near.onnx")["passed"] is True  # gated: the final timing decides, as before
    assert [p.name for p in inner.judged] == ["near.onnx"]
    untimed = CannotWinGate(inner, "size-at-any-cost", 1.1, lambda path: pytest.fail("no speed rule: no timing"))
    assert untimed.run(tmp_path / "slow.onnx")["passed"] is True


def test_a_declined_row_says_why_and_is_not_a_gate_failure(capsys: pytest.CaptureFixture[str]) -> None:
    from edgelstm.quantize.render import print_selection
    from edgelstm.quantize.selection_table import SelectionResult

    winner = _row("dynamic-int8", 23_000)
    winner.latency_ms = 0.07
    declined = _row("fp16", 40_000, passed=False, path=None)
    declined.summary = {"passed": False, NOT_GATED: "cannot win: larger than dynamic-int8 (40,000 > 23,000 bytes)"}
    failed = _row("int4", 15_000, passed=False, path=None)
    failed.summary = {"passed": False, "failures": ["data / top1_agreement: 0.94 (limit 0.95)"]}
    assert loss_reason(declined, winner, "size") == "not gated: cannot win: larger than dynamic-int8 (40,000 > 23,000 bytes)"
    assert loss_reason(failed, winner, "size").startswith("failed the gate: data / top1_agreement")
    assert not declined.gated and failed.gated and winner.gated
    assert to_jsonable(declined)["gated"] is False and to_jsonable(failed)["gated"] is True
    declined.lost, failed.lost = loss_reason(declined, winner, "size"), loss_reason(failed, winner, "size")
    print_selection(SelectionResult([winner, declined, failed], winner))
    out = capsys.readouterr().out
    assert "not gated" in out and out.count("FAIL") == 1  # the gate's failure only, not the declined row


def test_the_premise_is_rechecked_on_the_final_timing() -> None:
    bar = _row("dynamic-int8", 23_000)
    bar.latency_ms = 0.105
    assert premise_holds(bar, "size", 0.1, 1.1)
    bar.latency_ms = 0.12  # over 1.1x fp32 after all: the rows declined for it could win
    assert not premise_holds(bar, "size", 0.1, 1.1)
    assert premise_holds(bar, "size-at-any-cost", 0.1, 1.1) and premise_holds(None, "size", 0.1, 1.1)


def test_quantize_does_not_probe_gate_or_publish_a_declined_artifact(workspace, tmp_path: Path, monkeypatch) -> None:
    loaded, data = workspace
    probed: list[Path] = []
    monkeypatch.setattr(api_module, "crash_reason", lambda path, **kw: probed.append(path))
    inner = _Gate()
    bounded = CannotWinGate(inner, "size", 1.1, lambda path: 1.0, bar=_row("tiny", 10))
    result = quantize(loaded, Fp16Config(), tmp_path / "q", calibration=data, gate=bounded)
    assert result.parity is not None and result.parity[NOT_GATED].startswith("cannot win: larger than tiny")
    assert result.parity_passed is False and result.path is None and result.size_bytes > 10
    assert probed == [] and inner.judged == [] and not list((tmp_path / "q").glob("*.onnx"))


def _fake_selection(monkeypatch: pytest.MonkeyPatch, ratio: float, fp32_ms: float, final_ms: dict[str, float]) -> _Gate:
    """select_scheme with every gate run passing, early timings at `ratio` and final latencies from `final_ms`
    (by scheme tag in the file name; fp32 at `fp32_ms`): which rows are gated is then the rule's alone."""
    judged = _Gate()
    monkeypatch.setattr(ParityGate, "run", lambda self, path: judged.run(path))
    monkeypatch.setattr(selection_module, "early_speed_ratio", lambda fp32, path, data: ratio)

    def measure(rows: list[Candidate], data: Any, hints: Any = None, **kw: Any) -> None:
        for row in rows:
            row.latency_ms = fp32_ms if row.role == "reference" else final_ms[row.scheme]

    monkeypatch.setattr(selection_module, "measure_latencies", measure)
    return judged


SCHEMES = (DynamicInt8Config(), WeightOnlyInt8Config(), Fp16Config())


def _sizes(workspace: tuple[LoadedModel, SequenceData], tmp_path: Path) -> dict[str, int]:
    loaded, data = workspace
    return {c.tag: quantize(loaded, c, tmp_path / "sizes", calibration=data).size_bytes for c in SCHEMES}


def test_auto_lists_rows_larger_than_a_passing_one_as_not_gated(workspace, tmp_path: Path, monkeypatch) -> None:
    sizes = _sizes(workspace, tmp_path)
    judged = _fake_selection(monkeypatch, 0.8, 0.1, dict.fromkeys(sizes, 0.09))
    selection = select_scheme(*workspace, tmp_path / "q", gate_module.TolerancePolicy.defaults(), schemes=SCHEMES, mixed=False)
    rows = {c.scheme: c for c in selection.candidates}
    declined = _declined(sizes)
    assert declined  # the tiny model's fp16 graph is larger than its int8 ones
    for tag, bar in declined.items():  # listed with the reason, never gated, never written, never timed
        row = rows[tag]
        assert not row.gated and row.lost.startswith(f"not gated: cannot win: larger than {bar} ("), row.lost
        assert row.result is not None and row.result.path is None and row.latency_ms is None
        assert not list((tmp_path / "q").glob(f"*.{tag}.onnx"))
    assert all(rows[t].gated and rows[t].passed for t in sizes if t not in declined)
    assert selection.winner is rows[min(sizes, key=sizes.__getitem__)]
    assert len(judged.judged) == len(SCHEMES) - len(declined)


def _declined(sizes: dict[str, int]) -> dict[str, str]:
    """The rule with every gate run passing: a row larger than the smallest row gated before it is declined
    (tag -> the row it lost to)."""
    bar: str | None = None
    declined = {}
    for config in SCHEMES:
        size = sizes[config.tag]
        if bar is not None and size > sizes[bar]:
            declined[config.tag] = bar
        elif bar is None or size < sizes[bar]:
            bar = config.tag
    return declined


def test_auto_gates_the_declined_rows_when_the_bar_is_too_slow_after_all(workspace, tmp_path: Path, monkeypatch) -> None:
    sizes = _sizes(workspace, tmp_path)
    largest = max(sizes, key=sizes.__getitem__)
    # early timings within the rule, final timings over it for all but the largest row: whichever row the others
    # were declined for cannot win after all, so every declined row must be gated, and the largest one wins
    judged = _fake_selection(monkeypatch, 1.0, 0.1, {t: 0.1 if t == largest else 0.5 for t in sizes})
    selection = select_scheme(*workspace, tmp_path / "q", gate_module.TolerancePolicy.defaults(), schemes=SCHEMES, mixed=False)
    rows = {c.scheme: c for c in selection.candidates}
    assert all(rows[tag].gated and rows[tag].passed for tag in sizes)
    assert selection.winner is rows[largest] and list((tmp_path / "q").glob(f"*.{largest}.onnx"))
    assert all(rows[t].lost.startswith("refused: 5.00x slower than fp32") for t in sizes if t != largest)
    # the first pass gated all but the declined rows (previous test), the second pass exactly those
    assert _declined(sizes) and len(judged.judged) == len(SCHEMES)


def test_mixed_ranks_layers_on_fewer_windows_and_gates_its_mix_on_all(workspace, tmp_path: Path, monkeypatch) -> None:
    loaded, data = workspace
    seen: list[tuple[int, bool]] = []
    original = gate_module.run_check

    def recording(artifacts, reference, data, config, *args, **kw):  # type: ignore[no-untyped-def]
        seen.append((data.count, config.stress))
        return original(artifacts, reference, data, config, *args, **kw)

    monkeypatch.setattr(gate_module, "run_check", recording)
    monkeypatch.setattr(mixed_module, "RANKING_WINDOWS", 8)
    gate = ParityGate(loaded, data)
    result = mixed_module.search_mixed(loaded, gate, tmp_path / "q", data)
    probes = [s for s in seen if s == (8, False)]
    assert len(probes) == 2 * len(result.layers)  # each layer alone at int8 and int4, on 8 windows, no stress
    assert seen[len(probes) :] and all(s == (BATCH, True) for s in seen[len(probes) :])  # every mix: the full gate
    assert "8 of 24 sequences" in to_jsonable(result)["ranking_data"]


def test_the_ranking_subset_is_spread_over_the_data_and_shares_the_references(workspace) -> None:
    loaded, data = workspace
    subset = spread_subset(data, 5)
    assert subset.count == 5 and subset.x[0].tobytes() == data.x[0].tobytes()
    assert subset.x[-1].tobytes() == data.x[-1].tobytes() and subset.y is not None and len(subset.y) == 5
    gate = ParityGate(loaded, data)
    ranking = gate.for_ranking(5)
    assert ranking.references is gate.references and not ranking.stress and gate.stress
    assert gate.for_ranking(BATCH) is gate  # data this small: the full gate itself


def test_the_premise_is_judged_in_the_plain_session_when_it_was_timed() -> None:
    """Issue 19: the bar that declined rows lost to must hold the speed rule where it is judged, in a plain session."""
    bar = _row("weight-only-int8", 23_000)
    bar.latency_ms = 0.1  # as fast as fp32 in edgelstm's session...
    bar.plain_speed_ratio = 1.5  # ...but 1.5x slower loaded with ORT's defaults: the declined rows could win
    assert not premise_holds(bar, "size", 0.1, 1.1)
    bar.latency_ms, bar.plain_speed_ratio = 0.2, 1.05
    assert premise_holds(bar, "size", 0.1, 1.1)
