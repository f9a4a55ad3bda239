"""`edgelstm.api.quantize`: one scheme, `auto` (every scheme, the gated winner) or `mixed` (per layer), gated on parity.

Kept apart from `edgelstm.api` for size: the orchestration `edgelstm quantize` used to do itself (which data
calibrates and which gates, which reference, a graph made elsewhere or an edgelstm model).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeAlias

from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.metadata import read_metadata
from edgelstm.artifact.session import admit_user_graph
from edgelstm.errors import ConfigError, LoadError
from edgelstm.files import check_output_dir
from edgelstm.jsonio import to_jsonable
from edgelstm.loading import LoadedModel, load_model
from edgelstm.model_source import ModelSource
from edgelstm.parity import TolerancePolicy
from edgelstm.parity.data import SequenceData, load_sequence_data
from edgelstm.parity.reference import open_file_reference
from edgelstm.parity.speech_corpus import builtin_seconds, builtin_speech
from edgelstm.parity.stream_check import StreamGate
from edgelstm.parity.stream_data import StreamData, load_stream_data
from edgelstm.parity.stream_verdict import StreamCheckConfig
from edgelstm.quantize import quantize as quantize_scheme
from edgelstm.quantize import scheme_config
from edgelstm.quantize.api import QuantizeResult
from edgelstm.quantize.config import SCHEMES, Int4Config, SchemeConfig, StaticInt8Config, WeightOnlyConfig, WeightOnlyInt4Config
from edgelstm.quantize.gate import ParityGate
from edgelstm.quantize.litert import LiteRTQuantizeResult, quantize_tflite, select_tflite
from edgelstm.quantize.selection import DEFAULT_SCHEMES, mixed_candidate, select_foreign_scheme, select_scheme
from edgelstm.quantize.selection_table import OBJECTIVES, Candidate, SelectionResult
from edgelstm.quantize.split import DataSplit, split_sequences, split_stream, stream_split
from edgelstm.torchscript import is_torchscript_archive

__all__ = ["QuantizeOptions", "QuantizeOutcome", "QuantizeTarget", "quantize"]

QuantizeTarget: TypeAlias = Literal["onnx", "litert"]  # litert: an fp32 .tflite rewritten by ai-edge-quantizer


@dataclass(frozen=True)
class QuantizeOptions:
    """The scheme and its settings, the reference and data the gate judges on (the `edgelstm quantize` options)."""

    scheme: str = "auto"
    reference: str | None = None  # the trained model (default: the model itself when it is a checkpoint)
    data: Path | None = None
    budget: Path | None = None  # TOML tolerances
    method: str = "minmax"
    fixed_batch: int | None = None
    per_channel: bool = False
    reduce_range: bool | None = None
    block_size: int = 32
    rounding: str = "nearest"
    granularity: str = "channel"
    objective: str = "size"
    keep_fp32: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    weight_type: str = "int8"
    check: bool = True
    keep_failed: bool = False
    overwrite: bool = False
    threshold: float = 0.5  # these four: against an ONNX reference, streamed chunk by chunk
    max_flips: float = 0.01
    max_delta: float = 0.1
    seconds: float | None = None
    target: QuantizeTarget = "onnx"  # litert: MODEL is an fp32 .tflite edgelstm exported, quantized by ai-edge-quantizer

    def __post_init__(self) -> None:
        if self.target not in ("onnx", "litert"):  # a str from the CLI or an untyped caller
            raise ConfigError(f"--target {self.target!r}: choose onnx or litert")

    def scheme_settings(self) -> dict[str, Any]:
        """The options the scheme's config takes (each config names its own fields: no second switch on the name)."""
        offered = {
            "per_channel": self.per_channel,
            "reduce_range": self.reduce_range,
            "exclude": self.exclude,
            "weight_type": self.weight_type,
            "method": self.method,
            "fixed_batch": self.fixed_batch,
            "block_size": self.block_size,
            "keep_fp32_ops": self.keep_fp32,
            **_weight_only_options(self.scheme, self.rounding, self.granularity, self.block_size),
        }
        accepted = {f.name for f in fields(SCHEMES[self.scheme])}
        return {name: value for name, value in offered.items() if name in accepted}


