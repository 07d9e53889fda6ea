"""Step `train`: one trial = one training run on one shard; a trial group = every trial of one
family on one shard, one after another in one process, so the start-up (Python, imports, the
data) is paid once per group, not once per trial.

A trial runs either scalelab's own loop (training/loop_trial.py: the model module's network,
early stopping, the schedule, divergence) or the family's own trainer (training/own_trial.py: the
user's function or command, handed the example indices). A group of a trainer never imports torch.

Outputs in the trial folder:
  metrics.json  the results (losses and errors at the best step, sizes, steps). Deterministic:
                the same trial on the same machine gives the same bytes, whichever engine ran it
                and whether it ran alone or in a batch (each trial seeds itself).
  history.csv   one row per evaluation.
  model.pt      the best weights (scalelab's loop); trainer.log, a trainer's output.
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
import sys
from pathlib import Path

import numpy as np

from scalelab import __version__, io, study
from scalelab.pool import SHARD_INFO, load_heldout, load_shard
from scalelab.training import device as devices
from scalelab.training import own_trial, store


class TrialGroup:
    """What the trials of one process share: params, device, data and the store. The data is
    loaded once, and only if some trial has to train. Used as a context (`with TrialGroup(...) as
    group`): the GPU it claimed (unless the caller's `gpus` claimed it) and the kernel settings are
    given back at its end."""

    def __init__(self, params: dict, heldout_dir: str, info_path: str, shard_dir: str, store_root: str | None,
                 family: str, gpus: devices.Devices | None = None):
        self.params, self.cfg = params, params["train"]
        # A user's own trainer brings its framework: the group then never imports torch, and its
        # device is a name ("cpu", "cuda:0"), not a torch.device.
        self.own = study.trainer_kind(params, family) is not None
        self.heldout_dir, self.info_path, self.shard_dir = heldout_dir, info_path, shard_dir
        self._scope = contextlib.ExitStack()
        if gpus is None:
            gpus = self._scope.enter_context(devices.Devices(log=lambda text: print(text, file=sys.stderr, flush=True)))
        self.gpus = gpus
        try:
            self.device = (gpus.pick_for_trainer(self.cfg["device"]) if self.own
                           else gpus.pick(self.cfg["device"], self.cfg["precision"]))
        except BaseException:
            self._scope.close()  # a GPU claimed for a precision it lacks goes back at once
            raise
        self.info = io.read_json(info_path)
        shard_info = Path(shard_dir) / SHARD_INFO
        self.n = io.read_json(shard_info)["examples"]
        self.m = self.n * self.info.get("tokens_per_example", 1)  # the shard's size in the data's unit
        self.device_type = str(self.device).split(":")[0]
        self.store = store.Store(store_root, params, info_path, shard_info, self.device_type, self.m,
                                 versions=[__version__] if self.own else None)

    def __enter__(self) -> TrialGroup:
        if not self.own:
            from scalelab.training import loop

            self._scope.enter_context(loop.deterministic(self.device))
        return self

    def __exit__(self, *exc) -> None:
        self._scope.close()

    @functools.cached_property
    def sets(self) -> dict:
        """scalelab's loop's examples, as tensors on the device: {split: (x, y)}."""
        from scalelab.training import loop_trial

        return loop_trial.load_sets(self.heldout_dir, self.info, self.info_path, self.shard_dir, self.device)

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
    with TrialGroup(params, heldout_dir, info_path, shard_dir, store_root, family) as group:
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
    with TrialGroup(params, heldout_dir, info_path, shard_dir, store_root, family, gpus) as group:
        return run_trial(group, k, family, config, seed, Path(out_dir), origin, patience_factor)


def run_trial(group: TrialGroup, k: int, family: str, config: dict, seed: int, out: Path,
              origin: dict | None = None, patience_factor: float = 1) -> dict:
    """One trial of the group into `out`: scalelab's loop, or the family's own trainer
    (training/own_trial.py). scalelab's loop seeds torch's global generators and draws from them (a
    plug-in's dropout does); the caller's random state is put back after it (loop.own_rng)."""
    if group.own:
        return own_trial.run(group, k, family, config, seed, out, patience_factor)
    from scalelab.training import loop, loop_trial  # torch: only for scalelab's own loop

    with loop.own_rng(group.device):
        return loop_trial.run(group, k, family, config["width"], config["lr"], seed, out, origin)


