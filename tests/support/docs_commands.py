"""Helpers and fixtures that both halves of tests/test_docs_commands.py need: tests/unit/test_docs_commands.py and
tests/e2e/test_docs_commands_cli.py."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED_PAGE = "README.md"
SHELL = {"bash", "sh", "console"}
# fences that are shown but never run: outputs, configs, file layouts
NOT_COMMANDS = {"text", "toml", "yaml", "json", "", "cpp", "kotlin", "swift", "java", "c"}
MARKER = re.compile(r"^<!--\s*docs-test:\s*([\w-]+)\s*(?::\s*(.*?))?\s*-->$")
PAGE_MARKERS = {"slow", "in-seed"}
EXITS = re.compile(r"#\s*exits\s+(\d+)\b")


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
                elif kind == "needs":  # an optional extra: skipped, with the reason, only where it is not installed
                    if importlib.util.find_spec(text.split(" ")[0]) is None:
                        block.skip = f"needs {text} (not installed here)"
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
