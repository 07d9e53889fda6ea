"""What more data buys: the error forecast at sizes beyond the data, with a 95% interval built
from the curve's own backtest. Pure functions on arrays, no files. How each choice was made, with
its numbers: bench/README.md ("How the forecast was chosen"), measured on LCDB curves with even
OpenML ids, simulated curves and the project's own studies; the odd ids are a held-out test.

Point: a weighted mean in log error of the laws that describe a floor (ENSEMBLE), each fitted the
way fit.py fits it, and of persistence (the last measured error). A member's weight is
exp(-1/2 (log(e / e_best) / WEIGHT_SPREAD)^2), e its backtest error (backtest.py: refitted
without the last 1-3 points, predicting them; persistence predicts the last value it saw) and
e_best the best member's. On noisy real curves the laws' backtests differ by less than a factor
e^WEIGHT_SPREAD and their weights stay near equal: their plain average predicts better than any
one of them. On a clean curve one law predicts its own held-out points far better than the
others, and it takes the forecast over (the always-equal mean was 2-3x the right law's error
there). On a curve already bending into its floor, the last value predicted its held-out points
as well as the laws, and it pulls the forecast towards where the curve is now, instead of where
its earlier slope would take it. The power law without a floor (which keeps falling) is no member.

Interval: log eps(M) ~ point +/- Q sd(M), with

    sd(M)^2 = noise^2 + (rate * log(M / m_last))^2

- noise: how far one point strays from the curve: the seed spread of the last point when there
  are seeds, else the residual scale of the points about the forecast (never zero: one value per
  size still has noise, the residuals say how much);
- rate: how fast the forecast's error grows with the horizon. The curve's own backtest measures
  it (the plain mean of the members refitted without the last 2 and 3 points misses them by e at
  horizon log(m / m_cut); `rate_own` is the rms of e / horizon), but from 3-5 held-out points
  only: alone it gave a few curves intervals spanning a factor of 50. So it is shrunk towards
  what curves like it showed (empirical Bayes): log rate = a log rate_own + b log noise + c,
  RATE_PRIOR's a, b, c fitted by least squares on the even-id LCDB curves, per shape. a ~ 0.6
  says a curve's own backtest carries about 60% of the truth in log scale;
- Q = 2.75, not 1.96: the shrunk rate is a best guess of a scale known to within a factor of
  about 2, and a normal interval on an uncertain scale needs a wider multiplier for 95%
  (calibrated on the same curves, coverage per horizon bin 0.92-0.96).

More data does not make a best-tuned model worse: on a falling curve the upper bound at more data
is never above the last measured error plus its own noise, exp(Q noise) (CEILING). Where a real
curve rises again after all, that costs coverage, measured in bench/README.md.

Shape: a curve whose slope is not below zero by more than twice its standard error does not fall
(`shape_of`): more data buys nothing measurable there, and the forecast is its level, the last
measured value (a closer guess than the mean of the last few points, bench/README.md), with an
interval built the same way. A rising curve gets the same and a warning; a curve that falls and
then rises, by more than its noise at two or more sizes after its lowest point, is flagged where
it turns.
"""

from __future__ import annotations

import math

import numpy as np

from scalelab.curves import laws
from scalelab.errors import ScalelabError

ENSEMBLE = ("hestness", "m3", "m4", "plateau", "broken")
WEIGHT_SPREAD = 0.5  # a member whose backtest error is e^0.5 = 1.65x the best one's keeps 61% of its weight
FALLBACK = "power"  # 2 parameters: what a 3-point curve can carry
BACKTEST_CUTS = (2, 3)  # refit without the last 2 and 3 points, predict them: the rate of the interval
Q = 2.75  # the interval's multiplier of sd: 95% coverage with the shrunk rate (module docstring)
# log rate = a log rate_own + b log noise + c, by the curve's shape: least squares over the
# even-id LCDB curves in both modes, the target being the rms of (forecast - truth) / log horizon
# at the held-out anchors. bench/forecast_lab.py refits them from this module's own forecast
# (falling: 0.618, 0.365, -0.066; the others the same to 3 digits) and prints the cross-fit.
RATE_PRIOR = {"falling": (0.619, 0.366, -0.058), "flat": (0.640, 0.270, -0.525), "rising": (0.487, 0.389, -0.179)}
MIN_RATE = 1e-4  # a backtest that happened to hit its points exactly still has a rate
TRUSTED_HORIZON = 4.0  # x the largest size: as far as the LCDB benchmark measured the forecast (bench/README.md)
SLOPE_SIGMAS = 2.0  # a slope within this many standard errors of zero is "flat"
FALLING_SLOPE = -0.01  # flatter than m^-0.01 (4x the data buys < 1.4%) counts as flat whatever its noise
MIN_NOISE = 1e-3  # a point never pins the curve closer than 0.1%
MIN_TURN_POINTS = 2  # sizes after the lowest point that must all sit above it to call a turn


