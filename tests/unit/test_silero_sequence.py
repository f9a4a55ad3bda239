"""silero-vad 6.2.3's `silero_vad_16k_sequence.onnx` (input [sequence_length, 576]: frames along axis 0, states of
batch 1) through inspect, quantize, check, bench and bundle: no internal error, and every command reads the same
state pairs (issue 19: it used to be read as batch on axis 0 and crash `quantize --scheme auto`)."""

from __future__ import annotations

import numpy as np

from edgelstm.parity.stream_data import synthetic_speech
from tests.support.silero_sequence import DATA


def test_the_streamed_sequence_graph_gives_the_probabilities_of_the_streaming_graph() -> None:
    """Read right: one frame (64 + 512 samples) per call at batch 1, h/c carried, gives what silero's streaming
    graph `silero_vad_16k_op15.onnx` gives on the same audio (read as batch, it would mix frames across calls)."""
    import onnxruntime as ort

    from edgelstm.artifact.chunks import run_in_chunks
    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.file import open_artifact
    from edgelstm.artifact.hints import InterfaceHints

    x = synthetic_speech(1.0, 16_000, seed=3, chunk=512).x.astype(np.float32)
    probs = []
    for name, hints in (("silero_vad_16k_sequence.onnx", InterfaceHints(chunk=512, context=64)),
                        ("silero_vad_16k_op15.onnx", InterfaceHints({"sr": 16_000}, (), 512, 64))):  # fmt: skip
        interface = open_artifact(DATA / name, hints).interface
        session = ort.InferenceSession(str(DATA / name), providers=["CPUExecutionProvider"])
        outputs = [o.name for o in session.get_outputs()]
        first = run_in_chunks(
            lambda f, s=session, o=outputs: s.run(o, f), interface, sequence_feeds(interface, x, None, name), 512
        )
        probs.append(first[0].reshape(-1))
    assert probs[0].shape == (32,)
    np.testing.assert_allclose(probs[0], probs[1], rtol=0, atol=1e-5)
    assert probs[0].max() > 0.5 > probs[0].min()  # speech and pauses: the comparison is not of constants
