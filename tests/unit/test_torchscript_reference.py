"""silero_vad.jit as a reference, behind --unsafe-allow-torchscript: `check` and `quantize` stream against it chunk by
chunk with the state carried, and the verdict names the archive's sha256."""

from __future__ import annotations

import numpy as np

from edgelstm.parity.stream_data import synthetic_speech
from tests.support.torchscript_reference import JIT, ONNX


def test_reference_matches_the_jit_called_as_an_app_calls_it() -> None:
    """The reference sets the state and context the module keeps and reads the state back; the app just calls
    forward(chunk, sr) on a fresh module. Both must give the same probabilities, chunk for chunk."""
    import torch

    from edgelstm.artifact.feeds import sequence_feeds
    from edgelstm.artifact.foreign import source_metadata
    from edgelstm.artifact.hints import InterfaceHints
    from edgelstm.parity.reference import open_file_reference

    interface = source_metadata(ONNX, InterfaceHints({"sr": 16000}, (), 512, 64)).interface
    reference = open_file_reference(JIT, allow_torchscript=True)
    audio = synthetic_speech(2.0, 16_000, seed=3, chunk=512).x[:, : 512 * 60]
    probabilities = reference.run(interface, sequence_feeds(interface, audio, None, "test"))[0]
    app = torch.jit.load(str(JIT)).eval()
    with torch.no_grad():
        expected = [app(torch.from_numpy(audio[:, k : k + 512]), 16000).numpy() for k in range(0, audio.shape[1], 512)]
    expected_p = np.concatenate(expected, axis=1)
    assert probabilities.shape == expected_p.shape == (1, 60)
    np.testing.assert_allclose(probabilities, expected_p, atol=1e-5)
    assert np.ptp(expected_p) > 0.1  # the audio moves the detector: a frozen state would show
