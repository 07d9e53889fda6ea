"""Train a small 1D CNN keyword spotter on .wav clips listed in a manifest.csv.

A standalone user script: it knows nothing about any pipeline. It trains on the manifest rows
listed in --indices (one 0-based row number per line), early-stops on --val-indices, reports on
--test-indices, and writes history.csv and metrics.json into --out. It checkpoints every epoch to
--checkpoint/last.pt and resumes from it; on SIGTERM it finishes the batch, checkpoints and
exits with code 143.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import os
import random
import signal
import sys
import wave
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

SAMPLES = 4000  # clips are padded or cropped to 0.5 s at 8 kHz
SHIFT = 10  # train-time augmentation: random shift of up to +-10 frames (0.1 s)
EVAL_BATCH = 256  # validation and test batches (no gradients: bigger is faster)
SILENCE = 1e-4  # floor of the magnitude spectrum, also what a shift fills in
STOP = {"asked": False}  # set by SIGTERM


class BadInput(Exception):
    """A problem with the command line's files, reported as one line."""


def read_rows(manifest: Path, index_file: Path) -> list[dict]:
    """The manifest rows named in index_file, in its order."""
    if not index_file.exists():
        raise BadInput(f"index file not found: {index_file}")
    lines = [line for line in index_file.read_text().split() if line]
    if not lines:
        raise BadInput(f"index file is empty: {index_file}")
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return [rows[int(i)] for i in lines]
    except (ValueError, IndexError):
        raise BadInput(f"{index_file}: row numbers must be integers in 0..{len(rows) - 1}") from None


class Clips(Dataset):
    """Reads each clip from disk once and returns (standardized log-magnitude STFT, class id).

    The features of a clip are cached after the first read (per process: with --workers each
    worker keeps its own cache for one pass). Training clips get a random shift in time."""

    def __init__(self, rows, folder: Path, classes: list[str], augment_seed: int | None = None):
        self.items = [(folder / r["path"], classes.index(r["label"])) for r in rows if r["label"] in classes]
        self.augment_seed, self.epoch, self.cache = augment_seed, 0, {}

    def __len__(self):
        return len(self.items)

    def features(self, path: Path) -> torch.Tensor:
        """Log-magnitude STFT (129 bins x 51 frames of 10 ms) of the clip padded or cropped to 0.5 s."""
        with wave.open(str(path), "rb") as f:
            audio = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float32) / 32768
        audio = torch.from_numpy(np.pad(audio[:SAMPLES], (0, max(0, SAMPLES - len(audio)))))
        spec = torch.stft(audio, n_fft=256, hop_length=80, window=torch.hann_window(256), return_complex=True)
        return torch.log(spec.abs() + SILENCE)

    def __getitem__(self, i):
        path, label = self.items[i]
        if i not in self.cache:
            self.cache[i] = self.features(path)
        spec = self.cache[i]
        if self.augment_seed is not None:  # the same shift for a given (seed, epoch, item), resumed or not
            shift = int(np.random.default_rng([self.augment_seed, self.epoch, i]).integers(-SHIFT, SHIFT + 1))
            spec = torch.roll(spec, shift, dims=1)  # a copy: the cache keeps the clip as it is
            if shift > 0:
                spec[:, :shift] = math.log(SILENCE)
            elif shift < 0:
                spec[:, shift:] = math.log(SILENCE)
        return (spec - spec.mean()) / (spec.std() + 1e-5), label


def make_model(classes: int, width: int, depth: int) -> nn.Module:
    """depth conv blocks (conv, batch norm, ReLU, max-pool) of `width` channels, then pool over time."""
    layers, channels = [], 129  # STFT bins
    for _ in range(depth):
        layers += [nn.Conv1d(channels, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
                   nn.MaxPool1d(2, ceil_mode=True)]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, classes))


def evaluate(model, loader, device) -> tuple[float, float]:
    """Mean cross-entropy (nats) and error rate of model over loader."""
    model.eval()
    loss = wrong = count = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x).float()
            loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            wrong += (logits.argmax(1) != y).sum().item()
            count += len(y)
    return loss / count, wrong / count


def save_atomic(obj, path: Path) -> None:
    """torch.save or JSON to a temporary file, then rename it over path."""
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".json":
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    else:
        torch.save(obj, tmp)
    os.replace(tmp, path)


