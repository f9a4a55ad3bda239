"""The tolerance file's validation (edgelstm/parity/tolerances.py): what the mutation run (docs/testing/mutation.md)
found unguarded. A tolerance file with a mistake must be refused with a message that lists the valid choices;
a value at the edge of its range (max_accuracy_drop = 1: any drop) is accepted.
"""

from __future__ import annotations

import math
import re

import pytest

from edgelstm.artifact.runners import PROVIDERS
from edgelstm.errors import ConfigError
from edgelstm.parity.tolerances import TolerancePolicy


def _refused(tables: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        TolerancePolicy(tables, "limits.toml").validate()


def test_unknown_tables_are_listed_with_the_known_ones() -> None:
    _refused(
        {"defaults": {}, "extra": {}}, "limits.toml: unknown table(s) defaults, extra; use default, output, precision, provider"
    )


@pytest.mark.parametrize("kind", ["precision", "output"])
def test_a_table_kind_without_a_name_is_refused(kind: str) -> None:
    _refused({kind: 3}, f"limits.toml: [{kind}] needs a name, e.g. [{kind}.int8]")


def test_an_unknown_provider_is_refused_with_the_list() -> None:
    _refused({"provider": {"tpu": {}}}, f"[provider.tpu] is not a provider; use {', '.join(PROVIDERS)}")


def test_an_unknown_key_is_refused_with_the_list() -> None:
    fields = "atol, max_accuracy_drop, max_mae_increase, min_snr_db, min_top1_agreement, rtol"
    _refused({"default": {"atoll": 1.0}}, f"[default] has unknown key 'atoll'; use {fields}")


def test_a_nan_snr_floor_is_refused() -> None:
    _refused({"default": {"min_snr_db": math.nan}}, "[default] min_snr_db must be a number of dB, got nan")


def test_fractions_are_held_to_their_range_and_one_is_a_valid_drop() -> None:
    _refused({"default": {"min_top1_agreement": 1.5}}, "min_top1_agreement is a fraction in [0, 1], got 1.5")
    _refused({"default": {"max_accuracy_drop": 1.5}}, "max_accuracy_drop is a fraction in [0, 1]")
    TolerancePolicy({"default": {"max_accuracy_drop": 1.0, "min_top1_agreement": 1.0}}).validate()  # the edges are valid


def test_the_outputs_a_file_names_come_from_both_output_tables_and_a_typo_is_refused() -> None:
    tables = {"output": {"h": {"atol": 1.0}}, "provider": {"cpu": {"output": {"c": {"atol": 1.0}}}, "cuda": {"atol": 1.0}}}
    policy = TolerancePolicy(tables, "limits.toml")
    assert policy.output_names() == {"h", "c"}
    policy.check_outputs({"h", "c", "output"})  # every named output exists
    with pytest.raises(ConfigError, match=re.escape("names output 'c', which the artifacts do not have (outputs: h, output)")):
        policy.check_outputs({"h", "output"})
    assert TolerancePolicy({}).output_names() == set()


def test_a_provider_table_that_is_not_a_table_is_refused_naming_it() -> None:
    _refused({"provider": 3}, "limits.toml: [provider] needs a name, e.g. [provider.cuda]")
    _refused({"provider": {"cpu": 3}}, "limits.toml: provider.cpu must be a table, e.g. [provider.cpu]")
    _refused({"provider": {"cpu": {"output": 3}}}, "limits.toml: provider.cpu.output must be a table of outputs")


def test_keys_after_the_snr_floor_are_still_checked() -> None:
    _refused({"default": {"min_snr_db": 20.0, "atol": -1.0}}, "[default] atol must be a non-negative number")


# The full run of tolerances' 242 mutants (docs/testing/mutation.md, "Full run") left these unguarded.


@pytest.mark.parametrize("value", [True, "20", [20]], ids=["bool", "string", "list"])
def test_an_snr_floor_that_is_not_a_number_is_refused(value: object) -> None:
    # `true` is not 1 dB, and a string must be refused, not crash the NaN test (exit 3)
    _refused({"default": {"min_snr_db": value}}, f"limits.toml: [default] min_snr_db must be a number of dB, got {value!r}")


def test_an_infinite_accuracy_drop_is_valid_and_means_not_gated() -> None:
    TolerancePolicy({"default": {"max_accuracy_drop": math.inf}}, "limits.toml").validate()
    _refused({"default": {"max_accuracy_drop": 1.5}}, "max_accuracy_drop is a fraction in [0, 1]")


def test_an_unknown_precision_is_refused_with_the_list() -> None:
    _refused({"precision": {"int3": {}}}, "limits.toml: unknown precision 'int3'; use fp32, fp16, int8, int4")
