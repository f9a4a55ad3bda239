"""Issue 21: a graph's data layout declared in its interface (`GraphInterface.layout`) and the one adapter
(`edgelstm.artifact.layout`) that lets every caller hold data batch-first, whatever the graph takes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import data_shape, sequence_feeds
from edgelstm.artifact.foreign import describe_onnx
from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.artifact.layout import as_batch_first, caller_shape, graph_feeds, run_batch_first, to_caller, to_graph
from edgelstm.artifact.litert_file import LiteRTShape
from edgelstm.artifact.metadata import KEY_PREFIX, ArtifactMetadata
from edgelstm.errors import ConfigError, LoadError
from edgelstm.export.api import export_model
from edgelstm.export.litert import LiteRTExportConfig, _base_interface, _callable_module, example_args, fixed_interface
from edgelstm.export.native import native_interface
from edgelstm.jsonio import to_jsonable
from edgelstm.render import print_export_result
from edgelstm.state import StateSpec
from tests.support.slim_streaming import loaded_tiny


def _interface(layout: str = "time_major", pooled: bool = False) -> GraphInterface:
    state = StateSpec("h0", "h0_in", "h0_out", [1, "batch", 4], ["layer0.fwd"], 0.0, "float32", "zero")
    leading: list[int | str] = ["chunk", "batch"] if layout == "time_major" else ["batch", "chunk"]
    output: list[int | str] = ["batch", 3] if pooled else [*leading, 3]
    return GraphInterface(
        "streaming",
        "fused",
        [TensorSpec("x", "float32", [*leading, 5]), TensorSpec("h0_in", "float32", [1, "batch", 4])],
        [TensorSpec("output", "float32", output), TensorSpec("h0_out", "float32", [1, "batch", 4])],
        [state],
        layout=layout,  # type: ignore[arg-type]
    )


def test_layout_is_written_only_when_time_major_and_read_back() -> None:
    time_major = _interface()
    data = json.loads(json.dumps(to_jsonable(time_major)))
    assert data["layout"] == "time_major"
    assert GraphInterface.from_dict(data) == time_major
    batch_first = _interface("batch_first")
    assert "layout" not in to_jsonable(batch_first)  # graphs written before issue 21 keep their metadata bytes
    assert GraphInterface.from_dict(to_jsonable(batch_first)).layout == "batch_first"


def test_a_malformed_layout_is_refused() -> None:
    with pytest.raises(ConfigError, match="layout"):
        GraphInterface.from_dict({**to_jsonable(_interface()), "layout": "sideways"})
    props = ArtifactMetadata(_interface(), ExportConfig(form="streaming"), None, None, "test").to_props()
    props[KEY_PREFIX + "interface"] = json.dumps({**to_jsonable(_interface()), "layout": 3})
    with pytest.raises(LoadError, match="malformed"):
        ArtifactMetadata.from_props(props)


def test_only_the_native_streaming_form_is_time_major() -> None:
    config = loaded_tiny("lstm", 2).config
    assert config is not None
    streaming = native_interface(config, ExportConfig(form="streaming"))
    assert streaming.layout == "time_major" and streaming.data_input.shape == ["chunk", "batch", 5]
    for interface in (
        native_interface(config, ExportConfig(form="streaming"), streaming_layout="stacked"),
        native_interface(config, ExportConfig(form="sequence")),
    ):
        assert interface.layout == "batch_first" and interface.data_input.shape[0] == "batch"


def test_callers_see_batch_first_shapes() -> None:
    interface = _interface()
    assert caller_shape(interface, interface.data_input) == ["batch", "chunk", 5]
    assert caller_shape(interface, interface.outputs[0]) == ["batch", "chunk", 3]
    assert caller_shape(interface, interface.outputs[1]) == [1, "batch", 4]  # states keep their own shape
    pooled = _interface(pooled=True)
    assert caller_shape(pooled, pooled.outputs[0]) == ["batch", 3]  # no time axis: nothing to swap
    assert data_shape(interface, 2, 7) == [2, 7, 5]
    assert data_shape(_interface("batch_first"), 2, 7) == [2, 7, 5]


def test_feeds_go_to_the_graph_time_major_and_outputs_come_back_batch_first() -> None:
    interface = _interface()
    x = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    feeds = sequence_feeds(interface, x, None, "test")
    assert feeds["h0_in"].shape == (1, 2, 4)  # the state's batch is x's axis 0: feeds stay batch-first
    fed = graph_feeds(interface, feeds)
    np.testing.assert_array_equal(fed["x"], x.transpose(1, 0, 2))
    assert fed["x"].flags.c_contiguous and fed["h0_in"] is feeds["h0_in"]
    seen: dict[str, np.ndarray] = {}

    def graph_run(names: list[str], given: dict[str, np.ndarray]) -> list[np.ndarray]:
        seen.update(given)
        y = given["x"][..., :3] * 2  # [chunk, batch, 3], as a time-major graph gives it
        return [y, given["h0_in"]]

    output, state = run_batch_first(interface, graph_run)(["output", "h0_out"], feeds)
    np.testing.assert_array_equal(seen["x"], x.transpose(1, 0, 2))
    np.testing.assert_array_equal(output, x[..., :3] * 2)
    assert state.shape == (1, 2, 4)
    assert np.shares_memory(to_caller(interface, "output", output), output)  # a view, no copy


def test_a_batch_first_graph_passes_through_untouched() -> None:
    interface = _interface("batch_first")
    x = np.ones((2, 3, 5), np.float32)
    assert to_graph(interface, "x", x) is x and to_caller(interface, "output", x) is x
    calls: list[dict[str, np.ndarray]] = []

    def graph_run(names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        calls.append(feeds)
        return [feeds["x"]]

    assert run_batch_first(interface, graph_run)(["output"], {"x": x})[0] is x and calls[0]["x"] is x


def test_inspect_reads_the_time_major_axes_from_the_metadata_and_its_probe_runs(tmp_path: Path) -> None:
    path = export_model(loaded_tiny("gru", 2), tmp_path / "slim", ExportConfig(form="streaming")).path
    described = describe_onnx(path)
    assert described.roles == ("time", "batch", "features") and described.time_major and not described.frames_first
    assert described.probe.startswith("ran"), described.probe
    assert described.batch_axis["x"] == 1 and described.batch_axis["output"] == 1 and described.batch_axis["h0_out"] == 1


def test_export_names_the_time_major_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = loaded_tiny("lstm", 1)
    print_export_result(export_model(loaded, tmp_path / "streaming", ExportConfig(form="streaming")))
    # the whole line: rich would read an unescaped "[batch, steps, F]" as markup and drop it
    assert "StreamingSession.step still takes [batch, steps, F]" in capsys.readouterr().out
    print_export_result(export_model(loaded, tmp_path / "sequence", ExportConfig(form="sequence")))
    assert "layout:" not in capsys.readouterr().out  # batch-first graphs print what they printed before


def test_as_batch_first_turns_the_declared_shapes_and_leaves_the_states() -> None:
    turned = as_batch_first(_interface())
    assert turned.layout == "batch_first" and turned.data_input.shape == ["batch", "chunk", 5]
    assert turned.outputs[0].shape == ["batch", "chunk", 3] and turned.outputs[1].shape == [1, "batch", 4]
    batch_first = _interface("batch_first")
    assert as_batch_first(batch_first) is batch_first


def test_litert_streaming_step_is_declared_and_traced_batch_first() -> None:
    """The LiteRT file converts the model's torch step, which takes batch-first data: its interface is the ONNX
    streaming graph's turned batch-first (else the converter would trace [chunk, 1, F] as 4 rows of one step)."""
    loaded, shape = loaded_tiny("gru", 2), LiteRTShape(1, chunk=4)
    interface = fixed_interface(_base_interface(loaded, LiteRTExportConfig(form="streaming", chunks=(4,))), shape)
    assert interface.layout == "batch_first" and interface.data_input.shape == [1, "chunk", 5]
    output, *states = _callable_module(loaded, interface)(*example_args(interface, shape))
    assert tuple(output.shape) == (1, 4, 3) and all(tuple(s.shape) == (1, 1, 8) for s in states)
