"""One trial trained by the family's own trainer (models.<family>.trainer or .command), with the
same folder, store and metrics.json as a trial of scalelab's loop, so select, the audit and every
later step read it the same way.

The trial trains in its store folder (store.py): the trainer's checkpoint folder lives there, so a
preempted job's rerun hands it back, and a finished trial is copied, not retrained, while its
fingerprint (grid values, seed, the trainer's settings and code files, the data) holds. A failed
trial is written to its own folder only, not the store: a rerun (snakemake --forcerun, dvc repro
-f) tries it again, after a fix or on a machine with more memory.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from scalelab import __version__, io, study
from scalelab.training import device as devices
from scalelab.training import store, trainer

# What metrics.json holds besides a trainer's own train_/val_/test_ metrics (select's TRIAL_COLUMNS).
STANDARD = [f"{split}_{kind}" for split in ("train", "val", "test") for kind in ("loss", "error")]
# The train settings a trainer's trial depends on (the rest are scalelab's loop's own).
TRAIN_KEYS = ("precision", "min_rel_delta")


def fingerprint(group, k: int, family: str, config: dict, seed: int, patience_factor: float = 1) -> dict:
    spec = group.params["models"][family]
    how = {kind: spec[kind] for kind in ("trainer", "command", "patience") if kind in spec}
    if patience_factor != 1:  # the audit's longer run is another trial
        how["patience_factor"] = patience_factor
    return group.store.fingerprint(k, family, how, list(config.items()), seed,
                                   {key: group.cfg[key] for key in TRAIN_KEYS})


def run(group, k: int, family: str, config: dict, seed: int, out: Path, patience_factor: float = 1) -> dict:
    """Train one trial with the family's trainer into `out`; its metrics.json as a dict."""
    params, spec = group.params, group.params["models"][family]
    name = study.trial_name(config, seed)
    label = f"{study.shard_name(k)} (m={group.m}) {family} {name}"
    key = fingerprint(group, k, family, config, seed, patience_factor)
    work = group.store.work_dir(k, family, name, key, out)
    if (done := store.copy_if_finished(work, out, label)) is not None:
        return done
    work.mkdir(parents=True, exist_ok=True)
    manifest = (group.info.get("dataset_info") or {}).get("manifest")
    trial = trainer.Trial(
        family=family, hparams=config, seed=seed, indices=group.indices["train"], val_indices=group.indices["val"],
        test_indices=group.indices["test"], manifest=os.path.abspath(manifest) if manifest else None,
        device=_device_name(group, spec), precision=group.cfg["precision"], work=work, patience=spec.get("patience"),
        min_rel_delta=group.cfg["min_rel_delta"], patience_factor=patience_factor)
    resumed = any(trial.checkpoint_dir.iterdir())
    print(f"train {label}: {'trainer ' + spec['trainer'] if 'trainer' in spec else 'command'}, device {trial.device}"
          + (", resuming from its checkpoint folder" if resumed else ""), file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        result, status, reason = _train(group, spec, trial, k), "ok", ""
    except trainer.Preempted:
        print(f"SIGTERM: {label} stopped; its checkpoint folder stays in {trial.checkpoint_dir}; rerun to resume",
              file=sys.stderr, flush=True)
        raise SystemExit(143) from None
    except trainer.TrialFailed as failure:
        result, status, reason = {}, "failed", str(failure)
        print(f"train {label}: failed: {reason}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    metrics = _metrics(params, family, config, seed, k, group.m, trial.history, result, status, reason)
    if not trial.history_path.exists():
        trainer.write_history(trial.history_path, [])
    _write_run(work, group, trial, seconds, resumed)
    if status != "ok":  # not in the store: a rerun tries again
        store.publish(work, out)
        io.write_json(out / "metrics.json", metrics)
        return metrics
    io.write_json(work / "metrics.json", metrics)  # last: its presence means the trial is done
    shutil.rmtree(trial.checkpoint_dir, ignore_errors=True)
    store.publish(work, out)
    return metrics


def _device_name(group, spec: dict) -> str:
    """The device the trainer is told: a command sees only the claimed GPU (CUDA_VISIBLE_DEVICES
    set to it), so for a command that GPU is cuda:0."""
    return "cuda:0" if group.device_type == "cuda" and "command" in spec else group.device


def _train(group, spec: dict, trial: trainer.Trial, k: int) -> dict:
    if "trainer" in spec:
        return trainer.run_function(trainer.load_function(spec["trainer"]), trial)
    files = {}
    for split, field in (("train", "indices"), ("val", "val_indices"), ("test", "test_indices")):
        files[field] = str(trial.out_dir.parent / f"{field}.txt")
        trainer.write_indices(Path(files[field]), group.indices[split])
    fields = {**trial.hparams, **files, "manifest": str(trial.manifest or ""), "out": str(trial.out_dir),
              "checkpoint": str(trial.checkpoint_dir), "device": trial.device, "precision": trial.precision,
              "seed": trial.seed, "k": k, "size": group.n, "family": trial.family, "patience_factor": trial.patience_factor}
    env = {"CUDA_VISIBLE_DEVICES": group.gpus.visible()} if group.device_type == "cuda" else {}
    return trainer.run_command(spec["command"], fields, trial, env)


def _metrics(params: dict, family: str, config: dict, seed: int, k: int, m: int, history: list[dict], result: dict,
             status: str, reason: str) -> dict:
    """metrics.json in the layout select reads: the trial, then the trainer's metrics (the
    standard ones None where it gave none; its other train_/val_/test_ numbers kept)."""
    best = trainer.best_row(history)
    extra = {key: value for key, value in sorted(result.items())
             if key.startswith(("train_", "val_", "test_")) and key not in STANDARD and _is_number(value)}
    return {
        "status": status, "stopped": str(result.get("stopped", "trainer")), "reason": reason,
        "shard": study.shard_name(k), "k": k, "size": m, "family": family,
        **study.table_columns(params, family, config), "seed": seed,
        "params": result.get("params"),
        "steps": result.get("steps", history[-1]["step"] if history else None),
        "best_step": result.get("best_step", best["step"] if best else None), "budget": result.get("budget"),
        **{key: _value(result.get(key)) for key in STANDARD}, **extra,
    }


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value(value):
    return float(value) if _is_number(value) and math.isfinite(value) else None


def _write_run(work: Path, group, trial: trainer.Trial, seconds: float, resumed: bool) -> None:
    io.write_json(work / "run.json", {
        "seconds": seconds, "resumed": resumed, "device": trial.device, "device_name": _describe(group),
        "precision": trial.precision, "cuda_visible_devices": group.gpus.visible(), "threads": 1,
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "host": platform.node(),
        "versions": {"scalelab": __version__, "python": platform.python_version()},
    })


def _describe(group) -> str:
    """The device's name for run.json, without torch: the GPU's id (its name is torch's to give),
    or the CPU's model."""
    return f"GPU {group.gpus.gpu}" if group.device_type == "cuda" else devices.describe(group.device)
