"""The manual is code: every shell command and Python snippet shown in README.md and docs/ is run here.

Each page runs in its own temporary directory, its blocks in document order (```bash/```sh/```console commands one
by one, ```python blocks as scripts). README.md runs first, on its own: it is the first command (train, export,
convert); every other page starts from a copy of the `runs/` it wrote, as a reader who ran it would. A command
must exit 0, or the code its own `# exits N` comment documents.

Nothing is skipped silently. A block that cannot run here carries a marker on the line before its fence, and each
marker is reported as a skipped test item with its reason:

    <!-- docs-test: skip: REASON -->                      the block is not run
    <!-- docs-test: drop: pip install; python -m pytest --> `&&` steps starting with these are not run
    <!-- docs-test: slow -->                               (anywhere in a page) the page's test is marked slow
    <!-- docs-test: in-seed -->                            (anywhere in a page) it runs in README.md's directory
                                                           itself, not a copy: `convert` resumes only where it ran
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_PAGE = "README.md"
SHELL = {"bash", "sh", "console"}
# fences that are shown but never run: outputs, configs, file layouts
NOT_COMMANDS = {"text", "toml", "yaml", "json", "", "cpp", "kotlin", "swift", "java", "c"}
MARKER = re.compile(r"^<!--\s*docs-test:\s*([\w-]+)\s*(?::\s*(.*?))?\s*-->$")
PAGE_MARKERS = {"slow", "in-seed"}
EXITS = re.compile(r"#\s*exits\s+(\d+)\b")
ASSIGNMENT = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=")
COMMAND_TIMEOUT_S = 1200


@dataclass
class Command:
    """One command of a block: the text to run, where it is, and the exit code the page documents."""

    text: str
    line: int
    expected_rc: int = 0
    dropped: list[str] = field(default_factory=list)


@dataclass
class Block:
    """One fenced block: its language, the line of its fence, its marker (if any) and its commands."""

    lang: str
    line: int
    body: str
    skip: str | None = None
    drop: list[str] = field(default_factory=list)

    def commands(self) -> list[Command]:
        """The block's commands, continuation lines joined, comment-only lines left out."""
        if self.lang == "console":  # `$ cmd` lines are commands, the rest is what they print
            raw = [(i, line[2:]) for i, line in enumerate(self.body.splitlines()) if line.startswith("$ ")]
        else:
            raw = list(enumerate(self.body.splitlines()))
        out: list[Command] = []
        pending, start = "", 0
        for i, line in raw:
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if not pending:
                start = i
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            out.append(self._command(pending + line, self.line + 1 + start))
            pending = ""
        if pending:
            out.append(self._command(pending, self.line + 1 + start))
        return out

    def _command(self, text: str, line: int) -> Command:
        found = EXITS.search(text)
        expected = int(found.group(1)) if found else 0
        steps = [s.strip() for s in text.split(" && ")]
        kept = [s for s in steps if not any(s.startswith(p) for p in self.drop)]
        dropped = [s for s in steps if s not in kept]
        return Command(" && ".join(kept), line, expected, dropped)


@dataclass
class Page:
    """A Markdown file's runnable blocks, whether its test is slow and whether it runs in README.md's directory."""

    path: Path
    blocks: list[Block]
    slow: bool
    in_seed: bool = False

    @property
    def name(self) -> str:
        return self.path.relative_to(ROOT).as_posix() if self.path.is_relative_to(ROOT) else self.path.name


