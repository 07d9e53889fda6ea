"""The next experiment: which step narrows the interval of the headline prediction most per unit
of cost. Pure functions on a fit's points; `run` is `scalelab plan`.

The headline prediction is the error at the first of predict.data_multipliers times the largest
shard (4x by default). Its 95% interval (forecast.py) is point +/- Q sd with
sd^2 = noise^2 + (rate * log(M / m_last))^2 (capped above on a falling curve): seeds shrink the noise, data shortens the horizon,
and both change the rate the backtest measures. Rather than reason about which term wins, each
candidate is simulated: WORLDS outcomes are drawn from the current forecast (stratified normal
quantiles of its extrapolation, plus per-seed noise of the measured size), the forecast is rebuilt
on each, and the mean interval width is the candidate's expected width. Candidates:
- one more shard (2x the largest), and two (2x and 4x), with the study's seeds;
- EXTRA_SEEDS more seeds on every shard (grid.seed is shared by the shards);
- a model one grid step wider on every shard (only where the grid's widest model won: elsewhere
  a wider model is not what limits the error), assumed to buy what the last step of width bought.
Cost: hours from the study's cost laws (cost.py), or, for a curve measured elsewhere, training
examples processed (size x runs), since no timing came with it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats

from scalelab import io
from scalelab.curves import fit, forecast
from scalelab.errors import ScalelabError

WORLDS = 12  # simulated outcomes per candidate: the expected width is their mean
EXTRA_SEEDS = 2
DEFAULT_MULTIPLIER = 4.0  # the headline's horizon when predict.data_multipliers is empty


def curve_of(sizes, groups: list[np.ndarray], settings: dict) -> fit.Curve:
    """The curve of each size's seeds (their median, and its noise). Its small-data region is
    found as the fit found it: the caller's settings (params.yaml's fit.small_data_tolerance and
    fit.small_data_slope), else fit.py's defaults, which fit-curve uses."""
    noise = fit.seed_noise(groups)
    return fit.Curve(np.asarray(sizes, float), np.array([np.median(g) for g in groups]), noise["sigma"],
                     settings.get("best_guess"), settings.get("tolerance", fit.SMALL_DATA_TOLERANCE),
                     settings.get("slope_ratio", fit.SMALL_DATA_SLOPE))


def log_width(ahead: forecast.Forecast, m: float) -> float:
    """Width of the 95% interval at m, in log error (log of high / low)."""
    _, low, high = ahead.predict([m])
    return float(np.log(high[0] / low[0]))


def simulate(sizes: list[float], groups: list[np.ndarray], ahead: forecast.Forecast, settings: dict, horizon: float,
             change, seed: int) -> float:
    """Expected log width at `horizon` after `change(sizes, groups, z, rng, ahead)` alters the
    measured points (`ahead`: their forecast) in one simulated world; z is that world's
    standard-normal draw."""
    rng = np.random.default_rng(seed)
    widths = []
    for z in stats.norm.ppf((np.arange(WORLDS) + 0.5) / WORLDS):
        new_sizes, new_groups = change(list(sizes), [g.copy() for g in groups], float(z), rng, ahead)
        widths.append(log_width(forecast.build(curve_of(new_sizes, new_groups, settings)), horizon))
    return float(np.mean(widths))


def per_seed_sd(result: dict, ahead: forecast.Forecast) -> float:
    """How far one seed strays in log error: the pooled seed spread, or without seeds the
    residual scale the forecast already uses as its noise."""
    return result["noise"]["seed_sd"] or ahead.noise


def more_data(n_shards: int, n_seeds: int, spread: float):
    def change(sizes, groups, z, rng, ahead):
        for _ in range(n_shards):
            m = sizes[-1] * 2
            truth = float(ahead.log_point(m)[0]) + z * ahead.rate * math.log(m / ahead.m_last)
            sizes.append(m)
            groups.append(np.exp(truth + spread * rng.standard_normal(n_seeds)))
        return sizes, groups
    return change


def more_seeds(spread: float):
    # New seeds scatter about the forecast, the best guess of the truth: a median they join moves
    # towards it as far as the old seeds' noise, not the curve's shape, had moved it away.
    def change(sizes, groups, z, rng, ahead):
        truth = ahead.log_point(sizes)
        for i, g in enumerate(groups):
            groups[i] = np.concatenate([g, np.exp(truth[i] + spread * rng.standard_normal(EXTRA_SEEDS))])
        return sizes, groups
    return change


def wider(gains: dict, spread: float):
    """gains: {size: the log error one more grid step of width bought there (<= 0)}."""
    def change(sizes, groups, z, rng, ahead):
        for i, m in enumerate(sizes):
            if m in gains:
                groups[i] = groups[i] * math.exp(gains[m] + spread * rng.standard_normal())
        return sizes, groups
    return change


