"""The manual is code: every shell command and Python snippet shown in README.md and docs/ is run here.

Each page runs in its own temporary directory, its blocks in document order (```bash/```sh/```console commands one
by one, ```python blocks as scripts). README.md runs first, on its own: it is the first command (train, export,
convert); every other page starts from a copy of the `runs/` it wrote, as a reader who ran it would. A command
must exit 0, or the code its own `# exits N` comment documents.

Nothing is skipped silently. A block that cannot run here carries a marker on the line before its fence, and each
marker is reported as a skipped test item with its reason:

    <!-- docs-test: skip: REASON -->                      the block is not run
    <!-- docs-test: drop: pip install; python -m pytest --> `&&` steps starting with these are not run
    <!-- docs-test: needs: MODULE (the extra) -->          the block is not run where MODULE is not importable
    <!-- docs-test: slow -->                               (anywhere in a page) the page's test is marked slow
    <!-- docs-test: in-seed -->                            (anywhere in a page) it runs in README.md's directory
                                                           itself, not a copy: `convert` resumes only where it ran
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest
from filelock import FileLock

from tests.support.docs_commands import ROOT, SEED_PAGE, SHELL, Command, Page, doc_pages, parse_page

ASSIGNMENT = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=")
COMMAND_TIMEOUT_S = 1200


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
    timings: list[tuple[float, str]] = field(default_factory=list)

    def slowest(self, n: int = 3) -> str:
        """The `n` slowest commands, for the test's printed summary (where the page's time goes)."""
        return "; ".join(f"{s:.0f} s: {what[:90]}" for s, what in sorted(self.timings, reverse=True)[:n])


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
            command_started = time.perf_counter()
            proc = subprocess.run(
                ["bash", "-c", f"set -o pipefail\n{assignments}{command.text}"],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
            result.ran.append(f"{page.name}:{command.line}: rc {proc.returncode}: {command.text}")
            result.timings.append((time.perf_counter() - command_started, f"{page.name}:{command.line}: {command.text}"))
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


def test_a_command_that_exits_otherwise_than_documented_fails_the_page(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```bash\nY=3\nexit $Y   # exits 3\nexit 2\ntrue\n```\n", encoding="utf-8")
    run = run_page(parse_page(page), _fresh_dir(tmp_path / "w"))
    assert run.failure is not None and "`exit 2` exited 2, the page documents 0" in run.failure
    assert len(run.ran) == 3  # stopped there: `true` never ran


# ---- the pages themselves ----


def _seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the one README run happens: below the directory every pytest-xdist worker of this session shares (the
    parent of the workers' own temp dirs), or this process's temp dir when the tests run in one process."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "docs-seed" / "README"


@contextmanager
def _seed_lock(seed_dir: Path) -> Iterator[None]:
    """Held while README runs, while a page copies its result, and while an in-seed page runs in it: no worker reads
    the seed half-written or copies it while `convert` resumes inside it."""
    seed_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(seed_dir.parent / "lock")):
        yield


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PageRun]:
    """README.md run once per test session (the first command), shared by the xdist workers: the state every other
    page starts from. It takes minutes, so a second worker reads the first one's result instead of running it again."""
    workdir = _seed_dir(tmp_path_factory)
    record = workdir.parent / "run.json"
    with _seed_lock(workdir):
        if record.is_file():
            saved = json.loads(record.read_text(encoding="utf-8"))
            return workdir, PageRun(saved["ran"], saved["failure"], saved["seconds"], [tuple(t) for t in saved["timings"]])
        run = run_page(parse_page(ROOT / SEED_PAGE), _fresh_dir(workdir))
        record.write_text(json.dumps(asdict(run)), encoding="utf-8")
    print(f"\n[docs] {SEED_PAGE}: {len(run.ran)} commands in {run.seconds:.0f} s; slowest: {run.slowest()}")
    return workdir, run


@pytest.mark.slow
def test_readme_commands(seed: tuple[Path, PageRun]) -> None:
    workdir, run = seed
    assert run.failure is None, run.failure
    assert run.ran, "README.md ran nothing"
    assert (workdir / "runs" / "watch-pipeline" / "bundle" / "manifest.json").is_file()


def _page_params(commands: bool) -> list:
    """The pages with something to run: the command pages (`commands=True`) or every other page."""
    params = []
    for path in doc_pages()[1:]:
        if path.relative_to(ROOT).as_posix().startswith("docs/commands/") != commands:
            continue
        page = parse_page(path)
        if not any(b.skip is None and b.lang in SHELL | {"python"} for b in page.blocks):
            continue
        marks = [pytest.mark.slow] if page.slow else []
        params.append(pytest.param(path, id=page.name, marks=marks))
    return params


def _check_page(path: Path, seed: tuple[Path, PageRun], tmp_path: Path) -> None:
    seed_dir, seed_run = seed
    assert seed_run.failure is None, f"README.md (the state every page starts from) failed: {seed_run.failure}"
    page = parse_page(path)
    if page.in_seed:  # continues the first command where it ran (a copy has other absolute paths: convert redoes all)
        with _seed_lock(seed_dir):
            run = run_page(page, seed_dir)
    else:
        workdir = _fresh_dir(tmp_path / "page")
        with _seed_lock(seed_dir):
            shutil.copytree(seed_dir / "runs", workdir / "runs", symlinks=True)
        run = run_page(page, workdir)
    print(f"\n[docs] {page.name}: {len(run.ran)} commands in {run.seconds:.0f} s; slowest: {run.slowest()}")
    assert run.failure is None, run.failure


# Two classes, so that pytest-xdist's --dist loadscope (one scope per class) runs them on two workers at once; both
# start from the one README.md run (the `seed` fixture, shared through a file lock).
class TestCommandPages:
    """The pages under docs/commands/."""

    @pytest.mark.parametrize("path", _page_params(commands=True))
    def test_page_commands(self, path: Path, seed: tuple[Path, PageRun], tmp_path: Path) -> None:
        _check_page(path, seed, tmp_path)


class TestOtherPages:
    """Every other page: getting started, concepts, the API reference."""

    @pytest.mark.parametrize("path", _page_params(commands=False))
    def test_page_commands(self, path: Path, seed: tuple[Path, PageRun], tmp_path: Path) -> None:
        _check_page(path, seed, tmp_path)
