"""torch eager fp32 as a user runs it, compared with the float64 truth: the baseline row every candidate is read against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.interface import GraphInterface
from edgelstm.comparison import CaseComparison, compare_tensors
from edgelstm.errors import EdgelstmError, first_line
from edgelstm.export.native import native_interface
from edgelstm.loading import LoadedModel
from edgelstm.parity.cases import InputCase
from edgelstm.parity.reference import TorchReference, TorchReferences
from edgelstm.parity.report import CandidateResult
from edgelstm.parity.tolerances import TolerancePolicy


@contextmanager
def torch_on_threads(threads: int) -> Iterator[int]:
    """torch on `threads` threads inside the block (yields the count it had before). The float64 reference runs
    on the check's thread count, like its ORT sessions: torch's default (every core) made it up to 6x slower on a
    2-core machine with other busy processes, for the same bytes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield before
    finally:
        torch.set_num_threads(before)


def torch_fp32_baseline(
    reference: LoadedModel,
    truth: TorchReference,
    references: TorchReferences,
    cases: list[InputCase],
    interface: GraphInterface | None,
    policy: TolerancePolicy,
    torch_threads: int,
) -> CandidateResult | None:
    """torch eager fp32 as a user runs it, so on torch's own thread count (`torch_threads`): unlike float64,
    float32 results on ragged batches differ in the last bits between 1 and 2 threads."""
    if interface is None:
        return None
    fp32 = references.get("float32")
    result = CandidateResult("torch fp32", "torch", "fp32", ["torch eager (CPU)"], gated=False)
    if reference.is_native:
        assert reference.config is not None
        interface = native_interface(reference.config, ExportConfig(form="sequence", with_lengths=True))
    names = [o.name for o in interface.outputs]
    for case in cases:
        try:
            feeds: dict[str, np.ndarray] = sequence_feeds(interface, case.x, case.lengths, "torch fp32 baseline")
            with torch_on_threads(torch_threads):
                actual = fp32.run(interface, feeds)
            expected = truth.run(interface, feeds)
        except (EdgelstmError, RuntimeError) as exc:
            result.cases.append(
                CaseComparison(case.name, case.batch, case.steps, error=first_line(exc, 300, last=True, with_type=True))
            )
            continue
        comparisons = [
            compare_tensors(n, a, e, policy.resolve("fp32", "torch", n).numeric)
            for n, a, e in zip(names, actual, expected, strict=False)
        ]
        result.cases.append(CaseComparison(case.name, case.batch, case.steps, comparisons))
    return result
