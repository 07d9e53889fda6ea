"""95% intervals for the methods that give none, and the interval score that grades every method's.

Interval (`backtest_interval`): the parameter-free construction scalelab's own forecast used before
issue 30 (`forecast.backtest_rate`, the rate unshrunk, 1.96 sd, no ceiling), with the method in place of scalelab's
ensemble, so that every method is judged with an interval built the same parameter-free way:

    log eps(M) ~ log point(M) +/- 1.959964 sd(M),   sd(M)^2 = noise^2 + (rate * log(M / m_last))^2

- rate: the method refitted on the fitted part without its last 2 and without its last 3 sizes
  predicts those held-back sizes; rate = rms over those points of
  (log predicted - log observed) / log(m / m_cut_last), the observed being each size's median.
  A split leaving fewer than 3 sizes, or whose refit fails, is skipped; with no split left the rate
  is the last step's |slope| in log-log (as the library falls back to);
- noise: how far one point strays from the method's curve: the residual scale in log error of the
  method's fit about the fitted medians (sum of squares / (sizes - parameters)); persistence, which
  has no curve, takes the spread of the last half of the fitted medians (at least 3) about their
  mean, as the library does for a flat curve. Never below the library's MIN_NOISE.

Interval score (Gneiting & Raftery 2007, eq. 43) in log error, alpha = 0.05: with l, u, y the logs
of low, high and truth, IS = (u - l) + (2 / alpha) (l - y) [y < l] + (2 / alpha) (y - u) [y > u].
Lower is better: narrow intervals that hold the truth; a miss costs 40x its distance.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from scalelab.curves import forecast

Z95 = 1.959963984540054  # the normal 95% quantile: the references' intervals are the parameter-free form
ALPHA = 0.05
BACKTEST_CUTS = forecast.BACKTEST_CUTS  # (2, 3): the library's
MIN_NOISE = forecast.MIN_NOISE


def interval_score(low: float, high: float, truth: float) -> float:
    """The interval score of a 95% interval [low, high] for the truth, in log error; inf where the
    interval is not a positive, finite one (NaN, a bound <= 0, an infinite top): such an interval
    says nothing and scores worst."""
    if not (low > 0 and math.isfinite(high) and high >= low):
        return math.inf
    lo, hi, y = math.log(low), math.log(high), math.log(truth)
    return (hi - lo) + (2 / ALPHA) * max(lo - y, 0.0) + (2 / ALPHA) * max(y - hi, 0.0)


def backtest_interval(sizes, medians, targets, points, predict_from: Callable[[int], np.ndarray | None],
                      noise: float) -> list[list[float]]:
    """95% intervals [low, high] at `targets` around the method's `points` there.

    sizes, medians: the fitted part, one value per size (ascending); predict_from(n): the method
    refitted on the rows of the first n sizes, its predictions at sizes[n:] (None if it failed);
    noise: the method's residual scale on the fitted part (log error)."""
    m, log_eps = np.asarray(sizes, float), np.log(np.asarray(medians, float))

    def log_predict_from(n):
        predicted = predict_from(n)
        if predicted is None or not np.all(np.isfinite(predicted) & (np.asarray(predicted) > 0)):
            return None
        return np.log(predicted)

    rate = forecast.backtest_rate(m, log_eps, log_predict_from)
    if rate is None:  # too short to backtest: the curve's own recent movement is the doubt
        rate = forecast.recent_rate(m, log_eps) if len(m) > 1 else 0.0
    horizon = np.maximum(np.log(np.asarray(targets, float) / m[-1]), 0.0)
    sd = np.sqrt(max(noise, MIN_NOISE) ** 2 + (rate * horizon) ** 2)
    log_point = np.log(np.asarray(points, float))
    return [[float(v) for v in pair] for pair in zip(np.exp(log_point - Z95 * sd), np.exp(log_point + Z95 * sd))]


def fit_noise(log_predicted, log_medians, n_params: int) -> float:
    """A curve's residual scale in log error about the fitted medians (the library's residual_scale)."""
    return forecast.residual_scale(np.asarray(log_predicted) - np.asarray(log_medians), n_params)


def level_noise(medians) -> float:
    """A level's noise (persistence): the library's for a curve that does not fall."""
    return forecast.level_noise(np.log(np.asarray(medians, float)))