def candidates(result: dict, costs: dict, n_seeds: int, spread: float, gains: dict | None) -> list[dict]:
    """The steps to weigh: what each does to the points, and its cost (from `costs`, by name)."""
    out = [
        {"step": "one more shard", "what": "2x the largest shard, every trial", "change": more_data(1, n_seeds, spread)},
        {"step": "two more shards", "what": "2x and 4x the largest shard, every trial", "change": more_data(2, n_seeds, spread)},
        {"step": f"{EXTRA_SEEDS} more seeds", "what": f"grid.seed gains {EXTRA_SEEDS} seeds: every shard's trials",
         "change": more_seeds(spread)},
    ]
    if gains:
        out.append({"step": "a wider model", "what": "one grid step wider than the widest, on every shard",
                    "change": wider(gains, spread)})
    return [{**c, "cost": costs.get(c["step"])} for c in out if costs.get(c["step"]) is not None]


def rank(result: dict, settings: dict, multiplier: float, costs: dict, unit: str, gains: dict | None = None,
         seed: int = 0) -> dict:
    """The candidates ranked by how much each narrows the headline interval per unit of cost."""
    points = result["points"]
    n_seeds = int(np.median([len(p["seeds"]) for p in points]))
    sizes, groups = [float(p["size"]) for p in points], [np.asarray(p["seeds"], float) for p in points]
    ahead = forecast.Forecast.from_result(result)  # the fit's own forecast of these points; each world rebuilds its own
    horizon = multiplier * ahead.m_last
    now = log_width(ahead, horizon)
    spread = per_seed_sd(result, ahead)
    rows = []
    for c in candidates(result, costs, n_seeds, spread, gains):
        after = simulate(sizes, groups, ahead, settings, horizon, c["change"], seed)
        rows.append({"step": c["step"], "what": c["what"], "cost": c["cost"], "width_factor": math.exp(after),
                     "narrowing": now - after, "per_cost": (now - after) / c["cost"] if c["cost"] > 0 else None})
    # A free step (a price of 0) that narrows comes first; one that narrows nothing, last.
    rows.sort(key=lambda r: -r["narrowing"] / max(r["cost"], 1e-300) if r["narrowing"] > 0 else math.inf)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return {"headline": {"multiplier": multiplier, "size": horizon, "width_factor": math.exp(now)},
            "unit": unit, "worlds": WORLDS, "seeds": n_seeds, "seed_sd": spread, "rows": rows}


def example_costs(result: dict) -> dict:
    """Costs in training examples processed (size x runs), for a curve that came without timings."""
    sizes = [p["size"] for p in result["points"]]
    runs = int(np.median([len(p["seeds"]) for p in result["points"]]))
    largest = max(sizes)
    return {"one more shard": 2 * largest * runs, "two more shards": 6 * largest * runs,
            f"{EXTRA_SEEDS} more seeds": EXTRA_SEEDS * float(sum(sizes))}


def table(p: dict) -> str:
    """The ranking as the text `scalelab plan` prints."""
    head = p["headline"]
    lines = [f"headline: the error at {head['multiplier']:g}x the largest size (m = {head['size']:g}); its 95% interval "
             f"spans a factor {head['width_factor']:.2f} now",
             f"{'rank':<5}{'step':<18}{'cost (' + p['unit'] + ')':>28}{'interval after':>16}{'narrowing / cost':>18}"]
    for r in p["rows"]:
        per = "-" if r["per_cost"] is None else f"{r['per_cost']:.3g}"
        lines.append(f"{r['rank']:<5}{r['step']:<18}{r['cost']:>28.4g}{r['width_factor']:>16.2f}{per:>18}")
    return "\n".join(lines)


def run(cost_json: str | None, curve_json: str | None, multiplier: float, out: str | None) -> dict:
    """`scalelab plan`: a finished study's ranking (predict wrote it to cost.json), or one computed
    for a `fit-curve` output, costed in training examples processed."""
    if curve_json:
        result = io.read_json(curve_json)
        if "points" not in result:
            raise ScalelabError(f"{curve_json}: no points; make it with `scalelab fit-curve` (this version or later)")
        settings = {"best_guess": result.get("best_guess")}
        p = rank(result, settings, multiplier, example_costs(result), "examples processed")
    else:
        if not Path(cost_json).exists():
            raise ScalelabError(f"{cost_json}: missing; finish the study first (snakemake or dvc repro writes it), "
                                "or rank a fit-curve output with --curve FIT.json")
        p = io.read_json(cost_json)["plan"]
    if out:
        io.write_json(out, p)
    print(table(p))
    return p