HISTORY = ["step", "train_loss", "val_loss", "val_error"]


def append_history(path: Path, row: dict) -> None:
    """Append one row to history.csv, writing the header first if the file is new."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, HISTORY, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow(row)


def trim_history(path: Path, step: int) -> None:
    """On resume, drop rows after the checkpoint's step (epochs that ran but were not checkpointed)."""
    if path.exists():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        path.unlink()
        for row in rows:
            append_history(path, row)


def train(args) -> dict:
    if not args.manifest.exists():
        raise BadInput(f"manifest not found: {args.manifest}")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    folder = args.manifest.parent
    train_rows, val_rows, test_rows = (read_rows(args.manifest, f) for f in (args.indices, args.val_indices, args.test_indices))
    classes = sorted({r["label"] for r in val_rows + test_rows})
    train_set = Clips(train_rows, folder, classes, augment_seed=args.seed)
    if len(train_set) == 0:
        raise BadInput(f"{args.indices}: no training row has a label of the validation/test rows")

    def loader(dataset, order=None, batch_size=EVAL_BATCH):
        return DataLoader(dataset, batch_size=batch_size, sampler=order, num_workers=args.workers)

    val_loader, test_loader = loader(Clips(val_rows, folder, classes)), loader(Clips(test_rows, folder, classes))
    model = make_model(len(classes), args.width, args.depth).to(device)
    steps_per_epoch = len(train_set) // args.batch_size or 1  # the last short batch is dropped
    # A small shard's epoch is a few steps: give it at least --min-steps in all, validate it every few
    # epochs (at least --eval-steps apart) and judge a plateau over at least --patience-steps.
    epochs = max(args.epochs, math.ceil(args.min_steps / steps_per_epoch))
    eval_every = max(1, math.ceil(args.eval_steps / steps_per_epoch))  # epochs between validations
    patience = max(math.ceil(args.patience / eval_every), math.ceil(args.patience_steps / (eval_every * steps_per_epoch)))
    cut_every = math.ceil(patience / 3)  # halve the learning rate after this many validations without progress
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    state = {"epoch": 0, "batch": 0, "step": 0, "loss_sum": 0.0, "loss_steps": 0, "best_loss": math.inf, "best_step": 0,
             "best_weights": copy.deepcopy(model.state_dict()), "bad_evals": 0, "lr_scale": 1.0, "stopped": "budget"}
    args.checkpoint.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    last = args.checkpoint / "last.pt"
    if last.exists():
        saved = torch.load(last, map_location="cpu", weights_only=False)  # RNG states must stay on the CPU
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        state = saved["state"]
        random.setstate(saved["rng"]["python"])
        np.random.set_state(saved["rng"]["numpy"])
        torch.set_rng_state(saved["rng"]["torch"])
        trim_history(args.out / "history.csv", state["step"] - state["batch"])
        print(f"resumed at epoch {state['epoch']}" + (f", batch {state['batch']}" if state["batch"] else ""), flush=True)

    def checkpoint():
        rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
        save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                     "state": state, "rng": rng}, last)

    while state["epoch"] < epochs and state["stopped"] != "early":
        # This epoch's order depends only on (seed, epoch), so a resumed epoch skips the batches it did.
        order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(args.seed * 1000 + state["epoch"]))
        order = order[: steps_per_epoch * args.batch_size].tolist()
        train_set.epoch = state["epoch"]
        model.train()
        for x, y in loader(train_set, order[state["batch"] * args.batch_size:], args.batch_size):
            x, y = x.to(device), y.to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                loss = nn.functional.cross_entropy(model(x).float(), y)
            for group in optimizer.param_groups:  # linear warm-up, then constant until a plateau halves it
                group["lr"] = args.lr * state["lr_scale"] * min(1.0, (state["step"] + 1) / args.warmup_steps)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            state["step"] += 1
            state["batch"] += 1
            state["loss_sum"] += loss.item()
            state["loss_steps"] += 1
            if STOP["asked"] and state["batch"] < steps_per_epoch:
                checkpoint()
                raise SystemExit(143)
        state.update(epoch=state["epoch"] + 1, batch=0)
        if state["epoch"] % eval_every and state["epoch"] < epochs:  # not a validation epoch
            checkpoint()
            if STOP["asked"]:
                raise SystemExit(143)
            continue
        val_loss, val_error = evaluate(model, val_loader, device)
        train_loss = state["loss_sum"] / state["loss_steps"]
        state.update(loss_sum=0.0, loss_steps=0)
        if val_loss < state["best_loss"]:  # keep the best weights, whatever the margin
            state.update(best_step=state["step"], best_weights=copy.deepcopy(model.state_dict()))
        if val_loss < state["best_loss"] * (1 - args.min_delta):  # progress: patience starts over
            state.update(best_loss=val_loss, bad_evals=0)
        elif state["step"] >= args.warmup_steps:  # no plateau while the learning rate warms up
            state["bad_evals"] += 1
            if state["bad_evals"] % cut_every == 0:
                state["lr_scale"] /= 2
            if state["bad_evals"] >= patience:
                state["stopped"] = "early"
        state["best_loss"] = min(state["best_loss"], val_loss)
        append_history(args.out / "history.csv", {"step": state["step"], "train_loss": f"{train_loss:.6f}",
                                                  "val_loss": f"{val_loss:.6f}", "val_error": f"{val_error:.6f}"})
        checkpoint()
        print(f"epoch {state['epoch']}/{epochs} step {state['step']} train_loss {train_loss:.4f} "
              f"val_loss {val_loss:.4f} val_error {val_error:.4f}", flush=True)
        if STOP["asked"]:
            raise SystemExit(143)

    model.load_state_dict(state["best_weights"])
    train_set.augment_seed = None  # the training shard as it is, without shifts
    metrics = {"params": sum(p.numel() for p in model.parameters()), "steps": state["step"],
               "best_step": state["best_step"], "stopped": state["stopped"]}
    for name, data in (("train", loader(train_set)), ("val", val_loader), ("test", test_loader)):
        metrics[f"{name}_loss"], metrics[f"{name}_error"] = evaluate(model, data, device)
    save_atomic(metrics, args.out / "metrics.json")
    print(f"done: test_error {metrics['test_error']:.4f} val_error {metrics['val_error']:.4f} ({metrics['stopped']})")
    return metrics


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--manifest", type=Path, required=True, help="manifest.csv (columns id, path, label, speaker)")
    p.add_argument("--indices", type=Path, required=True, help="training rows: one 0-based row number per line")
    p.add_argument("--val-indices", type=Path, required=True, help="validation rows (early stopping)")
    p.add_argument("--test-indices", type=Path, required=True, help="test rows (reported only)")
    p.add_argument("--out", type=Path, required=True, help="folder for history.csv and metrics.json")
    p.add_argument("--checkpoint", type=Path, required=True, help="folder for last.pt (kept across preemption)")
    p.add_argument("--width", type=int, default=32, help="channels per conv block")
    p.add_argument("--depth", type=int, default=3, help="number of conv blocks")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate after the warm-up (AdamW)")
    p.add_argument("--warmup-steps", type=int, default=100, help="steps of linear warm-up of the learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=60, help="budget in passes over the training rows ...")
    p.add_argument("--min-steps", type=int, default=2000, help="... but at least this many optimizer steps")
    p.add_argument("--patience", type=int, default=5,
                   help="stop after this many epochs without a better val loss (the rate halves every third of it)")
    p.add_argument("--patience-steps", type=int, default=300, help="... but not fewer optimizer steps than this")
    p.add_argument("--eval-steps", type=int, default=50, help="validate every epoch, but at most every this many steps")
    p.add_argument("--min-delta", type=float, default=1e-3,
                   help="a val loss resets patience only if it beats the best by this fraction")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help='"cpu" or "cuda:N"')
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--patience-factor", type=float, default=1.0,
                   help="multiply the patience and the budget (--patience, --patience-steps, --epochs, --min-steps): "
                        "how a convergence check asks for a longer run")
    args = p.parse_args(argv)
    for name in ("patience", "patience_steps", "epochs", "min_steps"):
        setattr(args, name, math.ceil(getattr(args, name) * args.patience_factor))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: STOP.update(asked=True))
    try:
        train(args)
    except (BadInput, FileNotFoundError, wave.Error) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