def shape_of(m, eps, sigma=None) -> dict:
    """Does the curve fall, stay flat, or rise? The slope of log eps on log m by least squares
    (weighted by the seed noise when there is one) and its standard error; and where a falling
    curve turns back up, if it does by more than its noise."""
    log_m, log_eps = np.log(np.asarray(m, float)), np.log(np.asarray(eps, float))
    n = len(log_m)
    w = np.ones(n) if sigma is None else 1.0 / np.asarray(sigma, float) ** 2
    x = log_m - np.average(log_m, weights=w)
    slope = float(np.sum(w * x * log_eps) / np.sum(w * x * x))
    resid = log_eps - np.average(log_eps, weights=w) - slope * x
    # The scale of a residual: the seeds' when they explain the misfit, else the misfit itself.
    scale2 = float(np.sum(w * resid**2) / max(n - 2, 1))
    if sigma is not None:
        scale2 = max(scale2, 1.0)
    se = math.sqrt(scale2 / float(np.sum(w * x * x)))
    if slope + SLOPE_SIGMAS * se < 0 and slope < FALLING_SLOPE:
        kind = "falling"
    elif slope - SLOPE_SIGMAS * se > 0:
        kind = "rising"
    else:
        kind = "flat"
    return {"shape": kind, "slope": slope, "slope_se": se, "turn": turn_of(m, log_eps, sigma, resid)}


def turn_of(m, log_eps, sigma, resid) -> float | None:
    """The size after which the curve rises, by more than SLOPE_SIGMAS standard errors at every one
    of at least MIN_TURN_POINTS sizes after its lowest point; None if it does not."""
    low = int(np.argmin(log_eps))
    after = log_eps[low + 1:]
    if len(after) < MIN_TURN_POINTS or low == 0:
        return None
    noise = np.asarray(sigma, float) if sigma is not None else np.full(len(log_eps), residual_scale(resid, 2))
    se = np.sqrt(noise[low] ** 2 + noise[low + 1:] ** 2)
    return float(np.asarray(m, float)[low]) if bool(np.all(after - log_eps[low] > SLOPE_SIGMAS * se)) else None


def shape_warning(shape: dict) -> str | None:
    """What a reader must be told before trusting any number of this curve."""
    if shape["shape"] == "rising":
        return (f"the error RISES with data (m^{shape['slope']:+.3f}, standard error {shape['slope_se']:.3f}): "
                "check the metric (lower must be better), the trials' convergence and the shards; the forecast is its level")
    if shape["turn"] is not None:
        return (f"the curve turns: it falls to m = {shape['turn']:g}, then rises at every larger size by more than "
                "its noise; predictions past the turn assume it stops rising")
    return None


def residual_scale(resid, n_params: int) -> float:
    resid = np.asarray(resid, float)
    return float(math.sqrt(np.sum(resid**2) / max(len(resid) - n_params, 1)))


