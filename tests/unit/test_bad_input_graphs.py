"""Graphs the user hands over that ONNX Runtime cannot load or run, nonsense budgets, phantom state pairs and bad
export data (issue 19 item 6): each is one `error:` line, exit 2, nothing written, through the one refusal check.

Each class once ended in `internal error` (exit 3). The ORT refusal of a graph edgelstm wrote itself stays internal:
the last tests pin that difference.
"""

from __future__ import annotations

import pytest

from tests.support import bad_input_graphs as shared
from tests.support.bad_input_graphs import Graphs, _ort_refuses_types

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
graphs = shared.graphs


# -- the same ORT refusal on a graph edgelstm wrote itself stays an internal error --------------------------------


def test_ort_refusing_a_graph_edgelstm_wrote_is_an_internal_error(graphs: Graphs, capsys: pytest.CaptureFixture) -> None:
    """The type is chosen where the file is opened: the same refusal is the user's inside `handed_over`, and an
    internal error (exit 3) anywhere else, where the graph is one edgelstm wrote."""
    import typer

    from edgelstm.artifact.session import handed_over, session_from_onnx
    from edgelstm.cli_common import user_errors
    from edgelstm.errors import GraphRuntimeError

    bad = _ort_refuses_types(graphs)
    with pytest.raises(GraphRuntimeError, match="onnxruntime cannot load it"), handed_over(bad):
        session_from_onnx(bad)

    @user_errors
    def runs_a_graph_it_wrote() -> None:
        session_from_onnx(bad)

    with pytest.raises(typer.Exit) as exited:
        runs_a_graph_it_wrote()
    assert exited.value.exit_code == 3
    assert capsys.readouterr().err.startswith("internal error: OrtRefusal")