def parse_page(path: Path) -> Page:
    """Fenced blocks of a Markdown file with their markers; unknown markers and unknown shell-like fences fail."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    slow = in_seed = False
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        marker = MARKER.match(stripped)
        if marker and marker.group(1) == "slow":
            slow = True
        if marker and marker.group(1) == "in-seed":
            in_seed = True
        fence = re.match(r"^(\s*)(```+)\s*([\w+-]*)", lines[i])
        if fence:
            indent, ticks, lang = fence.group(1), fence.group(2), fence.group(3).lower()
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(ticks):
                body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
                j += 1
            # an unclosed fence would swallow the rest of the page, or close at the next block's opening line
            if j == len(lines) or lines[j].strip() != ticks:
                raise ValueError(f"{path}:{i + 1}: a ``` fence that is never closed")
            block = Block(lang, i + 1, "\n".join(body))
            prev = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            found = MARKER.match(prev)
            if found and found.group(1) not in PAGE_MARKERS:
                kind, text = found.group(1), (found.group(2) or "")
                if kind == "skip":
                    block.skip = text or "no reason given"
                elif kind == "drop":
                    block.drop = [p.strip() for p in text.split(";") if p.strip()]
                else:
                    raise ValueError(f"{path}:{i}: unknown docs-test marker {kind!r}")
            if lang not in SHELL | NOT_COMMANDS | {"python"}:
                raise ValueError(f"{path}:{i + 1}: fence language {lang!r} is neither run nor known to be output")
            blocks.append(block)
            i = j + 1
            continue
        i += 1
    return Page(path, blocks, slow, in_seed)


def doc_pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / SEED_PAGE, *sorted((ROOT / "docs").rglob("*.md"))]


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # the interpreter running the tests is the installed environment: its `python` and `edgelstm` come first
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(MPLBACKEND="Agg", NO_COLOR="1", TERM="dumb", COLUMNS="200", HOME=str(workdir / ".home"))
    return env


@dataclass
class PageRun:
    """What running a page did: one line per command, and the first failure if any."""

    ran: list[str] = field(default_factory=list)
    failure: str | None = None
    seconds: float = 0.0


def run_page(page: Page, workdir: Path) -> PageRun:
    """Run a page's blocks in order in `workdir`; stop at the first command that does not exit as documented."""
    result, assignments, started = PageRun(), "", time.perf_counter()
    env = _env(workdir)
    (workdir / ".home").mkdir(exist_ok=True)
    for block in page.blocks:
        if block.skip is not None:
            continue
        if block.lang == "python":
            script = workdir / f".docs_block_{block.line}.py"
            script.write_text(block.body, encoding="utf-8")
            todo = [Command(f"python {script.name}", block.line)]
        elif block.lang in SHELL:
            todo = block.commands()
        else:
            continue
        for command in todo:
            if not command.text:
                continue
            proc = subprocess.run(
                ["bash", "-c", f"set -o pipefail\n{assignments}{command.text}"],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
            result.ran.append(f"{page.name}:{command.line}: rc {proc.returncode}: {command.text}")
            if proc.returncode != command.expected_rc:
                result.failure = (
                    f"{page.name}:{command.line}: `{command.text}` exited {proc.returncode}, "
                    f"the page documents {command.expected_rc}\n--- stdout (tail)\n{proc.stdout[-3000:]}"
                    f"\n--- stderr (tail)\n{proc.stderr[-3000:]}"
                )
                result.seconds = time.perf_counter() - started
                return result
            if ASSIGNMENT.match(command.text):  # later commands of the page see S=..., O=...
                assignments += command.text + "\n"
    result.seconds = time.perf_counter() - started
    return result


def _fresh_dir(base: Path) -> Path:
    base.mkdir(parents=True)
    shutil.copytree(ROOT / "scripts", base / "scripts")
    return base


# ---- fast checks of the extractor itself (no subprocess) ----


def test_extractor_joins_continuations_reads_exit_codes_and_markers(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "<!-- docs-test: slow -->\n<!-- docs-test: in-seed -->\n"
        "```bash\n# a comment\nedgelstm check a.onnx \\\n    --reference b   # exits 1\nX=1\n```\n"
        "<!-- docs-test: skip: needs a GPU -->\n```bash\nnvidia-smi\n```\n"
        "<!-- docs-test: drop: pip install -->\n```sh\npip install x && edgelstm --help\n```\n"
        "```console\n$ edgelstm --help\nUsage: ...\n```\n```text\nnot run\n```\n",
        encoding="utf-8",
    )
    parsed = parse_page(page)
    assert parsed.slow and parsed.in_seed
    first, gpu, dropped, console, text = parsed.blocks
    cmds = first.commands()
    assert [c.text for c in cmds] == ["edgelstm check a.onnx      --reference b   # exits 1", "X=1"]
    assert [c.expected_rc for c in cmds] == [1, 0] and cmds[0].line == 5
    assert gpu.skip == "needs a GPU"
    assert dropped.commands()[0].text == "edgelstm --help" and dropped.commands()[0].dropped == ["pip install x"]
    assert [c.text for c in console.commands()] == ["edgelstm --help"]
    assert text.lang == "text"


def test_unknown_fence_language_marker_or_unclosed_fence_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```shell\nedgelstm --help\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="shell"):
        parse_page(page)
    page.write_text("<!-- docs-test: maybe -->\n```bash\nedgelstm --help\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="maybe"):
        parse_page(page)
    for text in (
        "```bash\nedgelstm --help\n\nSome prose after a fence nobody closed.\n",
        "```python\nx = 1\n```python\ny = 2\n```\n",
    ):
        page.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match="never closed"):
            parse_page(page)


