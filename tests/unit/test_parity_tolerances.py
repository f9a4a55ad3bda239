"""Tolerance policy: built-in precision defaults, layered TOML overrides, and refusal of bad files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgelstm.comparison import Tolerance, compare_tensors
from edgelstm.errors import ConfigError
from edgelstm.jsonio import to_jsonable
from edgelstm.parity.tolerances import PRECISION_DEFAULTS, PRECISIONS, TolerancePolicy, ToleranceSpec


def _policy(tmp_path: Path, text: str) -> TolerancePolicy:
    path = tmp_path / "parity.toml"
    path.write_text(textwrap.dedent(text))
    return TolerancePolicy.from_toml(path)


# --- built-in defaults -----------------------------------------------------------------------------------------


def test_every_precision_has_a_default() -> None:
    assert set(PRECISION_DEFAULTS) == set(PRECISIONS)


@pytest.mark.parametrize(("tight", "loose"), [("fp32", "fp16"), ("fp16", "int8"), ("int8", "int4")])
def test_lower_precisions_get_looser_defaults(tight: str, loose: str) -> None:
    a, b = PRECISION_DEFAULTS[tight], PRECISION_DEFAULTS[loose]
    assert a.atol <= b.atol and a.rtol <= b.rtol  # quantized precisions do not gate the max error (inf)
    assert (a.min_snr_db > b.min_snr_db) or tight == "fp32"  # ... they gate SNR, stricter for finer precisions
    assert a.min_top1_agreement > b.min_top1_agreement
    assert a.max_accuracy_drop < b.max_accuracy_drop
    assert a.max_mae_increase < b.max_mae_increase


def test_quantized_precisions_are_gated_on_snr_not_max_error() -> None:
    for precision in ("fp16", "int8", "int4"):
        spec = PRECISION_DEFAULTS[precision]
        assert spec.atol == float("inf") and spec.min_snr_db >= 12


def test_fp32_default_is_tight() -> None:
    spec = PRECISION_DEFAULTS["fp32"]
    assert spec.rtol <= 1e-4 and spec.atol <= 1e-5
    assert spec.min_top1_agreement >= 0.999


@pytest.mark.parametrize("precision", PRECISIONS)
def test_defaults_policy_resolves_to_the_built_in_spec(precision: str) -> None:
    policy = TolerancePolicy.defaults()
    assert policy.resolve(precision, "cpu") == PRECISION_DEFAULTS[precision]
    assert policy.resolve(precision, "cuda", "output") == PRECISION_DEFAULTS[precision]
    assert policy.source == "built-in defaults"


def test_unknown_precision_falls_back_to_the_strictest_default() -> None:
    assert TolerancePolicy.defaults().resolve("bf16", "cpu") == PRECISION_DEFAULTS["fp32"]


def test_numeric_view_carries_atol_and_rtol() -> None:
    spec = ToleranceSpec(atol=0.25, rtol=0.5)
    assert spec.numeric == Tolerance(atol=0.25, rtol=0.5)
    assert to_jsonable(spec)["min_top1_agreement"] == spec.min_top1_agreement


# --- layering --------------------------------------------------------------------------------------------------

LAYERED = """
    [default]
    atol = 1.0
    rtol = 0.5

    [precision.int8]
    atol = 2.0

    [provider.cuda]
    atol = 3.0

    [output.c_out]
    atol = 4.0

    [provider.cuda.output.c_out]
    atol = 5.0
"""


@pytest.mark.parametrize(
    ("precision", "provider", "output", "atol"),
    [
        ("fp32", "cpu", None, 1.0),  # [default] beats the built-in default
        ("int8", "cpu", None, 2.0),  # [precision.P] beats [default]
        ("fp32", "cuda", None, 3.0),  # [provider.X] beats [default]
        ("int8", "cuda", None, 3.0),  # [provider.X] beats [precision.P]
        ("int8", "cpu", "c_out", 4.0),  # [output.O] beats [precision.P]
        ("int8", "mobile", "c_out", 4.0),  # another provider's output table does not apply
        ("int8", "cuda", "c_out", 5.0),  # [provider.X.output.O] beats everything
        ("int8", "cuda", "h", 3.0),  # an output with no table of its own
        ("fp32", "cpu", "h", 1.0),
    ],
)
def test_layers_override_in_documented_order(
    tmp_path: Path, precision: str, provider: str, output: str | None, atol: float
) -> None:
    spec = _policy(tmp_path, LAYERED).resolve(precision, provider, output)
    assert spec.atol == atol
    assert spec.rtol == 0.5  # set only in [default]: every deeper layer inherits it


def test_output_tables_ignored_when_no_output_is_asked(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        """
        [output.output]
        min_top1_agreement = 0.5
        [provider.cpu.output.output]
        atol = 9.0
        """,
    )
    assert policy.resolve("fp32", "cpu") == PRECISION_DEFAULTS["fp32"]
    assert policy.resolve("fp32", "cpu", "output").atol == 9.0


def test_unset_keys_keep_the_precision_default(tmp_path: Path) -> None:
    spec = _policy(tmp_path, "[precision.int8]\natol = 0.2\n").resolve("int8", "cpu", "output")
    int8 = PRECISION_DEFAULTS["int8"]
    assert spec.atol == 0.2
    assert (spec.rtol, spec.min_top1_agreement, spec.max_accuracy_drop, spec.max_mae_increase) == (
        int8.rtol,
        int8.min_top1_agreement,
        int8.max_accuracy_drop,
        int8.max_mae_increase,
    )


def test_precision_table_applies_only_to_its_precision(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "[precision.fp16]\nrtol = 0.3\n")
    assert policy.resolve("fp16", "cpu").rtol == 0.3
    assert policy.resolve("fp32", "cpu").rtol == PRECISION_DEFAULTS["fp32"].rtol
    assert policy.resolve("int8", "cpu").rtol == PRECISION_DEFAULTS["int8"].rtol


def test_task_level_keys_layer_too(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        """
        [default]
        max_mae_increase = 0.1
        [precision.int8]
        min_top1_agreement = 0.9
        [provider.cuda]
        max_accuracy_drop = 0.02
        min_top1_agreement = 0.95
        """,
    )
    cpu = policy.resolve("int8", "cpu")
    assert (cpu.min_top1_agreement, cpu.max_accuracy_drop, cpu.max_mae_increase) == (
        0.9,
        PRECISION_DEFAULTS["int8"].max_accuracy_drop,
        0.1,
    )
    cuda = policy.resolve("int8", "cuda")
    assert (cuda.min_top1_agreement, cuda.max_accuracy_drop, cuda.max_mae_increase) == (0.95, 0.02, 0.1)


def test_integer_values_become_floats(tmp_path: Path) -> None:
    spec = _policy(tmp_path, "[default]\natol = 0\nmin_top1_agreement = 1\n").resolve("fp32", "cpu")
    assert spec.atol == 0.0 and isinstance(spec.atol, float)
    assert spec.min_top1_agreement == 1.0 and isinstance(spec.min_top1_agreement, float)


def test_policy_records_its_file(tmp_path: Path) -> None:
    path = tmp_path / "parity.toml"
    path.write_text("[default]\natol = 1e-4\n")
    assert TolerancePolicy.from_toml(path).source == str(path)


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "")
    for precision in PRECISIONS:
        assert policy.resolve(precision, "cpu", "output") == PRECISION_DEFAULTS[precision]


# --- errors ----------------------------------------------------------------------------------------------------

BAD = [
    pytest.param("[defaults]\natol = 1e-4\n", r"unknown table\(s\) defaults", id="unknown-table"),
    pytest.param("[default]\natoll = 1e-4\n", r"\[default\] has unknown key 'atoll'", id="unknown-key"),
    pytest.param(
        "[provider.cuda.output.h]\nfoo = 1\n", r"\[provider\.cuda\.output\.h\] has unknown key 'foo'", id="unknown-key-deep"
    ),
    pytest.param(
        "[output.h]\natol = -1e-3\n",
        r"\[output\.h\] atol must be a non-negative number \(inf = not gated\), got -0\.001",
        id="negative",
    ),
    pytest.param("[provider.cuda]\nrtol = -1\n", r"\[provider\.cuda\] rtol must be a non-negative", id="negative-provider"),
    pytest.param(
        '[default]\nrtol = "1e-5"\n', r"rtol must be a non-negative number \(inf = not gated\), got '1e-5'", id="string"
    ),
    pytest.param("[default]\nrtol = true\n", r"rtol must be a non-negative number \(inf = not gated\), got True", id="bool"),
    pytest.param("[default]\nrtol = [1, 2]\n", r"rtol must be a non-negative number", id="array"),
    pytest.param("[precision.fp64]\natol = 1\n", r"unknown precision 'fp64'", id="unknown-precision"),
    pytest.param(
        "[precision.int8]\nmin_top1 = 0.9\n", r"\[precision\.int8\] has unknown key 'min_top1'", id="unknown-key-precision"
    ),
    pytest.param("[default\natol = 1\n", r"invalid TOML", id="invalid-toml"),
    pytest.param("[default]\natol = 1\natol = 2\n", r"invalid TOML", id="duplicate-key"),
    pytest.param("default = 1\n", r"\[default\] must be a table", id="default-not-a-table"),
    pytest.param("[output]\natol = 1e-3\n", r"\[output\.atol\] must be a table", id="output-missing-name"),
    pytest.param("[provider]\nrtol = 1e-4\n", r"provider", id="provider-missing-name"),
    pytest.param("[provider.cuda]\noutput = 3\n", r"output", id="provider-output-not-a-table"),
    pytest.param("[default]\nrtol = nan\n", r"rtol", id="nan"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_tolerance_files_raise_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "parity.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        TolerancePolicy.from_toml(path)
    assert str(path) in str(info.value)


def test_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: no such tolerance file"):
        TolerancePolicy.from_toml(tmp_path / "nope.toml")


def test_directory_is_not_a_tolerance_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such tolerance file"):
        TolerancePolicy.from_toml(tmp_path)


# --- the gate's rule and its defaults, pinned from several angles ----------------------------------------------
# Loosening the rule in edgelstm/comparison.py or the defaults here by hand must fail several tests, not one:
# these known answers sit just either side of the boundary (the end-to-end CLI cases are in test_check.py).


def test_fp32_defaults_are_exactly_the_documented_values() -> None:
    spec = PRECISION_DEFAULTS["fp32"]
    assert (spec.atol, spec.rtol, spec.min_snr_db) == (1e-5, 1e-4, float("-inf"))
    assert (spec.min_top1_agreement, spec.max_accuracy_drop, spec.max_mae_increase) == (0.999, 0.001, 0.01)


@pytest.mark.parametrize(
    ("precision", "snr", "top1", "acc", "mae"),
    [("fp16", 40.0, 0.99, 0.005, 0.02), ("int8", 20.0, 0.98, 0.01, 0.03), ("int4", 12.0, 0.95, 0.02, 0.05)],
)
def test_quantized_defaults_are_exactly_the_documented_values(
    precision: str, snr: float, top1: float, acc: float, mae: float
) -> None:
    spec = PRECISION_DEFAULTS[precision]
    assert (spec.min_snr_db, spec.min_top1_agreement, spec.max_accuracy_drop, spec.max_mae_increase) == (snr, top1, acc, mae)


def _scaled(error: float, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """expected spans [-scale, scale]; actual differs by `error` at one element near zero."""
    expected = np.linspace(-scale, scale, 101)
    actual = expected.copy()
    actual[50] += error
    return actual, expected


# fp32 default limit at range 2.0: atol 1e-5 + rtol 1e-4 x 2.0 = 2.1e-4
@pytest.mark.parametrize(("error", "passes"), [(2.0e-4, True), (2.09e-4, True), (2.12e-4, False), (4.2e-4, False)])
def test_fp32_default_known_answers_at_the_boundary(error: float, passes: bool) -> None:
    tolerance = TolerancePolicy.defaults().resolve("fp32", "cpu", "output").numeric
    actual, expected = _scaled(error)
    result = compare_tensors("output", actual, expected, tolerance)
    assert result.passed is passes
    assert result.max_abs_error == pytest.approx(error, rel=1e-6)
    assert result.max_rel_error == pytest.approx(error / 2.0, rel=1e-6)


@pytest.mark.parametrize(
    ("error", "atol", "rtol", "passes"),
    [
        (0.30, 0.1, 0.1, True),  # 0.1 + 0.1 x 2 = 0.3: the boundary itself passes
        (0.31, 0.1, 0.1, False),
        (0.10, 0.1, 0.0, True),
        (0.11, 0.1, 0.0, False),  # atol alone
        (0.20, 0.0, 0.1, True),
        (0.21, 0.0, 0.1, False),  # rtol scales with the tensor's range (2.0), not with the element (about 0)
    ],
)
def test_rule_is_max_abs_error_within_atol_plus_rtol_times_range(error: float, atol: float, rtol: float, passes: bool) -> None:
    actual, expected = _scaled(error)
    assert compare_tensors("y", actual, expected, Tolerance(atol=atol, rtol=rtol)).passed is passes


def test_rule_takes_the_worst_element_not_the_mean() -> None:
    expected = np.ones(10_000)
    actual = expected.copy()
    actual[123] += 1e-3  # mean error 1e-7, worst 1e-3
    assert not compare_tensors("y", actual, expected, Tolerance(atol=1e-5, rtol=1e-4))


@pytest.mark.parametrize(
    ("precision", "noise", "passes"),
    [
        ("fp16", 0.0099, True),  # 40.09 dB vs the 40 dB default
        ("fp16", 0.0101, False),  # 39.91 dB
        ("int8", 0.099, True),  # 20.09 dB vs 20 dB
        ("int8", 0.101, False),  # 19.91 dB
        ("int4", 0.250, True),  # 12.04 dB vs 12 dB
        ("int4", 0.253, False),  # 11.94 dB
    ],
)
def test_quantized_default_snr_boundary(precision: str, noise: float, passes: bool) -> None:
    # signal 1 per element, noise `noise` per element: SNR = -20 log10(noise) dB
    tolerance = TolerancePolicy.defaults().resolve(precision, "cpu", "output").numeric
    expected = np.ones(1000)
    result = compare_tensors("output", expected + noise, expected, tolerance)
    assert result.passed is passes
    assert result.snr_db == pytest.approx(-20 * np.log10(noise), abs=1e-6)


def test_a_nan_where_the_reference_is_finite_always_fails() -> None:
    actual, expected = _scaled(0.0)
    actual[3] = np.nan
    result = compare_tensors("y", actual, expected, Tolerance(atol=float("inf"), rtol=float("inf")))
    assert not result.passed and "non-finite" in result.problem
