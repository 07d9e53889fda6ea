"""Step `predict`: what more data buys, what it costs, which model to train, and what to run next.

From the fitted laws: the error at k times the largest shard, the data needed for each target
error (half and a quarter of the largest shard's error unless params.yaml names targets), the
model size to train there (sizing.py), the training cost of each (cost.py, from the trials'
measured seconds), and the next experiment (plan.py). Every number carries a 95% interval:
predictions the forecast's (calibrated on real curves by the curve's own backtest, forecast.py),
the law's parameters the bootstrap's, costs the cost law's. Writes results/predictions.json and
results/cost.json: everything that rests on wall-clock seconds (the cost laws, fitted here once
and drawn by the figures step; the plan), so predictions.json stays the same bytes between two
runs. The report step turns both into the summary page and metrics.json.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from scalelab import io, study
from scalelab.curves import fit
from scalelab.curves.estimator import LearningCurve
from scalelab.decisions import cost, plan, sizing
from scalelab.steps import fit as fit_step

AUTO_TARGETS = (0.5, 0.25)  # without predict.target_errors: these fractions of the largest shard's error
PRICES = ("cost_per_hour", "cost_per_example")  # the reader's prices (predict section), both optional


def targets_for(cfg: dict, largest_error: float) -> tuple[list[float], bool]:
    """The target errors to predict the data for, and whether they were chosen from the curve."""
    if cfg.get("target_errors"):
        return list(cfg["target_errors"]), False
    return [float(f"{f * largest_error:.3g}") for f in AUTO_TARGETS], True


def size_answer(result: dict, trials: pd.DataFrame, family: str, metric: str, widths: list[int]) -> dict:
    """The model-size answer: the paper's law where it is measured, else the smallest size within
    the seed noise of the best at each shard and its trend with m (sizing.py)."""
    rows = sizing.per_shard(trials, family, metric, widths)
    start = result["power_law_start"]
    return {"law_measured": result["beta_p"] is not None, "censored": sizing.censoring(rows, start),
            "per_shard": rows, "trend": sizing.trend(rows, start), "noise_sigmas": sizing.NOISE_SIGMAS}


def predictions(result: dict, largest: int, multipliers: list[float], targets: list[float],
                family: str, info: dict, grid_params: int | None = None, sizes: dict | None = None) -> dict:
    """Errors at more data and data for target errors, with the model size to train there: the
    size law where it is measured, else the trend of the smallest size within noise (`sizes`,
    size_answer); `grid_params` (the largest model trained) marks a size beyond it."""
    size_law = result["size_samples"]
    unknown = {"params": None, "params_ci": None, "width": None, "beyond_grid": None, "size_from": None}

    def params_at(m: float) -> dict:
        if not math.isfinite(m):
            return unknown
        if result["beta_p"] is not None:
            p, p_ci, width, source = (result["alpha_p"] * m ** result["beta_p"], fit.interval(size_law[:, 0] * m ** size_law[:, 1]),
                                      None, "size law")
        elif sizes is not None:  # a flat trend names a grid width; a moving one, a count to turn into one
            trend = sizes["trend"]
            p, p_ci, width, source = sizing.params_at(trend, m), None, trend["width"], f"smallest within noise ({trend['kind']})"
        else:
            return unknown
        if width is None and family is not None:
            width = sizing.width_for_params(family, p, info["input_shape"], info["n_classes"])
        return {"params": p, "params_ci": p_ci, "width": width,
                "beyond_grid": bool(grid_params is not None and p > grid_params), "size_from": source}

    lc = LearningCurve.from_dict(result)
    at_more_data = [{"multiplier": k, **lc.prediction(k * largest)} for k in multipliers]
    for_targets = []
    for target in targets:
        row = lc.data_needed(target)
        row["multiplier"] = row["size"] / largest
        row.update(params_at(row["reached_at"] if row["reached"] else row["size"]))
        for_targets.append(row)
    return {"metric": result["metric"], "unit": result["unit"], "largest_shard": largest,
            "at_more_data": at_more_data, "for_target_error": for_targets}


def cost_of(pred: dict, timing: pd.DataFrame, shards: pd.DataFrame, laws: dict, prices: dict) -> dict:
    """The study's cost so far, its cost laws, and each prediction's training cost (one run of the
    best configuration, and a whole shard's trials) with the reader's prices where given."""
    largest = pred["largest_shard"]

    def at(m: float, reached: bool = False) -> dict:
        if reached or not math.isfinite(m) or laws["best"] is None:
            return {"train_hours": None, "train_hours_ci": None, "shard_hours": None, "money": None}
        point, low, high = laws["best"].predict(m)
        shard = laws["shard"].predict(m)[0] if laws["shard"] else None
        return {"train_hours": point, "train_hours_ci": [low, high], "shard_hours": shard,
                "money": cost.money(point, m - largest, prices)}

    hours = float(cost.device_hours(timing).sum())
    return {"at_more_data": [{"multiplier": r["multiplier"], "size": r["size"], **at(r["size"])} for r in pred["at_more_data"]],
            "for_target_error": [{"error": r["error"], "size": r["size"], **at(r["size"], r["reached"])}
                                 for r in pred["for_target_error"]],
            "unit": cost.unit(timing), "study_hours": hours,
            "study_money": cost.money(hours, 0, prices), "trials_timed": int(timing["seconds"].notna().sum()),
            "per_shard": shards.to_dict("records"), "prices": prices,
            "laws": {k: (v.to_dict() if v else None) for k, v in laws.items()}}


def plan_costs(laws: dict, largest: int, study_hours: float, n_seeds: int, widen: dict | None, prices: dict) -> dict:
    """What each candidate of plan.py costs, in the study's hours (or money, with prices): as
    params.yaml would run it (a shard trains every configuration; a seed or a width, every shard)."""
    out = {}
    if laws["shard"] is not None:
        one = laws["shard"].predict(2 * largest)[0]
        out["one more shard"] = (one, largest)
        out["two more shards"] = (one + laws["shard"].predict(4 * largest)[0], 3 * largest)
    out[f"{plan.EXTRA_SEEDS} more seeds"] = (study_hours * plan.EXTRA_SEEDS / n_seeds, 0)
    if widen:
        out["a wider model"] = (widen["hours"], 0)
    return {step: (cost.money(hours, examples, prices) if cost.priced(prices) else hours) for step, (hours, examples) in out.items()}


def widening(trials: pd.DataFrame, timing: pd.DataFrame, family: str, metric: str, widths: list[int],
             start: float) -> dict | None:
    """What one more grid step of width is expected to buy and cost: at each power-law shard where
    the widest model won, the log error the last step of width bought (never a gain above 0);
    the cost is the widest model's trials again, times the parameter ratio of that step."""
    if len(widths) < 2:
        return None
    ok = trials[(trials["family"] == family) & (trials["status"] == "ok") & (trials["size"] >= start)]
    top, below = sorted(widths)[-1], sorted(widths)[-2]
    medians = ok.groupby(["size", *study.grid_columns(ok.columns)], dropna=False)[metric].median().groupby(["size", "width"]).min()
    gains = {}
    for size in sorted(ok["size"].unique()):
        at = medians.loc[size]
        if top in at.index and below in at.index and at.idxmin() == top:
            gains[float(size)] = min(math.log(at[top] / at[below]), 0.0)
    if not gains:
        return None
    mine = timing[(timing["family"] == family) & (timing["width"] == top)]
    params = ok.groupby("width")["params"].first()
    ratio = float(params[top] / params[below])
    return {"gains": gains, "hours": float(cost.device_hours(mine).sum()) * ratio}


def _largest_measured(trials: pd.DataFrame, family: str) -> int | None:
    counts = trials.loc[trials["family"] == family, "params"].dropna()
    return int(counts.max()) if len(counts) else None


def next_experiment(params: dict, result: dict, trials: pd.DataFrame, timing: pd.DataFrame, laws: dict,
                    costs: dict, prices: dict) -> dict:
    """plan.py's ranking of the next steps for this study, costed by its own timings."""
    family, cfg = result["family"], params["predict"]
    widths = params["models"][family][study.size_key(params, family)]
    widen = widening(trials, timing, family, result["metric"], widths, result["power_law_start"])
    settings = {"best_guess": result["best_guess"], "tolerance": params["fit"]["small_data_tolerance"],
                "slope_ratio": params["fit"]["small_data_slope"]}
    largest = int(max(p["size"] for p in result["points"]))
    step_costs = plan_costs(laws, largest, costs["study_hours"], len(params["grid"]["seed"]), widen, prices)
    return plan.rank(result, settings, (cfg["data_multipliers"] or [plan.DEFAULT_MULTIPLIER])[0], step_costs,
                     "money" if cost.priced(prices) else costs["unit"], widen["gains"] if widen else None,
                     seed=params["fit"]["seed"])


def run(params: dict, fit_json: str, samples_csv: str, tables_dir: str, info_path: str, out: str, cost_out: str) -> dict:
    whole, samples = io.read_json(fit_json), pd.read_csv(samples_csv)  # each read once
    result = fit_step.with_samples(whole, samples)
    family = result["family"]
    tables = Path(tables_dir)
    all_best = pd.read_csv(tables / "best.csv")
    trials, timing = pd.read_csv(tables / "trials.csv"), pd.read_csv(tables / "timing.csv")
    best = all_best[all_best["family"] == family].sort_values("size")
    info = io.read_json(info_path)
    largest = int(best["size"].max())
    cfg = params["predict"]
    prices = {k: cfg.get(k) for k in PRICES}
    widths = params["models"][family][study.size_key(params, family)]
    if study.trainer_kind(params, family) is None:
        module = study.family_module(params, family)
        grid_params = sizing.params_of(module, max(widths), info["input_shape"], info["n_classes"])
    else:  # a trainer's model cannot be built here: its largest measured model, and no width from a count
        module, grid_params = None, _largest_measured(trials, family)
    targets, chosen = targets_for(cfg, float(best[result["metric"]].iloc[-1]))
    sizes = size_answer(result, trials, family, params["select"]["metric"], widths)
    pred = {"family": family, **predictions(result, largest, cfg["data_multipliers"], targets, module, info,
                                            grid_params, sizes),
            "targets_chosen": chosen, "auto_fractions": list(AUTO_TARGETS), "model_size": sizes,
            "select_metric": params["select"]["metric"]}
    shards = cost.per_shard(timing, best)
    laws = cost.cost_laws(shards)  # fitted here only: cost.json carries them to the figures step
    costs = cost_of(pred, timing, shards, laws, prices)
    # The other families' error at more data: what each would buy, side by side (the forecast
    # needs no bootstrap rows).
    pred["families"] = {}
    for other in [f for f in whole["families"] if f != family]:
        r = fit_step.family_fit(whole, other)
        lc = LearningCurve.from_dict(r)
        pred["families"][other] = [{"multiplier": k, **lc.prediction(k * largest)} for k in cfg["data_multipliers"]]
    costs["plan"] = next_experiment(params, result, trials, timing, laws, costs, prices)
    io.write_json(out, pred)
    # Wall-clock hours differ between two runs of one study: cost.json apart, so predictions.json
    # (and the report's metrics.json) stay the same bytes.
    io.write_json(cost_out, costs)
    return pred
