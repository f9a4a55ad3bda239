"""The foreign interface in the one core: GraphInterface's constants/chunk/context (old metadata still reads, native
metadata keeps its bytes), the one feed builder and the one chunked runner on a silero-shaped interface."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgelstm.artifact.chunks import run_in_chunks
from edgelstm.artifact.export_config import ExportConfig
from edgelstm.artifact.feeds import sequence_feeds
from edgelstm.artifact.interface import GraphInterface, TensorSpec
from edgelstm.artifact.metadata import ArtifactMetadata
from edgelstm.errors import BundleError, ConfigError
from edgelstm.jsonio import to_jsonable
from edgelstm.state import StateSpec


def silero_like(context: int = 0) -> GraphInterface:
    state = StateSpec("state", "state", "stateN", [2, "batch", 3], [], 0.0, "float32", "")
    return GraphInterface(
        "streaming",
        "foreign",
        [
            TensorSpec("input", "float32", ["batch", "chunk"]),
            TensorSpec("state", "float32", [2, "batch", 3]),
            TensorSpec("sr", "int64", []),
        ],
        [TensorSpec("output", "float32", ["batch", 1]), TensorSpec("stateN", "float32", [2, "batch", 3])],
        [state],
        {"sr": 16000},
        chunk=4,
        context=context,
    )


def native_like() -> GraphInterface:
    return GraphInterface("sequence", "fused", [TensorSpec("x", "float32", ["batch", "time", 2])], [], [])


def test_native_interface_writes_no_foreign_keys_and_old_metadata_reads() -> None:
    data = to_jsonable(native_like())
    assert set(data) == {"form", "impl", "inputs", "outputs", "states"}  # metadata bytes of edgelstm graphs unchanged
    again = GraphInterface.from_dict(json.loads(json.dumps(data)))
    assert again == native_like() and again.constants == {} and again.chunk is None and again.context == 0


def test_foreign_interface_round_trips_through_json() -> None:
    interface = silero_like(context=2)
    assert GraphInterface.from_dict(json.loads(json.dumps(to_jsonable(interface)))) == interface
    assert interface.data_input.name == "input"  # not the state, not the constant, whatever the input order


@pytest.mark.parametrize(
    "change", [{"constants": {"sr": "16k"}}, {"constants": {"sr": True}}, {"chunk": 0}, {"chunk": 2.5}, {"context": -1}]
)
def test_malformed_foreign_keys_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        GraphInterface.from_dict({**to_jsonable(silero_like()), **change})


def test_source_sha256_is_written_only_when_set() -> None:
    plain = ArtifactMetadata(native_like(), ExportConfig(), None, None, "checkpoint")
    assert "edgelstm.source_sha256" not in plain.to_props()
    derived = ArtifactMetadata(silero_like(), ExportConfig(form="streaming"), None, None, "foreign onnx", "ab" * 32)
    assert ArtifactMetadata.from_props(derived.to_props()) == derived


def test_feeds_carry_constants_and_a_state_batched_on_axis_1() -> None:
    feeds = sequence_feeds(silero_like(), np.ones((3, 4), np.float32), None, "test")
    assert feeds["state"].shape == (2, 3, 3) and not feeds["state"].any()
    assert feeds["sr"].dtype == np.int64 and feeds["sr"].shape == () and int(feeds["sr"]) == 16000


def test_chunked_runner_prepends_context_and_carries_the_state() -> None:
    interface = silero_like(context=2)
    seen: list[np.ndarray] = []

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        # A toy recurrent graph: the state counts calls; the output is the sum of this call's input.
        seen.append(feeds["input"])
        assert int(feeds["sr"]) == 16000
        return [feeds["input"].sum(axis=1, keepdims=True), feeds["state"] + 1]

    x = np.arange(1, 13, dtype=np.float32)[None, :]  # 12 samples: 3 chunks of 4
    output, state = run_in_chunks(run, interface, sequence_feeds(interface, x, None, "test"), 4)
    assert [piece.tolist() for piece in seen] == [[[0, 0, 1, 2, 3, 4]], [[3, 4, 5, 6, 7, 8]], [[7, 8, 9, 10, 11, 12]]]
    assert output.tolist() == [[10, 33, 57]]  # one value per chunk, joined on axis 1
    assert state.shape == (2, 1, 3) and (state == 3).all()


def test_bundle_manifest_refuses_bad_constants(tmp_path: Path) -> None:
    from edgelstm.bundle.manifest import read_manifest

    manifest = {
        "manifest_version": 1,
        "model": {"ort": "m.ort", "onnx": "m.onnx"},
        "files": {"m.ort": "0" * 64, "m.onnx": "0" * 64},
        "inputs": [],
        "constants": {"sr": "sixteen thousand"},
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="constants"):
        read_manifest(path)
    path.write_text(json.dumps({**manifest, "constants": {"sr": 16000}, "chunk": 512, "context": 64}))
    read = read_manifest(path)
    assert (read.constants, read.symbolic_sizes) == ({"sr": 16000}, {"chunk": 576})


def test_synthetic_speech_covers_the_asked_length_in_whole_chunks_and_has_silences() -> None:
    from edgelstm.parity.stream_data import synthetic_speech

    audio = synthetic_speech(10.0, 16_000, chunk=512)
    assert audio.x.shape == (1, 313 * 512) and audio.x.dtype == np.float32
    quiet = np.abs(audio.x[0, 28_000:36_000]).max()  # 1.75-2.25 s: between two talking spells
    loud = np.abs(audio.x[0, 4_000:20_000]).max()
    assert quiet < 0.1 * loud