@dataclass
class QuantizeOutcome:
    """What `quantize` did: one scheme's `QuantizeResult`, `auto`'s `SelectionResult`, or `mixed`'s `Candidate`."""

    result: QuantizeResult | None = None
    selection: SelectionResult | None = None
    mixed: Candidate | None = None
    litert: LiteRTQuantizeResult | None = None

    @property
    def passed(self) -> bool:
        """One scheme: not failed by the gate (unchecked counts as passed); auto: a winner; mixed: it passed."""
        if self.litert is not None:
            return self.litert.parity_passed is not False
        if self.selection is not None:
            return self.selection.winner is not None
        if self.mixed is not None:
            return self.mixed.passed
        return self.result is not None and self.result.parity_passed is not False

    def __bool__(self) -> bool:
        return self.passed

    def payload(self) -> dict[str, Any]:
        """The JSON of `quantize --json`."""
        chosen = self.selection or self.mixed or self.result or self.litert
        if chosen is None:
            raise ValueError("an empty QuantizeOutcome")
        return to_jsonable(chosen)


def quantize(model: ModelSource, out: Path, options: QuantizeOptions = QuantizeOptions()) -> QuantizeOutcome:
    """Quantize with one scheme (or try them all with scheme="auto") and gate the result on parity::

        outcome = quantize(ModelSource("runs/watch-lstm"), Path("runs/watch-q"), QuantizeOptions("dynamic-int8"))
        print(outcome.passed, outcome.result.path if outcome.result else None)

    An ONNX model made elsewhere (with the constants/states/chunk it needs) is gated against itself or the
    `reference` .onnx, streamed chunk by chunk and compared on decisions.
    """
    check_output_dir(out)  # before any work: a bad --out is known without loading anything
    if options.target == "litert" or model.spec.endswith(".tflite"):
        return QuantizeOutcome(litert=_quantize_litert(model, out, options))
    if options.objective not in OBJECTIVES:
        raise ConfigError(f"--objective {options.objective!r}: choose {', '.join(OBJECTIVES)}")
    if options.scheme != "auto":
        scheme_config(options.scheme)  # an unknown scheme name is refused before the model loads
    policy = TolerancePolicy.from_toml(options.budget) if options.budget else TolerancePolicy.defaults()
    is_onnx = model.spec.endswith(".onnx")
    _admit_graphs(model.spec, options.reference)
    if is_onnx and _is_foreign(Path(model.spec), options.reference):
        return _quantize_foreign(model, Path(options.reference or model.spec), out, options)
    if options.seconds is not None:
        raise ConfigError(
            "--seconds sets the built-in audio of a streaming check against an ONNX graph; this model is gated on --data"
        )
    ref_spec = options.reference or (None if is_onnx else model.spec)
    loaded = load_model(model.source(ref_spec)) if ref_spec else None
    sequences = _sequences(options.data, loaded)
    if options.scheme == "auto":
        return QuantizeOutcome(selection=_auto(loaded, sequences, out, policy, options))
    if options.scheme == "mixed":
        return QuantizeOutcome(mixed=_mixed(loaded, sequences, out, policy, options, Path(model.spec) if is_onnx else None))
    source = loaded if (loaded is not None and not is_onnx) else Path(model.spec)
    return QuantizeOutcome(result=_one_scheme(source, loaded, sequences, out, policy, options))


def _quantize_litert(model: ModelSource, out: Path, options: QuantizeOptions) -> LiteRTQuantizeResult:
    """An fp32 .tflite quantized by ai-edge-quantizer (`auto`: every recipe, the smallest that passes), gated on the
    litert provider against the float64 model (--reference: the checkpoint it was exported from)."""
    if not model.spec.endswith(".tflite"):
        raise ConfigError("--target litert quantizes a .tflite: export it first (`edgelstm export MODEL --target litert`)")
    gate = None
    if options.check:
        if options.reference is None:
            raise ConfigError("--target litert gates against the trained model: pass --reference (or --no-check)")
        if options.reference.endswith(".onnx") or is_torchscript_archive(Path(options.reference)):
            raise ConfigError(
                f"--reference {Path(options.reference).name}: a .tflite is gated against the model it was exported from "
                "(a checkpoint, .pt2 or package.module:factory, run in float64), not an ONNX or TorchScript file"
            )
        loaded = load_model(model.source(options.reference))
        policy = TolerancePolicy.from_toml(options.budget) if options.budget else TolerancePolicy.defaults()
        gate = ParityGate(loaded, _sequences(options.data, loaded), policy, provider="litert")
    if options.scheme == "auto":
        if gate is None:
            raise ConfigError("--scheme auto picks the smallest recipe that passes the gate: it cannot run with --no-check")
        return select_tflite(Path(model.spec), out, gate, options.overwrite)
    return quantize_tflite(Path(model.spec), out, options.scheme, gate, options.keep_failed, options.overwrite)


