"""Issue 22's mutation run: mutmut over the trust-critical modules, one module at a time, each against the fast tests
that guard it (the map is `[tool.edgelstm.mutation.*]` in pyproject.toml).

    python scripts/mutation_run.py                  # every module (about an hour on 2 loaded cores)
    python scripts/mutation_run.py files gate       # only these modules
    python scripts/mutation_run.py --summary        # the table of the last runs, nothing run

mutmut 3 names a mutant after its file's path and the tests must import the mutated copy. This repository installs
export/ and quantize/ as edgelstm.export and edgelstm.quantize (a package-dir mapping), so a mutant of
quantize/selection.py run in place would be named `quantize.selection...` while the tests import
`edgelstm.quantize.selection`: it would never be switched on. Each module is therefore staged in
.mutation/<module>/ in the installed layout (edgelstm/, edgelstm/export/, edgelstm/quantize/, tests/, a
pyproject.toml with that module's [tool.mutmut]) and mutmut runs there. Results: .mutation/results/<module>.json
(counts, every surviving mutant with its diff); the exit code is 1 when a mutant survived or was not checked.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mutmut.mutation.file_mutation import mutate_file_contents
from mutmut.stats import status_by_exit_code

if sys.version_info >= (3, 11):
    import tomllib
else:  # the project supports 3.10, where tomllib is the tomli backport
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
RESULTS = WORK / "results"
# The installed layout: where each top-level source folder lives inside the staged package.
LAYOUT = {"edgelstm": "edgelstm", "export": "edgelstm/export", "quantize": "edgelstm/quantize"}
# What counts as killed: a test failed, the mutant hung past its timeout, or the type checker refused it.
KILLED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class ModuleScope:
    name: str
    files: tuple[str, ...]  # staged paths (edgelstm/quantize/selection.py is the repository's quantize/selection.py)
    functions: tuple[str, ...]  # "function", "Class.method" or "Class.*"; empty: every function of the files
    tests: tuple[str, ...]

    def mutant_globs(self) -> list[str]:
        """mutmut's names: <module>.x_<function>__mutmut_<n>, <module>.xǁ<Class>ǁ<method>__mutmut_<n>."""
        globs = []
        for file in self.files:
            module = file.removesuffix(".py").replace("/", ".")
            if not self.functions:
                globs.append(f"{module}.*")
            for function in self.functions:
                owner, _, method = function.rpartition(".")
                mangled = f"xǁ{owner}ǁ{method}" if owner else f"x_{function}"
                globs.append(f"{module}.{mangled}__mutmut_*")
        return globs


