"""The science: fit learning curves by several laws, backtest them, and give calibrated intervals.

Pure functions on arrays; no files. The steps, for one curve of errors eps at sizes m:

1. noise: with several seeds per size, their spread estimates the noise of each point's log
   error (`seed_noise`); it weights the fit and sizes the intervals. With one value per size the
   residuals of the laws' fits stand in for it (never zero).
2. shape: does the curve fall at all (forecast.shape_of)? One that does not (or rises) is
   answered by its level and the `flat` trend law, never refused; a turn back up is flagged.
3. regions: the small-data region (error near guessing, flatter than the law after it) is found
   as before (`power_law_start`); laws that only describe the power-law region (power, hestness)
   are fitted after it, the others model the bend and use every point.
4. backtest: each law is refitted on the curve minus its last 1, 2 and 3 points and scored by
   the error of its extrapolation to them (mean |log predicted - log observed|), next to
   persistence (predicting the last observed value). Judge a law by what it predicts, never by R^2.
5. forecast: what more data buys (forecast.py): the mean of the floor laws in log error, its 95%
   interval from the same backtest splits. Every prediction (`predict_error`, `predict_data`)
   reads it.
6. law: `auto` takes the law with the smallest backtest error among those that could be
   backtested on every split; or the one named in params.yaml. It reports the Hestness exponent.
7. intervals of the law's parameters: parametric bootstrap: a law's fitted curve plus noise of the
   measured size (seed spread, inflated when the law misses the points by more than that), refitted.
   `auto` does not bet on its pick: its draws mix every backtested law, each weighted by how well
   it predicted the held-out points (`law_weights`), so the intervals carry the doubt about which
   law is right.

Conventions (Hestness et al. 2017): eps(m) ~ alpha * m^beta_g + gamma at large m, the model size
s(m) = alpha_p * m^beta_p. Every law reports its large-m asymptote in those terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import forecast, laws
from .errors import ScalelabError

CI_LEVEL = 95.0
HOLDOUTS = (1, 2, 3)  # backtest: predict the last 1, 2, 3 points from the rest
MIN_TRAIN_POINTS = 4  # a backtest split keeps at least this many points to fit on
NOISE_PRIOR_DOF = 4.0  # seed variances are shrunk towards the pooled one with this weight
NOISE_FLOOR = 0.003  # log-error noise never below 0.3%: two seeds that agree prove little
# The small-data region (power_law_start): params.yaml's fit.small_data_tolerance and
# fit.small_data_slope, and fit-curve's, which has no options for them.
SMALL_DATA_TOLERANCE = 0.15  # leading points within this log-ratio of the best-guess error
SMALL_DATA_SLOPE = 0.5  # ... or falling less than this fraction as steeply as the law after them


def seed_noise(groups: list[np.ndarray]) -> dict:
    """Noise of each point's log error from the seeds behind it: the sample variance of log
    error at each size, shrunk towards the variance pooled over sizes (two seeds alone give a
    wild estimate), divided by the seed count (a point is their median). Sizes with one seed get
    the pooled value. Returns the per-point sigma and the pooled per-seed sd, or None without seeds."""
    logs = [np.log(np.asarray(g, float)) for g in groups]
    dof = np.array([len(g) - 1 for g in logs], float)
    if dof.sum() == 0:
        return {"sigma": None, "seed_sd": None, "seeds": [len(g) for g in logs]}
    var = np.array([np.var(g, ddof=1) if len(g) > 1 else 0.0 for g in logs])
    pooled = float(np.sum(var * dof) / dof.sum())
    shrunk = (dof * var + NOISE_PRIOR_DOF * pooled) / (dof + NOISE_PRIOR_DOF)
    sigma = np.maximum(np.sqrt(shrunk / np.array([len(g) for g in logs])), NOISE_FLOOR)
    return {"sigma": sigma, "seed_sd": math.sqrt(pooled), "seeds": [len(g) for g in logs]}


def check_points(m, eps, what: str = "the curve") -> None:
    if np.any(m <= 0) or np.any(eps <= 0) or not np.all(np.isfinite(eps)) or not np.all(np.isfinite(m)):
        raise ScalelabError(f"{what}: sizes and errors must be positive and finite to fit a law in log space")
    if len(np.unique(m)) < 3:
        raise ScalelabError(f"{what}: {len(np.unique(m))} distinct sizes are too few to fit; at least 3 are needed")


def power_law_start(m, eps, best_guess: float | None, tolerance: float, min_points: int,
                    slope_ratio: float = SMALL_DATA_SLOPE) -> int:
    """Index of the first point of the power-law region; the points before it are small-data.

    A leading point is small-data if its error is within `tolerance` (log ratio) of the
    best-guess error, or if the curve falls from it to the next point less than `slope_ratio`
    times as steeply as the plain power law through the points after it: a curve that has not
    started falling is flatter than the law. At least `min_points` points are kept.
    """
    m, eps = np.asarray(m, float), np.asarray(eps, float)
    log_m, log_eps = np.log(m), np.log(eps)
    n, start = len(m), 0
    if best_guess is not None:
        while start < n and math.log(best_guess) - log_eps[start] < tolerance:
            start += 1
    while n - start > min_points:
        segment = (log_eps[start + 1] - log_eps[start]) / (log_m[start + 1] - log_m[start])
        rest = np.polyfit(log_m[start + 1:], log_eps[start + 1:], 1)[0]
        if segment > slope_ratio * rest:  # both negative: the segment is the flatter one
            start += 1
        else:
            break
    return min(start, max(n - min_points, 0))


class Curve:
    """One curve and how it is cut into regions: what every law, backtest and bootstrap refits."""

    def __init__(self, m, eps, sigma=None, best_guess: float | None = None, tolerance: float = SMALL_DATA_TOLERANCE,
                 slope_ratio: float = SMALL_DATA_SLOPE):
        order = np.argsort(m)
        self.m, self.eps = np.asarray(m, float)[order], np.asarray(eps, float)[order]
        self.sigma = None if sigma is None else np.asarray(sigma, float)[order]
        self.best_guess, self.tolerance, self.slope_ratio = best_guess, tolerance, slope_ratio
        self.ctx = laws.context(self.eps, best_guess)
        self.shape = forecast.shape_of(self.m, self.eps, self.sigma)
        self._fits = {}  # (law, points) -> Fitted, shared with prefixes: backtest and forecast refit the same splits

    def prefix(self, n: int) -> "Curve":
        c = Curve.__new__(Curve)
        c.__dict__.update(self.__dict__)
        c.m, c.eps = self.m[:n], self.eps[:n]
        c.sigma = None if self.sigma is None else self.sigma[:n]
        c.ctx = laws.context(c.eps, self.best_guess)  # its own error range: no peeking at the held-out points
        return c

    def start(self, law: laws.Law) -> int:
        """First point the law is fitted on: after the small-data region for power and hestness."""
        if law.uses_small_data:
            return 0
        return power_law_start(self.m, self.eps, self.best_guess, self.tolerance, law.min_points, self.slope_ratio)

    def points(self, law: laws.Law):
        s = self.start(law)
        return self.m[s:], self.eps[s:], None if self.sigma is None else self.sigma[s:]

    def fit(self, law: laws.Law, init=None, eps=None) -> laws.Fitted:
        m, e, sigma = self.points(law)
        if eps is not None:
            e = eps
        key = (law.name, len(self.m))
        if init is None and eps is None and key in self._fits:
            return self._fits[key]
        fitted = laws.fit_law(law, m, e, sigma, self.ctx, m_ref=float(np.exp(np.mean(np.log(self.m)))), init=init)
        if init is None and eps is None:
            self._fits[key] = fitted
        return fitted

    def fit_prefix(self, law: laws.Law, n: int | None) -> laws.Fitted:
        """The law fitted on the first n points (all of them for None): the backtest's splits,
        fitted once and shared with the forecast."""
        return (self if n is None else self.prefix(n)).fit(law)


def backtest(curve: Curve, names: list[str]) -> dict:
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


def _backtest_row(name: str, predicted: dict, curve: Curve, splits: list[int]) -> dict:
    """One law's backtest: its error on each split (None where it could not be fitted), their mean
    (None unless every split was scored), and what it predicted there."""
    n = len(curve.m)
    errors = {h: float(np.mean(np.abs(p - np.log(curve.eps[n - h:])))) for h, p in predicted.items()}
    complete = bool(splits) and all(h in errors for h in splits)
    return {"law": name, "errors": {str(h): errors.get(h) for h in splits},
            "mean": float(np.mean(list(errors.values()))) if complete else None,
            "predicted": {str(h): [float(v) for v in np.exp(p)] for h, p in predicted.items()}}


def choose_law(bt: dict, requested: str, curve: Curve | None = None, tolerance: float = 0.0) -> tuple[str, str]:
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
        # where M4's c trades off against its k (in simulation its 95% intervals missed the true
        # exponent a third of the time, bench/README.md); then the smallest AICc.
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
# the winner by a hair then costs coverage. In simulation (bench/README.md, 40 curves) the 95%
# intervals of `auto` covered the true beta_g 0.70 of the time at 1 sigma, 0.80 at 2, 0.90 at 3.
TIE_SIGMAS = 3.0


def noise_tolerance(curve: Curve, bt: dict) -> float:
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
    tolerance keep at least 0.6 of the best one's weight, laws 3 tolerances off about 1%. In
    simulation (bench/README.md, 200 curves) the chosen law's bootstrap alone covered the true
    exponent 0.895 of the time, missing every curve where the pick was wrong; this mixture 0.95.
    A named law keeps all its weight."""
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


