"""Where the forecast's interval constants come from: forecast.RATE_PRIOR (the empirical-Bayes
shrinkage of a curve's backtest rate) and forecast.Q (the interval's multiplier), fitted on the
LCDB curves with even OpenML ids, and how they hold on curves they were not fitted on.

    python bench/forecast_lab.py --jobs 2          # every even-id curve, both modes: about 4 min on 2 cores

For each curve and mode (bench_extrapolation's protocol: fitted on anchors <= largest / 4, the
truth the median of the seeds at every larger anchor) the library's own forecast is built
(forecast.build through fit.Curve, as fit_curve builds it), and kept: its log point at the
held-out anchors, the curve's own backtest rate (rate_own), its noise and its shape. Then:
1. per shape, least squares of log(rms over the held-out anchors of (log point - log truth) /
   log horizon) on (log rate_own, log noise, 1): RATE_PRIOR's a, b, c;
2. coverage and mean interval score (95%, log error) of point +/- q sd, sd^2 = noise^2 +
   (rate log(M / m_last))^2, capped above at the ceiling on falling curves, for several q:
   Q is the smallest q whose coverage holds 0.92 in both modes and every horizon bin;
3. the same, cross-fitted: constants fitted on the curves with id % 4 == 0, scored on id % 4 == 2,
   and the other way round, beside the unshrunk rate at 1.96 without a ceiling (issue 21's
   interval, here around today's point).
Odd ids are the held-out test: this script never reads them.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "workflow"), str(Path(__file__).resolve().parent)]

import lcdb_curves  # noqa: E402
from bench_extrapolation import MODES, fit_rows  # noqa: E402
from extrapolation_report import HORIZON_BINS  # noqa: E402
from intervals import Z95, interval_score  # noqa: E402

from scalelab.curves import fit, forecast, measured  # noqa: E402

SHAPES = ("falling", "flat", "rising")
QS = (1.96, 2.5, 2.75, 3.0)


def features(task) -> dict:
    """What the constants are fitted on, for one curve in one mode."""
    curve, mode = task
    sizes, errors = fit_rows(curve, mode)
    frame, spread = measured.reduce_rows({"size": sizes, "error": errors})
    c = fit.Curve(frame["size"], frame["error"], spread["sigma"])
    ahead = forecast.build(c)
    targets = curve.sizes[curve.n_fit:]
    return {"id": curve.key["openmlid"], "mode": mode, "shape": c.shape["shape"],
            "point": ahead.log_point(targets), "truth": np.log(curve.truth[curve.n_fit:]),
            "horizon": np.log(targets / c.m[-1]), "rate_own": max(ahead.rate_own, forecast.MIN_RATE),
            "noise": ahead.noise, "ceiling": ahead.ceiling}


def fit_prior(rows: list[dict]) -> dict:
    prior = {}
    for shape in SHAPES:
        mine = [r for r in rows if r["shape"] == shape]
        if len(mine) < 3:  # too few of this shape to fit (a small --limit): the library's
            prior[shape] = forecast.RATE_PRIOR[shape]
            continue
        x = np.array([[math.log(r["rate_own"]), math.log(r["noise"]), 1.0] for r in mine])
        y = np.array([math.log(max(math.sqrt(np.mean(((r["point"] - r["truth"]) / r["horizon"]) ** 2)), forecast.MIN_RATE))
                      for r in mine])
        prior[shape] = tuple(float(v) for v in np.linalg.lstsq(x, y, rcond=None)[0])
    return prior


def score(rows: list[dict], prior: dict | None, q: float) -> dict:
    """Coverage and mean interval score per mode, overall and per horizon bin; prior None: the
    unshrunk rate and no ceiling (issue 21's interval)."""
    out = {}
    for mode in MODES:
        cover, scores, ratio = [], [], []
        for r in (r for r in rows if r["mode"] == mode):
            if prior is None:
                rate = r["rate_own"]
            else:
                a, b, c = prior[r["shape"]]
                rate = math.exp(a * math.log(r["rate_own"]) + b * math.log(r["noise"]) + c)
            sd = np.sqrt(r["noise"] ** 2 + (rate * r["horizon"]) ** 2)
            low, high = r["point"] - q * sd, r["point"] + q * sd
            if prior is not None and r["ceiling"] is not None:
                high = np.maximum(np.minimum(high, r["ceiling"]), r["point"])
            cover += list((low <= r["truth"]) & (r["truth"] <= high))
            scores += [interval_score(math.exp(lo), math.exp(hi), math.exp(t)) for lo, hi, t in zip(low, high, r["truth"])]
            ratio += list(np.exp(r["horizon"]))
        cover, scores, ratio = np.array(cover), np.array(scores), np.array(ratio)
        bins = [(lo < ratio) & (ratio <= hi) for lo, hi in HORIZON_BINS]
        out[mode] = {"coverage": cover.mean(), "score": scores.mean(),
                     "bins": [(cover[b].mean(), scores[b].mean()) for b in bins]}
    return out


def line(label: str, s: dict) -> str:
    return f"| {label} | " + " | ".join(
        f"{s[m]['coverage']:.3f} / {s[m]['score']:.3f} ({', '.join(f'{c:.2f}' for c, _ in s[m]['bins'])})" for m in MODES) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--limit", type=int, help="a seeded sample of the even-id curves")
    args = p.parse_args()
    curves, _ = lcdb_curves.load_curves(lcdb_curves.fetch_lcdb(lcdb_curves.cache_dir(None)), "even", args.limit)
    tasks = [(c, mode) for c in curves for mode in MODES]
    if args.jobs > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            rows = pool.map(features, tasks, chunksize=8)
    else:
        rows = [features(t) for t in tasks]
    prior = fit_prior(rows)
    print(f"{len(curves)} even-id curves x {len(MODES)} modes\n")
    print("RATE_PRIOR (log rate = a log rate_own + b log noise + c):")
    for shape, (a, b, c) in prior.items():
        print(f"    {shape}: a {a:.3f}, b {b:.3f}, c {c:.3f} ({sum(r['shape'] == shape for r in rows)} curve-modes)")
    head = "| interval | " + " | ".join(f"{m}: coverage / interval score (coverage per horizon bin)" for m in MODES) + " |"
    print("\n" + head + "\n|---|---|---|")
    print(line("the rate unshrunk, 1.96, no ceiling (issue 21's interval)", score(rows, None, Z95)))
    for q in QS:
        print(line(f"shrunk rate, q = {q}, ceiling", score(rows, prior, q)))
    folds = {k: [r for r in rows if r["id"] % 4 == k] for k in (0, 2)}
    print("\nCross-fitted (constants from one half of the datasets, scored on the other), q = " f"{forecast.Q}:\n")
    print(head + "\n|---|---|---|")
    for fitted_on, scored_on in ((0, 2), (2, 0)):
        print(line(f"id % 4 == {scored_on}, the rate unshrunk, 1.96, no ceiling", score(folds[scored_on], None, Z95)))
        print(line(f"id % 4 == {scored_on}, prior from id % 4 == {fitted_on}", score(folds[scored_on], fit_prior(folds[fitted_on]), forecast.Q)))


if __name__ == "__main__":
    main()
