"""Axis roles of a foreign graph's data input (batch, time/frames, features), read from the state inputs' batch
dimension and confirmed by the probe (issue 19, item 5), on tiny LSTM graphs built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.file import open_artifact
from edgelstm.artifact.foreign import describe_onnx, foreign_graph_interface
from edgelstm.artifact.hints import InterfaceHints, parse_axes
from edgelstm.errors import ConfigError
from tests.support import axis_roles as shared
from tests.support.axis_roles import HIDDEN, WINDOW

# Fixtures shared with the other half of this file: pytest finds them by name in this module.
graphs = shared.graphs


def test_fixed_batch_states_make_axis_0_frames(graphs: dict[str, Path]) -> None:
    described = describe_onnx(graphs["frames"])
    assert described.roles == ("time", "features") and described.frames_first
    assert "fixed batch" in described.roles_from
    assert described.frames_axis == {"x": 0, "y": 0}  # confirmed by the probe: x and y grew with axis 0
    assert described.batch_axis == {}  # nothing follows a batch: there is none
    assert [(p.input, p.output) for p in described.states] == [("h", "hn"), ("c", "cn")]
    interface = described.to_graph_interface()
    assert interface.data_input.shape == ["frames", WINDOW] and interface.frames_first and interface.fixed_batch == 1
    assert interface.states[0].shape == [1, 1, HIDDEN]


def test_free_batch_states_make_axis_0_batch(graphs: dict[str, Path]) -> None:
    described = describe_onnx(graphs["batch"], chunk=5)
    assert described.roles == ("batch", "time", "features") and not described.frames_first
    assert described.batch_axis == {"x": 0, "h": 1, "c": 1, "y": 0, "hn": 1, "cn": 1}
    assert described.frames_axis == {}
    interface = described.to_graph_interface()
    assert interface.data_input.shape == ["batch", "chunk", WINDOW] and interface.fixed_batch is None


def test_ambiguous_axes_are_refused_in_one_line_and_accepted_once_declared(graphs: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match=r"cannot tell the axes of x \['frames', 'W'\].*--axes x=time,features"):
        describe_onnx(graphs["ambiguous"])
    declared = describe_onnx(graphs["ambiguous"], axes=parse_axes("x=frames,features"))
    assert declared.roles == ("time", "features") and declared.roles_from == "declared (--axes)"
    assert declared.probe.startswith("ran at 1 and 2 frames")
    assert foreign_graph_interface(graphs["ambiguous"], InterfaceHints(chunk=8, axes=parse_axes("x=time,features"))).frames_first


def test_a_declared_batch_the_states_do_not_follow_is_refuted_by_the_probe(graphs: dict[str, Path]) -> None:
    described = describe_onnx(graphs["frames"], axes=parse_axes("x=batch,time"))
    assert described.probe.startswith("not run") and "state hn keeps its shape" in described.probe
    assert "--axes x=time,features" in described.probe
    with pytest.raises(ConfigError, match="keeps its shape"):
        foreign_graph_interface(graphs["frames"], InterfaceHints(axes=parse_axes("x=batch,time")))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x", "--axes expects INPUT=ROLE,ROLE"),
        ("x=time,colour", "unknown role 'colour'"),
    ],
)
def test_bad_axes_text_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_axes(text)


@pytest.mark.parametrize(
    ("roles", "fragment"),
    [
        ("x=time", "x has 2 axes"),
        ("x=features,time", "batch-first"),
        ("x=time,time", "at most one batch axis and one time axis"),
        ("h=time,features", "the data input 'x' only"),
        ("nope=time,features", "the graph has no input of that name"),
    ],
)
def test_declared_roles_the_graph_cannot_have_are_refused(graphs: dict[str, Path], roles: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        describe_onnx(graphs["frames"], axes=parse_axes(roles), probe=False)


def test_frames_first_streaming_equals_one_call_of_the_whole_sequence_per_row(graphs: dict[str, Path]) -> None:
    """Each data row is its own stream, fed one frame per call from zero state: row by row it must equal the
    graph's own sequence call over all of that row's frames (state carried, never shared between rows)."""
    info = open_artifact(graphs["frames"])  # no hints: a stateful graph is described as inspect describes it
    interface = info.interface
    assert interface.frames_first and interface.chunk == WINDOW
    frames = 6
    x = np.random.default_rng(1).standard_normal((2, frames * WINDOW)).astype(np.float32)
    session = ort.InferenceSession(str(graphs["frames"]), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    y, hn, _ = run_in_chunks(lambda f: session.run(names, f), interface, sequence_feeds(interface, x, None, "t"), WINDOW)
    assert y.shape == (2, frames, HIDDEN) and hn.shape == (2, 1, 1, HIDDEN)
    zeros = np.zeros((1, 1, HIDDEN), np.float32)
    for row in range(2):
        whole = session.run(names, {"x": x[row].reshape(frames, WINDOW), "h": zeros, "c": zeros})
        np.testing.assert_allclose(y[row], whole[0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(hn[row], whole[1], rtol=0, atol=1e-6)
    assert not np.allclose(y[0], y[1])  # the rows differ: a mix-up of rows would show


def test_a_streaming_session_of_a_frames_first_graph_refuses_a_second_row(graphs: dict[str, Path]) -> None:
    """Two rows would be read as two frames of one stream, sharing its state: a wrong answer with no error."""
    from edgelstm.artifact.streaming import StreamingSession
    from edgelstm.errors import InputShapeError

    with pytest.raises(InputShapeError, match="runs at batch 1 only .* open one session per stream"):
        StreamingSession.open(graphs["frames"], batch=2)
    session = StreamingSession.open(graphs["frames"])
    x = np.random.default_rng(4).standard_normal((1, 3 * WINDOW)).astype(np.float32)
    steps = [session.step(x[:, i : i + WINDOW])["y"] for i in range(0, 3 * WINDOW, WINDOW)]
    zeros = np.zeros((1, 1, HIDDEN), np.float32)
    whole = ort.InferenceSession(str(graphs["frames"]), providers=["CPUExecutionProvider"])
    expected = whole.run(["y"], {"x": x.reshape(3, WINDOW), "h": zeros, "c": zeros})[0]
    np.testing.assert_allclose(np.concatenate(steps, axis=0), expected, rtol=0, atol=1e-6)
