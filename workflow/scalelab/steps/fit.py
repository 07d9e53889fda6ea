"""Step `fit`: the learning curve and the model-size law of each family's best model per shard,
and whether the families share one learning-curve exponent (the paper's claim within a domain).

Reads results/tables/best.csv (the curve) and trials.csv (the seeds behind each point); writes results/fit.json (the numbers, DVC metrics) and
results/fit_samples.csv (--samples: the bootstrap rows that figures and predict draw intervals from).
fit.json names the first family of params.yaml (the study's primary one) as `family`, holds each
family's fit once under `families` (`family_fit` reads one), and the comparison of their exponents
under `comparison`. Each family also carries `forecasts`, its error at the sizes the next growth
step adds (2x and 4x its largest shard) with their 95% intervals, and `from_sizes`, the shards
they rest on: what `scalelab ledger` records, so that a later run that measures those sizes can
check them (ledger.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalelab import io, study
from scalelab.curves import exponents, fit
from scalelab.curves.estimator import LearningCurve
from scalelab.errors import ScalelabError

SIZE_COLUMNS = ["alpha_p", "beta_p"]
# The sizes a growth step would add, as multiples of the largest shard: one more shard and two
# (2x and 4x for base 2, shards.base's default). The fit does not read shards.base (a shards edit
# must not refit what it does not touch), so these are fixed multipliers: with another base a
# growth step measures base x and base^2 x instead, and the ledger waits for a size never measured.
GROWTH_MULTIPLIERS = (2, 4)
MIN_SIZE_LAW_SHARDS = 3  # a line through 2 points has no residuals, so no interval: not a measurement
THETA_PREFIX = "theta"  # bootstrap rows: each row's law, then its parameters theta0, theta1, ... (empty beyond its count)


def best_guess(metric: str, n_classes: int) -> float | None:
    """Error of guessing without data: 1 - 1/K for error, ln K nats (log2 K bits) for cross-entropy;
    None when the classes are unknown (a manifest without labels: its trainer knows them)."""
    if n_classes < 2:
        return None
    if metric.endswith("_error"):
        return 1.0 - 1.0 / n_classes
    return math.log2(n_classes) if metric.endswith("_bits") else math.log(n_classes)


def seed_values(best: pd.DataFrame, trials: pd.DataFrame, metric: str) -> list[np.ndarray]:
    """For each best row (a family's chosen configuration on one shard), the metric of each of
    its seeds that trained: the scatter that sizes the noise of that point."""
    key = ["family", "k", *study.grid_columns(trials.columns)]
    ok = study.comparable(trials[trials["status"] == "ok"], key)
    groups = {k: g[metric].to_numpy(float) for k, g in ok.groupby(key)}
    return [groups[tuple(row[c] for c in key)] for _, row in study.comparable(best, key).iterrows()]


def fit_family(best: pd.DataFrame, seeds: list[np.ndarray], cfg: dict, n_classes: int) -> tuple[dict, pd.DataFrame]:
    """One family's laws from its best row per shard: the result (no samples) and its bootstrap rows."""
    best = best.sort_values("size")
    metric = cfg["metric"]
    noise = fit.seed_noise(seeds)
    curve = fit.fit_learning_curve(
        best["size"].to_numpy(), best[metric].to_numpy(), noise["sigma"], law=cfg["law"],
        best_guess=best_guess(metric, n_classes), tolerance=cfg["small_data_tolerance"],
        min_points=cfg["min_points"], bootstrap=cfg["bootstrap"], seed=cfg["seed"], slope_ratio=cfg["small_data_slope"],
        seed_sd=noise["seed_sd"],
    )
    # The best model size only means something where data, not guessing, limits the error, and
    # where the winner is not simply the widest (or narrowest) model tried (censored: the law would
    # be a bound).
    in_law = best[best["size"] >= curve["power_law_start"]]
    censored = [int(v) for v in in_law.loc[in_law["at_grid_edge"], "size"]]
    measured = in_law[~in_law["at_grid_edge"]]
    draws = curve["samples"]
    samples = pd.DataFrame(draws.theta, columns=[f"{THETA_PREFIX}{i}" for i in range(draws.theta.shape[1])])
    samples.insert(0, "law", draws.law)
    if len(measured) >= MIN_SIZE_LAW_SHARDS:
        size_law = fit.fit_model_size(measured["size"].to_numpy(), measured["params"].to_numpy(),
                                      bootstrap=len(samples), seed=cfg["seed"])
        samples[SIZE_COLUMNS] = size_law["samples"]
    else:
        size_law = {"alpha_p": None, "alpha_p_ci": None, "beta_p": None, "beta_p_ci": None}
        samples[SIZE_COLUMNS] = math.nan
    result = {"metric": metric, **fit.without_samples(curve), **fit.without_samples(size_law),
              "grid_edge_sizes": censored, "size_law_sizes": [int(v) for v in measured["size"]],
              "points": [{"size": int(r.size), "error": float(getattr(r, metric)), "params": int(r.params),
                          "seeds": [float(v) for v in s],
                          "region": "small-data" if r.size < curve["power_law_start"] else "power-law"}
                         for r, s in zip(best.itertuples(), seeds)]}
    result.update(growth_forecasts(result))
    return result, samples


def growth_forecasts(result: dict) -> dict:
    """The forecasts a growth step will check (results/ledger.csv, ledger.py): the error at
    GROWTH_MULTIPLIERS times the largest shard with its 95% interval, and the sizes they rest on."""
    sizes = [p["size"] for p in result["points"]]
    largest = max(sizes)
    lc = LearningCurve.from_dict(result)
    return {"forecasts": [{"size": k * largest, "multiplier": k,
                           **{key: v for key, v in lc.prediction(k * largest).items() if key in ("error", "error_ci")}}
                          for k in GROWTH_MULTIPLIERS],
            "from_sizes": sizes}


def compare_families(families: dict, seeds: dict, cfg: dict, guess: float) -> dict:
    """The shared-exponent test on every seed of each family's best configuration per shard, with
    the Hestness law (the paper's claim: one beta_g, each family its own alpha and gamma)."""
    points = {f: (np.repeat([p["size"] for p in r["points"]], [len(s) for s in seeds[f]]), np.concatenate(seeds[f]))
              for f, r in families.items()}
    spreads = [r["noise"]["seed_sd"] for r in families.values() if r["noise"]["seed_sd"]]
    seed_sd = float(np.sqrt(np.mean(np.square(spreads)))) if spreads else None
    return exponents.compare(points, "hestness", guess, seed_sd, margin=cfg["exponent_margin"],
                             n_jitter=cfg["jitter"], seed=cfg["seed"])


def run(params: dict, best_csv: str, trials_csv: str, info_path: str, out: str, samples_out: str,
        audit_path: str | None = None) -> dict:
    cfg = params["fit"]
    best = pd.read_csv(best_csv)
    trials = pd.read_csv(trials_csv)
    info = io.read_json(info_path)
    n_classes = info["n_classes"]
    families, all_samples, seeds = {}, [], {}
    for family in dict.fromkeys(best["family"]):  # params.yaml's order (select keeps it)
        mine = best[best["family"] == family].sort_values("size")
        seeds[family] = seed_values(mine, trials, cfg["metric"])
        try:
            families[family], samples = fit_family(mine, seeds[family], cfg, n_classes)
        except ScalelabError as exc:
            raise ScalelabError(f"models.{family}: {exc}") from None
        all_samples.append(samples.assign(family=family))
    joined = pd.concat(all_samples, ignore_index=True)
    theta = sorted((c for c in joined.columns if c.startswith(THETA_PREFIX)), key=lambda c: int(c[len(THETA_PREFIX):]))
    io.write_csv(samples_out, joined[["family", "law", *theta, *SIZE_COLUMNS]])

    primary = next(iter(families))
    try:
        comparison = compare_families(families, seeds, cfg, best_guess(cfg["metric"], n_classes))
    except ScalelabError as exc:
        comparison = {"verdict": "undecided", "verdict_text": f"no test: {exc}", "families": list(families)}
    result = {"family": primary, "unit": info.get("unit", "examples"), "loss_per": info.get("loss_per", "example"),
              "families": families, "comparison": comparison,
              # Does the curve measure the data or the stopping rule? (step audit)
              "convergence": io.read_json(audit_path) if audit_path else None}
    io.write_json(out, result)
    return result


def family_fit(whole: dict, family: str | None = None) -> dict:
    """One family's fit from fit.json's dict (the primary one by default), with the study's unit:
    what the curve functions read. A fit.json written before the primary family was stored once
    (it was also at the top level) reads the same."""
    family = family or whole["family"]
    return {"unit": whole["unit"], "loss_per": whole.get("loss_per", "example"), **whole["families"][family], "family": family}


def with_samples(whole: dict, samples: pd.DataFrame, family: str | None = None) -> dict:
    """One family's fit (`family_fit`) with its bootstrap rows (the frame of `run`'s samples_out),
    joined the way the fit functions expect."""
    result = family_fit(whole, family)
    mine = samples[samples["family"] == result["family"]]
    theta = [c for c in mine.columns if c.startswith(THETA_PREFIX)]  # in order, as many as the widest law drawn
    result["samples"] = fit.Draws(mine["law"].to_numpy(dtype=object), mine[theta].to_numpy(float))
    result["size_samples"] = mine[SIZE_COLUMNS].to_numpy()
    return result
