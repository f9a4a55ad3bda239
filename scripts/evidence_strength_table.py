"""Issue 19, item 4: what each gate's data can resolve, for the counts the issue measured (the README's table).

    python scripts/evidence_strength_table.py

Pure statistics through edgelstm.parity.evidence_strength (no model is run): sample size, observed value, budget,
the 95 % interval, the verdict and, when unresolved, about how many samples would resolve it.
"""

from __future__ import annotations

from edgelstm.parity.evidence_strength import Evidence, judge_rate, paired_difference_interval
from edgelstm.parity.stream_flips import flip_evidence


def accuracy(gained: int, lost: int, n: int, budget: float) -> Evidence:
    return judge_rate(
        (gained - lost) / n,
        -budget,
        n,
        "sequence",
        lambda m: paired_difference_interval(gained * m / n, lost * m / n, m),
        "Tango score, paired",
        higher_is_better=True,
        budget=budget,
    )


CASES: list[tuple[str, Evidence]] = [
    ("accuracy delta, 1 of 54 lost (the distilled GRU)", accuracy(0, 1, 54, 0.01)),
    ("accuracy delta, none of 54 differ", accuracy(0, 0, 54, 0.01)),
    ("accuracy delta, 5 of 54 lost", accuracy(0, 5, 54, 0.01)),
    ("accuracy delta, 1 of 600 lost", accuracy(0, 1, 600, 0.01)),
    ("flips, 2 of 313 (silero wo-int8, built-in speech)", flip_evidence(2, 313, 0.01)),
    ("flips, 13 of 312 (silero wo-int8, independent stream)", flip_evidence(13, 312, 0.01)),
    ("flips, 0 of 313 (a graph against itself)", flip_evidence(0, 313, 0.01)),
    ("flips, 1 of 40 chunks", flip_evidence(1, 40, 0.01)),
]


def main() -> None:
    print("| case | n | observed | limit | 95% interval | verdict | resolved | about n to resolve |")
    print("|---|---:|---:|---:|---|---|---|---:|")
    for name, e in CASES:
        needed = f"{e.needed_n:,}" if e.needed_n else "-"
        print(
            f"| {name} | {e.n} | {e.value:+.2%} | {e.limit:+.2%} | [{e.low:+.2%}, {e.high:+.2%}] | {e.verdict} | "
            f"{'yes' if e.resolved else 'no'} | {needed} |"
        )


if __name__ == "__main__":
    main()
