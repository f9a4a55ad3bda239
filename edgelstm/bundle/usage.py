"""What a bundle tells the app developer about calling its model: the manifest's one-line calling convention and
the streaming notes (the state-binding pattern in each ORT language API, for this bundle's own names)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgelstm.session_policy import StreamingPolicy

__all__ = ["append_streaming_notes", "streaming_notes", "streaming_usage"]


def streaming_usage(interface: Any) -> str | None:
    """How an app feeds a streaming graph chunk by chunk (the usage text), or None for a sequence graph."""
    if interface.form != "streaming":
        return None
    if interface.impl != "foreign":
        pairs = ", ".join(f"{s.output_name} -> {s.input_name}" for s in interface.states)
        per_layer = (
            "one state pair per layer, " if any(s.name[:1] in "hc" and s.name[1:].isdigit() for s in interface.states) else ""
        )
        data = (  # the layout the interface declares (issue 21: the slim streaming graph is time-major)
            "x [chunk, batch, features] and output [chunk, batch, ...], time-major (at batch 1 the same memory as "
            "[1, chunk, features])"
            if interface.layout == "time_major"
            else "x [batch, chunk, features]"
        )
        return (
            f"call with {data} and every *_in state ({per_layer}initial values above); feed each "
            f"*_out back as the matching *_in on the next call: {pairs}"
        )
    data = interface.data_input
    pairs = ", ".join(f"{s.output_name} -> {s.input_name}" for s in interface.states)
    constants = ", ".join(f"{k}={v}" for k, v in interface.constants.items()) or "none"
    length = f"{interface.chunk} new samples" if interface.chunk else "one chunk"
    if interface.context:
        length = f"the last {interface.context} samples of the previous call's input followed by {length} (zeros first)"
    frames = (
        f"; axis 0 of {data.name} is frames at batch 1: one frame per call (or several, in order), one session per stream"
        if interface.frames_first
        else ""
    )
    return (
        f"call with {data.name} {data.shape} holding {length}, the constants ({constants}) and every state (initial "
        f"value 0, shape as listed under state); feed back {pairs} on the next call{frames}"
    )


# element type per manifest dtype: (C++ type, Java buffer, Java element, Swift ORTTensorElementDataType, bytes)
# per manifest dtype: C++ type, Java array element, Java buffer view, Swift type, Swift ORTTensorElementDataType, bytes
_TYPES = {
    "float32": ("float", "float", "FloatBuffer", "asFloatBuffer", "Float", ".float", 4),
    "int64": ("int64_t", "long", "LongBuffer", "asLongBuffer", "Int64", ".int64", 8),
    "int32": ("int32_t", "int", "IntBuffer", "asIntBuffer", "Int32", ".int32", 4),
}


@dataclass(frozen=True)
class _Tensor:
    """A tensor of the calling convention with its dims for one call at batch 1: ints, or code ("CHUNK")."""

    name: str
    dtype: str
    dims: tuple[int | str, ...]
    ident: str  # the name as an identifier in generated code

    @property
    def count(self) -> str:
        """The element count as a code expression."""
        return " * ".join(f"({d})" if isinstance(d, str) and " " in d else str(d) for d in self.dims) or "1"

    @property
    def listed(self) -> str:
        """The dims as a code list."""
        return "[" + ", ".join(map(str, self.dims)) + "]"

    def t(self, column: int) -> Any:
        """The tensor's type name in one language's column."""
        return _TYPES[self.dtype][column]


def streaming_notes(interface: Any, model_file: str, policy: StreamingPolicy | None = None) -> str | None:
    """The state-binding pattern (two buffers per state, swapped every call; data and constants bound once) in
    ORT's C++, Java/Kotlin and Swift APIs, for this bundle's own input, state and output names, with the session
    settings `policy` measured for one-chunk calls. None for a graph that does not stream."""
    if interface.form != "streaming" or not interface.states:
        return None
    dtypes = sorted({t.dtype for t in [*interface.inputs, *interface.outputs] if t.dtype not in _TYPES})
    if dtypes:
        return f"## Streaming from an app\n\nNo code here: tensors of type {', '.join(dtypes)} are not covered.\n"
    n = _Names(interface, policy or StreamingPolicy())
    return "\n".join(
        [
            "## Streaming from an app: C++, Java/Kotlin, Swift",
            "",
            "Every call takes the new steps plus each state and returns the outputs plus each new state. Keep two",
            "buffers per state: one call reads buffer A and writes buffer B, the next reads B and writes A. The data",
            "buffer and the constants are bound once and rewritten in place, so a call copies nothing else and",
            "builds nothing. `edgelstm.artifact.streaming.StreamingSession` does the same in Python.",
            "",
            f"- session settings for one chunk per call: {n.policy.describe()}",
            f"- data: `{n.data.name}` {n.data.listed}, {n.data.dtype}; CHUNK = {n.chunk_text}",
            *(
                "- layout: time-major (the step axis first in the data and the per-step outputs, as the graph's "
                "recurrent nodes read and write them); at batch 1 the same memory as batch-first: copy each chunk's "
                "samples in as they come"
                for _ in [interface.layout]
                if interface.layout == "time_major"
            ),
            *(
                f"- context: each call sees the last CONTEXT = {n.context} steps of the previous call's data first "
                "(zeros before the first call)"
                for _ in [n.context]
                if n.context
            ),
            *(f"- state: `{i.name}` -> `{o.name}` {i.listed}, {i.dtype}, starts at {v}" for i, o, v in n.states),
            *(f"- constant: `{c.name}` = {v} ({c.dtype}), bound once" for c, v in n.constants),
            *(f"- output: `{o.name}` {o.listed}, {o.dtype}" for o in n.outputs),
            "",
            "**Not compiled or run by edgelstm**: this code is written from ONNX Runtime's published C++, Java and",
            "Objective-C/Swift APIs, for this bundle's names. Check it against the ORT version you ship.",
            "",
            "### C++ (Ort::IoBinding, two bindings swapped)",
            "",
            "```cpp",
            *_cpp(n, model_file),
            "```",
            "",
            "### Java / Kotlin (OrtSession.run with pinned outputs: ORT 1.17 and later)",
            "",
            "```java",
            *_java(n, model_file),
            "```",
            "",
            "From Kotlin the calls are the same (`session.run(inputs[current], wanted, pinned[current], null).use { }`).",
            "Before ORT 1.17 the Java API has neither IO binding nor pinned outputs: call `session.run(inputs)`, pass",
            "each returned state tensor as the next call's input, and close a `Result` once its states were used.",
            "",
            "### Swift (ORTSession.run into pre-allocated ORTValue outputs)",
            "",
            "```swift",
            *_swift(n, model_file),
            "```",
            "",
        ]
    )


def append_streaming_notes(readme: Path, name: str, interface: Any, policy: StreamingPolicy | None = None) -> bool:
    """Adds the streaming code to a bundle's README.md being built; False (nothing added) for a graph that does
    not stream."""
    notes = streaming_notes(interface, f"{name}.ort", policy)
    if notes is None:
        return False
    readme = Path(readme)
    readme.write_text(readme.read_text().rstrip("\n") + "\n\n" + notes)
    return True


class _Names:
    """The calling convention in code terms: dims for one call at batch 1, identifiers for every name."""

    def __init__(self, interface: Any, policy: StreamingPolicy) -> None:
        self.policy = policy
        self.chunk = interface.chunk or 16
        confirmed = "the length the graph was confirmed at"
        self.chunk_text = f"{self.chunk} ({confirmed})" if interface.chunk else "any length (16 below)"
        self.context = int(interface.context)
        data = interface.data_input
        self.data = _tensor(data.name, data.dtype, data.shape, "CONTEXT + CHUNK" if self.context else "CHUNK")
        # values per step of the data (its axes after batch and time): the unit of the context shift
        self.per_step = math.prod(d for d in self.data.dims[2:] if isinstance(d, int))
        self.states = [
            (_tensor(s.input_name, s.dtype, s.shape), _tensor(s.output_name, s.dtype, s.shape), s.initial_value)
            for s in interface.states
        ]
        dtypes = {t.name: t.dtype for t in interface.inputs}
        self.constants = [(_tensor(name, dtypes.get(name, "float32"), []), v) for name, v in interface.constants.items()]
        state_outputs = {s.output_name for s in interface.states}
        self.outputs = [_tensor(o.name, o.dtype, o.shape) for o in interface.outputs if o.name not in state_outputs]

    def header(self, declare: str, end: str) -> list[str]:
        """The constants an app's code starts with (chunk, context, state sizes)."""
        lines = [f"{declare} CHUNK = {self.chunk}{end}  // new steps per call"]
        if self.context:
            lines.append(f"{declare} CONTEXT = {self.context}{end}  // steps of the previous call seen again first")
        return [*lines, f"{declare} PER_STEP = {self.per_step}{end}  // values per step"]


