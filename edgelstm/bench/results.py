"""Benchmark results: data with the settings they were measured under."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgelstm.bench import best as rule
from edgelstm.bench.rows import LatencyResult


@dataclass(frozen=True)
class ColdStartResult:
    """What a phone app feels on launch: a fresh process creating the session and running once."""

    name: str
    session_ms: float
    first_run_ms: float
    peak_rss_mb: float  # of that fresh process (interpreter + onnxruntime + model)


@dataclass(frozen=True)
class StreamingCostResult:
    """Per-step cost of the streaming graph fed `chunk` steps per call, against one call over the sequence."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("floor_plus_compute_us",)  # derived values written after the fields

    name: str
    chunk: int
    steps: int
    mode: str
    per_step_us: float
    # the model's compute per step, as one long call pays it; 0.0 for a graph confirmed at one chunk length only
    whole_sequence_per_step_us: float
    # Issue 21: per call, a pass-through graph with the artifact's inputs and outputs called the same way
    # (edgelstm.bench.floor); 0.0 in reports written before it was measured.
    floor_us: float = 0.0

    @property
    def floor_plus_compute_us(self) -> float:
        """The per-step cost this chunk could reach if the graph added nothing to ORT's per-call floor and the
        model's own compute: floor / chunk + one-call per-step cost (0.0 where either was not measured)."""
        if self.floor_us <= 0 or self.whole_sequence_per_step_us <= 0:
            return 0.0
        return self.floor_us / self.chunk + self.whole_sequence_per_step_us


@dataclass(frozen=True)
class FedInterface:
    """How an artifact was fed: its data input's layout, the state pairs carried and the constants (the interface
    every command reads through the same detection, so bench's can be compared with inspect's and check's)."""

    name: str
    data_input: str
    data_shape: list[int | str]  # as the interface names it: batch, frames (frames-first: batch 1), chunk, numbers
    states: list[str]  # "in -> out"
    constants: dict[str, float | int]


@dataclass(frozen=True)
class SizeResult:
    """One artifact's bytes (file and gzipped), parameters and size against the fp32 graph."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("bytes_per_parameter",)  # derived values written after the fields

    name: str
    file_bytes: int
    gzip_bytes: int
    parameters: int
    vs_fp32: float  # file bytes of the fp32 reference graph / these

    @property
    def bytes_per_parameter(self) -> float:
        """File bytes per model parameter (0.0 when the parameter count is unknown)."""
        return self.file_bytes / self.parameters if self.parameters else 0.0


@dataclass(frozen=True)
class CeilingSpec:
    """One ceiling GEMM to measure: [m, k] x [k, n] at these session settings."""

    kind: str  # "fp32" | "int8"
    m: int
    k: int
    n: int
    threads: int
    allow_spinning: bool


@dataclass(frozen=True)
class CeilingResult(CeilingSpec):
    """A float or int8 GEMM on this machine, [m, k] x [k, n], at one thread count and spinning, in the same run."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("gmacs_per_s",)  # derived values written after the fields

    p50_ms: float
    samples: int

    @property
    def gmacs_per_s(self) -> float:
        """Billions of multiply-accumulates per second the ceiling GEMM reached at its median."""
        return self.m * self.k * self.n / (self.p50_ms * 1e6)