class Forecast:
    """log eps at any size: the point (weighted mean of the members, or a flat level), its
    standard deviation, and on a falling curve the ceiling of its upper bound."""

    def __init__(self, kind: str, fits: list[laws.Fitted], level: float | None, noise: float, rate: float,
                 m_last: float, weights: list[float] | None = None, ceiling: float | None = None,
                 rate_own: float | None = None, last: float | None = None, weight_last: float = 0.0):
        self.kind, self.fits, self.level = kind, fits, level
        self.noise, self.rate, self.m_last = noise, rate, m_last
        self.weights = np.ones(len(fits)) if weights is None else np.asarray(weights, float)
        self.ceiling, self.rate_own = ceiling, rate_own
        self.last, self.weight_last = last, weight_last  # persistence as a member: the last log error, its weight

    def log_point(self, m) -> np.ndarray:
        m = np.atleast_1d(np.asarray(m, float))
        if self.level is not None:
            return np.full(len(m), self.level)
        with np.errstate(all="ignore"):
            laws_sum = np.sum([w * f.log_error(m) for f, w in zip(self.fits, self.weights)], axis=0)
        if not self.weight_last:
            return laws_sum / np.sum(self.weights)
        return (laws_sum + self.weight_last * self.last) / (np.sum(self.weights) + self.weight_last)

    def sd(self, m) -> np.ndarray:
        horizon = np.maximum(np.log(np.atleast_1d(np.asarray(m, float)) / self.m_last), 0.0)
        return np.sqrt(self.noise**2 + (self.rate * horizon) ** 2)

    def predict(self, m) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, low, high) of the error at sizes m."""
        m = np.atleast_1d(np.asarray(m, float))
        point, sd = self.log_point(m), self.sd(m)
        high = point + Q * sd
        if self.ceiling is not None:  # more data does not make the model worse; never below the point
            beyond = m > self.m_last
            high[beyond] = np.maximum(np.minimum(high[beyond], self.ceiling), point[beyond])
        return np.exp(point), np.exp(point - Q * sd), np.exp(high)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "laws": {f.law.name: [float(v) for v in f.theta] for f in self.fits},
                "weights": {**{f.law.name: round(float(w), 6) for f, w in zip(self.fits, self.weights)},
                            **({"persistence": round(float(self.weight_last), 6)} if self.fits else {})},
                "last": self.last,
                "level": self.level, "noise": self.noise, "rate": self.rate, "rate_own": self.rate_own,
                "ceiling": self.ceiling, "m_last": self.m_last, "horizon_trusted": TRUSTED_HORIZON}

    @staticmethod
    def from_result(result: dict) -> "Forecast":
        """The forecast a fit result (fit.json) describes."""
        f = result["forecast"]
        ctx = laws.Context(**result["context"])
        fits = [laws.Fitted(laws.get(name), np.asarray(theta, float), result["m_ref"], ctx) for name, theta in f["laws"].items()]
        weights = [f["weights"][name] for name in f["laws"]] if f.get("weights") else None
        return Forecast(f["kind"], fits, f["level"], f["noise"], f["rate"], f["m_last"], weights, f.get("ceiling"),
                        f.get("rate_own"), f.get("last"), (f.get("weights") or {}).get("persistence", 0.0))


def level_of(log_eps) -> float:
    """A flat curve's level: where it is now, its last point."""
    return float(log_eps[-1])


def backtest_rate(m, log_eps, predict_from) -> float | None:
    """rms over the BACKTEST_CUTS splits of (error / log horizon): how fast the forecast's error
    grows with the horizon on this curve. `predict_from(n)` gives the forecast made from the first
    n points at the points after them, or None where n points are too few."""
    ratios = []
    for cut in BACKTEST_CUTS:
        n = len(m) - cut
        if n < 3:
            continue
        predicted = predict_from(n)
        if predicted is None:
            continue
        horizon = np.log(m[n:] / m[n - 1])
        ratios.extend((predicted - log_eps[n:]) / horizon)
    return float(math.sqrt(np.mean(np.square(ratios)))) if ratios else None