def _settings(policy: StreamingPolicy, language: str) -> list[str]:
    """The session options of `policy` (measured for one-chunk calls) in one language's API."""
    threads, spin = policy.intra_op_threads, "1" if policy.allow_spinning else "0"
    if language == "cpp":
        lines = [
            f"    options.SetIntraOpNumThreads({threads});  // one chunk per call; see Session settings above",
            f'    options.AddConfigEntry("session.intra_op.allow_spinning", "{spin}");',
        ]
        lines += ["    options.DisableMemPattern();"] if not policy.memory_pattern else []
        return lines + (["    options.DisableCpuMemArena();"] if not policy.cpu_arena else [])
    if language == "java":
        lines = [
            f"    options.setIntraOpNumThreads({threads});  // one chunk per call; see Session settings above",
            f'    options.addConfigEntry("session.intra_op.allow_spinning", "{spin}");',
        ]
        lines += ["    options.setMemoryPatternOptimization(false);"] if not policy.memory_pattern else []
        return lines + (["    options.setCPUArenaAllocator(false);"] if not policy.cpu_arena else [])
    lines = [
        f"    try options.setIntraOpNumThreads({threads})  // one chunk per call; see Session settings above",
        f'    try options.addConfigEntry(withKey: "session.intra_op.allow_spinning", value: "{spin}")',
    ]
    if not (policy.memory_pattern and policy.cpu_arena):
        lines.append("    // ORT's Objective-C/Swift API has no memory-pattern or CPU-arena setter: ORT's defaults stay here")
    return lines