def test_a_command_that_exits_otherwise_than_documented_fails_the_page(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```bash\nY=3\nexit $Y   # exits 3\nexit 2\ntrue\n```\n", encoding="utf-8")
    run = run_page(parse_page(page), _fresh_dir(tmp_path / "w"))
    assert run.failure is not None and "`exit 2` exited 2, the page documents 0" in run.failure
    assert len(run.ran) == 3  # stopped there: `true` never ran


def test_every_page_parses_and_every_runnable_block_has_commands() -> None:
    for path in doc_pages():
        for block in parse_page(path).blocks:
            if block.lang in SHELL and block.skip is None:
                assert block.commands(), f"{path}:{block.line}: a shell block with nothing to run"


# ---- the pages themselves ----


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PageRun]:
    """README.md run once (the first command): the state every other page starts from."""
    workdir = _fresh_dir(tmp_path_factory.mktemp("docs") / "README")
    run = run_page(parse_page(ROOT / SEED_PAGE), workdir)
    print(f"\n[docs] {SEED_PAGE}: {len(run.ran)} commands in {run.seconds:.0f} s")
    return workdir, run


@pytest.mark.slow
def test_readme_commands(seed: tuple[Path, PageRun]) -> None:
    workdir, run = seed
    assert run.failure is None, run.failure
    assert run.ran, "README.md ran nothing"
    assert (workdir / "runs" / "watch-pipeline" / "bundle" / "manifest.json").is_file()


def _page_params() -> list:
    params = []
    for path in doc_pages()[1:]:
        page = parse_page(path)
        if not any(b.skip is None and b.lang in SHELL | {"python"} for b in page.blocks):
            continue
        marks = [pytest.mark.slow] if page.slow else []
        params.append(pytest.param(path, id=page.name, marks=marks))
    return params


@pytest.mark.parametrize("path", _page_params())
def test_page_commands(path: Path, seed: tuple[Path, PageRun], tmp_path: Path) -> None:
    seed_dir, seed_run = seed
    assert seed_run.failure is None, f"README.md (the state every page starts from) failed: {seed_run.failure}"
    page = parse_page(path)
    if page.in_seed:  # continues the first command where it ran (a copy has other absolute paths: convert redoes all)
        workdir = seed_dir
    else:
        workdir = _fresh_dir(tmp_path / "page")
        shutil.copytree(seed_dir / "runs", workdir / "runs", symlinks=True)
    run = run_page(page, workdir)
    print(f"\n[docs] {page.name}: {len(run.ran)} commands in {run.seconds:.0f} s")
    assert run.failure is None, run.failure


def _marked_blocks() -> list:
    params = []
    for path in doc_pages():
        page = parse_page(path)
        for block in page.blocks:
            if block.skip is not None:
                params.append(pytest.param(f"{page.name}:{block.line}: not run: {block.skip}", id=f"{page.name}:{block.line}"))
            for command in block.commands() if block.lang in SHELL and block.skip is None else []:
                if command.dropped:
                    why = f"{page.name}:{command.line}: steps not run: {' && '.join(command.dropped)}"
                    params.append(pytest.param(why, id=f"{page.name}:{command.line}"))
    return params


@pytest.mark.parametrize("what", _marked_blocks())
def test_marked_blocks_are_reported(what: str) -> None:
    """Every block or step a marker keeps from running shows up as a skipped item with its reason."""
    pytest.skip(what)


# keys of an artifact's metadata_props, named like modules in the text; not Python paths
METADATA_KEYS = {
    "edgelstm.interface",
    "edgelstm.model_config",
    "edgelstm.preprocessing",
    "edgelstm.export_config",
    "edgelstm.quantization",
    "edgelstm.user_module",
}
PENDING = {"edgelstm.api"}  # the typed API lands with issue 18's api branch; the reference page names it ahead


def test_python_names_in_the_manual_resolve() -> None:
    """Every `edgelstm.x.y` the README and docs name imports (a module moved without its docs fails here)."""
    missing = []
    for path in doc_pages():
        for found in re.finditer(r"`(edgelstm(?:\.\w+)+)", path.read_text(encoding="utf-8")):
            name = found.group(1)
            if name in METADATA_KEYS | PENDING:
                continue
            parts = name.split(".")
            for k in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:k]))
                    break
                except ImportError:
                    continue
            try:
                for attr in parts[k:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing
