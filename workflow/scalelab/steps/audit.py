"""Step `audit`: does the learning curve measure the data, or the stopping rule?

Re-trains each family's best configuration (every seed of it) on the `audit.shards` largest
shards with `audit.factor` times the patience and the step budget, and compares the fitted
metric (params fit.metric, median over seeds) before (best.csv) and after. A relative change
above `audit.threshold` says the shard's point is under-trained: the stopping rule, not the
data, set it. The largest shards are where stopping too early shows most. Since the longer run
follows the original step for step until the original stopped, it goes on from the original's
last state (kept in the trial store, store.FINAL) when there is one: the same bytes for a fraction
of the training.

Writes results/audit.json:
  {"metric": "test_error", "factor": 2, "threshold": 0.05, "verdict": "converged" | "under-trained",
   "rows": [{"family", "shard", "k", "size", "width", "lr", "seeds", "before", "after", "change",
             "verdict", "budget_stopped"}, ...]}          (families in best.csv's order, shards ascending)
`change` is (after - before) / before; `budget_stopped` counts the re-trained seeds that even the
larger budget stopped while improving. The re-trained trials go to results/audit/k<k>/<family>/<trial>.
"""

from __future__ import annotations

import copy
import csv
import math
import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from scalelab import io, study
from scalelab.errors import ScalelabError


def audit_train_config(train_cfg: dict, factor: float) -> dict:
    """The train section with `factor` times the patience and the step budget, and the same
    learning-rate cuts: plateau_patience is a fraction of the stopping patience, so it is divided
    by `factor`. The re-trained run then follows the original step for step until the original
    stopped, and only goes on longer: the audit asks "would waiting have helped?", not "would
    another schedule?" (a later first cut changed the MLP's test error by 30% on the default study)."""
    cfg = dict(train_cfg)
    for key in study.PATIENCE_AND_BUDGET:
        value = train_cfg[key] * factor
        cfg[key] = math.ceil(value) if isinstance(train_cfg[key], int) else value
    cfg["plateau_patience"] = train_cfg["plateau_patience"] / factor
    return cfg


def can_wait_longer(params: dict, family: str) -> bool:
    """Whether a longer run of the family can be asked for: scalelab's loop, a trainer function
    that stops through trial.report (models.<family>.patience, scaled), or a command that takes
    {patience_factor}. Any other trainer would train the same run again: nothing to compare."""
    spec, kind = params["models"][family], study.trainer_kind(params, family)
    return kind is None or (kind == "trainer" and "patience" in spec) or (kind == "command" and "{patience_factor}" in spec["command"])


def targets(best: list[dict], exponents: list[int], families: list[str] | None = None) -> list[dict]:
    """Pure: the best rows to re-train: each family's (of `families`, default all) on the audited
    shards (study.audited_exponents)."""
    rows = []
    for family in dict.fromkeys(r["family"] for r in best if families is None or r["family"] in families):
        rows += sorted((r for r in best if r["family"] == family and int(r["k"]) in exponents), key=lambda r: int(r["k"]))
    return rows


def compare(before: float, after: float | None, threshold: float) -> dict:
    """Pure: relative change from before to after, and the verdict on it."""
    if after is None or before is None or not math.isfinite(after):
        return {"change": None, "verdict": "failed"}
    change = (after - before) / before if before else (0.0 if after == before else math.inf)
    return {"change": change, "verdict": "converged" if abs(change) <= threshold else "under-trained"}


def summarise(rows: list[dict], metric: str, factor: float, threshold: float) -> dict:
    """Pure: the audit.json document from its rows (each already compared)."""
    verdict = "under-trained" if any(r["verdict"] != "converged" for r in rows) else "converged"
    return {"metric": metric, "factor": factor, "threshold": threshold, "verdict": verdict, "rows": rows}