@dataclass(frozen=True)
class Draws:
    """Bootstrap draws of a curve: row i is law `law[i]` with its parameters in theta[i, :that
    law's count] (NaN beyond it). One law, or `auto`'s mixture of several."""

    law: np.ndarray  # (n,) law names
    theta: np.ndarray  # (n, the most parameters of any law drawn)

    def __len__(self) -> int:
        return len(self.law)

    def groups(self):
        """(law, row mask, parameter columns) for each law drawn, in order of first appearance."""
        for name in dict.fromkeys(self.law.tolist()):
            law, rows = laws.get(name), self.law == name
            yield law, rows, [self.theta[rows, j] for j in range(law.n_params)]

    @staticmethod
    def join(parts: list[tuple[str, np.ndarray]]) -> "Draws":
        width = max((t.shape[1] for _, t in parts if t.ndim == 2), default=0)
        names = np.array([name for name, t in parts for _ in range(len(t))], dtype=object)
        theta = np.full((len(names), width), np.nan)
        row = 0
        for _, t in parts:
            if len(t):
                theta[row:row + len(t), :t.shape[1]] = t
                row += len(t)
        return Draws(names, theta)


def bootstrap_mixture(curve: Curve, fits: dict[str, laws.Fitted], counts: dict[str, int], seed: int) -> tuple[Draws, dict]:
    """Each law's share of the draws from its own parametric bootstrap (`bootstrap`), joined; and
    each law's bootstrap description."""
    runs = {name: bootstrap(curve, fits[name], n, seed) for name, n in counts.items()}
    return Draws.join([(name, rows) for name, (rows, _) in runs.items()]), {name: info for name, (_, info) in runs.items()}


