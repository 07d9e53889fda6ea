"""One trial of scalelab's own loop (training/loop.py) in a trial group (steps/train.py): the model
built from its family's module, trained with early stopping on the shard's examples, resumed from
its checkpoint or from the original run the audit continues, and its outputs written (metrics.json,
history.csv, model.pt, run.json). Torch is imported here, not by the train step: a job of a
user's own trainer (own_trial.py) never pays for it.
"""

from __future__ import annotations

import math
import os
import platform
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from scalelab import __version__, io, registry, study
from scalelab.models import count_params
from scalelab.pool import load_heldout, load_shard
from scalelab.training import device as devices
from scalelab.training import loop, store
from scalelab.training.loop import Trial, evaluate, resume, train_loop
from scalelab.training.progress import Progress
from scalelab.training.stopping import continuable, stopping_rule

if TYPE_CHECKING:
    from scalelab.steps.train import TrialGroup


def load_sets(heldout_dir: str, info: dict, info_path: str, shard_dir: str, device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The shard's training examples and the whole validation and test sets, on `device`; each
    is checked against the checksum its step recorded first."""
    arrays = load_heldout(heldout_dir, info, info_path)
    sets = {"train": load_shard(shard_dir)}
    sets["val"], sets["test"] = [(arrays[f"{split}_x"], arrays[f"{split}_y"]) for split in ("val", "test")]
    return {name: (torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for name, (x, y) in sets.items()}


def continue_original(trial: Trial, group: TrialGroup, origin: dict, key: tuple, progress: Progress) -> int:
    """Load the original run's last state (key: k, family, module, width, lr, seed under
    origin["train"], from origin["store"]) if this run repeats it up to there; the step it goes
    on from (0: from the start)."""
    if not continuable(origin["train"], group.cfg, group.n):
        return 0
    k, family, _, width, lr, seed = key
    fingerprint = group.fingerprint(*key, train_cfg=origin["train"])
    path = store.folder(Path(origin["store"]), k, family, study.trial_name({"width": width, "lr": lr}, seed), fingerprint) / store.FINAL
    step = resume(trial, path, fingerprint, group.device, progress)
    if step:
        progress.line(f"going on from step {step}, where the original run stopped early (same steps up to there)")
    return step


def run(group: TrialGroup, k: int, family: str, width: int, lr: float, seed: int, out: Path,
               origin: dict | None) -> dict:
    params, cfg, device = group.params, group.cfg, group.device
    module = study.family_module(params, family)
    shard = study.shard_name(k)
    name = f"{shard} (m={group.m}) {family} w{width} lr{lr} s{seed}"
    fingerprint = group.fingerprint(k, family, module, width, lr, seed)
    work = group.store.work_dir(k, family, study.trial_name({"width": width, "lr": lr}, seed), fingerprint, out)
    if (done := store.copy_if_finished(work, out, name)) is not None:
        return done
    work.mkdir(parents=True, exist_ok=True)

    sets = group.sets
    started = time.perf_counter()
    builder = registry.load("model", module)
    terms = getattr(builder, "loss_terms", None)  # a family's own loss (CTC for speech), else cross-entropy
    x_train, y_train = sets["train"]
    n = group.n

    loop.seed(device, seed)  # initial weights
    model = builder.build(width, tuple(group.info["input_shape"]), group.info["n_classes"]).to(device)
    rule = stopping_rule(cfg, n)
    trial = Trial(model, lr, cfg, rule, seed, n)
    batch_size = min(cfg["batch_size"], n)
    budget = rule["budget"]

    progress = Progress(budget, f"train {name}")
    ckpt_path = work / store.CHECKPOINT
    resumed_from = resume(trial, ckpt_path, fingerprint, device, progress)
    if not resumed_from and origin is not None:
        resumed_from = continue_original(trial, group, origin, (k, family, module, width, lr, seed), progress)

    progress.line(f"train {name}: {count_params(model)} params, budget {budget} steps, batch {batch_size}, "
                  f"evaluating every {rule['eval_every']} steps, patience {rule['patience']} evaluations, "
                  f"device {device}, {cfg['precision']}" + (f", resumed at step {resumed_from}" if resumed_from else ""))
    # SLURM (and a person's kill) sends SIGTERM before killing: checkpoint at the next
    # evaluation and exit, so the rerun resumes instead of starting over.
    preempted = {"flag": False}
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: preempted.update(flag=True))
    try:
        stopped = train_loop(trial, x_train, y_train, sets["val"], cfg, rule, batch_size, progress,
                             ckpt_path, fingerprint, preempted, terms)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        progress.close()

    if stopped == "early" and work != out and group.store.keeps_final(k):
        store.save_state(work / store.FINAL, fingerprint, trial.state_dict())
    model.load_state_dict(trial.best["state"])
    seconds = time.perf_counter() - started
    metrics = {
        "status": "ok" if stopped != "diverged" else "failed",
        "stopped": stopped,
        "shard": shard, "k": k, "size": group.m,
        "family": family, "module": module, "width": width, "lr": lr, "seed": seed,
        "params": count_params(model),
        "steps": trial.step, "best_step": trial.best["step"], "budget": budget,
        "eval_every": rule["eval_every"], "patience": rule["patience"],
    }
    for split in ("train", "val", "test"):
        loss_, error_ = evaluate(model, *sets[split], cfg["precision"], terms) if stopped != "diverged" else (math.nan, math.nan)
        metrics[f"{split}_loss"], metrics[f"{split}_error"] = loss_, error_
    extra = getattr(builder, "extra_metrics", None)  # a family's own scores of the final model (BLEU)
    if extra is not None and stopped != "diverged":
        with devices.autocast(device, cfg["precision"]):
            metrics.update({f"test_{name}": value for name, value in extra(model, *sets["test"], group.info).items()})
    progress.line(f"done: {stopped} at step {trial.step}, best step {trial.best['step']}, "
                  f"val_loss {metrics['val_loss']:.4f}, test_error {metrics['test_error']:.4f}, {seconds:.1f}s")

    io.write_rows(work / "history.csv", ["step", "lr", "train_loss", "val_loss", "val_error"], trial.history)
    with io.atomic_path(work / "model.pt") as tmp, open(tmp, "wb") as f:
        # A file object, not a path: torch.save names the archive after a path's (random) stem.
        torch.save({k_: v.cpu() for k_, v in trial.best["state"].items()}, f)
    io.write_json(work / "run.json", {
        "seconds": seconds,
        "samples_per_s": trial.step * batch_size / seconds if seconds > 0 else None,
        "resumed_from_step": resumed_from,
        "device": str(device),
        "device_name": devices.describe(device),
        "precision": cfg["precision"],
        "cuda_visible_devices": group.gpus.visible(),
        "threads": torch.get_num_threads(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "host": platform.node(),
        "versions": {"scalelab": __version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
    })
    io.write_json(work / "metrics.json", metrics)  # last: its presence means the trial is done
    ckpt_path.unlink(missing_ok=True)
    store.publish(work, out)
    return metrics