def load_scopes() -> tuple[dict[str, ModuleScope], dict[str, object]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    scopes = {
        name: ModuleScope(name, tuple(v["files"]), tuple(v.get("functions", ())), tuple(v["tests"]))
        for name, v in data["tool"]["edgelstm"]["mutation"].items()
    }
    return scopes, data


def _toml_value(value: object) -> str:
    # JSON spells strings, numbers, booleans and lists of them the way TOML does.
    return json.dumps(value, ensure_ascii=False)


def stage(scope: ModuleScope, pyproject: dict[str, object]) -> Path:
    """A fresh copy of the sources in the installed layout, the tests, and a pyproject.toml for this module only."""
    where = WORK / scope.name
    if where.exists():
        shutil.rmtree(where)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for source, target in LAYOUT.items():
        shutil.copytree(ROOT / source, where / target, ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(ROOT / "tests", where / "tests", ignore=ignore)
    tool = pyproject["tool"]  # type: ignore[index]
    mutmut = dict(tool["mutmut"])  # type: ignore[index]
    mutmut["only_mutate"] = list(scope.files)
    mutmut["pytest_add_cli_args_test_selection"] = list(scope.tests)
    lines = ["[tool.pytest.ini_options]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in tool["pytest"]["ini_options"].items()]  # type: ignore[index]
    lines += ["", "[tool.mutmut]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in mutmut.items()]
    (where / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return where


def in_scope(scope: ModuleScope, where: Path) -> list[str]:
    """Every mutant mutmut will make of the staged files that falls in the scope's functions, by mutmut's own
    generator (the names `mutmut run` accepts)."""
    globs = scope.mutant_globs()
    names = []
    for file in scope.files:
        module = file.removesuffix(".py").replace("/", ".")
        mutated = mutate_file_contents(file, (where / file).read_text())
        names += [f"{module}.{n}" for n in mutated.mutant_names if any(fnmatch.fnmatch(f"{module}.{n}", g) for g in globs)]
    return sorted(names)


def statuses_of(scope: ModuleScope, where: Path, names: list[str]) -> dict[str, str]:
    wanted = set(names)
    found: dict[str, str] = {}
    for file in scope.files:
        meta = where / "mutants" / (file + ".meta")
        if meta.exists():
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            found |= {k: status_by_exit_code[c] for k, c in codes.items() if k in wanted}
    return {name: found.get(name, "not checked") for name in names}


def _diff(where: Path, name: str) -> str:
    shown = subprocess.run([str(_mutmut()), "show", name], cwd=where, capture_output=True, text=True)
    return "\n".join(line for line in shown.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))


def _mutmut() -> Path:
    return Path(sys.executable).parent / "mutmut"


def run_module(scope: ModuleScope, pyproject: dict[str, object], sample: int, seed: int, recheck: bool) -> None:
    """Stage, run mutmut over the scope's mutants (all, a seeded sample, or the last run's not-killed ones) with
    one worker, and write .mutation/results/<module>.json."""
    out = RESULTS / f"{scope.name}.json"
    previous = json.loads(out.read_text()) if recheck and out.exists() else None
    where = stage(scope, pyproject)
    scoped = in_scope(scope, where)
    if previous is not None:  # timeouts too: on a loaded machine a timeout may be the load, not the mutant
        names = [n for n, s in previous["statuses"].items() if s not in KILLED or s == "timeout"]
    elif sample and sample < len(scoped):
        names = sorted(random.Random(seed).sample(scoped, sample))
    else:
        names = scoped
    started = time.monotonic()
    if names:  # mutmut's own progress goes to the terminal as it runs
        subprocess.run([str(_mutmut()), "run", "--max-children", "1", *names], cwd=where, check=False)
    seconds = time.monotonic() - started
    statuses = statuses_of(scope, where, names)
    if previous is not None:  # a recheck adds tests only: what was killed stays killed
        statuses = previous["statuses"] | statuses
        seconds += previous["seconds"]
    killed = sum(s in KILLED for s in statuses.values())
    result = {
        "module": scope.name,
        "files": list(scope.files),
        "functions": list(scope.functions) or "all",
        "tests": list(scope.tests),
        "in_scope": len(scoped),
        "run": len(statuses),
        "sample_seed": seed if len(statuses) < len(scoped) else None,
        "killed": killed,
        "score": round(100 * killed / len(statuses), 1) if statuses else None,
        "seconds": round(seconds),
        "statuses": statuses,
        "not_killed": {n: {"status": s, "diff": _diff(where, n)} for n, s in statuses.items() if s not in KILLED},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def summary(names: list[str]) -> int:
    """The kill table over the modules' last results; 1 when any mutant run was not killed or a module did not run."""
    total, killed, code = 0, 0, 0
    print("| module | in scope | run | killed | timeout | survived | no tests | other | killed % | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            print(f"| {name} | not run | | | | | | | | |")
            code = 1
            continue
        r = json.loads(path.read_text())
        counts: dict[str, int] = {}
        for status in r["statuses"].values():
            counts[status] = counts.get(status, 0) + 1
        named = ("killed", "timeout", "survived", "no tests")
        other = r["run"] - sum(counts.get(s, 0) for s in named)
        cells = " | ".join(str(counts.get(s, 0)) for s in named)
        print(f"| {name} | {r['in_scope']} | {r['run']} | {cells} | {other} | {r['score']}% | {r['seconds']} |")
        total, killed = total + r["run"], killed + r["killed"]
        code = max(code, int(r["killed"] < r["run"]))
    if total:
        print(f"| **all** | | {total} | {killed} | | | | | {100 * killed / total:.1f}% | |")
    return code


def main() -> int:
    scopes, pyproject = load_scopes()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"any of: {', '.join(scopes)} (default: all)")
    parser.add_argument("--summary", action="store_true", help="print the table of the last results, run nothing")
    parser.add_argument(
        "--sample", type=int, default=0, help="run this many of each module's mutants, drawn with --seed (0: all)"
    )
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="rerun only the last run's mutants not killed or timed out (after adding tests; a timeout again on its own)",
    )
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in scopes]
    if unknown:
        print(f"error: unknown module {', '.join(unknown)}; choose from {', '.join(scopes)}", file=sys.stderr)
        return 2
    names = args.modules or list(scopes)
    if not args.summary:
        for name in names:
            run_module(scopes[name], pyproject, args.sample, args.seed, args.recheck)
    return summary(names)


if __name__ == "__main__":
    sys.exit(main())
