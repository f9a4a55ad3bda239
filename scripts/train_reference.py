"""Train the reference model: an LSTM on real smartwatch IMU data (seglearn), saved as an edgelstm checkpoint.

6-axis IMU at 50 Hz, 7 shoulder exercises, 2 s windows (100 steps), subjects 8-10 held out. Trains on one torch
thread, so a busy second core cannot stall it. Usage: python scripts/train_reference.py --out runs/watch-lstm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/watch-lstm"), help="checkpoint directory to write")
    parser.add_argument("--cell", choices=["lstm", "gru", "peephole"], default="lstm")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads. Fixed, not measured: the trained weights depend on it (float reductions split "
        "differently; 1 and 2 threads give different bytes), so the reference model is the 1-thread one. 1, not 2: "
        "with the second core busy, 2 threads collapse (issue 19: 33 min for the first command; 3 epochs took 13 s "
        "on 1 thread and 716 s on 2 with `yes` on the other core, loaded machine). --threads 2 trains a "
        "different, equally valid model",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")
    parser.add_argument("--reuse", action="store_true", help="keep an existing checkpoint in --out instead of training")
    args = parser.parse_args(argv)

    from edgelstm.checkpoint import save_checkpoint
    from edgelstm.config import HeadConfig, ModelConfig, Preprocessing
    from edgelstm.datasets import load_watch_windows
    from edgelstm.errors import EdgelstmError
    from edgelstm.files import ensure_writable
    from edgelstm.model import SequenceModel, count_parameters
    from edgelstm.training import TrainConfig, train_classifier

    reusing = args.reuse and (args.out / "config.json").exists()
    if reusing and (args.out / "train.npz").exists():
        print(f"reusing the reference model in {args.out} (drop --reuse to train a new one)")
        return 0
    try:
        if not reusing:
            ensure_writable(args.out, args.overwrite)
        data = load_watch_windows()
    except EdgelstmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mean = data.train_x.reshape(-1, data.train_x.shape[-1]).mean(axis=0)
    std = data.train_x.reshape(-1, data.train_x.shape[-1]).std(axis=0) + 1e-6
    normalise = lambda x: ((x - mean) / std).astype(np.float32)  # noqa: E731
    train_x, test_x = normalise(data.train_x), normalise(data.test_x)
    if reusing:  # a checkpoint from before train.npz was written: add the data files, keep the model
        _write_data(args.out, train_x, data.train_y, test_x, data.test_y)
        print(f"reusing the reference model in {args.out}; wrote its train.npz and heldout.npz")
        return 0

    import torch

    torch.manual_seed(args.seed)
    config = ModelConfig(
        input_size=train_x.shape[-1],
        hidden_size=args.hidden,
        cell=args.cell,
        num_layers=args.layers,
        head=HeadConfig(kind="classify", num_outputs=len(data.labels), pooling="last"),
    )
    model = SequenceModel(config)
    print(
        f"smartwatch IMU: {len(train_x)} train / {len(test_x)} held-out windows of {train_x.shape[1]} steps "
        f"(subjects 8-10 held out); {args.cell} hidden {args.hidden}, {count_parameters(model):,} parameters"
    )
    result = train_classifier(
        model,
        train_x,
        data.train_y,
        test_x,
        data.test_y,
        TrainConfig(epochs=args.epochs, seed=args.seed, threads=args.threads),
        on_epoch=lambda e, loss, acc: print(f"  epoch {e:2d}  loss {loss:.3f}  held-out accuracy {acc:.1%}", flush=True),
    )
    preprocessing = Preprocessing(
        feature_mean=[float(v) for v in mean],
        feature_std=[float(v) for v in std],
        labels=data.labels,
        sample_rate_hz=data.sample_rate_hz,
    )
    save_checkpoint(model, args.out, preprocessing, overwrite=args.overwrite)
    _write_data(args.out, train_x, data.train_y, test_x, data.test_y)
    print(f"held-out accuracy {result.final_accuracy:.1%} after {result.seconds:.0f} s; wrote {args.out}")
    return 0


def _write_data(out: Path, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> None:
    from edgelstm.files import atomic_path

    with atomic_path(out / "heldout.npz", overwrite=True) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, x=test_x, y=test_y)  # a file handle: savez would append .npz to a name
    with atomic_path(out / "train.npz", overwrite=True) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, x=train_x, y=train_y)  # the transfer set for `edgelstm distill`


if __name__ == "__main__":
    sys.exit(main())
