"""Step `select`: every trial in one table, and the best configuration of each shard.

The paper's rule: for each family and shard, the configuration (width and lr, or a trainer's own
grid: hp_<key> columns) with the lowest MEDIAN over seeds of its minimum validation loss (train
restores the best weights, so a trial's val_loss is that minimum). The best row reports the
configuration's medians over seeds for every metric. Failed trials (diverged; a trainer's failure,
or its metrics without select.metric or fit.metric: `reason` says which) are listed but never
selected. `budget_stopped` counts the chosen configuration's seeds that the step budget stopped
(train stops a run on the budget only while it is still improving): above 0, the shard's point
measures the budget, not the data.

Writes results/tables/trials.csv (all trials) and results/tables/best.csv (one row per family and
shard, families in params.yaml's order), and results/tables/timing.csv (each trial's wall-clock
seconds and device, from its run.json: the one table that differs between two runs). Losses are in nats; the *_bits columns give them in bits
(per character, for a character-level language model).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

from scalelab import io, study
from scalelab.decisions import cost
from scalelab.errors import ScalelabError

SCORED_SPLITS = ("train", "val", "test")  # what every trial is scored on: its shard, validation, test
METRICS = [f"{split}_{kind}" for split in SCORED_SPLITS for kind in ("loss", "error", "bits")]
TRIAL_COLUMNS = ["shard", "k", "size", "family", "width", "lr", "seed", "params", "status", "stopped",
                 "steps", "best_step", "budget"] + METRICS
OPTIONAL = {"reason": ""}  # why a trial failed (a trainer's exit code, a missing metric); older trials lack it



def extra_metrics(trials: pd.DataFrame) -> list[str]:
    """Metrics a model family adds to its trials (models/__init__.py: extra_metrics), e.g. the
    translators' test_bleu: kept in trials.csv and best.csv after the standard ones."""
    return sorted(c for c in trials.columns if c.startswith(tuple(f"{s}_" for s in SCORED_SPLITS)) and c not in METRICS)


