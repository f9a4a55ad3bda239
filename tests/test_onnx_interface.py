"""Foreign ONNX graphs: state pairs, scalar constants, batch axes and chunk lengths read and confirmed by a probe."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest
import torch

from edgelstm.artifact.foreign import describe_onnx
from edgelstm.artifact.hints import parse_constants, parse_state_pairs
from edgelstm.errors import ConfigError


class _StreamingGRU(torch.nn.Module):
    """forward(x, h, gain) -> (y, h_next): a user's streaming model with a scalar argument."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(3, 6, batch_first=True)
        self.fc = torch.nn.Linear(6, 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor, gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, h_next = self.gru(x * gain, h)
        return self.fc(y), h_next


def _export(tmp_path: Path, input_names: list[str], output_names: list[str], name: str = "user.onnx") -> Path:
    torch.manual_seed(0)
    path = tmp_path / name
    x, h, gain = torch.randn(2, 5, 3), torch.zeros(1, 2, 6), torch.tensor(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on nn.GRU; the graph is checked by the probe
        _export_quietly(path, input_names, output_names, x, h, gain)
    return path


def _export_quietly(path, input_names, output_names, x, h, gain) -> None:
    torch.onnx.export(
        _StreamingGRU().eval(),
        (x, h, gain),
        str(path),
        dynamo=False,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes={
            input_names[0]: {0: "B", 1: "T"},
            input_names[1]: {1: "B"},
            output_names[0]: {0: "B", 1: "T"},
            output_names[1]: {1: "B"},
        },
    )


@pytest.fixture(scope="module")
def user_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("g"), ["x", "h", "gain"], ["y", "hn"])


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