def bootstrap(curve: Curve, fitted: laws.Fitted, n_boot: int, seed: int) -> tuple[np.ndarray, dict]:
    """Parametric bootstrap: the fitted curve plus log-normal noise of the measured size, refitted
    from the fit. The noise is the seed spread when there is one, inflated by the lack of fit
    (chi^2 per degree of freedom, when above 1); without seeds, the residuals' own scale."""
    m, eps, sigma = curve.points(fitted.law)
    scale = fitted.residual_scale()
    if sigma is None:
        noise, inflation = np.full(len(m), scale), None
    else:
        inflation = max(1.0, scale)
        noise = sigma * inflation
    rng = np.random.default_rng(seed)
    center = fitted.error(m)
    rows = []
    for _ in range(n_boot):
        boot = center * np.exp(rng.normal(0.0, noise))
        try:
            rows.append(curve.fit(fitted.law, init=fitted.theta, eps=boot).theta)
        except ScalelabError:
            continue
    return np.array(rows), {"n": int(n_boot), "seed": int(seed), "method": "parametric, log-normal noise",
                            "noise": [float(v) for v in noise], "lack_of_fit": inflation}


def sample_errors(result: dict, samples: Draws, m) -> np.ndarray:
    """eps(m) of every bootstrap row: shape (rows, len(m))."""
    ctx = laws.Context(**result["context"])
    log_x = np.log(np.atleast_1d(np.asarray(m, float)) / result["m_ref"])[None, :]
    out = np.empty((len(samples), log_x.shape[1]))
    with np.errstate(all="ignore"):
        for law, rows, theta in samples.groups():
            out[rows] = np.exp(law.log_error([t[:, None] for t in theta], log_x, ctx))
    return out