def select_best(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Pure: one row per family and shard, the configuration with the lowest median `metric` over
    seeds. Ties go to the smaller model, then the smaller learning rate. Families keep the order
    in which they first appear in `trials`."""
    ok = trials[trials["status"] == "ok"]
    order = {family: i for i, family in enumerate(dict.fromkeys(trials["family"]))}
    configs = (
        # dropna=False: a trainer's grid may lack lr (or another family's keys): NaN is a value here
        ok.groupby(["family", "shard", "k", "size", *study.grid_columns(trials.columns)], as_index=False, sort=False, dropna=False)
        .agg(params=("params", "first"), n_seeds=("seed", "nunique"),
             budget_stopped=("stopped", lambda s: int((s == "budget").sum())),
             **{m: (m, "median") for m in METRICS + extra_metrics(ok) if m in ok})
    )
    configs["_family"] = configs["family"].map(order)
    configs = configs.sort_values(["_family", "k", metric, "params", "lr"], kind="mergesort")
    best = configs.groupby(["_family", "k"], as_index=False).head(1).drop(columns="_family").reset_index(drop=True)
    best.insert(best.columns.get_loc("n_seeds") + 1, "select_metric", metric)
    return best


def checked_metrics(row: dict, path: Path) -> dict:
    """A trial's metrics.json as train writes it, or a one-line error naming the file: a
    hand-edited file must not become a silently wrong point on the curve."""
    stored = [c for c in TRIAL_COLUMNS if not c.endswith("_bits")]
    missing = [c for c in stored if c not in row] if isinstance(row, dict) else stored
    wrong = [m for m in METRICS if m in row and not (row[m] is None or isinstance(row[m], (int, float)))] if not missing else []
    if missing or wrong:
        what = f"no {', '.join(missing)}" if missing else f"{', '.join(wrong)} not a number"
        raise ScalelabError(f"{path}: {what}; not a trial's metrics as train writes them: delete the trial's folder "
                            "and rerun (snakemake or dvc repro train it again)")
    return row


def required_metrics(row: dict, names: list[str]) -> dict:
    """A trial without a metric the study needs (select.metric, fit.metric: a trainer decides what
    it reports) fails, with the reason in trials.csv; the study goes on without it."""
    missing = [name for name in names if row["status"] == "ok" and not _finite(study.metric_value(row, name))]
    if missing:
        return {**row, "status": "failed", "reason": f"metrics.json has no finite {' or '.join(missing)}"}
    return row


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def collect(params: dict, trials_dir: str | Path) -> pd.DataFrame:
    """Read the metrics of exactly the trials params.yaml defines (stale folders are ignored)."""
    rows, needed = [], list(dict.fromkeys([params["select"]["metric"], params["fit"]["metric"]]))
    for t in study.all_trials(params):
        path = Path(trials_dir) / t["dir"] / "metrics.json"
        if not path.exists():
            raise ScalelabError(f"{path}: missing; run the pipeline (snakemake or dvc repro) so every trial is trained")
        rows.append(required_metrics({**OPTIONAL, **checked_metrics(io.read_json(path), path)}, needed))
    trials = pd.DataFrame(rows)
    for split in SCORED_SPLITS:
        trials[f"{split}_bits"] = study.bits(trials[f"{split}_loss"])
    # Families in params.yaml's order, then shards: the order every table and figure uses.
    family_order = {family: i for i, family in enumerate(study.families(params))}
    trials = trials.sort_values(["family", "k"], key=lambda c: c.map(family_order) if c.name == "family" else c, kind="mergesort")
    columns = TRIAL_COLUMNS[:6] + study.grid_columns(trials.columns)[2:] + TRIAL_COLUMNS[6:10] + list(OPTIONAL) + TRIAL_COLUMNS[10:]
    return trials[columns + extra_metrics(trials)].reset_index(drop=True)


def timings(params: dict, trials_dir: str | Path) -> pd.DataFrame:
    """What each trial's training took (its run.json): seconds, device, threads; NaN seconds for a
    trial that left none (it failed before the end)."""
    rows = []
    for t in study.all_trials(params):
        path = Path(trials_dir) / t["dir"] / "run.json"
        run = io.read_json(path) if path.exists() else {}
        rows.append({"family": t["family"], "k": t["k"], "size": params["shards"]["base"] ** t["k"],
                     **study.table_columns(params, t["family"], t["config"]),
                     "seed": t["seed"], "seconds": run.get("seconds", math.nan), "device": run.get("device"),
                     "device_name": run.get("device_name"), "threads": run.get("threads")})
    frame = pd.DataFrame(rows)  # TIMING_COLUMNS, with a trainer's other grid keys after width and lr
    return frame.reindex(columns=cost.TIMING_COLUMNS[:3] + study.grid_columns(frame.columns) + cost.TIMING_COLUMNS[5:])


def at_grid_edge(best: pd.DataFrame, params: dict) -> list[bool]:
    """Pure: whether each best row's width (size knob) is the widest or the narrowest of its family's
    grid. Such a winner may only be the widest (narrowest) that was tried: the model-size law is
    censored there, and the summary says so."""
    knobs = {family: params["models"][family][study.size_key(params, family)] for family in params["models"]}
    edges = {family: (min(values), max(values)) for family, values in knobs.items()}
    return [width in edges[family] for family, width in zip(best["family"], best["width"])]


def run(params: dict, trials_dir: str, out_dir: str) -> pd.DataFrame:
    trials = collect(params, trials_dir)
    best = select_best(trials, params["select"]["metric"])
    best["at_grid_edge"] = at_grid_edge(best, params)
    missing = sorted(set(zip(trials["family"], trials["shard"])) - set(zip(best["family"], best["shard"])))
    if missing:
        print(f"scalelab select: every trial of {', '.join(f'{f} {s}' for f, s in missing)} failed; left out", file=sys.stderr)
    io.write_csv(Path(out_dir) / "trials.csv", trials)
    io.write_csv(Path(out_dir) / "best.csv", best)
    # Wall-clock seconds differ between two runs of one study: a table of their own, so trials.csv
    # and best.csv (and everything fitted on them) stay the same bytes.
    io.write_csv(Path(out_dir) / "timing.csv", timings(params, trials_dir))
    return best
