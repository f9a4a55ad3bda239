"""Replay issue 22's hand mutations: apply each to the source, run the tests that guard it, count the failures, restore.

    python scripts/hand_mutations.py            # all of them (a few minutes on 2 cores)
    python scripts/hand_mutations.py atomic     # those whose name contains "atomic"

A mutation that no test fails is reported as SURVIVED and the exit code is 1. Each mutation edits its file in place
and restores the original bytes in a `finally`; run it on a clean checkout (if the process is killed mid-run,
`git checkout -- <file>` restores the file it names). This is the hand-picked table of issue 22, not a mutation tool.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    edits: tuple[tuple[str, str], ...]  # (exact text, replacement); each text must occur exactly once
    tests: tuple[str, ...]


GATE_TESTS = (
    "tests/unit/test_gate_verdict_boundaries.py",
    "tests/e2e/test_gate_verdict_boundaries_cli.py",
    "tests/unit/test_check.py",
    "tests/e2e/test_check_cli.py",
    "tests/unit/test_check_evidence.py",
    "tests/e2e/test_check_evidence_cli.py",
)
STREAM_TESTS = (
    "tests/unit/test_stream_flip_budget.py",
    "tests/e2e/test_stream_flip_budget_cli.py",
    "tests/unit/test_check_evidence.py",
    "tests/e2e/test_check_evidence_cli.py",
    "tests/unit/test_speech_corpus.py",
)
AUTO_TESTS = (
    "tests/unit/test_auto_speed_rule.py",
    "tests/unit/test_pareto.py",
    "tests/e2e/test_pareto_e2e.py",
    "tests/unit/test_auto_cut_short.py",
)
FLIP_CALL = (
    "    result.flip_evidence = flip_evidence(result.flips, result.decisions, {}config.max_flip_fraction, config.strict_evidence)"
)
ROW_FLIP_CALL = "    row.flip_evidence = flip_evidence(flips, decisions, {}config.max_flip_fraction, config.strict_evidence)"

MUTATIONS = (
    Mutation(
        "export fp32 tolerance x100",
        "edgelstm/comparison.py",
        (("FP32_TOLERANCE = Tolerance(atol=1e-5, rtol=1e-5)", "FP32_TOLERANCE = Tolerance(atol=1e-3, rtol=1e-3)"),),
        (
            "tests/unit/test_export_verification_tolerance.py",
            "tests/e2e/test_export_verification_tolerance_cli.py",
            "tests/unit/test_verify.py",
        ),
    ),
    Mutation(
        "atomic pair written straight to the final path",
        "edgelstm/files.py",
        (
            (
                '    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)\n    tmp = Path(name)',
                "    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)\n    tmp = path",
            ),
        ),
        (
            "tests/unit/test_atomic_files.py",
            "tests/e2e/test_atomic_files_cli.py",
            "tests/unit/test_bad_input_model.py",
            "tests/e2e/test_bad_input_model_cli.py",
        ),
    ),
    Mutation(
        "atomic_path yields the final path",
        "edgelstm/files.py",
        (
            (
                "    try:\n        yield tmp\n        os.chmod(tmp, 0o666",
                "    tmp = path\n    try:\n        yield tmp\n        os.chmod(tmp, 0o666",
            ),
        ),
        (
            "tests/unit/test_atomic_files.py",
            "tests/e2e/test_atomic_files_cli.py",
            "tests/unit/test_bad_input_model.py",
            "tests/e2e/test_bad_input_model_cli.py",
        ),
    ),
    Mutation(
        "distill resume resets the global step",
        "edgelstm/distill/trainer.py",
        (('        state = saved["state"]\n', '        state = saved["state"]\n        state["global_step"] = 0\n'),),
        ("tests/e2e/test_distill_resume.py", "tests/e2e/test_distill.py"),
    ),
    Mutation(
        "float64 reference silently run in float32",
        "edgelstm/parity/reference.py",
        (
            (
                '        self.module = module.double() if dtype == "float64" else module.float()',
                "        self.module = module.float()",
            ),
            ('        dtype = np.float64 if self.dtype == "float64" else np.float32', "        dtype = np.float32"),
        ),
        (
            "tests/unit/test_float64_reference.py",
            "tests/e2e/test_float64_reference_cli.py",
            "tests/unit/test_reuse.py",
            "tests/e2e/test_reuse_cli.py",
        ),
    ),
    Mutation(
        "reference dtype requested as float32",
        "edgelstm/parity/gate.py",
        (
            (
                '    truth = references.get("float64", config.chunk_steps)',
                '    truth = references.get("float32", config.chunk_steps)',
            ),
        ),
        (
            "tests/unit/test_float64_reference.py",
            "tests/e2e/test_float64_reference_cli.py",
            "tests/unit/test_reuse.py",
            "tests/e2e/test_reuse_cli.py",
        ),
    ),
    Mutation(
        ".pt2 allow-list skipped",
        "edgelstm/pt2_archive.py",
        (("                if not _DATA_ENTRIES.match(inner):", "                if False:"),),
        (
            "tests/unit/test_pt2_inspection_layer.py",
            "tests/e2e/test_pt2_inspection_layer_cli.py",
            "tests/unit/test_pt2_safety.py",
            "tests/e2e/test_pt2_safety_cli.py",
        ),
    ),
    Mutation(
        ".pt2 inspection not called",
        "edgelstm/loading.py",
        (("        refuse_code_in_pt2(path)  # before torch", "        pass  # before torch"),),
        (
            "tests/unit/test_pt2_inspection_layer.py",
            "tests/e2e/test_pt2_inspection_layer_cli.py",
            "tests/unit/test_pt2_safety.py",
            "tests/e2e/test_pt2_safety_cli.py",
        ),
    ),
    Mutation(
        "manifest 'has no sha256' refusal removed",
        "edgelstm/bundle/manifest.py",
        (("        if name not in files:\n            raise BundleError", "        if False:\n            raise BundleError"),),
        (
            "tests/unit/test_bundle_manifest_checksums.py",
            "tests/e2e/test_bundle_manifest_checksums_cli.py",
            "tests/unit/test_bundle_tamper.py",
            "tests/e2e/test_bundle_tamper_cli.py",
        ),
    ),
    Mutation(
        "auto: pick_winner ignores the speed rule",
        "quantize/pareto.py",
        (("        passing = [c for c in passing if within_speed_rule(c, fp32_ms)]", "        passing = passing"),),
        AUTO_TESTS,
    ),
    Mutation(
        "auto: finish_selection publishes slow rows",
        "quantize/selection.py",
        (
            (
                '    if objective != "size-at-any-cost":\n        for row in candidates:',
                "    if False:\n        for row in candidates:",
            ),
        ),
        AUTO_TESTS,
    ),
    Mutation(
        "auto: plain-session ratio always within",
        "quantize/pareto.py",
        (("        return row.plain_speed_ratio <= SPEED_LIMIT", "        return True"),),
        AUTO_TESTS,
    ),
    Mutation(
        "auto: no early decline of clearly slower rows",
        "quantize/cannot_win.py",
        (("            if ratio is not None and ratio > CLEARLY_SLOWER * self.speed_limit:", "            if False:"),),
        AUTO_TESTS,
    ),
    Mutation(
        "auto: a slow row becomes the bar",
        "quantize/cannot_win.py",
        (('        if self.objective == "size" and (ratio is None or ratio > self.speed_limit):', "        if False:"),),
        AUTO_TESTS,
    ),
    Mutation(
        "top-1 agreement check always true",
        "edgelstm/parity/task_checks.py",
        (
            (
                '            evidence.verdict == PASS,\n            f"over {n} predictions",',
                '            True,\n            f"over {n} predictions",',
            ),
        ),
        GATE_TESTS,
    ),
    Mutation(
        "top-1 agreement judged against 0 (agree >= 0.0)",
        "edgelstm/parity/task_checks.py",
        (
            (
                "        agree,\n        spec.min_top1_agreement,\n        n,",
                "        agree,\n        0.0,\n        n,",
            ),
        ),
        GATE_TESTS,
    ),
    Mutation(
        "MAE-increase check always true",
        "edgelstm/parity/task_checks.py",
        (
            (
                '            evidence.verdict == PASS,\n            f"MAE {mae_c',
                '            True,\n            f"MAE {mae_c',
            ),
        ),
        GATE_TESTS,
    ),
    Mutation(
        "MAE-increase limit infinite",
        "edgelstm/parity/task_checks.py",
        (
            (
                "        increase,\n        spec.max_mae_increase,\n        n,",
                '        increase,\n        float("inf"),\n        n,',
            ),
        ),
        GATE_TESTS,
    ),
    Mutation(
        "sequence lengths ignored in task rows",
        "edgelstm/parity/candidate_check.py",
        (
            (
                "        lengths = case.lengths if case.lengths is not None else np.full(case.batch, case.steps)\n"
                "        if per_step_output and pooled",
                "        lengths = np.full(case.batch, case.steps)\n        if per_step_output and pooled",
            ),
        ),
        GATE_TESTS,
    ),
    Mutation(
        "stream flip budget doubled",
        "edgelstm/parity/stream_check.py",
        ((FLIP_CALL.format(""), FLIP_CALL.format("2 * ")), (ROW_FLIP_CALL.format(""), ROW_FLIP_CALL.format("2 * "))),
        STREAM_TESTS,
    ),
    Mutation(
        "stream flips: a resolved FAIL not counted",
        "edgelstm/parity/stream_flips.py",
        (("    if judged.verdict == FAIL:", "    if False:"),),
        STREAM_TESTS,
    ),
    Mutation(
        "rate limit itself excluded (<= turned into <)",
        "edgelstm/parity/evidence_strength.py",
        (
            (
                "    within = value >= limit if higher_is_better else value <= limit",
                "    within = value >= limit if higher_is_better else value < limit",
            ),
        ),
        STREAM_TESTS,
    ),
)


def run(mutation: Mutation) -> list[str]:
    """The tests that fail under `mutation` (the file is restored afterwards, whatever happens)."""
    path = ROOT / mutation.file
    original = path.read_bytes()
    text = original.decode("utf-8")
    for old, new in mutation.edits:
        if text.count(old) != 1:
            raise SystemExit(
                f"{mutation.name}: the text to mutate occurs {text.count(old)} times in {mutation.file}; update this script"
            )
        text = text.replace(old, new)
    try:
        path.write_text(text, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *mutation.tests]
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True).stdout
    finally:
        path.write_bytes(original)
    return [m.group(1) for m in re.finditer(r"^FAILED (\S+)", out, re.MULTILINE)] + [
        m.group(1) for m in re.finditer(r"^ERROR (\S+)", out, re.MULTILINE)
    ]


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not argv or any(a.lower() in m.name.lower() for a in argv)]
    survived = []
    for mutation in chosen:
        failed = run(mutation)
        print(f"{'killed' if failed else 'SURVIVED'} ({len(failed)} tests): {mutation.name}  [{mutation.file}]")
        for test in failed:
            print(f"    {test}")
        if not failed:
            survived.append(mutation.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutations killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