def fitted_of(result: dict) -> laws.Fitted:
    """The fitted law a result describes (from fit.json's law, theta, m_ref and context)."""
    return laws.Fitted(laws.get(result["law"]), np.asarray(result["theta"], float), result["m_ref"],
                       laws.Context(**result["context"]))


def _asymptotes(samples: Draws, ctx: laws.Context, m_ref: float) -> np.ndarray:
    """(alpha, beta_g, gamma) of every bootstrap row, in units of m."""
    out = np.empty((len(samples), 3))
    for law, rows, theta in samples.groups():
        a, b, g = law.asymptote(theta, ctx)
        out[rows] = np.column_stack([a * m_ref ** (-b), b, np.broadcast_to(g, a.shape)])
    return out


def fit_learning_curve(m, eps, sigma=None, law: str = "auto", best_guess: float | None = None,
                       tolerance: float = SMALL_DATA_TOLERANCE, slope_ratio: float = SMALL_DATA_SLOPE, min_points: int = 3,
                       n_boot: int = 400, seed: int = 0, seed_sd: float | None = None) -> dict:
    """The whole analysis of one curve: backtest of every law, the chosen law's fit, its
    asymptote (alpha, beta_g, gamma) with bootstrap 95% intervals, and the regions.
    Returns plain values; 'samples' holds the bootstrap draws (`Draws`: the chosen law's, or auto's mixture)."""
    m, eps = np.asarray(m, float), np.asarray(eps, float)
    check_points(m, eps)
    if len(m) < min_points:
        raise ScalelabError(f"{len(m)} points are too few to fit; fit.min_points asks for at least {min_points}")
    curve = Curve(m, eps, sigma, best_guess, tolerance, slope_ratio)
    falls = curve.shape["shape"] == "falling"
    bt = backtest(curve, list(laws.LAWS) if falls else [])
    tie = noise_tolerance(curve, bt)
    name, why = choose_law(bt, law, curve, tie) if falls else (laws.FLAT.name, flat_reason(curve.shape))
    chosen = laws.get(name)
    weights = law_weights(bt, name, law if falls else name, tie)
    counts = allocate(weights, n_boot)
    counts.setdefault(name, 1)  # the reported law always has draws (only a tiny n_boot can round it away)
    fitted = curve.fit(chosen)
    fits = {name: fitted}
    for other in [o for o in counts if o != name]:
        try:
            fits[other] = curve.fit(laws.get(other))
        except ScalelabError:  # backtested on prefixes but no fit on the whole curve: its draws go to the chosen law
            counts[name] += counts.pop(other)
    draws, infos = bootstrap_mixture(curve, fits, counts, seed)
    boot_info = {**infos[name], "n": int(n_boot)}  # the chosen law's noise and lack of fit
    if len(counts) > 1:  # auto's mixture: how the refits were shared between the laws, and why
        boot_info.update(laws={other: counts.get(other, 0) for other in weights},
                         weights={other: round(w, 4) for other, w in weights.items()})
    asym = _asymptotes(draws, curve.ctx, fitted.m_ref)
    alpha, beta, gamma = fitted.asymptote()
    ahead = forecast.build(curve)
    pm, pe, _ = curve.points(chosen)
    resid = fitted.log_error(pm) - np.log(pe)
    start = curve.start(chosen)
    return {
        "law": name, "law_formula": chosen.formula, "law_reason": why,
        "theta": [float(v) for v in fitted.theta], "theta_names": list(chosen.params),
        "m_ref": fitted.m_ref, "context": {"e0": curve.ctx.e0, "eps_min": curve.ctx.eps_min, "eps_max": curve.ctx.eps_max},
        "measured": {"size": [float(v) for v in curve.m], "error": [float(v) for v in curve.eps]},
        "alpha": alpha, "alpha_ci": interval(asym[:, 0]),
        "beta_g": beta, "beta_g_ci": interval(asym[:, 1]),
        "gamma": gamma, "gamma_ci": interval(asym[:, 2]),
        "r2": r_squared(resid, np.log(pe)),
        "rmse_log": float(np.sqrt(np.mean(resid**2))),
        "n_points": int(len(pm)),
        "power_law_start": float(curve.m[curve.start(laws.get("hestness"))]),
        "fit_start": float(pm[0]),
        "small_data_sizes": [float(v) for v in curve.m[:curve.start(laws.get("hestness"))]],
        # Past this size the irreducible term gamma is at least half of the error.
        "irreducible_onset": data_for(fitted, 2 * gamma) if gamma > 0 else math.inf,
        "best_guess": best_guess,
        "noise": {"seed_sd": seed_sd, "sigma": None if sigma is None else [float(v) for v in curve.sigma[start:]]},
        "bootstrap": boot_info,
        "backtest": bt,
        "shape": curve.shape,
        "warning": shape_warning(curve.shape),
        "forecast": ahead.to_dict(),
        "local_slope": forecast.local_slope(ahead),
        "samples": draws,
    }


