#!/usr/bin/env bash
# Build edgelstm's wheel, install it (not editable) in a fresh venv, run `edgelstm --help` and one export from it,
# and check that it installs no top-level `export`/`quantize` package (names of other projects on PyPI).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip wheel -q --no-deps -w "$work/dist" "$repo"
python -m venv "$work/venv"
"$work/venv/bin/pip" install -q torch==2.13.0
"$work/venv/bin/pip" install -q "$work"/dist/edgelstm-*.whl
cd "$work"  # away from the source tree, so nothing is imported from it
files="$("$work/venv/bin/pip" show -f edgelstm)"
if grep -qE '^\s+(export|quantize)/' <<<"$files"; then
    echo "wheel check: the wheel installs a top-level export/ or quantize/ package" >&2
    exit 1
fi
"$work/venv/bin/edgelstm" --help >/dev/null
"$work/venv/bin/python" - <<'PY'
import torch
from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import ModelConfig
from edgelstm.model import SequenceModel

torch.manual_seed(0)
save_checkpoint(SequenceModel(ModelConfig(input_size=3, hidden_size=8)), "ckpt")
PY
"$work/venv/bin/edgelstm" export ckpt --out onnx --batches 1,2 --steps 1,5 >/dev/null
test -s onnx/sequence_fused.onnx
echo "wheel check: $(ls "$work"/dist) installed in a fresh venv; --help and export ran from it"
