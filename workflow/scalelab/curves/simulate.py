"""Simulated learning curves with a known truth: do the fits' intervals cover it, and how far
off are their extrapolations? Used by bench/bench_calibration.py (hundreds of curves) and
tests/test_curves.py (a fast version).

Each curve is drawn the way the pipeline measures one: a three-region truth (plateau at the
error of guessing, power law, floor), observed at nested sizes 2^7..2^14 by a few seeds with
log-normal noise (1-4% per seed), reduced to the median over seeds, then fitted by the same code
path as the pipeline (fit.seed_noise, fit.fit_learning_curve). The truth is the plateau law by
default; `truth="m4"` draws from Alabdulmohsin et al.'s M4 instead (the same three regions, a
different bend), so a law is not judged only on curves of its own shape.
"""

from __future__ import annotations

import numpy as np

from scalelab.curves import fit, laws

SIZES = 2.0 ** np.arange(7, 15)
BEYOND = (2, 4, 8)  # predict at these multiples of the largest fitted size
E0 = 0.9  # ten balanced classes


TRUTHS = ("plateau", "m4")


def draw_truth(rng: np.random.Generator, law: str = "plateau") -> dict:
    """A truth with a small-data plateau at E0: exponent in [-1.2, -0.3], floor up to 3% error,
    the bend from the plateau (halfway down, for m4) somewhere around the first shards, its
    sharpness 0.5..3 (plateau) or the M4 curvature k 0.2..1.5."""
    truth = {"law": law, "beta": rng.uniform(-1.2, -0.3), "gamma": rng.uniform(0.0, 0.03),
             "m0": float(np.exp(rng.uniform(np.log(64), np.log(600))))}
    truth.update({"s": rng.uniform(0.5, 3.0)} if law == "plateau" else {"k": rng.uniform(0.2, 1.5)})
    truth["noise"] = rng.uniform(0.01, 0.04)
    return truth


def true_error(truth: dict, m) -> np.ndarray:
    """The truth's error at sizes m (its asymptotic exponent is truth["beta"] for either law)."""
    law, ctx = laws.get(truth.get("law", "plateau")), laws.Context(E0, 0.0, E0)
    if law.name == "plateau":
        theta = [np.log(truth["m0"]), truth["beta"], truth["gamma"], np.log(truth["s"])]
    else:  # m4: (eps - g) / (E0 - eps)^k = b m^c, with eps = E0 / 2 at m0
        half, g, k = E0 / 2, truth["gamma"], truth["k"]
        theta = [np.log((half - g) / half**k) - truth["beta"] * np.log(truth["m0"]), truth["beta"], k, g]
    return np.exp(law.log_error(theta, np.log(np.asarray(m, float)), ctx))


def run(n_curves: int, law_names: list[str], seed: int = 0, n_seeds: int = 2, bootstrap: int = fit.BOOTSTRAP,
        truth_law: str = "plateau") -> list[dict]:
    """One row per (curve, law): the truth, the fitted exponent and its interval, and the
    predictions beyond the data with their intervals."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_curves):
        truth = draw_truth(rng, truth_law)
        clean = true_error(truth, SIZES)
        seeds = clean[:, None] * np.exp(rng.normal(0.0, truth["noise"], (len(SIZES), n_seeds)))
        noise = fit.seed_noise(list(seeds))
        eps = np.median(seeds, axis=1)
        for name in law_names:
            r = fit.fit_learning_curve(SIZES, eps, noise["sigma"], law=name, best_guess=E0, bootstrap=bootstrap,
                                       seed=i, seed_sd=noise["seed_sd"])
            row = {"curve": i, "law": name, "chosen": r["law"], **{f"true_{k}": v for k, v in truth.items()},
                   "beta_g": r["beta_g"], "beta_lo": r["beta_g_ci"][0], "beta_hi": r["beta_g_ci"][1]}
            for k in BEYOND:
                m = k * SIZES[-1]
                p = fit.predict_error(r, m)
                true = float(true_error(truth, [m])[0])
                row[f"err_{k}x"] = abs(p["error"] / true - 1)
                row[f"cover_{k}x"] = p["error_ci"][0] <= true <= p["error_ci"][1]
            row["cover_beta"] = r["beta_g_ci"][0] <= truth["beta"] <= r["beta_g_ci"][1]
            rows.append(row)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per law: coverage of the 95% intervals (beta_g; predictions at 2x, 4x, 8x) and the median
    relative error of the predictions."""
    out = []
    for name in dict.fromkeys(r["law"] for r in rows):
        mine = [r for r in rows if r["law"] == name]
        s = {"law": name, "curves": len(mine), "cover_beta": float(np.mean([r["cover_beta"] for r in mine]))}
        for k in BEYOND:
            s[f"cover_{k}x"] = float(np.mean([r[f"cover_{k}x"] for r in mine]))
            s[f"median_err_{k}x"] = float(np.median([r[f"err_{k}x"] for r in mine]))
        out.append(s)
    return out
