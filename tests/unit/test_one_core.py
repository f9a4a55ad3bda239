"""The "one of each" rule of issue 10: what an AST scan can tell, and what it cannot.

Where code may live (the artifact core at the bottom, nothing importing upwards) is checked by import-linter's
contracts in pyproject.toml (`lint-imports` in .ci/run) and the zero-cycle test in tests/unit/test_import_graph.py, not
here. This file keeps the checks that do catch what they name:

- sessions: every `InferenceSession(...)` call, in code and in code held in strings, is in the session factory
  (edgelstm/artifact/session.py) or in the child-process scripts (edgelstm/artifact/child.py, which run in a
  fresh interpreter without edgelstm); one anywhere else fails `test_the_only_sessions_are_built_by_the_factory`.
- timers: any call of a clock (`perf_counter`, `monotonic`, `time.time`, `process_time`, `timeit`) outside
  edgelstm/timing.py (`time_interleaved`), except where a whole command or step is timed (listed below, with why).
- feeds: a graph input filled by hand under a literal key or an input's `.name`/`.input_name`
  (`feeds["h"] = np.zeros(...)`) outside edgelstm/artifact/feeds.py (`sequence_feeds`);
- chunk loop: `for start in range(0, n, chunk)` slicing axis 1 and calling `.run` outside
  edgelstm/artifact/chunks.py (`run_in_chunks`);
- exception lines: a function from an exception to a str, or `str(exc)` cut into lines, outside edgelstm/errors.py
  (`first_line`).

What the shape rules cannot catch, and do not claim to: a feed keyed by a plain variable, a chunk loop written with
`while`, `np.array_split` or torch, an exception's text cut some other way. For feeds, the tests at the end prove
behaviour instead: each former copy is shown to build its feeds through `sequence_feeds`.
Code held in strings (the scripts child processes run) is scanned too.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import patch_everywhere

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("edgelstm", "export", "quantize", "scripts")  # export/ and quantize/ are edgelstm.export, edgelstm.quantize
CORE = {
    "feeds": "edgelstm/artifact/feeds.py",
    "timer": "edgelstm/timing.py",
    "exception line": "edgelstm/errors.py",
    "chunk loop": "edgelstm/artifact/chunks.py",
    "session": "edgelstm/artifact/session.py",
}
RUN_CALLS = {"run", "run_with_iobinding", "run_with_ort_values"}
FILLERS = {"zeros", "full", "ones", "empty", "zeros_like", "full_like", "ones_like"}
TIMERS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "process_time", "process_time_ns", "timeit"}
TIME_MODULE_CLOCKS = {"time", "time_ns"}  # time.time(): a clock only when called on the `time` module
TIMER_MODULES = {"timeit"}  # timeit.timeit(...), timeit.repeat(...), timeit.Timer(...)
FEED_KEYS = {"name", "input_name"}  # attributes a feed is keyed by: an input spec's name, a state's input_name

# Timers of whole commands or steps, not latency: (path, function) -> why.
WHOLE_COMMAND_TIMERS = {
    ("edgelstm/pipeline/run.py", "run_pipeline"): "a pipeline step's duration",
    ("edgelstm/training.py", "_fit"): "training time",
    ("edgelstm/parity/candidate_check.py", "CandidateCheck.run"): "one candidate's whole check, in seconds in its report",
    ("edgelstm/artifact/child.py", "<code _COLD_START>"): "cold start: session creation and first run in a fresh process",
    ("scripts/check_memory.py", "main"): "wall time of a whole `edgelstm check` subprocess",
    ("scripts/distill_table.py", "run_task"): "wall time of a whole distill task",
    ("scripts/mutation_run.py", "run_module"): "wall time of a whole mutmut run over one module",
    ("scripts/bench_check.py", "main"): "wall time of whole run_check calls, interleaved",
    ("scripts/compare_behaviour.py", "run_step"): "wall time of one whole CLI command (old vs new), for the report",
    ("scripts/compare_behaviour.py", "main"): "the comparison script's own wall time",
}

# Copies still in the tree (issue 10 item 4). Empty: the scripts' last copies now use sequence_feeds,
# run_in_chunks / StreamingSession and time_interleaved. Add nothing here; the list only shrinks.
KNOWN_COPIES: dict[tuple[str, str, str], str] = {}

# Sessions built outside the factory: (path, where) -> why. Child scripts run in a fresh interpreter that imports
# onnxruntime and nothing of edgelstm. Add nothing here; the list only shrinks.
SESSIONS_OUTSIDE_THE_FACTORY = {
    ("edgelstm/artifact/child.py", "<code _LOAD_AND_RUN>"): "the crash probe's child: a crash must not take edgelstm down",
    ("edgelstm/artifact/child.py", "<code _COLD_START>"): "the cold start a user's app pays: bare ORT in a fresh process",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    where: str  # the enclosing function's qualified name, "<module>", or "<code NAME>" for code held in a string
    line: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule, self.path, self.where)


def _is_filler(node: ast.AST) -> bool:
    """np.zeros(...), numpy.full(...), ...; also either branch of `a if c else np.zeros(...)`."""
    if isinstance(node, ast.IfExp):
        return _is_filler(node.body) or _is_filler(node.orelse)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in FILLERS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ("np", "numpy")
    )


def _is_feed_key(node: ast.AST | None) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    return isinstance(node, ast.Attribute) and node.attr in FEED_KEYS


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, where: str = "<module>") -> None:
        self.path = path
        self.scope = [] if where == "<module>" else [where]
        self.caught: list[set[str]] = [set()]  # names bound by enclosing `except ... as NAME`
        self.findings: list[Finding] = []

    def _add(self, rule: str, node: ast.AST) -> None:
        self.findings.append(Finding(rule, self.path, ".".join(self.scope) or "<module>", getattr(node, "lineno", 0)))

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        returns_str = isinstance(node.returns, ast.Name) and node.returns.id == "str"
        takes_exception = any(
            isinstance(a.annotation, ast.Name) and a.annotation.id.endswith(("Exception", "Error"))
            for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        )
        if returns_str and takes_exception:
            self.scope.append(node.name)
            self._add("exception line", node)
            self.scope.pop()
        self._scoped(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self.caught.append(self.caught[-1] | ({node.name} if node.name else set()))
        self.generic_visit(node)
        self.caught.pop()

    def visit_Assign(self, node: ast.Assign) -> None:
        if _is_filler(node.value) and any(isinstance(t, ast.Subscript) and _is_feed_key(t.slice) for t in node.targets):
            self._add("feeds", node)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        pairs = list(zip(node.keys, node.values, strict=True))
        if any(_is_feed_key(k) and _is_filler(v) for k, v in pairs):
            self._add("feeds", node)
        self.generic_visit(node)

    def visit_DictComp(self, node: ast.DictComp) -> None:
        if _is_feed_key(node.key) and _is_filler(node.value):
            self._add("feeds", node)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        # for start in range(0, steps, chunk): ... session.run(...) -- a second chunk-by-chunk runner
        it = node.iter
        strided = isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and len(it.args) == 3
        runs = any(
            isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr in RUN_CALLS
            for statement in node.body
            for inner in ast.walk(statement)
        )
        if strided and runs and self._slices_time(node):
            self._add("chunk loop", node)
        self.generic_visit(node)

    @staticmethod
    def _slices_time(node: ast.For) -> bool:
        """The body cuts axis 1 (time) at the loop variable: x[:, start : start + chunk]. A loop over batch rows
        (x[start : start + 256]) is not a chunked run."""
        if not isinstance(node.target, ast.Name):
            return False
        variable = node.target.id
        for inner in ast.walk(node):
            if isinstance(inner, ast.Subscript) and isinstance(inner.slice, ast.Tuple) and len(inner.slice.elts) >= 2:
                whole, cut = inner.slice.elts[:2]
                if (
                    isinstance(whole, ast.Slice)
                    and whole.lower is None
                    and whole.upper is None
                    and isinstance(cut, ast.Slice)
                    and any(isinstance(n, ast.Name) and n.id == variable for n in ast.walk(cut.lower or ast.Pass()))
                ):
                    return True
        return False

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        if name in TIMERS or (owner == "time" and name in TIME_MODULE_CLOCKS) or owner in TIMER_MODULES:
            self._add("timer", node)
        if name == "InferenceSession":
            self._add("session", node)
        if isinstance(func, ast.Attribute) and self._is_caught_text(func.value):
            splits = func.attr == "splitlines" or (
                func.attr in ("split", "partition")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "\n"
            )
            if splits:
                self._add("exception line", node)
        self.generic_visit(node)

    def _is_caught_text(self, node: ast.AST) -> bool:
        """str(exc), or str(exc).strip(): the text of an exception bound by an enclosing except clause."""
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "strip":
            node = node.func.value
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "str"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in self.caught[-1]
        )


def _code_strings(tree: ast.Module) -> list[tuple[str, str]]:
    """(NAME, code) for module-level NAME = \"\"\"...\"\"\" strings that parse as Python and run something."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            text = node.value.value
            if "\n" in text and ("import " in text or ".run(" in text):
                try:
                    ast.parse(text)
                except SyntaxError:
                    continue
                found += [(t.id, text) for t in node.targets if isinstance(t, ast.Name)]
    return found


