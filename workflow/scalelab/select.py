"""Step `select`: every trial in one table, and the best configuration of each shard.

The paper's rule: for each shard, the (width, lr) configuration with the lowest MEDIAN over
seeds of its minimum validation loss (train restores the best weights, so a trial's val_loss
is that minimum). The best row reports the configuration's medians over seeds for every
metric. Failed (diverged) trials are listed but never selected.

Writes results/tables/trials.csv (all trials) and results/tables/best.csv (one row per shard).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from . import config, io
from .errors import ScalelabError

METRICS = ["train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error"]
TRIAL_COLUMNS = ["shard", "k", "size", "family", "width", "lr", "seed", "params", "status", "stopped",
                 "steps", "best_step", "budget"] + METRICS


def select_best(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Pure: one row per shard, the configuration with the lowest median `metric` over seeds.
    Ties go to the smaller model, then the smaller learning rate."""
    ok = trials[trials["status"] == "ok"]
    configs = (
        ok.groupby(["shard", "k", "size", "width", "lr"], as_index=False)
        .agg(params=("params", "first"), n_seeds=("seed", "nunique"),
             **{m: (m, "median") for m in METRICS})
    )
    configs = configs.sort_values(["k", metric, "params", "lr"], kind="mergesort")
    best = configs.groupby("k", as_index=False).head(1).reset_index(drop=True)
    best.insert(best.columns.get_loc("n_seeds") + 1, "select_metric", metric)
    return best


def collect(params: dict, trials_dir: str | Path) -> pd.DataFrame:
    """Read the metrics of exactly the trials params.yaml defines (stale folders are ignored)."""
    rows = []
    for name, k in zip(config.shard_sizes(params), sorted(params["shards"]["exponents"])):
        for t in config.trials_for_shard(params, k):
            path = Path(trials_dir) / name / t["name"] / "metrics.json"
            if not path.exists():
                raise ScalelabError(f"{path}: missing; run the pipeline (snakemake or dvc repro) so every trial is trained")
            rows.append(io.read_json(path))
    return pd.DataFrame(rows)[TRIAL_COLUMNS]


def run(params: dict, trials_dir: str, out_dir: str) -> pd.DataFrame:
    trials = collect(params, trials_dir)
    best = select_best(trials, params["select"]["metric"])
    # A winner at the largest width may only be the largest that was tried: the model-size
    # law is censored there, and the summary says so.
    best["at_grid_edge"] = best["width"] == max(params["grid"]["width"])
    missing = sorted(set(trials["shard"]) - set(best["shard"]), key=lambda s: int(s[1:]))
    if missing:
        print(f"scalelab select: every trial of shard(s) {', '.join(missing)} failed; those shards are left out", file=sys.stderr)
    io.write_csv(Path(out_dir) / "trials.csv", trials)
    io.write_csv(Path(out_dir) / "best.csv", best)
    return best