EXPONENT_FACTOR = 2.0  # beta_g is a headline only when its 95% interval spans at most this factor


def exponent_carried(result: dict) -> bool:
    """Whether the shards pin the Hestness exponent down: both ends of its 95% interval negative and
    within a factor EXPONENT_FACTOR of each other. A wider one carries no headline (the summary and
    figures say so): -3.3 [-4.0, -0.67] says the curve falls, not how fast."""
    lo, hi = result["beta_g_ci"]
    return (result["law"] != laws.FLAT.name and math.isfinite(lo) and hi < 0 and lo / hi <= EXPONENT_FACTOR)


def flat_reason(shape: dict) -> str:
    return (f"the curve does not fall: error ~ m^{shape['slope']:+.3f} (standard error {shape['slope_se']:.3f}); "
            "more data buys nothing measurable here")


def shape_warning(shape: dict) -> str | None:
    """What a reader must be told before trusting any number of this curve."""
    if shape["shape"] == "rising":
        return (f"the error RISES with data (m^{shape['slope']:+.3f}, standard error {shape['slope_se']:.3f}): "
                "check the metric (lower must be better), the trials' convergence and the shards; the forecast is its level")
    if shape["turn"] is not None:
        return (f"the curve turns: it falls to m = {shape['turn']:g}, then rises at every larger size by more than "
                "its noise; predictions past the turn assume it stops rising")
    return None