def scan_source(text: str, path: str, skip_core: bool = True) -> list[Finding]:
    tree = ast.parse(text)
    scanner = _Scanner(path)
    scanner.visit(tree)
    findings = scanner.findings
    for name, code in _code_strings(tree):
        inner = _Scanner(path, f"<code {name}>")
        inner.visit(ast.parse(textwrap.dedent(code)))
        findings += inner.findings
    return [f for f in findings if not skip_core or CORE[f.rule] != f.path]


def scan_tree() -> list[Finding]:
    findings = []
    for root in ROOTS:
        for file in sorted((REPO / root).rglob("*.py")):
            findings += scan_source(file.read_text(encoding="utf-8"), file.relative_to(REPO).as_posix())
    return findings


@pytest.fixture(scope="module")
def tree_findings() -> list[Finding]:
    return scan_tree()


def _allowed() -> set[tuple[str, str, str]]:
    timers = {("timer", path, where) for path, where in WHOLE_COMMAND_TIMERS}
    sessions = {("session", path, where) for path, where in SESSIONS_OUTSIDE_THE_FACTORY}
    return timers | sessions | set(KNOWN_COPIES)


def test_no_copy_of_a_core_job_outside_its_module(tree_findings: list[Finding]) -> None:
    allowed = _allowed()
    copies = sorted({f"{f.path}:{f.line} ({f.where}): {f.rule}" for f in tree_findings if f.key not in allowed})
    assert not copies, (
        "copies of the artifact core's jobs (use sequence_feeds / time_interleaved / first_line instead):\n" + "\n".join(copies)
    )


