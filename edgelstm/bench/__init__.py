"""Latency, cold start, streaming cost and size of artifacts, with baselines measured in the same run."""

from edgelstm.bench.results import BenchReport, ColdStartResult, SizeResult, StreamingCostResult
from edgelstm.bench.rows import LatencyResult
from edgelstm.bench.runner import BenchConfig, run_bench

__all__ = ["BenchConfig", "BenchReport", "ColdStartResult", "LatencyResult", "SizeResult", "StreamingCostResult", "run_bench"]
