"""The comparison rules of scripts/compare_behaviour.py: what output masking hides, what it must not hide, and how
two JSON reports are compared. The full old-vs-new run is a script (minutes of CLI runs), not a test."""

from __future__ import annotations

import re

from scripts.compare_behaviour import (
    Tolerance,
    allowed_reason,
    compare_json,
    first_difference,
    json_fields,
    line_differences,
    mask_line,
    mask_text,
    volatile_path,
)

TABLE_OLD = """\
┏━━━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ case      ┃ max abs err ┃ verdict ┃
┡━━━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━┩
│ B=1 T=1   │ 2.38e-07    │ ok      │
│ B=3 T=64  │ 5.48e-06    │ ok      │
└───────────┴─────────────┴─────────┘
PASS wrote /tmp/tmpab12cd34/exp/streaming_fused.onnx (79,479 bytes, sha256 3002780a013b)
"""

# the same table from another run: other numbers, one column wider, another temp folder
TABLE_NEW = """\
┏━━━━━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ case        ┃ max abs err ┃ verdict ┃
┡━━━━━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━┩
│ B=1 T=1     │ 3e-07       │ ok      │
│ B=3 T=1024  │ 5.48e-06    │ ok      │
└─────────────┴─────────────┴─────────┘
PASS wrote /tmp/tmpzz99yy88/exp/streaming_fused.onnx (80,001 bytes, sha256 9f00aa11bb22)
"""


def test_tables_of_two_runs_have_the_same_layout() -> None:
    old = mask_text(TABLE_OLD, {"/tmp/tmpab12cd34": "<W>"})
    new = mask_text(TABLE_NEW, {"/tmp/tmpzz99yy88": "<W>"})
    assert first_difference(old, new) is None
    assert "PASS wrote <W>/exp/streaming_fused.onnx (<N> bytes, sha256 <HEX>)" in old


def test_a_changed_label_or_verdict_is_a_layout_difference() -> None:
    old = mask_text(TABLE_OLD)
    for before, after in (("max abs err", "max abs error"), ("ok      │\n└", "FAIL    │\n└"), ("PASS wrote", "wrote")):
        new = mask_text(TABLE_OLD.replace(before, after))
        assert first_difference(old, new) is not None, after


def test_markdown_rules_of_any_width_match_but_option_dashes_count() -> None:
    assert mask_line("|------|---|") == mask_line("|---|----------|")
    assert mask_line("--json one JSON object") != mask_line("-json one JSON object")


def test_a_dropped_line_is_a_layout_difference_naming_it() -> None:
    old = mask_text(TABLE_OLD)
    new = old[:-1]
    assert first_difference(old, new) == f"line {len(old)} (old only): {old[-1][:90]!r}"


def test_every_differing_line_is_named_so_each_can_be_judged_on_its_own() -> None:
    old = ["a <N>", "b", "c", "d"]
    new = ["a <N>", "B", "c", "D", "e"]
    assert line_differences(old, new) == ["line 2: 'b' -> 'B'", "line 4: 'd' -> 'D'", "line 5 (new only): 'e'"]
    assert line_differences(old, list(old)) == []


def test_a_commands_measured_words_are_masked_only_where_it_says() -> None:
    measured = re.compile(r"fastest at batch \d+: \S+")
    old = "[   bench] done (9.0 s): fastest at batch 1: sequence_fused.dynamic-int8.onnx 0.026 ms"
    new = "[   bench] done (8.1 s): fastest at batch 1: streaming_fused.onnx 0.031 ms"
    assert mask_text(old, extra=measured) == mask_text(new, extra=measured)
    assert mask_text(old) != mask_text(new)  # without the command's mask the artifact names are compared


def test_embedded_images_are_masked_but_the_html_around_them_is_not() -> None:
    old = '<h2>Latency</h2><img alt="chart" src="data:image/png;base64,iVBORw0KGgo+/AAA="></p>'
    new = '<h2>Latency</h2><img alt="chart" src="data:image/png;base64,ZZZZw0KGgo+/BBB="></p>'
    assert mask_line(old) == mask_line(new)
    assert mask_line(old) != mask_line(new.replace("<h2>Latency", "<h2>Speed"))


def test_masking_keeps_the_digits_of_names() -> None:
    line = "weight-only-int4 on silero_vad_16k_op15.onnx: 1.06x, fp16 [ 12.5 ms] took 3 s, B=8 T=64, 2026-12-06T09:20:11Z"
    assert mask_line(line) == "weight-only-int4 on silero_vad_16k_op15.onnx: <N>x, fp16 [ <N> ms] took <N> s, B=<N> T=<N>, <T>"


def test_pipeline_step_lines_with_other_durations_compare_equal() -> None:
    assert mask_line("[  export] done (3.3 s): 2 graph(s) verified") == mask_line(
        "[  export] done (13.71 s): 2 graph(s) verified"
    )
    assert mask_line("[  export] done (3.3 s)") != mask_line("[  export] failed (3.3 s)")


