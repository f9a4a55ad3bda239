"""`export GRAPH.onnx --impl unrolled --fixed-steps T`: the rewrite unrolled for T steps, checked against the
original graph in ONNX Runtime, then written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from edgelstm.artifact.feeds import data_shape, sequence_feeds
from edgelstm.artifact.foreign import foreign_metadata
from edgelstm.artifact.hints import InterfaceHints
from edgelstm.artifact.metadata import attach_metadata, load_onnx_file
from edgelstm.artifact.session import session_from_onnx
from edgelstm.errors import EdgelstmError, UnsupportedGraphError, first_line
from edgelstm.export.rnn_rewrite import RewriteReport, rewrite_fused_rnns
from edgelstm.files import check_output_dir, ensure_writable, file_sha256, write_artifact_pair
from edgelstm.jsonio import json_meta, to_jsonable


@dataclass
class UnrolledGraphResult:
    """What `unrolled_graph_file` wrote: the rewrite report, the check against the original graph, the file (its
    JSON is the `.export.json` written beside the unrolled graph; the report as the lines the CLI prints)."""

    source: str
    source_sha256: str
    steps: int
    report: RewriteReport = field(metadata=json_meta(name="rewritten", convert=RewriteReport.lines))
    max_abs_error: float  # unrolled vs original graph in ONNX Runtime at `steps`, batches 1 and 3
    path: str = ""
    sha256: str = ""


UNROLLED_TOLERANCE = 1e-4  # relative to the output's largest magnitude: the same float32 math, reordered


def unrolled_graph_file(
    path: Path, out_dir: Path, steps: int, overwrite: bool = False, hints: InterfaceHints | None = None
) -> UnrolledGraphResult:
    """`edgelstm export GRAPH.onnx --impl unrolled --fixed-steps T`: every fused LSTM/GRU written out for T steps,
    checked against the original graph in ONNX Runtime at T steps (batches 1 and 3), written with its foreign
    metadata and an `.export.json` only when every node was rewritten and the outputs agree. `hints` (--const,
    --state) describe the graph's other inputs like every command's model options; the chunk is T."""
    import hashlib
    import json
    import tempfile
    from dataclasses import replace

    path = Path(path)
    check_output_dir(Path(out_dir))
    target = Path(out_dir) / f"{path.stem}.unrolled_{steps}.onnx"
    ensure_writable(target, overwrite)
    ensure_writable(target.with_suffix(".export.json"), overwrite)
    original = load_onnx_file(path)
    model, report = rewrite_fused_rnns(original, unroll_steps=steps)
    if not report.rewritten or report.refused:
        reasons = "; ".join(report.lines()[len(report.rewritten) :]) or "the graph has no fused LSTM/GRU node"
        raise UnsupportedGraphError(f"{path}: cannot unroll: {reasons}")
    del model.metadata_props[:]  # metadata of the source graph would describe the wrong graph
    result = UnrolledGraphResult(str(path), file_sha256(path), steps, report, 0.0)
    with tempfile.TemporaryDirectory(prefix="edgelstm-unroll-") as tmp:
        staged = Path(tmp) / target.name
        onnx.save(model, str(staged))
        try:
            metadata = foreign_metadata(staged, replace(hints or InterfaceHints(), chunk=steps))
        except EdgelstmError as exc:  # it names the staged temp file; the user knows the graph they gave
            reason = first_line(exc, 400).replace(f"{staged}: ", "")
            raise UnsupportedGraphError(f"{path} unrolled at {steps} steps: {reason}") from None
        interface = metadata.interface
        ours, theirs = session_from_onnx(staged), session_from_onnx(path)
        names = [o.name for o in interface.outputs]
        rng = np.random.default_rng(0)
        for batch in (1, 3):
            x = rng.standard_normal(data_shape(interface, batch, steps)).astype(np.dtype(interface.data_input.dtype))
            feeds = sequence_feeds(interface, x, None, "unrolled graph check")
            try:
                pairs = list(zip(names, ours.run(names, feeds), theirs.run(names, feeds), strict=True))
            except Exception as exc:  # ORT's own error types: e.g. a time axis that is not the data input's axis 1
                raise UnsupportedGraphError(
                    f"{path}: the unrolled graph did not run at {steps} steps: {first_line(exc)}"
                ) from None
            for name, a, e in pairs:
                if a.shape != e.shape:
                    raise UnsupportedGraphError(f"{path}: unrolled {name} has shape {list(a.shape)}, not {list(e.shape)}")
                error = float(np.max(np.abs(a.astype(np.float64) - e), initial=0.0))
                scale = max(1.0, float(np.max(np.abs(e), initial=0.0)))
                if error > UNROLLED_TOLERANCE * scale:
                    raise UnsupportedGraphError(
                        f"{path}: the unrolled graph's {name} differs from the original by {error:.3g} at batch {batch}"
                    )
                result.max_abs_error = max(result.max_abs_error, error)
    attach_metadata(model, replace(metadata, source_sha256=result.source_sha256))
    data = model.SerializeToString(deterministic=True)
    result.path, result.sha256 = str(target), hashlib.sha256(data).hexdigest()
    write_artifact_pair(
        target, data, target.with_suffix(".export.json"), json.dumps(to_jsonable(result), indent=2) + "\n", overwrite
    )
    return result