def r_squared(resid: np.ndarray, y: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan")


def data_for(fitted: laws.Fitted, error: float) -> float:
    """The m at which the fitted curve reaches `error` (bisection in log m): inf if it never does
    (at or below its floor)."""
    lo, hi = 0.0, math.log(1e30)
    with np.errstate(all="ignore"):
        if not fitted.error(np.exp(hi)) < error:
            return math.inf
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if fitted.error(np.exp(mid)) < error else (mid, hi)
    return float(np.exp(hi))


def fit_model_size(m, n_params, n_boot: int = 1000, seed: int = 0) -> dict:
    """s(m) = alpha_p * m**beta_p: a straight line through the best models' sizes in log-log."""
    m, s = np.asarray(m, float), np.asarray(n_params, float)
    if len(m) < 2:
        raise ScalelabError("the model-size law needs the best models of at least 2 shard sizes")
    beta, log_a = np.polyfit(np.log(m), np.log(s), 1)
    fitted = log_a + beta * np.log(m)
    resid = (np.log(s) - fitted) * math.sqrt(len(m) / max(len(m) - 2, 1))
    rng = np.random.default_rng(seed)
    boot = np.array([np.polyfit(np.log(m), fitted + rng.choice(resid, size=len(m)), 1) for _ in range(n_boot)])
    alpha_p = np.exp(boot[:, 1])
    return {
        "alpha_p": float(math.exp(log_a)), "alpha_p_ci": interval(alpha_p),
        "beta_p": float(beta), "beta_p_ci": interval(boot[:, 0]),
        "samples": np.column_stack([alpha_p, boot[:, 0]]),
    }


def interval(values) -> list[float]:
    """Percentile 95% interval, ignoring non-finite values (returned as inf where they dominate)."""
    v = np.asarray(values, float)
    lo, hi = (100 - CI_LEVEL) / 2, 100 - (100 - CI_LEVEL) / 2
    v = np.sort(np.where(np.isnan(v), np.inf, v))
    if len(v) == 0:
        return [math.nan, math.nan]
    return [_percentile(v, lo), _percentile(v, hi)]


def _percentile(sorted_v: np.ndarray, q: float) -> float:
    """np.percentile's linear interpolation, but infinite (not NaN) where it reaches an inf."""
    pos = q / 100 * (len(sorted_v) - 1)
    below, above = sorted_v[math.floor(pos)], sorted_v[math.ceil(pos)]
    if math.isinf(above) or math.isinf(below):
        return float(above)
    return float(below + (above - below) * (pos - math.floor(pos)))


def predict_error(result: dict, m: float) -> dict:
    """Error at size m: the forecast (laws' mean) with its backtest-calibrated 95% interval;
    `beyond_trusted` past the horizon the LCDB benchmark measured (forecast.TRUSTED_HORIZON)."""
    point, low, high = (float(v[0]) for v in forecast.Forecast.from_result(result).predict([m]))
    return {"size": float(m), "error": point, "error_ci": [low, high],
            "beyond_trusted": bool(m > forecast.TRUSTED_HORIZON * result["forecast"]["m_last"] * (1 + 1e-9))}


def predict_data(result: dict, error: float) -> dict:
    """Training-set size needed to reach `error` on the forecast: the size where its point
    crosses the target, and where its 95% bounds do (inf where one never does). A target the
    measured points already reach is labelled `reached` with the smallest such size."""
    ahead = forecast.Forecast.from_result(result)
    m_last = result["forecast"]["m_last"]
    sizes, errors = result["measured"]["size"], result["measured"]["error"]
    grid = np.exp(np.linspace(math.log(sizes[0]), math.log(m_last * 1e12), 4000))
    point, low, high = ahead.predict(grid)

    def first_below(values) -> float:
        hit = np.nonzero(values <= error)[0]
        return float(grid[hit[0]]) if len(hit) else math.inf

    measured = [s for s, e in zip(sizes, errors) if e <= error]
    return {"error": float(error), "size": first_below(point), "size_ci": [first_below(low), first_below(high)],
            "reached": bool(measured), "reached_at": float(measured[0]) if measured else None,
            "beyond_trusted": bool(first_below(point) > forecast.TRUSTED_HORIZON * m_last)}


def without_samples(result: dict) -> dict:
    """The result as it is written to JSON: everything but the bootstrap rows."""
    return {k: v for k, v in result.items() if k not in ("samples", "size_samples")}
