"""Foreign ONNX graphs: state pairs, scalar constants, batch axes and chunk lengths read and confirmed by a probe."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgelstm.artifact.foreign import describe_onnx
from edgelstm.artifact.hints import parse_constants, parse_state_pairs
from edgelstm.errors import ConfigError
from tests.support import onnx_interface as shared
from tests.support.onnx_interface import _export

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
user_graph = shared.user_graph


def test_state_pair_scalar_and_axes_found(user_graph: Path) -> None:
    interface = describe_onnx(user_graph, constants={"gain": 1.0})
    assert [(p.input, p.output, p.declared) for p in interface.states] == [("h", "hn", False)]
    assert interface.scalars == ["gain"] and interface.data_input == "x"
    assert interface.batch_axis == {"x": 0, "h": 1, "y": 0, "hn": 1}
    assert interface.chunk == 16 and {1, 4, 16, 64} <= set(interface.accepted_chunks)


def test_scalar_without_a_value_is_named_not_guessed(user_graph: Path) -> None:
    interface = describe_onnx(user_graph)
    assert interface.probe.startswith("not run") and "--const gain=VALUE" in interface.probe
    assert interface.batch_axis == {} and interface.chunk is None


def test_names_outside_the_convention_need_a_declaration(tmp_path: Path) -> None:
    path = _export(tmp_path, ["audio", "memory", "gain"], ["score", "memory_next_value"])
    assert describe_onnx(path, constants={"gain": 1}).states == []
    declared = describe_onnx(path, [("memory", "memory_next_value")], {"gain": 1})
    assert [(p.input, p.output, p.declared) for p in declared.states] == [("memory", "memory_next_value", True)]
    assert declared.batch_axis["memory"] == 1


@pytest.mark.parametrize(
    ("pair", "fragment"),
    [(("hx", "hn"), "no input 'hx'"), (("h", "h_out"), "no output 'h_out'"), (("h", "y"), "h is float32[1, 'B', 6]")],
)
def test_bad_declarations_are_refused(user_graph: Path, pair: tuple[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        describe_onnx(user_graph, [pair], {"gain": 1.0}, probe=False)


def test_unknown_constant_is_refused(user_graph: Path) -> None:
    with pytest.raises(ConfigError, match="no input of that name"):
        describe_onnx(user_graph, constants={"sr": 16000}, probe=False)


def test_option_parsers() -> None:
    assert parse_state_pairs("state:stateN, h:hn") == [("state", "stateN"), ("h", "hn")]
    assert parse_constants(["sr=16000", "gain=0.5"]) == {"sr": 16000, "gain": 0.5}
    for bad in ("state", "state:", "a:b:c"):
        with pytest.raises(ConfigError, match="INPUT:OUTPUT"):
            parse_state_pairs(bad)
    for bad in (["sr"], ["sr=fast"], ["sr=nan"], ["=3"]):
        with pytest.raises(ConfigError, match="--const"):
            parse_constants(bad)


SILERO = importlib.util.find_spec("silero_vad")


@pytest.mark.skipif(SILERO is None, reason="silero-vad is not installed (pip install silero-vad==6.2.3)")
@pytest.mark.parametrize("name", ["silero_vad.onnx", "silero_vad_16k_op15.onnx"])
def test_silero_vad_interface(name: str) -> None:
    path = Path(SILERO.origin).parent / "data" / name
    interface = describe_onnx(path, constants={"sr": 16000}, chunk=512)
    assert [(p.input, p.output) for p in interface.states] == [("state", "stateN")]
    assert interface.scalars == ["sr"] and interface.data_input == "input"
    assert interface.batch_axis == {"input": 0, "state": 1, "output": 0, "stateN": 1}
    assert interface.accepted_chunks == [512]
