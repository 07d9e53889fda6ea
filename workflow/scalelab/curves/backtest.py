"""Which law to believe: each law judged by what it predicts, never by R^2. Pure functions on a
fit.Curve (its prefixes are the backtest's splits); fit.py calls them, they never call fit.py.

- backtest: each law is refitted on the curve minus its last 1, 2 and 3 points and scored by the
  error of its extrapolation to them (mean |log predicted - log observed|), next to persistence
  (predicting the last observed value).
- choice: `auto` takes the law with the smallest backtest error among those that could be
  backtested on every split, errors within the noise counting as a tie; or the one named in
  params.yaml. A curve that does not fall gets the `flat` law (`flat_reason`).
- weights: `auto` does not bet on its pick: its bootstrap draws are shared between every
  backtested law by how well each predicted the held-out points (`law_weights`, `allocate`).
"""

from __future__ import annotations

import math

import numpy as np

from scalelab.curves import forecast, laws
from scalelab.errors import ScalelabError

HOLDOUTS = (1, 2, 3)  # backtest: predict the last 1, 2, 3 points from the rest
MIN_TRAIN_POINTS = 4  # a backtest split keeps at least this many points to fit on


def backtest(curve, names: list[str]) -> dict:
    """Refit each law on the curve minus its last h points (h in HOLDOUTS, while MIN_TRAIN_POINTS
    remain) and score its extrapolation: mean |log predicted - log observed| over the held-out
    points (0.05 is about 5% off). Persistence predicts the last value it saw. Each row keeps its
    predictions (for the backtest figure); `forecast` scores the mean of the floor laws the same
    way, beside the rows, not among them: it is what predictions use, not a law to choose."""
    n = len(curve.m)
    splits = [h for h in HOLDOUTS if n - h >= MIN_TRAIN_POINTS]
    predicted = {name: {} for name in [*names, "persistence"]}
    for h in splits:
        train, future_m = curve.prefix(n - h), curve.m[n - h:]
        predicted["persistence"][h] = np.full(h, math.log(train.eps[-1]))
        for name in names:
            try:
                predicted[name][h] = train.fit(laws.get(name)).log_error(future_m)
            except ScalelabError:  # too few points on this split: not scored
                continue
    members = [name for name in forecast.ENSEMBLE if name in names]
    mean_of_members = {h: np.mean([predicted[name][h] for name in members if h in predicted[name]], axis=0)
                       for h in splits if any(h in predicted[name] for name in members)}
    rows = [_backtest_row(name, by_cut, curve, splits) for name, by_cut in predicted.items()]
    ranked = sorted((r for r in rows if r["mean"] is not None), key=lambda r: (r["mean"], r["law"]))
    for rank, r in enumerate(ranked, 1):
        r["rank"] = rank
    return {"holdouts": splits, "metric": "mean |log predicted - log observed| on the held-out largest sizes",
            "rows": rows, "forecast": _backtest_row("forecast", mean_of_members, curve, splits) if members else None}


def _backtest_row(name: str, predicted: dict, curve, splits: list[int]) -> dict:
    """One law's backtest: its error on each split (None where it could not be fitted), their mean
    (None unless every split was scored), and what it predicted there."""
    n = len(curve.m)
    errors = {h: float(np.mean(np.abs(p - np.log(curve.eps[n - h:])))) for h, p in predicted.items()}
    complete = bool(splits) and all(h in errors for h in splits)
    return {"law": name, "errors": {str(h): errors.get(h) for h in splits},
            "mean": float(np.mean(list(errors.values()))) if complete else None,
            "predicted": {str(h): [float(v) for v in np.exp(p)] for h, p in predicted.items()}}


