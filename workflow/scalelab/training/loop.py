"""The training loop of scalelab's built-in families: one early-stopped run of one model on one
shard (Trial, train_loop), evaluation in bounded memory, and resuming from a checkpoint.

The stopping rule (stopping.py) is in units of data, so a large shard is judged over as many
passes as a small one; the best weights are kept, and a run stops on patience (`early`) or when
the step budget is spent (`budget`: by construction the run was still improving then, and select
flags its shard). The learning rate follows `schedule` (torch.optim.lr_scheduler: constant,
warm-up + cosine to the budget, or reduce-on-plateau). A loss that turns NaN or infinite ends the
run as `diverged`: it is recorded, and selection leaves it out. The step that runs trials is
scalelab.steps.train.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from scalelab.datasets import IGNORE
from scalelab.training import device as devices
from scalelab.training import store
from scalelab.training.adam import Adam
from scalelab.training.progress import Progress
from scalelab.training.stopping import make_schedule

EVAL_TOKENS = 4096  # tokens (examples x positions) per forward pass when evaluating: bounds memory
CHECKPOINT_SECONDS = 30.0  # wall time between checkpoints; SIGTERM also writes one
CUBLAS_CONFIG = "CUBLAS_WORKSPACE_CONFIG"


@contextlib.contextmanager
def deterministic(device: torch.device):
    """Deterministic kernels for the trials run inside, and the caller's settings back after them:
    a process that trains a group of trials, then does other work, gets its threads and flags back."""
    if device.type == "cpu":
        # One thread per job: jobs run side by side, one per core, which beats threads. With
        # one thread the CPU kernels are deterministic already; use_deterministic_algorithms
        # would import torch's compiler stack (2.6 s a job) for nothing.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
        return
    cudnn = torch.backends.cudnn
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             cudnn.benchmark, cudnn.deterministic, os.environ.get(CUBLAS_CONFIG))
    # cuBLAS reads its workspace setting from the environment only, when it first runs on the GPU:
    # set for the trials (unless the caller chose one), restored after them.
    os.environ.setdefault(CUBLAS_CONFIG, ":4096:8")
    cudnn.benchmark, cudnn.deterministic = False, True
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        cudnn.benchmark, cudnn.deterministic = saved[2], saved[3]
        if saved[4] is None:
            os.environ.pop(CUBLAS_CONFIG, None)


@contextlib.contextmanager
def own_rng(device: torch.device):
    """torch's global random state for one trial: the caller's is put back after it, so a trial
    (which seeds it, and a resumed one restores it) changes neither the caller's random stream nor
    the next trial's. The trial still draws from the global generators, not a generator of its own:
    a plug-in family's dropout can only draw from those. On a GPU, that GPU is the current device
    for the trial, so a plug-in's `.cuda()` lands on the claimed GPU too."""
    if device.type != "cuda":
        with torch.random.fork_rng(devices=[]):
            yield
        return
    with torch.cuda.device(device), torch.random.fork_rng(devices=[device.index], device_type="cuda"):
        yield


def seed(device: torch.device, value: int) -> None:
    """Seed the global generators a trial draws from (the CPU's and its GPU's; torch.manual_seed
    would seed every GPU's, and own_rng puts back only the trial's own)."""
    torch.default_generator.manual_seed(value)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(value)


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
            # A plug-in family's dropout draws from torch's global generator (own_rng scopes it to the trial).
            "rng": torch.get_rng_state(),
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
