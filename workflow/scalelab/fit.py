"""The science: fit learning curves and model-size laws, with bootstrap uncertainty.

Pure functions on arrays; no files. Conventions follow Hestness et al. 2017:

    learning curve   eps(m) = alpha * m**beta_g + gamma     (beta_g < 0, gamma >= 0)
    model size       s(m)   = alpha_p * m**beta_p

Fits are least squares in log space (every decade of error counts the same), with
alpha > 0, beta_g < 0 and 0 <= gamma < min(eps). The small-data region, where error sits near
best-guessing and the curve is flatter than a power law, is found and left out automatically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .errors import ScalelabError

BETA_BOUNDS = (-5.0, -1e-6)  # a learning curve must fall; steeper than m^-5 is not a curve
GAMMA_CEILING = 0.999  # gamma stays below the smallest observed error (or eps could not reach it)
CI_LEVEL = 95.0


@dataclass(frozen=True)
class Curve:
    """eps(m) = alpha * m**beta + gamma."""

    alpha: float
    beta: float
    gamma: float = 0.0

    def error(self, m):
        return self.alpha * np.power(np.asarray(m, dtype=float), self.beta) + self.gamma

    def data_for(self, error: float) -> float:
        """The m at which the curve reaches `error` (inf if error <= gamma: never)."""
        if error <= self.gamma:
            return math.inf
        try:
            return float(((error - self.gamma) / self.alpha) ** (1.0 / self.beta))
        except OverflowError:  # a nearly flat curve (beta near 0) reaches it beyond any float
            return math.inf


def _log_residuals(curve: Curve, m, eps) -> np.ndarray:
    return np.log(curve.error(m)) - np.log(eps)


def fit_plain(m, eps) -> Curve:
    """Plain power law (gamma = 0): a straight line in log-log space."""
    beta, log_alpha = np.polyfit(np.log(m), np.log(eps), 1)
    return Curve(float(math.exp(log_alpha)), float(beta), 0.0)


def fit_saturating(m, eps, init: Curve | None = None) -> Curve:
    """alpha * m**beta + gamma by bounded least squares in log space, from several starts
    (or, given `init`, from it and from its gamma = 0 variant: how the bootstrap refits)."""
    m, eps = np.asarray(m, float), np.asarray(eps, float)
    # Work in units of the geometric-mean size so alpha stays of order eps (good conditioning).
    m_ref = float(np.exp(np.mean(np.log(m))))
    x = m / m_ref
    gamma_max = GAMMA_CEILING * float(eps.min())

    def residuals(theta):
        log_a, beta, gamma = theta
        return np.log(np.exp(log_a) * x**beta + gamma) - np.log(eps)

    def clip_beta(b):
        return float(np.clip(b, BETA_BOUNDS[0] + 1e-3, BETA_BOUNDS[1] - 1e-3))

    if init is None:
        beta0 = clip_beta(fit_plain(x, eps).beta)
        starts = []
        for frac in (0.0, 0.3, 0.6, 0.9):
            gamma0 = frac * gamma_max
            a0 = max(float(np.exp(np.mean(np.log(np.maximum(eps - gamma0, 1e-12))))), 1e-12)
            starts.append([math.log(a0), beta0, gamma0])
    else:
        log_a0 = math.log(init.alpha) + init.beta * math.log(m_ref)
        starts = [[log_a0, clip_beta(init.beta), min(init.gamma, 0.9 * gamma_max)], [log_a0, clip_beta(init.beta), 0.0]]
    best = None
    for start in starts:
        sol = least_squares(residuals, start, method="trf", x_scale=[1.0, 0.1, max(gamma_max, 1e-12)],
                            bounds=([-50.0, BETA_BOUNDS[0], 0.0], [50.0, BETA_BOUNDS[1], gamma_max]))
        if best is None or sol.cost < best.cost - 1e-15:
            best = sol
    log_a, beta, gamma = best.x
    return Curve(float(math.exp(log_a) * m_ref ** (-beta)), float(beta), float(gamma))


def r_squared_log(curve: Curve, m, eps) -> float:
    y = np.log(eps)
    ss_res = float(np.sum(_log_residuals(curve, m, eps) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def aic(curve: Curve, m, eps, n_params: int) -> float:
    """Akaike information criterion for Gaussian log residuals (lower is better)."""
    n = len(m)
    rss = max(float(np.sum(_log_residuals(curve, m, eps) ** 2)), 1e-300)
    return n * math.log(rss / n) + 2 * n_params


def power_law_start(m, eps, best_guess: float | None, tolerance: float, min_points: int,
                    slope_ratio: float = 0.5) -> int:
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
        rest = fit_plain(m[start + 1:], eps[start + 1:]).beta
        if segment > slope_ratio * rest:  # both negative: the segment is the flatter one
            start += 1
        else:
            break
    if n - start < min_points:
        raise ScalelabError(
            f"only {n - start} of {n} points lie in the power-law region, fewer than the {min_points} a fit needs; "
            "add larger shard sizes (shards.exponents) or lower fit.min_points"
        )
    return start


def bootstrap_curves(curve: Curve, m, eps, n_boot: int, seed: int, n_params: int = 3):
    """Residual bootstrap in log space: resample the fit's residuals onto its fitted values and
    refit. Residuals are inflated by sqrt(n / (n - p)), as a fit's residuals understate the noise."""
    m, eps = np.asarray(m, float), np.asarray(eps, float)
    fitted = curve.error(m)
    resid = np.log(eps) - np.log(fitted)
    n = len(m)
    resid = resid * math.sqrt(n / max(n - n_params, 1))
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n_boot):
        boot_eps = fitted * np.exp(rng.choice(resid, size=n, replace=True))
        c = fit_saturating(m, boot_eps, init=curve)
        samples.append((c.alpha, c.beta, c.gamma))
    return np.array(samples)


