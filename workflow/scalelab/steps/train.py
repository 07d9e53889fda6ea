"""Step `train`: one trial = one early-stopped training run on one shard; a trial group = every
trial of one family on one shard, one after another in one process, so the start-up (Python,
torch, the data) is paid once per group, not once per trial.

Each run is scalelab.training.loop's (the stopping rule, the schedule, divergence).

Outputs in the trial folder:
  metrics.json  the results (losses and errors at the best step, sizes, steps). Deterministic:
                the same trial on the same machine gives the same bytes, whichever engine ran it
                and whether it ran alone or in a batch (each trial seeds itself).
  history.csv   one row per evaluation.
  model.pt      the best weights.
  run.json      how the run went: seconds, throughput, device, precision, GPU, versions, SLURM
                job id. Not deterministic, so kept out of metrics.json, which must stay
                byte-identical whichever engine, machine session or SLURM job ran the trial.

A trial trains in the trial store (store.py) and is copied to its own folder when finished: a
rerun copies what the store holds and trains only the rest, and a preempted run resumes from its
checkpoint there.

Nothing outlives a call: the GPU claim (device.Devices), the deterministic kernel settings
(loop.deterministic) and torch's global random state (loop.own_rng, per trial) are the caller's
again when it returns.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

from scalelab import __version__, io, registry, study
from scalelab.models import count_params
from scalelab.pool import SHARD_INFO, load_heldout, load_shard
from scalelab.training import device as devices
from scalelab.training import loop, own_trial, store
from scalelab.training.loop import Trial, evaluate, resume, train_loop
from scalelab.training.progress import Progress
from scalelab.training.stopping import continuable, stopping_rule


def load_sets(heldout_dir: str, info: dict, info_path: str, shard_dir: str, device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The shard's training examples and the whole validation and test sets, on `device`; each
    is checked against the checksum its step recorded first."""
    arrays = load_heldout(heldout_dir, info, info_path)
    sets = {"train": load_shard(shard_dir)}
    sets["val"], sets["test"] = [(arrays[f"{split}_x"], arrays[f"{split}_y"]) for split in ("val", "test")]
    return {name: (torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for name, (x, y) in sets.items()}


class TrialGroup:
    """What the trials of one process share: params, device, data and the store. The data is
    loaded once, and only if some trial has to train. Used as a context (`with TrialGroup(...) as
    group`): the GPU it claimed (unless the caller's `gpus` claimed it) and the kernel settings are
    given back at its end."""

    def __init__(self, params: dict, heldout_dir: str, info_path: str, shard_dir: str, store_root: str | None,
                 gpus: devices.Devices | None = None):
        self.params, self.cfg = params, params["train"]
        self.heldout_dir, self.info_path, self.shard_dir = heldout_dir, info_path, shard_dir
        self._scope = contextlib.ExitStack()
        if gpus is None:
            gpus = self._scope.enter_context(devices.Devices(log=lambda text: print(text, file=sys.stderr, flush=True)))
        self.gpus = gpus
        try:
            self.device = gpus.pick(self.cfg["device"], self.cfg["precision"])
        except BaseException:
            self._scope.close()  # a GPU claimed for a precision it lacks goes back at once
            raise
        self.info = io.read_json(info_path)
        shard_info = Path(shard_dir) / SHARD_INFO
        self.n = io.read_json(shard_info)["examples"]
        self.m = self.n * self.info.get("tokens_per_example", 1)  # the shard's size in the data's unit
        self.store = store.Store(store_root, params, info_path, shard_info, self.device.type, self.m)

    def __enter__(self) -> TrialGroup:
        self._scope.enter_context(loop.deterministic(self.device))
        return self

    def __exit__(self, *exc) -> None:
        self._scope.close()

    @functools.cached_property
    def sets(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return load_sets(self.heldout_dir, self.info, self.info_path, self.shard_dir, self.device)

    @functools.cached_property
    def indices(self) -> dict[str, np.ndarray]:
        """A trainer's examples: the shard's, validation's and test's manifest rows (data never loads)."""
        arrays = load_heldout(self.heldout_dir, self.info, self.info_path)
        return {"train": load_shard(self.shard_dir)[0], "val": arrays["val_x"], "test": arrays["test_x"]}

    def fingerprint(self, k: int, family: str, module: str, width: int, lr: float, seed: int,
                    train_cfg: dict | None = None) -> dict:
        """The trial's fingerprint under this group's train settings (or `train_cfg`)."""
        return self.store.fingerprint(k, family, module, [width, lr], seed, self.cfg if train_cfg is None else train_cfg)


def run_family(params: dict, heldout_dir: str, info_path: str, shard_dir: str, k: int, family: str, out_dir: str,
               store_root: str | None = None) -> list[dict]:
    """Every trial of `family` on shard k, one after another in one process (one start-up for all),
    each into out_dir/<trial name>: one job under Snakemake and DVC alike. Each trial seeds
    itself, so it gives the same bytes as when it runs alone. With a store, a trial finished
    before (by a job that was killed, or before a grid edit) is copied from it, not retrained."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with TrialGroup(params, heldout_dir, info_path, shard_dir, store_root) as group:
        return [run_trial(group, k, family, t["config"], t["seed"], out / t["name"])
                for t in study.trials_for_shard(params, k, family)]


def run(params: dict, heldout_dir: str, info_path: str, shard_dir: str, k: int, family: str,
        config: dict, seed: int, out_dir: str, store_root: str | None = None, origin: dict | None = None,
        patience_factor: float = 1, gpus: devices.Devices | None = None) -> dict:
    """One trial alone: the same bytes as the same trial inside a group. `origin` (the audit's):
    {"train": the original run's train settings, "store": where it trained}: go on from its last
    state when this run would repeat it (continuable), else train from the start. `gpus`: the
    caller's GPU claim, kept across its runs (else this run claims one and gives it back).
    `patience_factor`: the audit's, for a trainer (scalelab's loop gets it in params' train section)."""
    with TrialGroup(params, heldout_dir, info_path, shard_dir, store_root, gpus) as group:
        return run_trial(group, k, family, config, seed, Path(out_dir), origin, patience_factor)


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


def run_trial(group: TrialGroup, k: int, family: str, config: dict, seed: int, out: Path,
              origin: dict | None = None, patience_factor: float = 1) -> dict:
    """One trial of the group into `out`: scalelab's loop, or the family's own trainer
    (training/own_trial.py). It seeds torch's global generators and draws from them (a plug-in's dropout
    does); the caller's random state is put back after it (loop.own_rng)."""
    with loop.own_rng(group.device):
        if study.trainer_kind(group.params, family) is not None:
            return own_trial.run(group, k, family, config, seed, out, patience_factor)
        return _run_trial(group, k, family, config["width"], config["lr"], seed, out, origin)


def _run_trial(group: TrialGroup, k: int, family: str, width: int, lr: float, seed: int, out: Path,
               origin: dict | None) -> dict:
    params, cfg, device = group.params, group.cfg, group.device
    module = study.family_module(params, family)
    shard = study.shard_name(k)
    name = f"{shard} (m={group.m}) {family} w{width} lr{lr} s{seed}"
    fingerprint = group.fingerprint(k, family, module, width, lr, seed)
    work = group.store.work_dir(k, family, study.trial_name({"width": width, "lr": lr}, seed), fingerprint, out)
    if work != out and (work / "metrics.json").exists():
        print(f"train {name}: finished before with the same code, settings and data; copied from {work}",
              file=sys.stderr, flush=True)
        store.publish(work, out)
        return io.read_json(out / "metrics.json")
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
