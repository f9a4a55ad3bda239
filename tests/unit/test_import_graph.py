"""The import graph of edgelstm, edgelstm.export and edgelstm.quantize has no cycles (issue 18).

Built by scripts/import_graph.py over the installed layout (export/ and quantize/ linked in as edgelstm.export and
edgelstm.quantize), with grimp, the library import-linter checks the layer contracts with (`lint-imports` in .ci/run).
"""

from __future__ import annotations

import grimp
import pytest

from scripts.import_graph import build_graph, floors, strongly_connected


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return build_graph()


def test_the_graph_sees_export_and_quantize(graph: grimp.ImportGraph) -> None:
    # without the linked layout grimp sees neither, and a graph without them would pass vacuously
    assert {"edgelstm.export.native", "edgelstm.quantize.api", "edgelstm.artifact.session"} <= graph.modules
    assert "edgelstm.artifact.interface" in graph.find_modules_directly_imported_by("edgelstm.export.native")


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = strongly_connected(graph)
    assert cycles == [], "import cycles (strongly connected components):\n" + "\n".join(" ".join(c) for c in cycles)


def test_cycles_and_floors_are_counted_on_a_known_graph() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.d", "p.a"), ("p.e", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    cycles = strongly_connected(graph)
    assert cycles == [["p.a", "p.b", "p.c"]]
    assert floors(graph, cycles) == 3  # e -> d -> {a, b, c}
