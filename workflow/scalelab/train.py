"""Step `train`: one trial = one early-stopped training run on one shard; a trial group = every
trial of one family on one shard, one after another in one process, so the start-up (Python,
torch, the data) is paid once per group, not once per trial.

The stopping rule (stopping.py) is in units of data, so a large shard is judged over as many
passes as a small one; the best weights are kept, and a run stops on patience (`early`) or when
the step budget is spent (`budget`: by construction the run was still improving then, and select
flags its shard). The learning rate
follows `schedule` (torch.optim.lr_scheduler: constant, warm-up + cosine to the budget, or
reduce-on-plateau). A loss that turns NaN or infinite ends the run as `diverged`: it is
recorded, and selection leaves it out.

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
"""

from __future__ import annotations

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
import torch.nn.functional as F

from . import __version__, device as devices, io, registry, store, study
from .stopping import continuable, make_schedule, stopping_rule
from .adam import Adam
from .datasets import IGNORE
from .models import count_params
from .pool import SHARD_INFO, load_heldout, load_shard
from .progress import Progress

EVAL_TOKENS = 4096  # tokens (examples x positions) per forward pass when evaluating: bounds memory
CHECKPOINT_SECONDS = 30.0  # wall time between checkpoints; SIGTERM also writes one


def set_determinism(device: torch.device) -> None:
    if device.type == "cpu":
        # One thread per job: jobs run side by side, one per core, which beats threads. With
        # one thread the CPU kernels are deterministic already; use_deterministic_algorithms
        # would import torch's compiler stack (2.6 s a job) for nothing.
        torch.set_num_threads(1)
    else:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)


