"""Step `fit`: the learning curve and the model-size law of the best model per shard.

Reads results/tables/best.csv; writes results/fit.json (the numbers, DVC metrics) and
results/fit_samples.csv (the bootstrap rows that figures and predict draw intervals from).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from . import fit, io


def best_guess(metric: str, n_classes: int) -> float:
    """Error of guessing without data: 1 - 1/K for error, ln K nats for cross-entropy."""
    return 1.0 - 1.0 / n_classes if metric.endswith("_error") else math.log(n_classes)


def samples_path(fit_json: str | Path) -> Path:
    return Path(fit_json).with_name(Path(fit_json).stem + "_samples.csv")


def run(params: dict, best_csv: str, info_path: str, out: str) -> dict:
    cfg = params["fit"]
    best = pd.read_csv(best_csv).sort_values("size")
    n_classes = io.read_json(info_path)["n_classes"]
    curve = fit.fit_learning_curve(
        best["size"].to_numpy(), best[cfg["metric"]].to_numpy(),
        best_guess=best_guess(cfg["metric"], n_classes), tolerance=cfg["small_data_tolerance"],
        min_points=cfg["min_points"], n_boot=cfg["bootstrap"], seed=cfg["seed"], slope_ratio=cfg["small_data_slope"],
    )
    # The best model size only means something where data, not guessing, limits the error.
    in_law = best[best["size"] >= curve["power_law_start"]]
    size_law = fit.fit_model_size(in_law["size"].to_numpy(), in_law["params"].to_numpy(),
                                  n_boot=cfg["bootstrap"], seed=cfg["seed"])
    samples = pd.DataFrame(curve["samples"], columns=["alpha", "beta_g", "gamma"])
    samples[["alpha_p", "beta_p"]] = size_law["samples"]
    io.write_csv(samples_path(out), samples)

    result = {"metric": cfg["metric"], **fit.without_samples(curve), **fit.without_samples(size_law),
              "grid_edge_sizes": [int(v) for v in in_law.loc[in_law["at_grid_edge"], "size"]],
              "points": [{"size": int(r.size), "error": float(getattr(r, cfg["metric"])), "params": int(r.params),
                          "region": "small-data" if r.size < curve["power_law_start"] else "power-law"}
                         for r in best.itertuples()]}
    io.write_json(out, result)
    return result


def load(fit_json: str | Path) -> tuple[dict, pd.DataFrame]:
    """fit.json and its bootstrap samples, joined the way the fit functions expect."""
    result = io.read_json(fit_json)
    samples = pd.read_csv(samples_path(fit_json))
    result["samples"] = samples[["alpha", "beta_g", "gamma"]].to_numpy()
    result["size_samples"] = samples[["alpha_p", "beta_p"]].to_numpy()
    return result, samples
