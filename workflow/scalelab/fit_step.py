"""Step `fit`: the learning curve and the model-size law of each family's best model per shard,
and whether the families share one learning-curve exponent (the paper's claim within a domain).

Reads results/tables/best.csv; writes results/fit.json (the numbers, DVC metrics) and
results/fit_samples.csv (the bootstrap rows that figures and predict draw intervals from).
fit.json holds the first family of params.yaml (the study's primary one) at the top level, every
family under `families`, and the comparison of their exponents under `comparison`.
"""

from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from . import fit, io
from .errors import ScalelabError

CURVE_COLUMNS = ["alpha", "beta_g", "gamma"]
SIZE_COLUMNS = ["alpha_p", "beta_p"]


def best_guess(metric: str, n_classes: int) -> float:
    """Error of guessing without data: 1 - 1/K for error, ln K nats (log2 K bits) for cross-entropy."""
    if metric.endswith("_error"):
        return 1.0 - 1.0 / n_classes
    return math.log2(n_classes) if metric.endswith("_bits") else math.log(n_classes)


def samples_path(fit_json: str | Path) -> Path:
    return Path(fit_json).with_name(Path(fit_json).stem + "_samples.csv")


def fit_family(best: pd.DataFrame, cfg: dict, n_classes: int) -> tuple[dict, pd.DataFrame]:
    """One family's laws from its best row per shard: the result (no samples) and its bootstrap rows."""
    best = best.sort_values("size")
    metric = cfg["metric"]
    curve = fit.fit_learning_curve(
        best["size"].to_numpy(), best[metric].to_numpy(),
        best_guess=best_guess(metric, n_classes), tolerance=cfg["small_data_tolerance"],
        min_points=cfg["min_points"], n_boot=cfg["bootstrap"], seed=cfg["seed"], slope_ratio=cfg["small_data_slope"],
    )
    # The best model size only means something where data, not guessing, limits the error.
    in_law = best[best["size"] >= curve["power_law_start"]]
    size_law = fit.fit_model_size(in_law["size"].to_numpy(), in_law["params"].to_numpy(),
                                  n_boot=cfg["bootstrap"], seed=cfg["seed"])
    samples = pd.DataFrame(curve["samples"], columns=CURVE_COLUMNS)
    samples[SIZE_COLUMNS] = size_law["samples"]
    result = {"metric": metric, **fit.without_samples(curve), **fit.without_samples(size_law),
              "grid_edge_sizes": [int(v) for v in in_law.loc[in_law["at_grid_edge"], "size"]],
              "points": [{"size": int(r.size), "error": float(getattr(r, metric)), "params": int(r.params),
                          "region": "small-data" if r.size < curve["power_law_start"] else "power-law"}
                         for r in best.itertuples()]}
    return result, samples


def compare_exponents(intervals: dict[str, list[float]]) -> dict:
    """Pure: do the families' 95% intervals for beta_g overlap? `overlap` is true when one value lies
    in every interval (a shared exponent is consistent with the data); `apart` lists the pairs whose
    intervals are disjoint. Overlap is weak evidence of equality, disjoint intervals strong evidence
    of a difference."""
    names = list(intervals)
    apart = [[a, b] for a, b in combinations(names, 2)
             if intervals[a][1] < intervals[b][0] or intervals[b][1] < intervals[a][0]]
    overlap = max(lo for lo, _ in intervals.values()) <= min(hi for _, hi in intervals.values())
    if len(names) < 2:
        verdict = "one family: nothing to compare"
    elif overlap:
        verdict = "the beta_g intervals overlap: consistent with one exponent shared by every family"
    else:
        pairs = "; ".join(f"{a} vs {b}" for a, b in apart) or "no single value lies in all of them"
        verdict = f"the beta_g intervals do not all overlap ({pairs}): the exponents differ"
    return {"beta_g_ci": intervals, "overlap": bool(overlap), "apart": apart, "verdict": verdict}


def run(params: dict, best_csv: str, info_path: str, out: str) -> dict:
    cfg = params["fit"]
    best = pd.read_csv(best_csv)
    info = io.read_json(info_path)
    n_classes = info["n_classes"]
    families, all_samples = {}, []
    for family in dict.fromkeys(best["family"]):  # params.yaml's order (select keeps it)
        try:
            families[family], samples = fit_family(best[best["family"] == family], cfg, n_classes)
        except ScalelabError as exc:
            raise ScalelabError(f"models.{family}: {exc}") from None
        all_samples.append(samples.assign(family=family))
    io.write_csv(samples_path(out), pd.concat(all_samples, ignore_index=True))

    primary = next(iter(families))
    comparison = compare_exponents({f: r["beta_g_ci"] for f, r in families.items()})
    result = {"family": primary, "unit": info.get("unit", "examples"), **families[primary],
              "families": families, "comparison": comparison}
    io.write_json(out, result)
    return result


def load(fit_json: str | Path, family: str | None = None) -> tuple[dict, pd.DataFrame]:
    """One family's fit (the primary one by default) and its bootstrap samples, joined the way the
    fit functions expect."""
    whole = io.read_json(fit_json)
    family = family or whole["family"]
    result = {"unit": whole["unit"], **whole["families"][family]}
    samples = pd.read_csv(samples_path(fit_json))
    samples = samples[samples["family"] == family]
    result["samples"] = samples[CURVE_COLUMNS].to_numpy()
    result["size_samples"] = samples[SIZE_COLUMNS].to_numpy()
    return result, samples