def _tensor(name: str, dtype: str, shape: list[int | str], span: str = "CHUNK") -> _Tensor:
    """A tensor for the usage code, with batch taken as 1 and the time axis as the chunk span."""
    dims = tuple(1 if d in ("batch", "frames") else span if d in ("chunk", "time") else d for d in shape)  # one frame a call
    ident = re.sub(r"\W", "_", name)
    return _Tensor(name, dtype, dims, ident if ident[:1].isalpha() else f"t_{ident}")


def _cpp(n: _Names, model_file: str) -> list[str]:
    """The streaming loop in C++ (ORT's C++ API)."""

    def member(t: _Tensor, buffer: str, initial: object = None) -> list[str]:
        fill = f", {initial}" if initial else ""
        return [
            f"  std::array<int64_t, {len(t.dims)}> {t.ident}_shape{{{', '.join(map(str, t.dims))}}};",
            f"  std::vector<{t.t(0)}> {buffer} = std::vector<{t.t(0)}>({t.count}{fill});",
        ]

    def value(t: _Tensor, buffer: str) -> str:
        return (
            f"Ort::Value::CreateTensor<{t.t(0)}>(cpu, {buffer}.data(), {buffer}.size(), {t.ident}_shape.data(), "
            f"{t.ident}_shape.size())"
        )

    x = n.data
    lines = [
        "#include <onnxruntime_cxx_api.h>",
        "#include <array>",
        "#include <cstring>",
        "#include <vector>",
        "",
        "struct Streamer {",
        *n.header("  static constexpr int64_t", ";"),
        '  Ort::Env env{ORT_LOGGING_LEVEL_WARNING, "app"};',
        "  Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);",
        "  Ort::Session session{nullptr};",
        *member(x, f"{x.ident}_data"),
        f"  std::vector<Ort::Value> {x.ident}_value;",
    ]
    for state, _, initial in n.states:
        lines += member(state, f"{state.ident}_a", initial)
        lines += [
            f"  std::vector<{state.t(0)}> {state.ident}_b = {state.ident}_a;",
            f"  std::vector<Ort::Value> {state.ident};  // [0] read and [1] written on even calls, swapped on odd ones",
        ]
    for const, v in n.constants:
        lines += [f"  {const.t(0)} {const.ident}_data = {v};", f"  std::vector<Ort::Value> {const.ident}_value;"]
    lines += [
        "  std::vector<Ort::IoBinding> bindings;  // made once; a call picks one",
        "  int current = 0;",
        "",
        "  explicit Streamer(const ORTCHAR_T* model_path) {",
        "    Ort::SessionOptions options;",
        *_settings(n.policy, "cpp"),
        "    session = Ort::Session(env, model_path, options);",
        f"    {x.ident}_value.push_back({value(x, x.ident + '_data')});",
        *(
            line
            for s, _, _ in n.states
            for line in (
                f"    {s.ident}.push_back({value(s, s.ident + '_a')});",
                f"    {s.ident}.push_back({value(s, s.ident + '_b')});",
            )
        ),
        *(
            f"    {c.ident}_value.push_back(Ort::Value::CreateTensor<{c.t(0)}>(cpu, &{c.ident}_data, 1, nullptr, 0));"
            for c, _ in n.constants
        ),
        "    for (int k = 0; k < 2; ++k) {",
        "      Ort::IoBinding& b = bindings.emplace_back(session);",
        *(f'      b.BindOutput("{o.name}", cpu);  // allocated by ORT: GetOutputValues()[{i}]' for i, o in enumerate(n.outputs)),
        f'      b.BindInput("{x.name}", {x.ident}_value[0]);',
        *(f'      b.BindInput("{c.name}", {c.ident}_value[0]);' for c, _ in n.constants),
        *(
            line
            for s, o, _ in n.states
            for line in (f'      b.BindInput("{s.name}", {s.ident}[k]);', f'      b.BindOutput("{o.name}", {s.ident}[1 - k]);')
        ),
        "    }",
        "  }",
        "",
        f"  // One call: `steps` holds CHUNK * PER_STEP new values. Returns the outputs ({', '.join(o.name for o in n.outputs)}).",
        f"  std::vector<Ort::Value> step(const {x.t(0)}* steps) {{",
    ]
    size = f"sizeof({x.t(0)})"
    if n.context:
        lines += [
            f"    std::memmove({x.ident}_data.data(), {x.ident}_data.data() + CHUNK * PER_STEP, CONTEXT * PER_STEP * {size});",
            f"    std::memcpy({x.ident}_data.data() + CONTEXT * PER_STEP, steps, CHUNK * PER_STEP * {size});",
        ]
    else:
        lines.append(f"    std::memcpy({x.ident}_data.data(), steps, CHUNK * PER_STEP * {size});")
    lines += [
        "    session.Run(Ort::RunOptions{nullptr}, bindings[current]);",
        "    current = 1 - current;  // the states just written are read next",
        "    return bindings[1 - current].GetOutputValues();  // outputs first, in the order bound",
        "  }",
        "};",
    ]
    return lines