def interval(values) -> list[float]:
    """Percentile 95% interval, ignoring non-finite values (returned as inf where they dominate)."""
    v = np.asarray(values, float)
    lo, hi = (100 - CI_LEVEL) / 2, 100 - (100 - CI_LEVEL) / 2
    v = np.sort(np.where(np.isnan(v), np.inf, v))
    return [_percentile(v, lo), _percentile(v, hi)]


def _percentile(sorted_v: np.ndarray, q: float) -> float:
    """np.percentile's linear interpolation, but infinite (not NaN) where it reaches an inf."""
    pos = q / 100 * (len(sorted_v) - 1)
    below, above = sorted_v[math.floor(pos)], sorted_v[math.ceil(pos)]
    if math.isinf(above) or math.isinf(below):
        return float(above)
    return float(below + (above - below) * (pos - math.floor(pos)))


def fit_learning_curve(m, eps, best_guess: float | None = None, tolerance: float = 0.15,
                       min_points: int = 3, n_boot: int = 1000, seed: int = 0, slope_ratio: float = 0.5) -> dict:
    """The full learning-curve analysis: regions, saturating and plain fits, bootstrap intervals.

    Returns a dict of plain values; 'samples' holds the bootstrap (alpha, beta, gamma) rows."""
    m, eps = np.asarray(m, float), np.asarray(eps, float)
    order = np.argsort(m)
    m, eps = m[order], eps[order]
    if len(m) < min_points:
        raise ScalelabError(f"{len(m)} points are too few to fit; at least {min_points} are needed")
    if np.any(m <= 0) or np.any(eps <= 0) or not np.all(np.isfinite(eps)):
        raise ScalelabError("sizes and errors must be positive and finite to fit a power law in log space")
    start = power_law_start(m, eps, best_guess, tolerance, min_points, slope_ratio)
    pm, pe = m[start:], eps[start:]
    curve = fit_saturating(pm, pe)
    plain = fit_plain(pm, pe)
    samples = bootstrap_curves(curve, pm, pe, n_boot, seed)
    irreducible_onset = curve.data_for(2 * curve.gamma) if curve.gamma > 0 else math.inf
    return {
        "alpha": curve.alpha, "alpha_ci": interval(samples[:, 0]),
        "beta_g": curve.beta, "beta_g_ci": interval(samples[:, 1]),
        "gamma": curve.gamma, "gamma_ci": interval(samples[:, 2]),
        "r2": r_squared_log(curve, pm, pe),
        "rmse_log": float(np.sqrt(np.mean(_log_residuals(curve, pm, pe) ** 2))),
        "aic": aic(curve, pm, pe, 3),
        "baseline": {"alpha": plain.alpha, "beta_g": plain.beta, "r2": r_squared_log(plain, pm, pe),
                     "aic": aic(plain, pm, pe, 2)},
        "n_points": int(len(pm)),
        "power_law_start": float(pm[0]),
        "small_data_sizes": [float(v) for v in m[:start]],
        # Past this size the irreducible term gamma is at least half of the error.
        "irreducible_onset": irreducible_onset,
        "best_guess": best_guess,
        "bootstrap": {"n": int(n_boot), "seed": int(seed), "method": "log-residual"},
        "samples": samples,
    }


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


def predict_error(result: dict, m: float) -> dict:
    """Error at size m, with the bootstrap 95% interval."""
    curve = Curve(result["alpha"], result["beta_g"], result["gamma"])
    s = result["samples"]
    boot = s[:, 0] * np.power(float(m), s[:, 1]) + s[:, 2]
    return {"size": float(m), "error": float(curve.error(m)), "error_ci": interval(boot)}


def predict_data(result: dict, error: float) -> dict:
    """Training-set size needed to reach `error` (inf if the fit's gamma is above it)."""
    curve = Curve(result["alpha"], result["beta_g"], result["gamma"])
    s = result["samples"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        boot = np.where(error > s[:, 2], ((error - s[:, 2]) / s[:, 0]) ** (1.0 / s[:, 1]), np.inf)
    return {"error": float(error), "size": curve.data_for(error), "size_ci": interval(boot),
            "reachable_fraction": float(np.mean(np.isfinite(boot)))}


def without_samples(result: dict) -> dict:
    """The result as it is written to JSON: everything but the bootstrap rows."""
    return {k: v for k, v in result.items() if k != "samples"}
