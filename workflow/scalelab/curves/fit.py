"""The science: fit learning curves by several laws, backtest them, and give calibrated intervals.

Pure functions on arrays; no files. The steps, for one curve of errors eps at sizes m:

1. noise: with several seeds per size, their spread estimates the noise of each point's log
   error (`seed_noise`); it weights the fit and sizes the intervals. With one value per size the
   residuals of the laws' fits stand in for it (never zero).
2. shape: does the curve fall at all (forecast.shape_of)? One that does not (or rises) is
   answered by its level and the `flat` trend law, never refused; a turn back up is flagged.
3. regions: the small-data region (error near guessing, flatter than the law after it) is found
   by `power_law_start`; laws that only describe the power-law region (power, hestness)
   are fitted after it, the others model the bend and use every point.
4. backtest: each law is refitted without the curve's last points and scored by how well it
   predicts them, next to persistence (backtest.py).
5. forecast: what more data buys (forecast.py): the floor laws' mean in log error, weighted by
   their backtest, its 95% interval from the curve's backtest rate shrunk towards what real curves
   showed; on a falling curve its upper bound never above the last error plus its noise. Every
   prediction (`predict_error`, `predict_data`) reads it.
6. law: `auto` takes the best backtest within the noise, or the law named in params.yaml
   (backtest.choose_law). It reports the Hestness exponent.
7. intervals of the law's parameters: parametric bootstrap: a law's fitted curve plus noise of the
   measured size (seed spread, inflated when the law misses the points by more than that), refitted
   (all draws of a law as one batched least-squares problem: solve.py).
   `auto`'s draws mix every backtested law by its backtest (backtest.law_weights), so the
   intervals carry the doubt about which law is right.

Conventions (Hestness et al. 2017): eps(m) ~ alpha * m^beta_g + gamma at large m, the model size
s(m) = alpha_p * m^beta_p. Every law reports its large-m asymptote in those terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalelab.curves import backtest, forecast, laws
from scalelab.errors import ScalelabError

CI_LEVEL = 95.0
# Bootstrap refits behind the intervals of alpha, beta_g and gamma, the one default of fit_curve,
# LearningCurve, `fit-curve --bootstrap` and params.yaml's fit.bootstrap. The calibration
# (bench/README.md) used 100; 200 steadies the intervals' ends, and costs little: the refits are
# one batched solve per law (solve.py).
BOOTSTRAP = 200
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

    def fit(self, law: laws.Law) -> laws.Fitted:
        key = (law.name, len(self.m))
        if key not in self._fits:
            m, e, sigma = self.points(law)
            self._fits[key] = laws.fit_law(law, m, e, sigma, self.ctx, m_ref=float(np.exp(np.mean(np.log(self.m)))))
        return self._fits[key]

    def fit_prefix(self, law: laws.Law, n: int | None) -> laws.Fitted:
        """The law fitted on the first n points (all of them for None): the backtest's splits,
        fitted once and shared with the forecast."""
        return (self if n is None else self.prefix(n)).fit(law)


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
    runs = {name: parametric_bootstrap(curve, fits[name], n, seed) for name, n in counts.items()}
    return Draws.join([(name, rows) for name, (rows, _) in runs.items()]), {name: info for name, (_, info) in runs.items()}


def parametric_bootstrap(curve: Curve, fitted: laws.Fitted, n_boot: int, seed: int) -> tuple[np.ndarray, dict]:
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
    boot = fitted.error(m)[None, :] * np.exp(rng.normal(0.0, noise, size=(n_boot, len(m))))
    theta = laws.refit_rows(fitted, m, boot, sigma)
    rows = theta[np.all(np.isfinite(theta), axis=1)]
    return rows, {"n": int(n_boot), "seed": int(seed), "method": "parametric, log-normal noise",
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
                       bootstrap: int = BOOTSTRAP, seed: int = 0, seed_sd: float | None = None) -> dict:
    """The whole analysis of one curve: backtest of every law, the chosen law's fit, its
    asymptote (alpha, beta_g, gamma) with `bootstrap` refits' 95% intervals, and the regions.
    Returns plain values; 'samples' holds the bootstrap draws (`Draws`: the chosen law's, or auto's mixture)."""
    m, eps = np.asarray(m, float), np.asarray(eps, float)
    check_points(m, eps)
    if len(m) < min_points:
        raise ScalelabError(f"{len(m)} points are too few to fit; fit.min_points asks for at least {min_points}")
    curve = Curve(m, eps, sigma, best_guess, tolerance, slope_ratio)
    falls = curve.shape["shape"] == "falling"
    bt = backtest.backtest(curve, list(laws.LAWS) if falls else [])
    tie = backtest.noise_tolerance(curve, bt)
    name, why = backtest.choose_law(bt, law, curve, tie) if falls else (laws.FLAT.name, backtest.flat_reason(curve.shape))
    chosen = laws.get(name)
    weights = backtest.law_weights(bt, name, law if falls else name, tie)
    counts = backtest.allocate(weights, bootstrap)
    counts.setdefault(name, 1)  # the reported law always has draws (only a tiny n_boot can round it away)
    fitted = curve.fit(chosen)
    fits = {name: fitted}
    for other in [o for o in counts if o != name]:
        try:
            fits[other] = curve.fit(laws.get(other))
        except ScalelabError:  # backtested on prefixes but no fit on the whole curve: its draws go to the chosen law
            counts[name] += counts.pop(other)
    draws, infos = bootstrap_mixture(curve, fits, counts, seed)
    boot_info = {**infos[name], "n": int(bootstrap)}  # the chosen law's noise and lack of fit
    if len(counts) > 1:  # auto's mixture: how the refits were shared between the laws, and why
        boot_info.update(laws={other: counts.get(other, 0) for other in weights},
                         weights={other: round(w, 4) for other, w in weights.items()})
    asym = _asymptotes(draws, curve.ctx, fitted.m_ref)
    alpha, beta, gamma = fitted.asymptote()
    ahead = forecast.build(curve, bt)
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
        "warning": forecast.shape_warning(curve.shape),
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


def fit_model_size(m, n_params, bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict:
    """s(m) = alpha_p * m**beta_p: a straight line through the best models' sizes in log-log."""
    m, s = np.asarray(m, float), np.asarray(n_params, float)
    if len(m) < 2:
        raise ScalelabError("the model-size law needs the best models of at least 2 shard sizes")
    beta, log_a = np.polyfit(np.log(m), np.log(s), 1)
    fitted = log_a + beta * np.log(m)
    resid = (np.log(s) - fitted) * math.sqrt(len(m) / max(len(m) - 2, 1))
    rng = np.random.default_rng(seed)
    boot = np.array([np.polyfit(np.log(m), fitted + rng.choice(resid, size=len(m)), 1) for _ in range(bootstrap)])
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