def _sequences(data: Path | None, loaded: LoadedModel | None) -> SequenceData | None:
    if data is None:
        return None
    sig = loaded.signature if loaded else None
    return load_sequence_data(data, bool(sig and sig.kind == "tokens"), sig.size if sig and sig.kind == "features" else None)


def _auto(
    loaded: LoadedModel | None, sequences: SequenceData | None, out: Path, policy: TolerancePolicy, options: QuantizeOptions
) -> SelectionResult:
    if loaded is None or sequences is None:
        raise ConfigError("--scheme auto needs a reference model (a checkpoint MODEL or --reference) and --data")
    # auto's schemes, with --block-size reaching both int4 schemes
    schemes = tuple(
        replace(c, block_size=options.block_size) if isinstance(c, Int4Config | WeightOnlyInt4Config) else c
        for c in DEFAULT_SCHEMES
    )
    return select_scheme(
        loaded,
        sequences,
        out,
        policy,
        schemes=schemes,
        overwrite=options.overwrite,
        objective=options.objective,  # type: ignore[arg-type]
    )


def _mixed(
    loaded: LoadedModel | None,
    sequences: SequenceData | None,
    out: Path,
    policy: TolerancePolicy,
    options: QuantizeOptions,
    graph: Path | None,
) -> Candidate:
    if loaded is None:
        raise ConfigError("--scheme mixed measures each layer against the trained model: pass --reference")
    calibration, gated = (split_sequences(sequences)[:2]) if sequences is not None else (None, None)
    gate = ParityGate(loaded, gated, policy)
    source: LoadedModel | Path = graph if graph is not None else loaded
    return mixed_candidate(
        source,
        gate,
        out,
        calibration,
        None,
        options.objective,  # type: ignore[arg-type]  # checked against OBJECTIVES in quantize()
        options.block_size,
        options.overwrite,
    )


def _calibrates(config: SchemeConfig) -> bool:
    """Whether the scheme reads calibration data: static int8's ranges, GPTQ's layer statistics."""
    return isinstance(config, StaticInt8Config) or (isinstance(config, WeightOnlyConfig) and config.rounding != "nearest")


def _one_scheme(
    source: LoadedModel | Path,
    loaded: LoadedModel | None,
    sequences: SequenceData | None,
    out: Path,
    policy: TolerancePolicy,
    options: QuantizeOptions,
) -> QuantizeResult:
    config = scheme_config(options.scheme, **options.scheme_settings())
    gate = None
    if options.check:
        if loaded is None:
            raise ConfigError("the parity check needs the trained model: pass --reference (or --no-check)")
        gate = ParityGate(loaded, sequences, policy)
    calibration, split = sequences, None
    if sequences is not None and gate is not None and loaded is not None and _calibrates(config):
        # No sequence both calibrates and gates: every third row calibrates, the gate judges the others.
        calibration, gated, split = split_sequences(sequences)
        gate = ParityGate(loaded, gated, policy)
    return quantize_scheme(
        source,
        config,
        out,
        calibration=calibration,
        overwrite=options.overwrite,
        gate=gate,
        keep_failed=options.keep_failed,
        data_split=split,
    )


def _admit_graphs(model: str, reference: str | None) -> None:
    """The user's .onnx files (model, reference), refused in one line when ONNX Runtime cannot load them; checked here
    because quantize then runs graphs it wrote itself, whose failures are edgelstm's (internal errors)."""
    for spec in (model, reference):
        if spec is not None and spec.endswith(".onnx") and Path(spec).is_file():
            admit_user_graph(Path(spec))