def _java(n: _Names, model_file: str) -> list[str]:
    """The streaming loop in Java (ORT's Android API)."""

    def direct(t: _Tensor) -> str:
        return f"ByteBuffer.allocateDirect({t.t(6)} * {t.count}).order(ByteOrder.nativeOrder()).{t.t(3)}()"

    def shape(t: _Tensor) -> str:
        return "new long[] {" + ", ".join(map(str, t.dims)) + "}"

    x = n.data
    wanted = ", ".join(f'"{o.name}"' for o in n.outputs)
    lines = [
        "import ai.onnxruntime.*;",
        "import java.nio.*;",
        "import java.util.*;",
        "",
        "final class Streamer {",
        *n.header("  static final int", ";"),
        "  private final OrtSession session;",
        f"  private final {x.t(2)} {x.ident}Data = {direct(x)};  // the tensor reads this memory",
        "  private final List<Map<String, OnnxTensor>> inputs = new ArrayList<>();  // [even call, odd call]",
        "  private final List<Map<String, OnnxValue>> pinned = new ArrayList<>();  // state outputs, pre-allocated",
        f"  private final Set<String> wanted = new HashSet<>(Arrays.asList({wanted}));  // allocated by ORT",
        "  private int current = 0;",
        "",
        "  Streamer(OrtEnvironment env, String modelPath) throws OrtException {",
        "    OrtSession.SessionOptions options = new OrtSession.SessionOptions();",
        *_settings(n.policy, "java"),
        "    session = env.createSession(modelPath, options);",
        f"    OnnxTensor {x.ident} = OnnxTensor.createTensor(env, {x.ident}Data, {shape(x)});",
    ]
    for state, _, initial in n.states:
        lines.append(f"    OnnxTensor[] {state.ident} = new OnnxTensor[2];")
        lines.append("    for (int k = 0; k < 2; k++) {")
        lines.append(f"      {state.t(2)} buffer = {direct(state)};  // zeros")
        if initial:
            lines.append(f"      while (buffer.hasRemaining()) buffer.put(({state.t(1)}) {initial});")
            lines.append("      buffer.rewind();")
        lines.append(f"      {state.ident}[k] = OnnxTensor.createTensor(env, buffer, {shape(state)});")
        lines.append("    }")
    for const, v in n.constants:
        literal = f"{v}L" if const.dtype == "int64" else f"{v}f" if const.dtype == "float32" else str(v)
        lines.append(f"    OnnxTensor {const.ident} = OnnxTensor.createTensor(env, {literal});  // a scalar")
    lines += [
        "    for (int k = 0; k < 2; k++) {",
        "      Map<String, OnnxTensor> in = new HashMap<>();",
        f'      in.put("{x.name}", {x.ident});',
        *(f'      in.put("{c.name}", {c.ident});' for c, _ in n.constants),
        *(f'      in.put("{s.name}", {s.ident}[k]);' for s, _, _ in n.states),
        "      Map<String, OnnxValue> out = new HashMap<>();",
        *(f'      out.put("{o.name}", {s.ident}[1 - k]);' for s, o, _ in n.states),
        "      inputs.add(in);",
        "      pinned.add(out);",
        "    }",
        "  }",
        "",
        "  // One call: `steps` holds CHUNK * PER_STEP new values. The Result holds the outputs; close it.",
        f"  OrtSession.Result step({x.t(1)}[] steps) throws OrtException {{",
    ]
    if n.context:
        lines += [
            f"    for (int i = 0; i < CONTEXT * PER_STEP; i++) {x.ident}Data.put(i, {x.ident}Data.get(CHUNK * PER_STEP + i));",
            f"    for (int i = 0; i < steps.length; i++) {x.ident}Data.put(CONTEXT * PER_STEP + i, steps[i]);",
        ]
    else:
        lines.append(f"    for (int i = 0; i < steps.length; i++) {x.ident}Data.put(i, steps[i]);")
    lines += [
        "    OrtSession.Result result = session.run(inputs.get(current), wanted, pinned.get(current), null);",
        "    current = 1 - current;  // the states just written are read next",
        f'    return result;  // e.g. result.get("{n.outputs[0].name if n.outputs else ""}").get().getValue()',
        "  }",
        "}",
    ]
    return lines