def choose_law(bt: dict, requested: str, curve=None, tolerance: float = 0.0) -> tuple[str, str]:
    """The law to report, and why. A named law is taken as asked. `auto`: of the laws backtested
    on every split, those within `tolerance` (the noise of a held-out point, in log units) of the
    best backtest error predict equally well as far as the data can tell; among them, laws that
    describe the whole curve (not just its power-law region) come first, then the plateau law, then
    the smallest AICc on the whole curve (fit against parameters). Persistence is the baseline."""
    scored = [r for r in bt["rows"] if r["law"] != "persistence" and r["mean"] is not None]
    persistence = next(r for r in bt["rows"] if r["law"] == "persistence")["mean"]
    if requested != "auto":
        return requested, f"set in params (fit.law: {requested})"
    if not scored:
        # Nothing to compare on: the paper's law if the points carry its 3 parameters, else the
        # plain power law (2), fitted, like them, on the power-law region only.
        n = len(curve.m) if curve is not None else 0
        name = "hestness" if n >= laws.get("hestness").min_points else "power"
        return name, f"{n} points are too few to backtest any law; the {name} law by default"
    best_error = min(r["mean"] for r in scored)
    tied = [r for r in scored if r["mean"] <= best_error + tolerance]
    if any(laws.get(r["law"]).uses_small_data for r in tied):
        tied = [r for r in tied if laws.get(r["law"]).uses_small_data]

    def rank(r):
        # The plateau law first: its beta_g is the slope of the power-law region by construction,
        # where M4's c trades off against its k, which leaves its exponent poorly pinned down;
        # then the smallest AICc.
        return (r["law"] != "plateau", aicc(curve.fit(laws.get(r["law"]))) if curve is not None else 0.0, r["law"])

    chosen = min(tied, key=rank)
    why = (f"backtest error {chosen['mean']:.4f} (mean |log error| predicting the last "
           f"{', '.join(map(str, bt['holdouts']))} points; best of {len(scored)} laws {best_error:.4f}; "
           f"{len(tied)} within {TIE_SIGMAS:g} sigma of noise ({tolerance:.4f}): " + ("the only one" if len(tied) == 1 else "the three-region law" if chosen["law"] == "plateau" else "the smallest AICc") + ")")
    if persistence is not None:
        verdict = "beats" if chosen["mean"] < persistence else "does NOT beat"
        why += f"; {verdict} persistence ({persistence:.4f})"
    return chosen["law"], why


# Backtest errors closer than this many times the held-out points' noise tie. Each score rests on
# 1-3 noisy held-out points and on a fit to noisy points, so one sigma ties too little: picking
# the winner by a hair then costs the intervals their coverage (bench/README.md).
TIE_SIGMAS = 3.0


def noise_tolerance(curve, bt: dict) -> float:
    """Backtest errors closer than this (log units) tie: TIE_SIGMAS times the held-out points' noise.
    That noise is the seeds' spread; with one value per size, the residual scale of the laws' own
    fits (their median), which is never zero: one value per size still has noise."""
    if curve.sigma is not None:
        return TIE_SIGMAS * float(np.mean(curve.sigma[-max(bt["holdouts"] or [1]):]))
    scales = []
    for r in bt["rows"]:
        if r["law"] == "persistence" or r["mean"] is None:
            continue
        try:
            fitted = curve.fit(laws.get(r["law"]))
        except ScalelabError:
            continue
        scales.append(fitted.residual_scale())
    return TIE_SIGMAS * max(float(np.median(scales)), forecast.MIN_NOISE) if scales else 0.0


def aicc(fitted: laws.Fitted) -> float:
    """Small-sample Akaike criterion of a weighted fit (chi^2 + 2p + 2p(p+1)/(n-p-1)); inf when
    the law has as many parameters as points allow."""
    n, p = fitted.n, fitted.law.n_params
    if n - p - 1 <= 0:
        return math.inf
    return 2 * fitted.cost + 2 * p + 2 * p * (p + 1) / (n - p - 1)


def law_weights(bt: dict, chosen: str, requested: str, tolerance: float) -> dict[str, float]:
    """How much of `auto`'s bootstrap each law gets: exp(-1/2 (excess / tolerance)^2), the excess
    being its backtest error above the best one, normalised to sum to 1. Laws within the tie
    tolerance keep at least 0.6 of the best one's weight, laws 3 tolerances off about 1%. The
    chosen law's bootstrap alone would miss the truth on every curve where the pick is wrong; the
    mixture carries that doubt into the intervals (bench/README.md). A named law keeps all its weight."""
    scored = {r["law"]: r["mean"] for r in bt["rows"] if r["law"] != "persistence" and r["mean"] is not None}
    if requested != "auto" or tolerance <= 0 or chosen not in scored:
        return {chosen: 1.0}
    best = min(scored.values())
    raw = {name: math.exp(-0.5 * ((error - best) / tolerance) ** 2) for name, error in scored.items()}
    total = sum(raw.values())
    return {name: w / total for name, w in raw.items()}


def allocate(weights: dict[str, float], n: int) -> dict[str, int]:
    """n draws split by weight (largest remainders, ties in the order given): every law's share of
    the bootstrap, summing to n; laws whose share rounds to none are left out."""
    exact = {name: w * n for name, w in weights.items()}
    counts = {name: int(math.floor(v)) for name, v in exact.items()}
    by_remainder = sorted(exact, key=lambda name: -(exact[name] - counts[name]))
    for name in by_remainder[:n - sum(counts.values())]:
        counts[name] += 1
    return {name: c for name, c in counts.items() if c > 0}


def flat_reason(shape: dict) -> str:
    return (f"the curve does not fall: error ~ m^{shape['slope']:+.3f} (standard error {shape['slope_se']:.3f}); "
            "more data buys nothing measurable here")
