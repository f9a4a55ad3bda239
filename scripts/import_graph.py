"""The import graph of edgelstm as it installs: its cycles (strongly connected components) and its number of floors.

`export/` and `quantize/` sit at the repository's top level but install as `edgelstm.export`/`edgelstm.quantize`
(pyproject's package-dir). grimp, which import-linter builds on, walks a package's folder on disk, so through an
editable install it never sees those two. `link_tree` lays the installed layout out as symlinks (edgelstm/'s entries
plus one link per package-dir entry); the graph, the test and `lint-imports` in .ci/run read that tree.

    python scripts/import_graph.py                  # cycles (0 expected) and floors
    python scripts/import_graph.py --link-tree DIR  # lay the tree out at DIR (for `cd DIR && lint-imports`)
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grimp

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  # tomli is a dependency below 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "edgelstm"


def link_tree(target: Path, repo: Path = REPO) -> Path:
    """`target/edgelstm` as installed: links to edgelstm/'s entries and to each package-dir folder
    (edgelstm.export -> export/). Returns `target`, the folder to put on sys.path."""
    package_dir = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    root = target / PACKAGE
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for entry in (repo / PACKAGE).iterdir():
        if entry.name != "__pycache__":
            (root / entry.name).symlink_to(entry.resolve())
    for name, folder in package_dir.items():
        parts = name.split(".")
        if parts[0] == PACKAGE and len(parts) == 2:
            (root / parts[1]).symlink_to((repo / folder).resolve(), target_is_directory=True)
    return target


@contextlib.contextmanager
def installed_layout(repo: Path = REPO) -> Iterator[Path]:
    """The link tree first on sys.path, and `edgelstm` found there, for the duration. An `edgelstm` already imported
    (under pytest) is set aside meanwhile: importlib's find_spec, which grimp asks, answers from sys.modules first."""
    with tempfile.TemporaryDirectory(prefix="edgelstm-import-graph-") as tmp:
        path = str(link_tree(Path(tmp), repo))
        loaded = sys.modules.pop(PACKAGE, None)
        sys.path.insert(0, path)
        try:
            yield Path(path)
        finally:
            sys.path.remove(path)
            if loaded is not None:
                sys.modules[PACKAGE] = loaded


def build_graph(repo: Path = REPO) -> grimp.ImportGraph:
    """grimp's graph of edgelstm, edgelstm.export and edgelstm.quantize included."""
    with installed_layout(repo):
        return grimp.build_graph(PACKAGE, cache_dir=None)


@dataclass(frozen=True)
class GraphShape:
    modules: int
    imports: int
    cycles: list[list[str]]  # strongly connected components of more than one module
    floors: int  # the longest chain of imports, counted in modules (the condensed graph's depth)
    package_floors: int  # the same counted in packages and top-level modules (edgelstm.artifact is one)


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's components of more than one module, each sorted (iterative: the graph is ~100 modules deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def floors(graph: grimp.ImportGraph, cycles: list[list[str]], depth_of_name: int = 0) -> int:
    """Depth of the graph with each cycle condensed to one node: 1 + the longest chain of imports. `depth_of_name`
    2 counts packages instead of modules (edgelstm.artifact.* as one node; a package-level circle as one floor)."""
    component = {m: m for m in graph.modules}
    for members in cycles:
        for member in members:
            component[member] = members[0]
    if depth_of_name:
        component = {m: ".".join(c.split(".")[:depth_of_name]) for m, c in component.items()}
        package = grimp.ImportGraph()
        for module in graph.modules:
            package.add_module(component[module])
            for imported in graph.find_modules_directly_imported_by(module):
                if component[imported] != component[module]:
                    package.add_import(importer=component[module], imported=component[imported])
        return floors(package, strongly_connected(package))
    edges: dict[str, set[str]] = {c: set() for c in set(component.values())}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if component[imported] != component[module]:
                edges[component[module]].add(component[imported])
    depth: dict[str, int] = {}

    def visit(node: str) -> int:  # the condensed graph is acyclic and ~100 nodes: recursion is fine
        if node not in depth:
            depth[node] = 1 + max((visit(child) for child in edges[node]), default=0)
        return depth[node]

    return max(visit(node) for node in edges)


def graph_shape(repo: Path = REPO) -> GraphShape:
    graph = build_graph(repo)
    cycles = strongly_connected(graph)
    imports = sum(len(graph.find_modules_directly_imported_by(m)) for m in graph.modules)
    return GraphShape(len(graph.modules), imports, cycles, floors(graph, cycles), floors(graph, cycles, depth_of_name=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link-tree", type=Path, help="lay the installed layout out at this folder and exit")
    args = parser.parse_args()
    if args.link_tree is not None:
        print(link_tree(args.link_tree.resolve()))
        return 0
    shape = graph_shape()
    print(f"{shape.modules} modules, {shape.imports} imports between them")
    print(f"{shape.floors} floors of modules, {shape.package_floors} floors of packages and top-level modules")
    print(f"{len(shape.cycles)} cycle(s) (strongly connected components of more than one module)")
    for members in shape.cycles:
        print(f"  {len(members)}: {' '.join(members)}")
    return 1 if shape.cycles else 0


if __name__ == "__main__":
    sys.exit(main())
