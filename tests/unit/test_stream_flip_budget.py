"""The ONNX-reference stream gate's flip budget at its boundary: an artifact with exactly F flipped decisions of N
passes at --max-flips F/N and does not pass at (F-1)/N.

The artifact is silero-vad with a constant added to its probability, sized so that exactly F chunks just under the
threshold cross it (40 chunks of synthetic speech). At (F-1)/N the observed rate is one decision over the budget;
the evidence rule calls that inconclusive (its 95 % interval crosses the limit), which is not a pass (exit 1);
with no budget at all (0) the same flips are a resolved FAIL.
"""

from __future__ import annotations

import pytest

from edgelstm.parity.evidence_strength import FAIL, INCONCLUSIVE, PASS
from edgelstm.parity.stream_flips import flip_evidence
from tests.support.stream_flip_budget import F, N


@pytest.mark.parametrize(
    ("budget", "verdict"), [(F / N, PASS), ((F - 1) / N, INCONCLUSIVE), (0.0, FAIL), (0.5 * F / N, INCONCLUSIVE)]
)
def test_the_flip_rule_at_its_boundary(budget: float, verdict: str) -> None:
    assert flip_evidence(F, N, budget).verdict == verdict


def test_many_flips_far_over_the_budget_are_a_resolved_fail() -> None:
    judged = flip_evidence(40, 400, 0.05)  # 10 % against 5 %: the interval lies wholly above the budget
    assert judged.verdict == FAIL and judged.resolved