def _swift(n: _Names, model_file: str) -> list[str]:
    """The streaming loop in Swift (ORT's Objective-C API from Swift)."""

    def value(t: _Tensor, data: str) -> str:
        shape = ", ".join(str(d) if isinstance(d, int) else f"NSNumber(value: {d})" for d in t.dims)
        return f"try ORTValue(tensorData: {data}, elementType: {t.t(5)}, shape: [{shape}])"

    def buffer(t: _Tensor) -> str:
        return f"NSMutableData(length: {t.t(6)} * {t.count})!"

    x = n.data
    known = all(isinstance(d, int) or d in ("CHUNK", "CONTEXT + CHUNK") for o in n.outputs for d in o.dims)
    size = f"MemoryLayout<{x.t(4)}>.size"
    lines = [
        "import Foundation",
        "import onnxruntime_objc  // CocoaPods onnxruntime-objc (OnnxRuntimeBindings with the Swift package)",
        "",
        *n.header("let", ""),
        "",
        "final class Streamer {",
        "  let session: ORTSession",
        f"  let {x.ident}Data = {buffer(x)}  // the ORTValue reads this memory",
        *(f"  let {o.ident}Data = {buffer(o)}  // written by every call" for o in n.outputs if known),
        "  var inputs: [[String: ORTValue]] = []  // [even call, odd call]",
        "  var outputs: [[String: ORTValue]] = []",
        "  var current = 0",
        "",
        "  init(env: ORTEnv, modelPath: String) throws {",
        "    let options = try ORTSessionOptions()",
        *_settings(n.policy, "swift"),
        "    session = try ORTSession(env: env, modelPath: modelPath, sessionOptions: options)",
        f"    let {x.ident} = {value(x, x.ident + 'Data')}",
    ]
    for state, _, initial in n.states:
        lines.append(f"    let {state.ident} = try (0..<2).map {{ _ -> ORTValue in")
        lines.append(f"      let data = {buffer(state)}  // zeros")
        if initial:
            count = f"data.length / {state.t(6)}"
            lines.append(
                f"      data.mutableBytes.bindMemory(to: {state.t(4)}.self, capacity: {count})"
                f".initialize(repeating: {initial}, count: {count})"
            )
        lines += [f"      return {value(state, 'data')}", "    }"]
    for const, v in n.constants:
        lines += [
            f"    var {const.ident}Value: {const.t(4)} = {v}",
            f"    let {const.ident} = try ORTValue(tensorData: NSMutableData(bytes: &{const.ident}Value, "
            f"length: MemoryLayout<{const.t(4)}>.size), elementType: {const.t(5)}, shape: [])",
        ]
    lines += [f"    let {o.ident} = {value(o, o.ident + 'Data')}" for o in n.outputs if known]
    fed = [f'"{x.name}": {x.ident}', *(f'"{c.name}": {c.ident}' for c, _ in n.constants)]
    lines += [
        "    for k in 0..<2 {",
        "      inputs.append([" + ", ".join([*fed, *(f'"{s.name}": {s.ident}[k]' for s, _, _ in n.states)]) + "])",
        "      outputs.append(["
        + ", ".join(
            [*(f'"{o.name}": {s.ident}[1 - k]' for s, o, _ in n.states), *(f'"{o.name}": {o.ident}' for o in n.outputs if known)]
        )
        + "])",
        "    }",
        "  }",
        "",
        f"  // One call: `steps` holds CHUNK * PER_STEP new values; then read {', '.join(o.ident + 'Data' for o in n.outputs if known) or 'the outputs'}.",
        f"  func step(_ steps: [{x.t(4)}]) throws {{",
        f"    let base = {x.ident}Data.mutableBytes",
    ]
    if n.context:
        lines += [
            f"    memmove(base, base + CHUNK * PER_STEP * {size}, CONTEXT * PER_STEP * {size})",
            f"    steps.withUnsafeBytes {{ _ = memcpy(base + CONTEXT * PER_STEP * {size}, $0.baseAddress!, $0.count) }}",
        ]
    else:
        lines.append("    steps.withUnsafeBytes { _ = memcpy(base, $0.baseAddress!, $0.count) }")
    lines += [
        "    try session.run(withInputs: inputs[current], outputs: outputs[current], runOptions: nil)",
        "    current = 1 - current  // the states just written are read next",
        "  }",
        "}",
    ]
    if not known:
        lines.append(
            "// An output of unknown shape cannot be pre-allocated: ask for it with run(withInputs:outputNames:runOptions:)."
        )
    return lines