def level_noise(log_eps) -> float:
    """A level's noise without seeds: the spread of the last half of the points (at least 3) about their mean."""
    k = max(3, len(log_eps) // 2)
    return residual_scale(log_eps[-k:] - np.mean(log_eps[-k:]), 1)


def recent_rate(m, log_eps) -> float:
    """A curve too short to backtest: its own recent movement is the doubt, |slope| of its last step."""
    return abs(float(log_eps[-1] - log_eps[-2]) / math.log(m[-1] / m[-2]))


def shrunk_rate(rate_own: float, noise: float, kind: str) -> float:
    """The rate an interval uses: the curve's own backtest rate shrunk towards what curves of its
    shape and noise showed (RATE_PRIOR, module docstring)."""
    a, b, c = RATE_PRIOR[kind]
    return math.exp(a * math.log(max(rate_own, MIN_RATE)) + b * math.log(noise) + c)


def member_weights(bt: dict, names: list[str]) -> tuple[np.ndarray, float]:
    """Each law member's weight, and persistence's, from their backtest errors (module
    docstring). A law without a complete backtest gets none; where no law has one (a curve too
    short), the laws are weighted equally and persistence is left out."""
    errors = {r["law"]: r["mean"] for r in bt["rows"] if r["law"] in (*names, "persistence") and r["mean"] is not None}
    if not any(name in errors for name in names):
        return np.ones(len(names)), 0.0
    best = max(min(errors.values()), 1e-12)

    def weight(name):
        return math.exp(-0.5 * (math.log(max(errors[name], 1e-12) / best) / WEIGHT_SPREAD) ** 2) if name in errors else 0.0
    return np.array([weight(name) for name in names]), weight("persistence")


def build(curve, bt: dict | None = None) -> Forecast:
    """The forecast of a fit.Curve of the shape it found: its laws fitted (and backtested) through
    `curve.fit_prefix`, which raises ScalelabError where a law has too few points. `bt`: the
    curve's backtest (backtest.backtest) when the caller has it, else it is run on the members."""
    m, log_eps = curve.m, np.log(curve.eps)
    sigma_last = None if curve.sigma is None else float(curve.sigma[-1])  # the seed noise of the last point
    kind = curve.shape["shape"]
    if kind != "falling":
        def predict_level(n):
            return np.full(len(m) - n, level_of(log_eps[:n]))
        noise = max(sigma_last if sigma_last is not None else level_noise(log_eps), MIN_NOISE)
        rate_own = backtest_rate(m, log_eps, predict_level)
        if rate_own is None:
            rate_own = recent_rate(m, log_eps)
        return Forecast(kind, [], level_of(log_eps), noise, shrunk_rate(rate_own, noise, kind), float(m[-1]),
                        rate_own=rate_own)

    def fit_all(n, names=ENSEMBLE):
        out = []
        for name in names:
            try:
                out.append(curve.fit_prefix(laws.get(name), n))
            except ScalelabError:  # too few points for this law on this split
                continue
        return out

    def mean_log_error(fits, sizes):
        return np.mean([f.log_error(sizes) for f in fits], axis=0)

    fits = fit_all(None)
    if not fits:  # too few points for any floor law (3): the plain power law, as auto falls back to
        fits = fit_all(None, (FALLBACK,))
    if not fits:
        raise ScalelabError(f"no law of {', '.join((*ENSEMBLE, FALLBACK))} could be fitted to {len(m)} points")
    names = [f.law.name for f in fits]
    if bt is None:
        from scalelab.curves import backtest  # backtest.py imports this module: imported here, when needed
        bt = backtest.backtest(curve, names)
    weights, weight_last = member_weights(bt, names)

    def predict_mean(n):  # the rate is a property of the curve: the plain mean's backtest measures it
        part = fit_all(n)
        return mean_log_error(part, m[n:]) if part else None

    start = max(curve.start(laws.get(name)) for name in ENSEMBLE)  # where every member is fitted
    # The noise is the points' spread about the laws' curve (persistence has none to spread about).
    laws_curve = np.average([f.log_error(m[start:]) for f in fits], axis=0, weights=weights if weights.sum() > 0 else None)
    noise = max(sigma_last if sigma_last is not None else residual_scale(laws_curve - log_eps[start:], 3), MIN_NOISE)
    rate_own = backtest_rate(m, log_eps, predict_mean)
    if rate_own is None:
        rate_own = recent_rate(m, log_eps)
    return Forecast(kind, fits, None, noise, shrunk_rate(rate_own, noise, kind), float(m[-1]), weights,
                    ceiling=float(log_eps[-1] + Q * noise), rate_own=rate_own, last=float(log_eps[-1]),
                    weight_last=weight_last)


def local_slope(forecast: Forecast) -> dict:
    """What one more doubling of data buys: the slope d log eps / d log m over (m_last, 2 m_last),
    with its 95% interval, and the error ratio it implies."""
    m_last = forecast.m_last
    here = float(forecast.log_point(m_last)[0])
    point, low, high = (float(v[0]) for v in forecast.predict(2 * m_last))
    to_slope = lambda e: (math.log(e) - here) / math.log(2)  # noqa: E731
    return {"size": m_last, "slope": to_slope(point), "slope_ci": [to_slope(low), to_slope(high)],
            "doubling_ratio": point / math.exp(here), "doubling_ratio_ci": [low / math.exp(here), high / math.exp(here)]}
