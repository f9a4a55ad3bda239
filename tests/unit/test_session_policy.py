"""The measured thread/spinning policy: chosen per batch by a threshold rule, defaults where nothing was measured,
strict when read back."""

from __future__ import annotations

import json

import pytest

from edgelstm.artifact.session import SessionSettings
from edgelstm.errors import ConfigError, SessionPolicyError
from edgelstm.jsonio import to_jsonable
from edgelstm.session_policy import PolicyEntry, SessionPolicy, policy_from_bench_rows, settings_for

POLICY = SessionPolicy(
    "measured",
    (PolicyEntry(1, 1, False, {"100": 0.1}), PolicyEntry(8, 2, True, {"100": 1.0}), PolicyEntry(32, 2, True)),
    artifact="a.onnx",
    source="bench.json",
    measured_on={"cpu_count": "2"},
)


def test_settings_for_takes_the_largest_measured_batch_at_or_below() -> None:
    chosen = {b: (s.intra_op_threads, s.allow_spinning) for b in (1, 7, 8, 31, 32, 500) for s in [settings_for(POLICY, b)]}
    assert chosen == {1: (1, False), 7: (1, False), 8: (2, True), 31: (2, True), 32: (2, True), 500: (2, True)}
    # below the first measured batch: the first entry (measured from 4 up only)
    late = SessionPolicy("measured", (PolicyEntry(4, 2, True),))
    assert settings_for(late, 1).intra_op_threads == 2
    # the rest of the settings come from the base
    kept = settings_for(POLICY, 8, SessionSettings(graph_optimization="disable"))
    assert kept.graph_optimization == "disable" and kept.intra_op_threads == 2


def test_not_measured_means_the_defaults_never_an_invented_policy() -> None:
    for policy in (None, SessionPolicy.not_measured("no --bench-report was given")):
        settings = settings_for(policy, 32, SessionSettings(intra_op_threads=4, allow_spinning=True))
        assert (settings.intra_op_threads, settings.allow_spinning) == (1, False)
    text = SessionPolicy.not_measured("no --bench-report was given").summary
    assert text.startswith("not measured (no --bench-report was given)") and "1 thread, no spinning" in text
    with pytest.raises(ConfigError, match="positive integer"):
        settings_for(POLICY, 0)


def test_summary_reads_as_ranges_and_merges_equal_neighbours() -> None:
    assert POLICY.summary == "batch < 8: 1 thread, no spinning; batch >= 8: 2 threads, spinning"
    single = SessionPolicy("measured", (PolicyEntry(1, 1, False),))
    assert single.summary == "every batch: 1 thread, no spinning"


def test_round_trip_through_json() -> None:
    data = json.loads(json.dumps(to_jsonable(POLICY)))
    assert data["summary"] == POLICY.summary and data["by_batch"][1]["intra_op_threads"] == 2
    assert SessionPolicy.from_dict(data) == POLICY
    missing = SessionPolicy.not_measured("x.json has no timed rows for a.onnx", "a.onnx")
    assert SessionPolicy.from_dict(json.loads(json.dumps(to_jsonable(missing)))) == missing


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"status": "guessed"}, "'status' must be"),
        ({"by_batch": []}, "at least one"),
        ({"by_batch": "all"}, "must be a list"),
        ({"by_batch": [{"from_batch": 1, "intra_op_threads": "many", "allow_spinning": False}]}, "intra_op_threads"),
        ({"by_batch": [{"from_batch": 1, "intra_op_threads": 1, "allow_spinning": "no"}]}, "allow_spinning"),
        ({"by_batch": [{"from_batch": 0, "intra_op_threads": 1, "allow_spinning": False}]}, "from_batch"),
        (
            {"by_batch": [{"from_batch": 8, "intra_op_threads": 1, "allow_spinning": False}] * 2},
            "increasing",
        ),
        ({"by_batch": [{"from_batch": 1, "intra_op_threads": 1, "allow_spinning": False, "p50_ms": {"1": -1}}]}, "p50_ms"),
    ],
)
def test_malformed_policies_are_refused_with_the_key(change: dict, fragment: str) -> None:
    with pytest.raises(SessionPolicyError, match=fragment):
        SessionPolicy.from_dict({**to_jsonable(POLICY), **change})
    with pytest.raises(SessionPolicyError, match="must be empty"):
        SessionPolicy.from_dict({"status": "not measured", "by_batch": [{"from_batch": 1}]})