def _weight_only_options(scheme: str, rounding: str, granularity: str, block_size: int) -> dict[str, Any]:
    """--rounding / --granularity for the weight-only schemes (refused with the reason for the others)."""
    if scheme not in ("weight-only-int8", "weight-only-int4"):
        if (rounding, granularity) != ("nearest", "channel"):
            raise ConfigError(f"--rounding / --granularity apply to weight-only-int8 and weight-only-int4, not {scheme}")
        return {}
    options: dict[str, Any] = {"rounding": rounding, "granularity": granularity}
    if scheme == "weight-only-int8":
        options["block_size"] = block_size
    return options


def _is_foreign(model: Path, reference: str | None) -> bool:
    """An ONNX MODEL is quantized as a graph made elsewhere when its reference is an ONNX file too, or when it
    has no edgelstm metadata and no reference was named (it is then its own reference)."""
    if reference is not None:
        return reference.endswith(".onnx") or is_torchscript_archive(Path(reference))
    try:
        read_metadata(model)
    except LoadError:
        return model.is_file()
    return False


@dataclass
class _StreamInputs:
    """A graph made elsewhere: the audio that calibrates (if any), the audio the gate judges, and their record."""

    calibration: StreamData | None
    signal: StreamData
    split: DataSplit | None


def _stream_inputs(source: ModelSource, options: QuantizeOptions, rounded: bool) -> _StreamInputs:
    sr = source.constants.get("sr")
    rate = int(sr or 16_000)
    chunk = source.chunk or 1
    if options.data is not None:  # the user's audio: one part calibrates, the rest gates
        loaded = load_stream_data(options.data, int(sr) if sr is not None else None)
        if not rounded:
            return _StreamInputs(None, loaded, None)
        return _StreamInputs(*split_stream(loaded, chunk, rate))
    # built-in audio: the calibration role's stream, never the gate's (each made only when it is used)
    seconds = builtin_seconds(options.seconds, False)
    calibration = builtin_speech("calibration", seconds, rate, chunk=chunk) if rounded else None
    signal = builtin_speech("gate", seconds, rate, chunk=chunk)
    return _StreamInputs(calibration, signal, stream_split(calibration, signal) if calibration is not None else None)


def _quantize_foreign(source: ModelSource, reference: Path, out: Path, options: QuantizeOptions) -> QuantizeOutcome:
    model, scheme = Path(source.spec), options.scheme
    scheme_options = _weight_only_options(scheme, options.rounding, options.granularity, options.block_size)
    builtin_seconds(options.seconds, options.data is not None)  # --seconds with --data is refused here
    hints: InterfaceHints = source.interface_hints()
    # Calibration data only where something calibrates (GPTQ rows, auto, mixed): otherwise the gate gets it all.
    rounded = scheme in ("auto", "mixed") or scheme_options.get("rounding", "nearest") != "nearest"
    inputs = _stream_inputs(source, options, rounded)
    gate = None
    if options.check or scheme in ("auto", "mixed"):
        config = StreamCheckConfig(
            threshold=options.threshold, max_flip_fraction=options.max_flips, max_abs_delta=options.max_delta
        )
        gate = StreamGate(open_file_reference(reference, source.allow_torchscript), inputs.signal, config)
    if gate is None and scheme == "mixed":
        raise ConfigError("--scheme mixed measures each layer through the gate: drop --no-check")
    if gate is not None and scheme == "auto":
        selection = select_foreign_scheme(
            model,
            hints,
            gate,
            out,
            overwrite=options.overwrite,
            objective=options.objective,  # type: ignore[arg-type]
            calibration_stream=inputs.calibration,
            data_split=inputs.split,
        )
        return QuantizeOutcome(selection=selection)
    if gate is not None and scheme == "mixed":
        mixed = mixed_candidate(model, gate, out, None, hints, options.objective, 32, options.overwrite, inputs.calibration)  # type: ignore[arg-type]
        return QuantizeOutcome(mixed=mixed)
    result = quantize_scheme(
        model,
        scheme_config(scheme, **scheme_options),
        out,
        overwrite=options.overwrite,
        gate=gate,
        keep_failed=options.keep_failed,
        foreign=hints,
        calibration_stream=inputs.calibration,
        data_split=inputs.split if gate is not None else None,
    )
    return QuantizeOutcome(result=result)