@dataclass(frozen=True)
class RooflineResult:
    """One artifact latency row against the machine: work per call counted from the graph, rate achieved, and the
    ceilings measured at the row's own threads and spinning. MACs per step are at batch 1 (per sample of a
    foreign graph's chunk); weight bytes read count a recurrent weight once per step it is used."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("achieved_gmacs", "weight_gb_per_s")  # derived values written after the fields

    name: str
    batch: int
    steps: int
    threads: int
    allow_spinning: bool | None
    p50_ms: float
    weight_bytes: int  # stored in the graph
    macs_per_step: float
    macs_per_call: int  # at this batch and length
    weight_bytes_read_per_call: int
    gemm: tuple[int, int, int] | None  # the ceiling GEMM's m, k, n (the artifact's largest weight matrix)
    ceiling_fp32_gmacs: float | None
    ceiling_int8_gmacs: float | None
    assumptions: tuple[str, ...] = ()
    execution_mode: str = "sequential"  # of the latency row (its ceilings are one GEMM at `threads` intra-op threads)

    @property
    def achieved_gmacs(self) -> float:
        """GMAC/s the artifact reached at its median latency (MACs per call over p50)."""
        return self.macs_per_call / (self.p50_ms * 1e6)

    @property
    def weight_gb_per_s(self) -> float:
        """GB/s of weights read at the median latency (weight bytes per call over p50)."""
        return self.weight_bytes_read_per_call / (self.p50_ms * 1e6)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RooflineResult:
        """Read back a roofline row written by `to_jsonable`."""
        fields = {k: v for k, v in data.items() if k not in ("achieved_gmacs", "weight_gb_per_s")}
        gemm = fields.get("gemm")
        return cls(**{**fields, "gemm": tuple(gemm) if gemm else None, "assumptions": tuple(fields.get("assumptions", ()))})


@dataclass
class BenchReport:
    """Everything `bench` measured: latencies, cold starts, streaming cost, sizes, ceilings, roofline and settings.
    Its JSON adds what is derived from the latencies (recomputed on every write, so they cannot disagree with them):
    each contender at its best measured setting, per batch size the setting edgelstm's sessions should use, and each
    artifact in a plain ORT session (InferenceSession(path), no session entry) beside its policy."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("best", "policy", "policy_by_artifact", "plain_session")

    settings: dict[str, Any]
    versions: dict[str, str]
    latencies: list[LatencyResult] = field(default_factory=list)
    cold_starts: list[ColdStartResult] = field(default_factory=list)
    streaming: list[StreamingCostResult] = field(default_factory=list)
    sizes: list[SizeResult] = field(default_factory=list)
    # Distance to the machine's limit (edgelstm.bench.roofline.add_roofline); empty when not measured.
    ceilings: list[CeilingResult] = field(default_factory=list)
    roofline: list[RooflineResult] = field(default_factory=list)
    interfaces: list[FedInterface] = field(default_factory=list)

    @property
    def best(self) -> list[rule.BestSetting]:
        """Each contender at its fastest measured setting, per batch size."""
        return rule.best_settings(self.latencies)

    @property
    def policy(self) -> dict[str, dict[str, Any]]:
        """Per batch size, the setting edgelstm's sessions should use."""
        return rule.policy(self.best)

    @property
    def policy_by_artifact(self) -> dict[str, dict[str, dict[str, Any]]]:
        """`policy`, per artifact."""
        return rule.policy_by_artifact(self.best)

    @property
    def plain_session(self) -> list[dict[str, Any]]:
        """Each artifact in a plain ORT session beside its policy."""
        return rule.plain_session(self.latencies)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchReport:
        """Read back a report as `to_jsonable` writes it (bundle and report read it)."""

        def strip(d: dict[str, Any], *keys: str) -> dict[str, Any]:
            return {k: v for k, v in d.items() if k not in keys}

        return cls(
            settings=dict(data["settings"]),
            versions=dict(data["versions"]),
            latencies=[LatencyResult(**strip(r, "sequences_per_s", "steps_per_s")) for r in data["latencies"]],
            cold_starts=[ColdStartResult(**r) for r in data["cold_starts"]],
            streaming=[StreamingCostResult(**strip(r, "floor_plus_compute_us")) for r in data["streaming"]],
            sizes=[SizeResult(**strip(r, "bytes_per_parameter")) for r in data["sizes"]],
            # reports written before the roofline was measured have neither list
            ceilings=[CeilingResult(**strip(r, "gmacs_per_s")) for r in data.get("ceilings", [])],
            roofline=[RooflineResult.from_dict(r) for r in data.get("roofline", [])],
            interfaces=[FedInterface(**r) for r in data.get("interfaces", [])],  # absent in older reports
        )