def test_the_allow_lists_name_only_what_is_there(tree_findings: list[Finding]) -> None:
    found = {f.key for f in tree_findings}
    stale = sorted(key for key in _allowed() if key not in found)
    assert not stale, f"no longer in the tree, remove from the lists in {Path(__file__).name}: {stale}"


def test_the_only_sessions_are_built_by_the_factory(tree_findings: list[Finding]) -> None:
    """Every `InferenceSession(...)` call in edgelstm/, export/, quantize/ and scripts/ (code strings included) is in
    the session factory or in a listed child script: one added anywhere else fails here."""
    allowed = set(SESSIONS_OUTSIDE_THE_FACTORY)
    outside = sorted(
        f"{f.path}:{f.line} ({f.where})" for f in tree_findings if f.rule == "session" and (f.path, f.where) not in allowed
    )
    assert not outside, "build sessions with edgelstm.artifact.session.session_from_onnx:\n" + "\n".join(outside)
    factory = REPO / CORE["session"]
    own = {
        f.where for f in scan_source(factory.read_text(encoding="utf-8"), CORE["session"], skip_core=False) if f.rule == "session"
    }
    assert own == {"write_optimized", "_inference_session"}  # the factory's own calls are what the scan sees as sessions


COPIES = {
    "raw session": """
        def load(path):
            return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    """,
    "imported session class": """
        from onnxruntime import InferenceSession
        def load(path):
            return InferenceSession(path)
    """,
    "time.time": """
        def ms(call):
            t = time.time(); call(); return time.time() - t
    """,
    "timeit": """
        def ms(call):
            return timeit.timeit(call, number=10)
    """,
    "zero states by name": """
        def feeds_for(session, x):
            feeds = {"x": x}
            for spec in session.get_inputs()[1:]:
                feeds[spec.name] = np.zeros([2 if isinstance(d, str) else d for d in spec.shape], np.float32)
            return session.run(None, feeds)
    """,
    "states by comprehension": """
        def zero_states(interface, batch):
            return {s.input_name: np.zeros([batch, 8], np.float32) for s in interface.states}
    """,
    "lengths by hand": """
        def run(session, x):
            return session.run(None, {"x": x, "lengths": np.full(len(x), x.shape[1], np.int64)})
    """,
    "constant or zero": """
        def fill(feeds, spec, constants, shape):
            feeds[spec.name] = np.array(constants[spec.name]) if spec.name in constants else np.zeros(shape)
    """,
    "in a child's code string": '''
        SCRIPT = """
        import sys, numpy as np, onnxruntime as ort
        session = ort.InferenceSession(sys.argv[1])
        feeds = {i.name: np.zeros([1 if isinstance(d, str) else d for d in i.shape], np.float32) for i in session.get_inputs()}
        session.run(None, feeds)
        """
    ''',
    "chunk loop": """
        def stream(session, x, chunk, h):
            for start in range(0, x.shape[1], chunk):
                y, h = session.run(None, {"x": x[:, start : start + chunk], "h": h})
            return y, h
    """,
    "latency loop": """
        def latency(call, n):
            start = time.perf_counter()
            for _ in range(n):
                call()
            return (time.perf_counter() - start) / n
    """,
    "bare perf_counter": """
        from time import perf_counter
        def ms(call):
            t = perf_counter(); call(); return perf_counter() - t
    """,
    "exception to line": """
        def reason(exc: RuntimeError) -> str:
            return f"failed: {exc}"
    """,
    "inline first line": """
        def load(path):
            try:
                return open_it(path)
            except OSError as err:
                raise LoadError(str(err).strip().splitlines()[0]) from None
    """,
}


