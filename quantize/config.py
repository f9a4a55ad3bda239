"""Typed quantization schemes. Each config is saved next to the artifact it produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgelstm.errors import ConfigError

ROUNDINGS = ("nearest", "gptq")
GRANULARITIES = ("channel", "block", "auto")


@dataclass(frozen=True)
class SchemeConfig:
    """The base of every scheme's settings: the scheme name and the options a handler reads. Its JSON (saved beside
    every artifact so it can be reproduced) names the scheme first."""

    JSON_EXTRAS: ClassVar[tuple[str, ...]] = ("scheme",)
    JSON_ORDER: ClassVar[tuple[str, ...]] = ("scheme",)
    scheme: ClassVar[str] = ""
    precision: ClassVar[str] = "fp32"  # what the parity gate's default tolerances key on

    @property
    def tag(self) -> str:
        """Names the artifact: the scheme plus anything that makes this variant different."""
        return self.scheme + "".join(f"-no-{part}" for part in getattr(self, "exclude", ()))


@dataclass(frozen=True)
class DynamicInt8Config(SchemeConfig):
    """Weights int8, activations quantized at run time (CPU). Fused LSTM -> DynamicQuantizeLSTM; GRU and
    projected LSTMs through the Loop form, whose recurrent MatMul is quantized inside the Loop body."""

    scheme: ClassVar[str] = "dynamic-int8"
    precision: ClassVar[str] = "int8"
    per_channel: bool = False
    # MatMulInteger weights: "uint8" avoids the u8 x s8 saturation below on x86 (a GRU's Loop form reached
    # 99.75 % agreement with uint8 weights here); DynamicQuantizeLSTM always stores int8, whatever is asked.
    weight_type: str = "int8"
    # 7-bit weights. None = decide per graph: on for MatMulInteger recurrences (the Loop form), off for
    # DynamicQuantizeLSTM. x86 CPUs without VNNI compute u8 x s8 products with an instruction whose pairwise sums
    # saturate at 16 bits: measured here, a GRU's Loop-form top-1 agreement was 94.3 % with 8-bit weights and
    # 99.5 % with 7-bit; DynamicQuantizeLSTM did not saturate and lost accuracy with 7-bit weights instead
    # (reference LSTM: 98.45 % -> 97.84 % agreement).
    reduce_range: bool | None = None
    quantize_embedding: bool = True  # token embedding tables are a large share of an LM's bytes
    exclude: tuple[str, ...] = ()  # parts kept in float: "head", "embedding", "layer0", "layer1", ...

    def __post_init__(self) -> None:
        if self.weight_type not in ("int8", "uint8"):
            raise ConfigError(f"weight_type {self.weight_type!r}: choose int8 or uint8")
        for part in self.exclude:
            if part not in ("head", "embedding") and not (part.startswith("layer") and part[5:].isdigit()):
                raise ConfigError(f"cannot exclude {part!r}: use head, embedding or layerN")


@dataclass(frozen=True)
class StaticInt8Config(SchemeConfig):
    """QDQ int8 with activation ranges calibrated on real data, for accelerators that need static quantization."""

    scheme: ClassVar[str] = "static-int8"
    precision: ClassVar[str] = "int8"
    method: str = "minmax"  # minmax | entropy | percentile
    per_channel: bool = False
    calibration_sequences: int = 128
    # A fixed batch (e.g. 1) makes every shape static: no lengths input (pad inside the app), initial states as
    # inputs, no Shape ops. Measured here: NNAPI then takes all 1417 nodes of the unrolled reference LSTM.
    fixed_batch: int | None = None

    def __post_init__(self) -> None:
        if self.method not in ("minmax", "entropy", "percentile"):
            raise ConfigError(f"calibration method {self.method!r}: choose minmax, entropy or percentile")
        if self.fixed_batch is not None and self.fixed_batch < 1:
            raise ConfigError(f"fixed_batch must be >= 1, got {self.fixed_batch}")


@dataclass(frozen=True)
class Fp16Config(SchemeConfig):
    """Weights and compute in float16 where a provider has the kernels; inputs/outputs stay float32."""

    scheme: ClassVar[str] = "fp16"
    precision: ClassVar[str] = "fp16"
    keep_io_types: bool = True
    keep_fp32_ops: tuple[str, ...] = field(default_factory=tuple)  # op types left in float32


@dataclass(frozen=True)
class Int4Config(SchemeConfig):
    """Blockwise 4-bit weight-only quantization of MatMul weights (MatMulNBits)."""

    scheme: ClassVar[str] = "int4"
    precision: ClassVar[str] = "int4"
    block_size: int = 32
    symmetric: bool = True

    def __post_init__(self) -> None:
        if self.block_size < 16 or self.block_size & (self.block_size - 1):
            raise ConfigError(f"block_size must be a power of two >= 16, got {self.block_size}")


@dataclass(frozen=True)
class WeightOnlyConfig(SchemeConfig):
    """Every float weight (Conv, MatMul, Gemm, fused LSTM/GRU/RNN W and R, inside If/Loop/Scan bodies too) stored
    quantized and expanded by Cast + Mul, which ONNX Runtime folds into float weights when a session starts; compute
    stays float, so fused recurrent ops keep their speed in any session."""

    storage: ClassVar[str] = ""
    # Below this many elements a tensor stays float. 1: every weight whose quantized values, scales and
    # expanding nodes are smaller than its floats is quantized (a 24x12x3 Conv, a 4x48 head, a GRU's biases:
    # 4.7 kB of the Conv1d+BiGRU user module's 24 kB int8 artifact were such weights at the former floor of 1024).
    min_elements: int = 1
    # nearest: each weight rounded alone. gptq: rounded column by column with the error moved onto the columns not
    # yet rounded, weighted by the layer inputs' second moment on calibration data (edgelstm.quantize.rounding),
    # plus bias correction; weights no calibration call reaches are rounded to nearest (the report lists them).
    rounding: str = "nearest"
    # int8 scales: channel (one per output channel), block (one per output channel and block of input channels,
    # DequantizeLinear-21), auto (blocks where they cut a weight's output error >= 2x, largest gains first,
    # within max_extra_scales of the quantized elements). int4 weights are always blockwise.
    granularity: str = "channel"
    max_extra_scales: float = 0.02

    def __post_init__(self) -> None:
        if self.min_elements < 1:
            raise ConfigError(f"min_elements must be >= 1, got {self.min_elements}")
        if self.rounding not in ROUNDINGS:
            raise ConfigError(f"rounding {self.rounding!r}: choose {' or '.join(ROUNDINGS)}")
        if self.granularity not in GRANULARITIES:
            raise ConfigError(f"granularity {self.granularity!r}: choose {', '.join(GRANULARITIES)}")
        if not 0 <= self.max_extra_scales <= 1:
            raise ConfigError(f"max_extra_scales must be within [0, 1], got {self.max_extra_scales}")

    @property
    def tag(self) -> str:
        """weight-only-int8, weight-only-int8-gptq-auto, ...: variants publish side by side."""
        parts = [self.scheme]
        if self.rounding != "nearest":
            parts.append(self.rounding)
        if self.granularity != "channel":
            parts.append(self.granularity)
        return "-".join(parts)

    @property
    def needs_plan(self) -> bool:
        """Whether weights are rounded by edgelstm.quantize.rounding_plan (else: per channel, to nearest)."""
        return self.rounding != "nearest" or self.granularity != "channel"


@dataclass(frozen=True)
class WeightOnlyInt8Config(WeightOnlyConfig):
    """int8 per output channel (symmetric, scale = max|w| / 127)."""

    scheme: ClassVar[str] = "weight-only-int8"
    precision: ClassVar[str] = "int8"
    storage: ClassVar[str] = "int8"
    block_size: int = 32  # input channels per scale where granularity puts blocks

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_size < 2:
            raise ConfigError(f"block_size must be >= 2, got {self.block_size}")


@dataclass(frozen=True)
class WeightOnlyInt4Config(WeightOnlyConfig):
    """int4 in blocks along a reduced axis (Cast from INT4 needs opset 21: older graphs are converted)."""

    scheme: ClassVar[str] = "weight-only-int4"
    precision: ClassVar[str] = "int4"
    storage: ClassVar[str] = "int4"
    block_size: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_size < 2:
            raise ConfigError(f"block_size must be >= 2, got {self.block_size}")


@dataclass(frozen=True)
class WeightOnlyMixedConfig(WeightOnlyConfig):
    """Per-layer weight-only precision: only the listed weights are stored quantized, each at its own precision
    (int8 per channel or int4 blockwise); the rest stay float. Chosen by the mixed-precision search against a
    budget (edgelstm.quantize.mixed), or written by hand."""

    scheme: ClassVar[str] = "mixed"
    precision: ClassVar[str] = "int8"  # the gate's default tolerances: the weakest int4 layers are chosen by budget
    storage: ClassVar[str] = "mixed"
    precisions: tuple[tuple[str, str], ...] = ()  # (weight tensor name, "int8" | "int4")
    block_size: int = 32
    # int8 weights kept at one scale per output channel where granularity auto would give them blocks: the mixed
    # search measured that form closer to the float model on the gate's task (silero's encoder.2: 0 flips per channel
    # alone, 8 with the blocks its calibration output error preferred)
    channel: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_size < 2:
            raise ConfigError(f"block_size must be >= 2, got {self.block_size}")
        for name, storage in self.precisions:
            if storage not in ("int8", "int4"):
                raise ConfigError(f"weight {name!r}: precision {storage!r}; choose int8 or int4 (or leave it out: float)")


SCHEMES: dict[str, type[SchemeConfig]] = {
    cls.scheme: cls
    for cls in (
        DynamicInt8Config,
        StaticInt8Config,
        Fp16Config,
        Int4Config,
        WeightOnlyInt8Config,
        WeightOnlyInt4Config,
        WeightOnlyMixedConfig,
    )
}


def scheme_config(name: str, **options: Any) -> SchemeConfig:
    """The config of the scheme called `name`, built with `options`; an unknown name is a ConfigError listing the schemes."""
    if name not in SCHEMES:
        raise ConfigError(f"unknown scheme {name!r}; choose from {', '.join(SCHEMES)} or auto")
    return SCHEMES[name](**options)


def config_from_dict(data: dict[str, Any]) -> SchemeConfig:
    """Read a scheme config back from its JSON (`to_jsonable`)."""
    values = dict(data)
    name = values.pop("scheme")
    for key in ("keep_fp32_ops", "exclude", "channel"):
        if key in values:
            values[key] = tuple(values[key])
    if "precisions" in values:  # JSON has lists where the config has tuples
        values["precisions"] = tuple((str(name), str(storage)) for name, storage in values["precisions"])
    return scheme_config(name, **values)