def flat(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Classifiers give [n, classes] for [n] targets; language models [n, L, vocab] for [n, L]
    targets, one prediction per position. Both become [predictions, classes] and [predictions]."""
    return logits.reshape(-1, logits.shape[-1]), target.reshape(-1)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, precision: str = "fp32", loss_terms=None) -> tuple[float, float]:
    """Mean cross-entropy (nats per prediction) and error rate over a whole set. Targets equal to
    IGNORE (padding after a translation's end) are not predictions: they count in neither. A family's
    `loss_terms` (models/__init__.py; CTC for speech) replaces both: its sums over the set, each
    divided by its count."""
    model.eval()
    loss_sum, wrong, scored = 0.0, 0, 0
    chunk = max(1, EVAL_TOKENS // (y[0].numel() if len(y) else 1))
    for start in range(0, len(y), chunk):
        with devices.autocast(x.device, precision):
            logits = model(x[start:start + chunk])
        if loss_terms is not None:
            part_loss, part_wrong, part_count = loss_terms(logits.float(), y[start:start + chunk])
            loss_sum, wrong, scored = loss_sum + part_loss.item(), wrong + part_wrong, scored + part_count
            continue
        logits, target = flat(logits.float(), y[start:start + chunk])
        kept = target != IGNORE
        loss_sum += F.cross_entropy(logits, target, reduction="sum", ignore_index=IGNORE).item()
        wrong += ((logits.argmax(1) != target) & kept).sum().item()
        scored += kept.sum().item()
    model.train()
    return loss_sum / max(scored, 1), wrong / max(scored, 1)


def batch_loss(model, x: torch.Tensor, y: torch.Tensor, loss_terms=None) -> torch.Tensor:
    """The training loss of one batch: cross-entropy per scored target, or a family's
    loss_terms sum over its count (its errors are not computed: only evaluation reports them)."""
    if loss_terms is None:
        return F.cross_entropy(*flat(model(x), y), ignore_index=IGNORE)
    total, _, count = loss_terms(model(x), y, with_errors=False)
    return total / max(count, 1)


class Trial:
    """Everything a run needs to continue: model, optimiser and its schedule, data order, best so far."""

    def __init__(self, model, lr: float, train_cfg: dict, rule: dict, seed: int, n: int):
        self.model = model
        self.opt = Adam(model.parameters(), lr=lr, weight_decay=train_cfg["weight_decay"])
        self.schedule = make_schedule(self.opt, train_cfg, rule)
        self.per_step = self.schedule is not None and train_cfg["schedule"] != "plateau"
        self.gen = torch.Generator().manual_seed(seed)
        self.n = n
        self.order = torch.randperm(n, generator=self.gen)
        self.pos = 0
        self.step = 0
        self.best = {"val_loss": math.inf, "step": 0, "state": self._copy_state()}
        self.mark = math.inf  # the validation loss that last reset patience (beat by min_rel_delta)
        self.bad_evals = 0
        self.history: list[dict] = []
        self.train_loss_sum, self.train_loss_n = 0.0, 0

    def _copy_state(self) -> dict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def next_batch(self, batch: int) -> torch.Tensor:
        if self.pos >= self.n:  # new epoch, new order
            self.order = torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        idx = self.order[self.pos:self.pos + batch]
        self.pos += batch
        return idx

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(), "opt": self.opt.state_dict(),
            "gen": self.gen.get_state(), "order": self.order, "pos": self.pos, "step": self.step,
            "best": self.best, "mark": self.mark, "bad_evals": self.bad_evals, "history": self.history,
            "train_loss": (self.train_loss_sum, self.train_loss_n),
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "rng": torch.get_rng_state(),  # a plugin family's dropout draws from torch's global generator
        }

    def load_state_dict(self, s: dict) -> None:
        self.model.load_state_dict(s["model"])
        self.opt.load_state_dict(s["opt"])
        self.gen.set_state(s["gen"])
        self.order, self.pos, self.step = s["order"], s["pos"], s["step"]
        self.best, self.mark, self.bad_evals, self.history = s["best"], s["mark"], s["bad_evals"], s["history"]
        self.train_loss_sum, self.train_loss_n = s["train_loss"]
        if self.schedule is not None:
            self.schedule.load_state_dict(s["schedule"])
        torch.set_rng_state(s["rng"])


def train_loop(trial: Trial, x_train, y_train, val, cfg: dict, rule: dict, batch: int,
               progress: Progress, ckpt_path: Path, fingerprint: dict, preempted: dict, loss_terms=None) -> str:
    """Train until early stopping, the budget, or divergence; returns which one ended it.
    `loss_terms`: the family's own loss (models/__init__.py), None for cross-entropy."""
    model = trial.model
    budget = rule["budget"]
    last_ckpt = time.perf_counter()
    model.train()
    while trial.step < budget:
        idx = trial.next_batch(batch)
        with devices.autocast(x_train.device, cfg["precision"]):
            loss = batch_loss(model, x_train[idx], y_train[idx], loss_terms)
        if not torch.isfinite(loss):
            return "diverged"
        trial.opt.zero_grad()
        loss.backward()
        lr = trial.opt.lr  # the rate this step used (history shows it)
        trial.opt.step()
        if trial.per_step:
            trial.schedule.step()
        trial.step += 1
        trial.train_loss_sum += loss.item()
        trial.train_loss_n += 1
        if trial.step % rule["eval_every"] and trial.step != budget:
            continue

        val_loss, val_error = evaluate(model, *val, cfg["precision"], loss_terms)
        if not math.isfinite(val_loss):
            return "diverged"
        row = {"step": trial.step, "lr": lr, "train_loss": trial.train_loss_sum / trial.train_loss_n,
               "val_loss": val_loss, "val_error": val_error}
        trial.history.append(row)
        trial.train_loss_sum, trial.train_loss_n = 0.0, 0
        if val_loss < trial.best["val_loss"]:  # the best weights: any improvement
            trial.best = {"val_loss": val_loss, "step": trial.step, "state": trial._copy_state()}
        if val_loss < trial.mark * (1 - cfg["min_rel_delta"]):  # patience: a real improvement
            trial.mark, trial.bad_evals = val_loss, 0
        else:
            trial.bad_evals += 1
        if trial.schedule is not None and not trial.per_step:
            trial.schedule.step(val_loss)
        progress.line(f"step {trial.step:6d}  train_loss {row['train_loss']:.4f}  val_loss {val_loss:.4f}  "
                      f"val_error {val_error:.4f}  best@{trial.best['step']}")
        progress.update(trial.step, f"val_loss {val_loss:.4f}")
        if trial.bad_evals >= rule["patience"]:
            return "early"
        if preempted["flag"] or time.perf_counter() - last_ckpt > CHECKPOINT_SECONDS:
            store.save_state(ckpt_path, fingerprint, trial.state_dict())
            last_ckpt = time.perf_counter()
            if preempted["flag"]:
                progress.line(f"SIGTERM: checkpoint saved at step {trial.step}; rerun to resume")
                raise SystemExit(143)
    return "budget"


def resume(trial: Trial, path: Path, fingerprint: dict, device, progress: Progress) -> int:
    """Load the trial's state from `path` if it was saved with the same fingerprint; the step it
    resumes from (0: start over)."""
    state = store.load_state(path, fingerprint, device, progress.line)
    if state is None:
        return 0
    trial.load_state_dict(state)
    return trial.step


def load_sets(heldout_dir: str, info: dict, info_path: str, shard_dir: str, device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The shard's training examples and the whole validation and test sets, on `device`; each
    is checked against the checksum its step recorded first."""
    arrays = load_heldout(heldout_dir, info, info_path)
    sets = {"train": load_shard(shard_dir)}
    sets["val"], sets["test"] = [(arrays[f"{split}_x"], arrays[f"{split}_y"]) for split in ("val", "test")]
    return {name: (torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for name, (x, y) in sets.items()}


class TrialGroup:
    """What the trials of one process share: params, device, data and the store. The data is
    loaded once, and only if some trial has to train."""

    def __init__(self, params: dict, heldout_dir: str, info_path: str, shard_dir: str, store_root: str | None):
        self.params, self.cfg = params, params["train"]
        self.heldout_dir, self.info_path, self.shard_dir = heldout_dir, info_path, shard_dir
        self.device = devices.pick(self.cfg["device"], self.cfg["precision"],
                                   log=lambda text: print(text, file=sys.stderr, flush=True))
        set_determinism(self.device)
        self.info = io.read_json(info_path)
        shard_info = Path(shard_dir) / SHARD_INFO
        self.n = io.read_json(shard_info)["examples"]
        self.m = self.n * self.info.get("tokens_per_example", 1)  # the shard's size in the data's unit
        self.store = store.Store(store_root, params, info_path, shard_info, self.device.type, self.m)

    @functools.cached_property
    def sets(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return load_sets(self.heldout_dir, self.info, self.info_path, self.shard_dir, self.device)

    def fingerprint(self, k: int, family: str, module: str, width: int, lr: float, seed: int,
                    train_cfg: dict | None = None) -> dict:
        """The trial's fingerprint under this group's train settings (or `train_cfg`)."""
        return self.store.fingerprint(k, family, module, width, lr, seed, self.cfg if train_cfg is None else train_cfg)


def run_family(params: dict, heldout_dir: str, info_path: str, shard_dir: str, k: int, family: str, out_dir: str,
               store_root: str | None = None) -> list[dict]:
    """Every trial of `family` on shard k, one after another in one process (one start-up for all),
    each into out_dir/<trial name>: one job under Snakemake and DVC alike. Each trial seeds
    itself, so it gives the same bytes as when it runs alone. With a store, a trial finished
    before (by a job that was killed, or before a grid edit) is copied from it, not retrained."""
    group = TrialGroup(params, heldout_dir, info_path, shard_dir, store_root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [run_trial(group, k, family, t["width"], t["lr"], t["seed"], out / t["name"])
            for t in study.trials_for_shard(params, k, family)]


def run(params: dict, heldout_dir: str, info_path: str, shard_dir: str, k: int, family: str,
        width: int, lr: float, seed: int, out_dir: str, store_root: str | None = None, origin: dict | None = None) -> dict:
    """One trial alone: the same bytes as the same trial inside a group. `origin` (the audit's):
    {"train": the original run's train settings, "store": where it trained}: go on from its last
    state when this run would repeat it (continuable), else train from the start."""
    group = TrialGroup(params, heldout_dir, info_path, shard_dir, store_root)
    return run_trial(group, k, family, width, lr, seed, Path(out_dir), origin)


def continue_original(trial: Trial, group: TrialGroup, origin: dict, key: tuple, progress: Progress) -> int:
    """Load the original run's last state (key: k, family, module, width, lr, seed under
    origin["train"], from origin["store"]) if this run repeats it up to there; the step it goes
    on from (0: from the start)."""
    if not continuable(origin["train"], group.cfg, group.n):
        return 0
    k, family, _, width, lr, seed = key
    fingerprint = group.fingerprint(*key, train_cfg=origin["train"])
    path = store.folder(Path(origin["store"]), k, family, study.trial_name(width, lr, seed), fingerprint) / store.FINAL
    step = resume(trial, path, fingerprint, group.device, progress)
    if step:
        progress.line(f"going on from step {step}, where the original run stopped early (same steps up to there)")
    return step


def run_trial(group: TrialGroup, k: int, family: str, width: int, lr: float, seed: int, out: Path,
              origin: dict | None = None) -> dict:
    params, cfg, device = group.params, group.cfg, group.device
    module = study.family_module(params, family)
    shard = study.shard_name(k)
    name = f"{shard} (m={group.m}) {family} w{width} lr{lr} s{seed}"
    fingerprint = group.fingerprint(k, family, module, width, lr, seed)
    work = group.store.work_dir(k, family, study.trial_name(width, lr, seed), fingerprint, out)
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

    torch.manual_seed(seed)  # initial weights
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
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
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
