"""The trial store (.scalelab/trials/, train's `--store`): where trials train and stay once
finished, content-addressed by fingerprint.

Both engines delete a batch's folder before they run it again (Snakemake a killed job's outputs,
DVC a stage's outs), so a trial trains in the store, in a folder named after its fingerprint (its
trial, the train settings, the hash of the training code, data and shard, device type, versions),
and is copied to its own folder when finished. A rerun copies every trial the store holds with the
same fingerprint and trains only the rest: a job killed half-way resumes, and widening a grid
trains only the new trials.

A checkpoint (CHECKPOINT) is kept in that folder while the run is in progress, so a preempted job
resumes where it stopped instead of starting over; it is deleted when the trial is finished. Its
fingerprint is the folder's, so a resumed run ends with the same bytes as one that was never
interrupted. On the shards the convergence audit re-trains, a run that stopped early also leaves
its last state (FINAL): the audit's longer run repeats the original step for step until the
original stopped, so it continues from there instead of training it again (same bytes).

The store is only ever read by fingerprint: deleting it costs retraining, nothing else.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import sys
from pathlib import Path

from scalelab import __version__, io, study

# What a finished trial's folder holds, metrics.json last: it marks a finished trial. model.pt is
# scalelab's loop's; trainer.log a trainer's output (its own files stay in the store, trainer_out/).
TRIAL_FILES = ("history.csv", "model.pt", "trainer.log", "run.json", "metrics.json")
CHECKPOINT = ".checkpoint.pt"
FINAL = ".final.pt"  # the last state of a run that stopped early, for the audit to continue from


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Store:
    """One process's view of the store: the fingerprint of its trials (everything a finished
    trial's bytes depend on besides its own family, width, lr and seed) and where each trains."""

    def __init__(self, root: str | None, params: dict, info_path: str, shard_info: str | Path, device_type: str, m: int,
                 versions: list[str] | None = None):
        self.root = Path(root) if root else None
        self.params, self.m = params, m
        # The data and the versions (scalelab's, and torch's for its own loop); the code is hashed
        # per family (`code`).
        self.inputs = {"data": [sha256(info_path), sha256(shard_info)], "device": device_type,
                       "versions": versions if versions is not None else [__version__, _torch().__version__]}

    @functools.cache
    def code(self, family: str) -> str:
        """Hash of the training code as the engines list it (pipeline.py), with `family`'s own model
        module only: editing another family's module leaves this family's finished trials valid."""
        from scalelab.pipeline import code_files

        return hashlib.sha256(b"".join(sha256(f).encode() for f in code_files("train", self.params, family=family))).hexdigest()

    def fingerprint(self, k: int, family: str, module: str | None, config: list, seed: int, train_cfg: dict) -> dict:
        """`config`: the trial's grid values in order ([width, lr] for scalelab's loop); `module`: the
        family's model module, or how its own trainer runs."""
        return {"trial": [k, self.m, family, module, *config, seed], "train": train_cfg,
                "code": self.code(family), **self.inputs}

    def work_dir(self, k: int, family: str, name: str, fingerprint: dict, out: Path) -> Path:
        """Where the trial trains and keeps its checkpoint: in the store, under its fingerprint,
        where neither engine deletes it; without a store, its own folder."""
        return out if self.root is None else folder(self.root, k, family, name, fingerprint)

    def keeps_final(self, k: int) -> bool:
        """Whether a run on shard k keeps its last state for the audit (a shard the audit re-trains).
        It changes no trial's bytes, only what the store keeps."""
        return k in study.audited_exponents(self.params)


def copy_if_finished(work: Path, out: Path, label: str) -> dict | None:
    """A trial that finished before in the store (same fingerprint): copied to `out`, its metrics
    returned; None when it must train."""
    if work == out or not (work / "metrics.json").exists():
        return None
    print(f"train {label}: finished before with the same code, settings and data; copied from {work}", file=sys.stderr, flush=True)
    publish(work, out)
    return io.read_json(out / "metrics.json")


def folder(root: Path, k: int, family: str, name: str, fingerprint: dict) -> Path:
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    return root / study.shard_name(k) / family / name / key


def publish(work: Path, out: Path) -> None:
    """Copy a finished trial from its store folder to its own folder, metrics.json last."""
    if work == out:
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in TRIAL_FILES:
        if (work / name).exists():
            with io.atomic_path(out / name) as tmp:
                shutil.copyfile(work / name, tmp)


def _torch():
    import torch  # only scalelab's own loop saves states or names torch's version

    return torch


def save_state(path: Path, fingerprint: dict, state: dict) -> None:
    with io.atomic_path(path) as tmp:
        _torch().save({"fingerprint": fingerprint, "trial": state}, tmp)


def load_state(path: Path, fingerprint: dict, device, log) -> dict | None:
    """A state saved with the same fingerprint, or None (none, unreadable, or made otherwise)."""
    if not path.exists():
        return None
    try:
        saved = _torch().load(path, map_location=device, weights_only=False)
        same = saved["fingerprint"] == fingerprint
    except Exception as exc:  # unreadable or from an older layout: no use resuming from it
        log(f"checkpoint unreadable ({type(exc).__name__}); starting over")
        return None
    if not same:
        log("checkpoint made with other settings, device or versions; starting over")
        return None
    return saved["trial"]
