"""The artifact core: what an ONNX/ORT artifact is and how it is called, below every command.

Imports nothing from export/, quantize/, parity/, bench/, bundle/, distill/, pipeline/ or commands/ (an
import-linter contract in pyproject.toml). Its modules, bottom first:

- `export_config`, `interface`, `hints`: how an artifact was exported; tensor specs, state pairs, the graph
  interface; what the user says about a graph made elsewhere (`--const`, `--state`, `--chunk`, `--axes`).
- `graph_io`, `walk`: the one reader of a graph's inputs/outputs (one ONNX -> numpy dtype table) and the one walk
  over nodes that enters subgraphs.
- `checks`, `metadata`: what ORT would refuse in a file; the file read once (`load_onnx_file`) and its metadata.
- `layout`: the one adapter between a graph's declared data layout (time-major for the slim streaming graph)
  and its callers' batch-first arrays (`run_batch_first`, `graph_feeds`, `caller_shape`).
- `session`: the one session factory (`session_from_onnx`), the only place that builds an InferenceSession.
- `feeds`, `chunks`: the one feed builder (`sequence_feeds`) and the one chunk-by-chunk runner (`run_in_chunks`).
- `foreign`: a foreign graph's interface, described and confirmed by a probe run.
- `file`, `runners`: an artifact opened (`open_artifact`: interface, precision, sha256) and run per provider.
- `streaming`: `StreamingSession`, a streaming artifact called chunk by chunk from an app.
- `child`: work in a child process (the crash probe, the cold start).

Nothing is imported here: `edgelstm.artifact.hints` (option parsing) must not load onnxruntime.
"""