def _row(batch: int, threads: int, p50: float, spinning: bool | None = False, name: str = "a.onnx") -> dict:
    return {"name": name, "kind": "artifact", "batch": batch, "steps": 100, "threads": threads, "mode": "run",
            "p50_ms": p50, "p90_ms": p50, "allow_spinning": spinning}  # fmt: skip


def test_policy_from_bench_rows_uses_the_bench_rule() -> None:
    rows = [_row(1, 1, 0.5), _row(1, 2, 0.7), _row(32, 1, 9.0), _row(32, 2, 6.0, True), _row(32, 2, 7.0)]
    policy = policy_from_bench_rows(rows, "a.onnx", "bench.json", {"cpu_count": "2", "torch": "x"})
    assert policy.summary == "batch < 32: 1 thread, no spinning; batch >= 32: 2 threads, spinning"
    assert policy.measured_on == {"cpu_count": "2"} and policy.entries[1].p50_ms == {"100": 6.0}
    # rows written before spinning was recorded: spinning was off
    old = policy_from_bench_rows([{k: v for k, v in _row(1, 2, 0.1).items() if k != "allow_spinning"}], "a.onnx", "b.json")
    assert old.entries == (PolicyEntry(1, 2, False, {"100": 0.1}),)
    nothing = policy_from_bench_rows([_row(1, 1, 0.5, name="b.onnx")], "a.onnx", "bench.json")
    assert not nothing.measured and "no timed rows for a.onnx" in nothing.reason


def test_a_parallel_entry_round_trips_and_opens_a_parallel_session() -> None:
    rows = [
        _row(32, 2, 5.0) | {"execution_mode": "parallel"},
        _row(32, 2, 6.0),
        _row(1, 1, 0.2),
    ]
    policy = policy_from_bench_rows(rows, "a.onnx", "bench.json")
    assert (
        policy.summary == "batch < 32: 1 thread, no spinning; batch >= 32: parallel execution on 2 inter-op threads, no spinning"
    )
    back = SessionPolicy.from_dict(json.loads(json.dumps(to_jsonable(policy))))
    assert back == policy
    wide = settings_for(back, 64)
    assert (wide.execution_mode, wide.intra_op_threads, wide.inter_op_threads) == ("parallel", 1, 2)
    narrow = settings_for(back, 1)
    assert (narrow.execution_mode, narrow.intra_op_threads, narrow.inter_op_threads) == ("sequential", 1, 1)
    # a manifest written before the mode was recorded reads as sequential
    old = {"from_batch": 1, "intra_op_threads": 2, "allow_spinning": False}
    entry = SessionPolicy.from_dict({"status": "measured", "by_batch": [old]}).entries[0]
    assert (entry.execution_mode, entry.inter_op_threads) == ("sequential", 1)


@pytest.mark.parametrize(
    ("bad", "named"),
    [({"execution_mode": "async"}, "execution_mode"), ({"inter_op_threads": 0}, "inter_op_threads")],
)
def test_a_malformed_execution_setting_is_refused(bad: dict, named: str) -> None:
    entry = {"from_batch": 1, "intra_op_threads": 1, "allow_spinning": False} | bad
    with pytest.raises(SessionPolicyError, match=named):
        SessionPolicy.from_dict({"status": "measured", "by_batch": [entry]})


def test_session_settings_refuse_an_unknown_execution_mode() -> None:
    with pytest.raises(ConfigError, match="execution_mode 'async'"):
        SessionSettings(execution_mode="async")
