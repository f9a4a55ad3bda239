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

import importlib
import re
from pathlib import Path

import pytest

from tests.support.docs_commands import ROOT, SHELL, doc_pages, parse_page

# ---- fast checks of the extractor itself (no subprocess) ----


def test_a_needs_marker_skips_only_where_the_module_is_missing(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "<!-- docs-test: needs: json (stdlib) -->\n```bash\nedgelstm --help\n```\n"
        '<!-- docs-test: needs: no_such_module_xyz (pip install "edgelstm[x]") -->\n```bash\nedgelstm --help\n```\n',
        encoding="utf-8",
    )
    present, missing = parse_page(page).blocks
    assert present.skip is None
    assert missing.skip == 'needs no_such_module_xyz (pip install "edgelstm[x]") (not installed here)'


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


def test_every_page_parses_and_every_runnable_block_has_commands() -> None:
    for path in doc_pages():
        for block in parse_page(path).blocks:
            if block.lang in SHELL and block.skip is None:
                assert block.commands(), f"{path}:{block.line}: a shell block with nothing to run"


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
