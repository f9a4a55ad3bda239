"""Foreign ONNX graphs: state pairs, scalar constants, batch axes and chunk lengths read and confirmed by a probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import onnx_interface as shared

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
user_graph = shared.user_graph


def test_inspect_cli_describes_a_foreign_graph(user_graph: Path) -> None:
    import json

    from tests.refusals import run_cli

    result = run_cli(["inspect", user_graph, "--const", "gain=1", "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["states"] == [{"input": "h", "output": "hn", "declared": False}]
    assert described["constants"] == {"gain": 1} and described["batch_axis"]["hn"] == 1
    table = run_cli(["inspect", user_graph, "--const", "gain=1"])
    assert "h -> hn" in table.stdout and "chunk lengths the graph ran at: 16, 64" in table.stdout


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--state", "h:y"], "--state h:y"),
        (["--state", "h"], "INPUT:OUTPUT"),
        (["--const", "sr=16000"], "no input of that name"),
        (["--const", "gain=loud"], "not a number"),
        (["--chunk", "0"], "--chunk"),
    ],
)
def test_inspect_cli_refuses_bad_interface_options(user_graph: Path, tmp_path: Path, extra: list[str], fragment: str) -> None:
    from tests.refusals import assert_refused

    assert_refused(["inspect", user_graph, *extra], fragment, watch=(user_graph.parent,))


def test_inspect_cli_refuses_a_file_that_is_not_onnx(tmp_path: Path) -> None:
    from tests.refusals import assert_refused

    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"\x00not a protobuf" * 10)
    assert_refused(["inspect", bogus], "not a readable ONNX file", watch=(tmp_path,))