def read_best(path: str | Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        raise ScalelabError(f"{path}: missing; run select first (snakemake or dvc repro)") from None


def default_jobs(params: dict) -> int:
    """Parallel re-trainings when not told: one per usable core on CPU (each trial keeps one
    thread), one where a GPU will train them (they would share it)."""
    from scalelab.training import device

    on_gpu = params["train"]["device"] == "cuda" or (params["train"]["device"] == "auto" and device.visible_gpus())
    return 1 if on_gpu else len(os.sched_getaffinity(0))


def train_all(tasks: list[tuple], jobs: float) -> list[dict]:
    """train.run on each task's arguments, `jobs` at a time in their own processes (spawned: a
    forked torch is unsafe; each claims its own GPU); results in the tasks' order, so the bytes
    never depend on `jobs`. In this process the runs share one GPU claim, held for the whole audit:
    the process keeps its CUDA memory on that GPU between runs, so no other job may take it then."""
    from scalelab.steps import train  # torch: imported only when training
    from scalelab.training.device import Devices

    if jobs <= 1 or len(tasks) <= 1:
        with Devices(log=lambda text: print(text, file=sys.stderr, flush=True)) as gpus:
            return [train.run(*t, gpus=gpus) for t in tasks]
    with ProcessPoolExecutor(int(min(jobs, len(tasks))), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(train.run, *zip(*tasks)))


def _number(cell: str):
    """A best.csv cell as its number (None when blank: a trainer's grid may have no lr)."""
    if cell in ("", None):
        return None
    value = float(cell)
    return int(value) if value.is_integer() and "." not in cell else value


def run(params: dict, best_path: str, heldout_dir: str, info_path: str, shards_dir: str, out_dir: str, out: str,
        jobs: int | None = None, store: str | None = None) -> dict:
    cfg = params["audit"]
    metric = params["fit"]["metric"]
    patient = copy.deepcopy(params)
    patient["train"] = audit_train_config(params["train"], cfg["factor"])
    seeds = list(params["grid"]["seed"])
    patient_families = [f for f in study.families(params) if can_wait_longer(params, f)]
    for family in sorted(set(params["models"]) - set(patient_families)):
        print(f"audit: {family} not audited: its trainer cannot be asked for a longer run (give it patience:, "
              "or pass {patience_factor} to its command)", file=sys.stderr)
    chosen = targets(read_best(best_path), study.audited_exponents(params), patient_families)
    # The longer run repeats the original step for step until it stopped: it goes on from the
    # original's last state in the store where there is one (same bytes, a fraction of the time).
    origin = {"train": params["train"], "store": store} if store else None

    def task(row: dict, seed: int) -> tuple:  # train.run's arguments for one seed of a chosen config
        k, config = int(row["k"]), study.config_of_row(params, row["family"], row)
        shard = study.shard_name(k)
        # A trainer is told the factor (Trial.patience_factor, {patience_factor}); the loop gets `patient`.
        return (patient, heldout_dir, info_path, str(Path(shards_dir) / shard), k, row["family"], config, seed,
                str(Path(out_dir) / shard / row["family"] / study.trial_name(config, seed)), None, origin,
                cfg["factor"] if study.trainer_kind(params, row["family"]) else 1)

    finished = train_all([task(row, seed) for row in chosen for seed in seeds], min(jobs or math.inf, default_jobs(params)))
    rows = []
    for i, row in enumerate(chosen):
        trials = finished[i * len(seeds):(i + 1) * len(seeds)]
        values = [v for t in trials if t["status"] == "ok" and (v := study.metric_value(t, metric)) is not None]
        before = float(row[metric])
        after = statistics.median(values) if values else None
        rows.append({"family": row["family"], "shard": row["shard"], "k": int(row["k"]), "size": int(row["size"]),
                     "width": _number(row["width"]), "lr": _number(row["lr"]), "seeds": seeds, "before": before, "after": after,
                     **compare(before, after, cfg["threshold"]),
                     "budget_stopped": sum(t["stopped"] == "budget" for t in trials)})
    audit = summarise(rows, metric, cfg["factor"], cfg["threshold"])
    io.write_json(out, audit)
    # The log shows the verdict; summary.md renders the table (report_sections.audit_markdown).
    for r in rows:
        print(f"audit {r['family']} m={r['size']}: {r['before']:.4g} -> {r['after']}, {r['verdict']}", file=sys.stderr)
    print(f"audit: {audit['verdict']}", file=sys.stderr)
    return audit