def test_json_fields_share_one_path_for_list_items() -> None:
    fields = json_fields({"rows": [{"a": 1, "b": "x"}, {"a": 2, "b": None}], "ok": True})
    assert fields == {
        "$": {"object"},
        "rows": {"list"},
        "rows[]": {"object"},
        "rows[].a": {"int"},
        "rows[].b": {"str", "null"},
        "ok": {"bool"},
    }


def test_compare_json_reports_fields_missing_added_and_retyped() -> None:
    old = {"verdict": "PASS", "cases": [{"max_abs": 1e-6, "n": 3}], "gone": 1}
    new = {"verdict": "PASS", "cases": [{"max_abs": 1e-6, "n": "3"}], "extra": {"x": 1}}
    differences = compare_json(old, new)
    assert "gone: field missing in new" in differences
    assert "extra: field added in new" in differences
    assert "extra.x: field added in new" in differences
    assert "cases[].n: type int -> str" in differences


def test_compare_json_compares_numbers_within_the_tolerance() -> None:
    tolerance = Tolerance(rel=1e-4, abs=1e-9)
    assert compare_json({"err": 1.0e-6}, {"err": 1.00001e-6}, tolerance=tolerance) == []
    assert compare_json({"err": 1.0e-6}, {"err": 2.0e-6}, tolerance=tolerance) == ["err: value 1e-06 -> 2e-06"]
    assert compare_json({"n": 3}, {"n": 3.0}) == ["n: type int -> float"]  # the value is equal; the type is not


def test_compare_json_names_a_changed_string_and_list_length() -> None:
    old = {"verdict": "PASS", "rows": [1, 2]}
    assert compare_json(old, {"verdict": "FAIL", "rows": [1, 2]}) == ["verdict: value 'PASS' -> 'FAIL'"]
    assert compare_json(old, {"verdict": "PASS", "rows": [1, 2, 3]}) == ["rows.length: value 2 -> 3"]


def test_null_where_a_field_is_optional_is_not_a_type_change_but_a_value_one() -> None:
    assert compare_json({"zip": None}, {"zip": "b.zip"}) == ["zip: value null -> 'b.zip'"]


def test_timings_are_compared_by_field_not_value() -> None:
    old = {"rows": [{"p50_ms": 0.077, "cold_start_seconds": 1.2, "max_abs_err": 2e-7}]}
    new = {"rows": [{"p50_ms": 0.093, "cold_start_seconds": 2.5, "max_abs_err": 2e-7}]}
    assert compare_json(old, new, volatile_path) == []
    new["rows"][0]["max_abs_err"] = 4e-7  # an error figure is not a timing: it must still be compared
    assert compare_json(old, new, volatile_path) == ["rows[0].max_abs_err: value 2e-07 -> 4e-07"]


def test_volatile_paths_are_measurements_only() -> None:
    measured = (
        "rows[0].p50_ms",
        "cold_starts[1].peak_rss_mb",
        "candidates[2].seconds",
        "artifacts[0].latency_ms_b1",
        "policy_by_artifact.sequence_fused.onnx.1.p50_ms.16",  # a dict of timings by length
        "plain_session[0].plain_1thread_vs_policy",
        "roofline[1].ceiling_fp32_gmacs",
        "latencies[0].steps_per_s",
    )
    for name in measured:
        assert volatile_path(name), name
    compared = (
        "verdict",
        "latency.artifact_sha256",
        "candidates[0].time_profiles[0].errors[3]",
        "interface.input_normalization.mean[0]",
        "versions.onnxruntime",
        "artifacts[0].verdicts.cpu",
        "parameters",
    )
    for name in compared:
        assert not volatile_path(name), name
    assert volatile_path("rows[0].chosen", re.compile(r"\.chosen$"))  # a command's own extra


def test_compare_json_masks_the_work_folder_in_strings() -> None:
    paths = {"/tmp/a/old": "<W>", "/tmp/a/new": "<W>"}
    assert compare_json({"path": "/tmp/a/old/x.onnx"}, {"path": "/tmp/a/new/x.onnx"}, paths=paths) == []
    assert compare_json({"path": "/tmp/a/old/x.onnx"}, {"path": "/tmp/a/new/y.onnx"}, paths=paths) != []


def test_allow_list_needs_step_kind_and_text_to_match() -> None:
    allowed = {("help-bundle-verify", "layout", r"Usage: edgelstm bundle"): "issue 18: verify got its own help"}
    assert allowed_reason("help-bundle-verify", "layout", "stdout line 2: 'Usage: edgelstm bundle ...'", allowed)
    assert allowed_reason("help-bundle", "layout", "stdout line 2: 'Usage: edgelstm bundle ...'", allowed) is None
    assert allowed_reason("help-bundle-verify", "json", "stdout line 2: 'Usage: edgelstm bundle ...'", allowed) is None
    assert allowed_reason("help-bundle-verify", "layout", "stdout line 9: 'other'", allowed) is None
