"""The code's shape that issue 18 fixes: no module over 500 lines, and a docstring on every public name.

Docstring coverage is interrogate's, run with the repository's own [tool.interrogate] settings (which names count is
decided there, once, for this test and .ci/run alike)."""

from __future__ import annotations

from pathlib import Path

from interrogate.config import InterrogateConfig, parse_pyproject_toml
from interrogate.coverage import InterrogateCoverage

# The repository root, found upwards so the test keeps working when tests/ is split into folders.
REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
CODE = ("edgelstm", "export", "quantize")
MAX_MODULE_LINES = 500


def _modules() -> list[Path]:
    return sorted(path for folder in CODE for path in (REPO / folder).rglob("*.py"))


def test_the_code_folders_are_found() -> None:
    modules = _modules()
    assert len(modules) > 100, f"only {len(modules)} modules under {CODE}: is REPO ({REPO}) the repository?"
    assert REPO / "edgelstm" / "cli.py" in modules


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"


def test_every_public_name_has_a_docstring() -> None:
    settings = parse_pyproject_toml(REPO / "pyproject.toml")
    assert settings.get("fail_under") == 100, "pyproject's [tool.interrogate] must ask for 100 % coverage"
    coverage = InterrogateCoverage(paths=[str(REPO / folder) for folder in CODE], conf=InterrogateConfig(**settings))
    results = coverage.get_coverage()
    missing = [
        f"{Path(file.filename).relative_to(REPO)}:{node.lineno} {node.path.split(':')[-1]}"
        for file in results.file_results
        for node in file.nodes
        if not node.covered and not (node.node_type == "Module" and file.ignore_module)
    ]
    assert results.total > 1000, f"interrogate saw only {results.total} names: are the paths right?"
    assert not missing, f"{len(missing)} public names without a docstring (one line, what and why):\n" + "\n".join(missing)
    assert results.perc_covered == 100.0


def test_ci_runs_every_static_check_on_its_own_line() -> None:
    lines = {line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()}
    for check in ("ruff check .", "ruff format --check edgelstm export quantize tests scripts", "mypy", "pyright"):
        assert check in lines, f".ci/run does not run `{check}`"
    assert "interrogate " + " ".join(CODE) in lines, ".ci/run does not run interrogate over the code folders"
