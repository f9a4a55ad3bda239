"""scripts/bench_targets.py prints issue 13's verdicts: which artifact counts as "best" and what its verdict says
are checked here on made-up timings (the timings themselves are measured by the script, never asserted)."""

from __future__ import annotations

from types import SimpleNamespace

from scripts.bench_targets import DEFAULT_PATH, _verdict_line, _winner

MS = {"int8": 0.07, "student int8": 0.04, "student int4": 0.03, "torch eager fp32": 0.30, DEFAULT_PATH: 0.08}
ROWS = {name: SimpleNamespace(intra_op_threads=1, allow_spinning=False, execution_mode="sequential") for name in MS}


def test_the_best_artifact_is_the_fastest_at_equal_or_better_accuracy_than_the_default_path() -> None:
    accuracy = {"int8": 0.816, "student int8": 0.832, "student int4": 0.808, DEFAULT_PATH: 0.816}
    # the int4 student is faster but less accurate than the default path: it cannot be the best artifact
    assert _winner(["int8", "student int8", "student int4"], MS, accuracy) == "student int8"
    assert _winner(["int8"], MS, accuracy) == "int8"  # equal accuracy is enough


def test_without_labelled_data_the_fastest_wins_and_the_verdict_says_accuracy_was_not_measured() -> None:
    accuracy = {"int8": None, "student int4": None, DEFAULT_PATH: None}
    assert _winner(["int8", "student int4"], MS, accuracy) == "student int4"
    line = _verdict_line(1, "same model", "int8", ROWS, MS, accuracy)
    assert "accuracy not measured (no labelled data)" in line


def test_a_fast_but_less_accurate_artifact_misses_the_default_path_target() -> None:
    accuracy = {"student int4": 0.808, DEFAULT_PATH: 0.816}
    assert _winner(["student int4"], MS, accuracy) == "student int4"  # nothing else: named, and judged below
    line = _verdict_line(1, "with a distilled student", "student int4", ROWS, MS, accuracy)
    assert "2.67x the default path (target >= 1.5x at equal or better accuracy: MISSED" in line
    assert "10.00x torch eager fp32 (target >= 5.0x: met)" in line


def test_the_ratios_and_targets_per_batch() -> None:
    accuracy = {"int8": 0.816, DEFAULT_PATH: 0.816}
    at_1 = _verdict_line(1, "same model", "int8", ROWS, MS, accuracy)
    assert "4.29x torch eager fp32 (target >= 5.0x: MISSED)" in at_1
    assert "1.14x the default path (target >= 1.5x at equal or better accuracy: MISSED" in at_1
    at_32 = _verdict_line(32, "same model", "int8", ROWS, MS, accuracy)
    assert "(target >= 2.5x: met)" in at_32 and "(target >= 1.2x at equal or better accuracy: MISSED" in at_32
