#!/usr/bin/env bash
# Build edgelstm's wheel, install it (not editable) in a fresh venv, run `edgelstm --help`, one export and one
# `convert` (the main chain, on a tiny model trained for a few steps) from it, and check that it installs no top-level
# `export`/`quantize` package (names of other projects on PyPI). The venv has no extras: the chain must run without
# matplotlib (the HTML report then has no plots and says so in one `warning:` line).
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

# The main chain from the wheel: a hidden-8 LSTM trained for 40 steps on a toy task with raw-scale features (mean and
# std saved as the checkpoint's preprocessing, labels too), then convert on a small recipe and bundle verify.
"$work/venv/bin/python" - <<'PY'
import numpy as np
import torch
from edgelstm.checkpoint import save_checkpoint
from edgelstm.config import HeadConfig, ModelConfig, Preprocessing
from edgelstm.model import SequenceModel

rng = np.random.default_rng(0)
raw = rng.standard_normal((96, 12, 3)) * [2.0, 0.5, 10.0] + [1.0, -3.0, 50.0]
y = (raw[:, :, 0].mean(axis=1) > 1.0).astype(np.int64)
mean, std = raw.reshape(-1, 3).mean(axis=0), raw.reshape(-1, 3).std(axis=0)
x = ((raw - mean) / std).astype(np.float32)  # what the model trains on; the exported graph standardises itself
torch.manual_seed(0)
torch.set_num_threads(1)
model = SequenceModel(ModelConfig(input_size=3, hidden_size=8, head=HeadConfig("classify", 2, "last")))
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
for _ in range(40):
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x[:64]))[0], torch.from_numpy(y[:64]))
    loss.backward()
    optimizer.step()
prep = Preprocessing(feature_mean=mean.tolist(), feature_std=std.tolist(), labels=["low", "high"])
save_checkpoint(model.eval(), "toy", prep)
np.savez("toy_heldout.npz", x=x[64:], y=y[64:])
PY
cat > recipe.toml <<'TOML'
[model]
source = "toy"
[data]
heldout = "toy_heldout.npz"
[export]
forms = ["sequence", "streaming"]
[quantize]
schemes = ["dynamic-int8"]
[check]
providers = ["cpu"]
[bench]
batches = [1]
steps = [12]
[bundle]
zip = false
[output]
dir = "pipeline"
TOML
"$work/venv/bin/edgelstm" convert recipe.toml >convert.out 2>convert.err || {
    cat convert.out convert.err >&2
    echo "wheel check: convert failed from the wheel" >&2
    exit 1
}
grep -q "^warning: the HTML report has no plots" convert.err  # the venv has no matplotlib: said so, not fatal
"$work/venv/bin/edgelstm" bundle verify pipeline/bundle >/dev/null
"$work/venv/bin/python" - <<'PY'
import json

manifest = json.load(open("pipeline/bundle/manifest.json"))
assert manifest["model"]["form"] == "streaming", manifest["model"]
assert [s["input_name"] for s in manifest["state"]] == ["h_in", "c_in"], manifest["state"]
assert manifest["input_normalization"]["in_graph"] is True and manifest["labels"] == ["low", "high"]
PY
echo "wheel check: $(ls "$work"/dist) installed in a fresh venv; --help, export, convert and bundle verify ran from it"