@pytest.mark.parametrize("name", list(COPIES))
def test_the_scan_finds_a_deliberate_copy(name: str) -> None:
    findings = scan_source(textwrap.dedent(COPIES[name]), "edgelstm/new_module.py")
    assert findings, f"the scan missed a copy: {name}"


def test_the_core_itself_and_ordinary_code_are_not_flagged() -> None:
    ordinary = """
        def window(spec, features):
            out = np.zeros((spec.length, len(features)), np.float32)  # data, not a graph's feed
            table[3] = np.zeros(4)
            return {"length": spec.length, "values": out}

        def refuse(exc: OSError) -> LoadError:
            return LoadError(first_line(exc))
    """
    assert scan_source(textwrap.dedent(ordinary), "edgelstm/new_module.py") == []
    core = (REPO / CORE["feeds"]).read_text(encoding="utf-8")
    assert scan_source(core, CORE["feeds"]) == []
    assert any(f.rule == "feeds" for f in scan_source(core, CORE["feeds"], skip_core=False))  # seen, then excused


# The former copies, each shown to build its feeds through the one builder (and what it builds).


@pytest.fixture
def core_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts calls of the one feed builder, patched in every loaded edgelstm module that imported it."""
    import edgelstm.bundle.verify
    import edgelstm.export.native  # noqa: F401  # the callers below, loaded so their imported name is patched
    from edgelstm.artifact import feeds

    calls: list[str] = []
    real = feeds.sequence_feeds

    def counting(*args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        calls.append(args[3])  # `where`: which caller built the feeds
        return real(*args, **kwargs)

    assert patch_everywhere(monkeypatch, feeds, "sequence_feeds", counting) > 1  # the builder and its callers
    return calls


def _shapes(feeds: dict[str, np.ndarray]) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {name: (value.dtype.name, value.shape) for name, value in feeds.items()}


def test_verification_inputs_come_from_the_core(core_calls: list[str]) -> None:
    from edgelstm.artifact.export_config import ExportConfig
    from edgelstm.config import HeadConfig, ModelConfig
    from edgelstm.export.native import native_interface, random_inputs_like

    config = ModelConfig(input_size=3, hidden_size=4, head=HeadConfig(pooling="mean"))
    feeds = random_inputs_like(native_interface(config, ExportConfig(form="streaming")), 2, 5, seed=1)
    assert core_calls == ["random inputs"]
    assert _shapes(feeds)["h_in"] == ("float32", (1, 2, 4)) and feeds["h_in"].any()  # random: a state must be wired
    assert not feeds["pool_count_in"].any()  # a count is never negative


def test_the_foreign_probe_feeds_come_from_the_core(core_calls: list[str]) -> None:
    from edgelstm.artifact.foreign import ForeignInterface, probe_feeds
    from edgelstm.artifact.interface import StatePair, ValueInfo

    inputs = [ValueInfo("input", "float32", ("?", "?")), ValueInfo("state", "float32", (2, "?", 8)), ValueInfo("sr", "int64", ())]
    interface = ForeignInterface(inputs, [], "input", [StatePair("state", "stateN")], ["sr"], {"sr": 16000})
    feeds = probe_feeds(interface, 3, 16)
    assert core_calls == ["probe"]
    assert _shapes(feeds) == {"input": ("float32", (3, 16)), "state": ("float32", (2, 3, 8)), "sr": ("int64", ())}
    assert int(feeds["sr"]) == 16000 and not feeds["state"].any() and feeds["input"].any()


def test_bundle_verify_feeds_come_from_the_core(core_calls: list[str]) -> None:
    from edgelstm.bundle.manifest import BundleManifest, InputSpec
    from edgelstm.bundle.verify import _zero_feeds
    from edgelstm.errors import BundleError

    def manifest(*inputs: InputSpec) -> BundleManifest:
        return BundleManifest(1, "m.ort", "m.onnx", None, inputs, {}, None, {"sr": 8000})

    x, h, sr = (
        InputSpec("x", "float32", ("batch", "time", 3)),
        InputSpec("h_in", "float32", (1, "batch", 4)),
        InputSpec("sr", "int64", ()),
    )
    lengths = InputSpec("lengths", "int64", ("batch",))
    feeds = _zero_feeds(manifest(x, lengths, h, sr), Path("bundle"))
    assert len(core_calls) == 1
    assert _shapes(feeds) == {
        "x": ("float32", (1, 4, 3)),
        "lengths": ("int64", (1,)),
        "h_in": ("float32", (1, 1, 4)),
        "sr": ("int64", ()),
    }
    assert feeds["lengths"].tolist() == [4] and int(feeds["sr"]) == 8000
    # an untrusted manifest whose data has no time axis cannot have its lengths filled: one named error
    with pytest.raises(BundleError, match="no time axis"):
        _zero_feeds(manifest(InputSpec("x", "float32", ("batch",)), lengths), Path("bundle"))


def test_the_crash_probe_feeds_come_from_the_core(core_calls: list[str], tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from edgelstm.artifact.child import crash_reason, default_feeds

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"]), helper.make_node("Identity", ["h"], ["hn"])],
        "no_metadata",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "t", 3]),
            helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, "n", 4]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("hn", TensorProto.FLOAT, None),
        ],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert _shapes(default_feeds(path)) == {"x": ("float32", (2, 3, 3)), "h": ("float32", (1, 2, 4))}
    assert len(core_calls) == 1
    assert crash_reason(path) is None
