"""Learning-curve laws: one small class per law, all fitted by one routine (`fit_law`).

Every law maps training-set size m to error eps(m) > 0. Laws work on x = m / m_ref, the size in
units of the geometric mean of the fitted sizes, so parameters stay of order one, and they are
fitted by (weighted) least squares on log eps: every decade of error counts the same, and a
point's weight is 1 / sigma^2, sigma being the noise of its log error (estimated from the seeds).

Every law also states its large-m asymptote, eps ~ alpha * m^beta_g + gamma, in Hestness et al.'s
terms, so reports, figures and the exponent test read the same three numbers whatever law was fitted.

| law      | formula (x = m / m_ref)                                                    | params | source |
|----------|----------------------------------------------------------------------------|--------|--------|
| power    | eps = a x^b                                                                | 2 | M1 |
| hestness | eps = a x^b + g                                                            | 3 | Hestness et al. 2017; M2 |
| m3       | eps = a (1/x + g)^c                                                        | 3 | Alabdulmohsin et al. 2022, M3 |
| m4       | (eps - e_inf) / (e0 - eps)^k = b x^c                                       | 4 | Alabdulmohsin et al. 2022, M4 (e0 fixed) |
| broken   | eps = g + a x^-c0 (1 + (x/d)^(1/f))^-((c1 - c0) f)                         | 6 | Caballero et al. 2022, one break |
| plateau  | eps = g + (e0 - g) (1 + (x/x0)^(-b s))^(-1/s)                              | 4 | three regions: e0 plateau, power law b, floor g |

power and hestness describe the power-law region only: they are fitted on the points after the
small-data region (fit.power_law_start). The others model the small-data bend themselves and use
every point. e0 is the error of guessing (1 - 1/K, or log K for cross-entropy): m4 and plateau
start from it instead of fitting it, which saves a parameter the data rarely pins down.

The same laws as plain functions of m, in units of m with the parameters in the formula's order
(`power`, `hestness`, `m3`, `m4`, `broken`, `plateau`; `CALLABLES` by name), for scipy or a plot:

    from scipy.optimize import curve_fit
    (alpha, beta, gamma), _ = curve_fit(laws.hestness, m, eps, p0=[1.0, -0.5, 0.01])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalelab.curves.solve import solve_rows
from scalelab.errors import ScalelabError

EXP_MAX = 5.0  # |exponent| bound: steeper than m^-5 is not a learning curve
FLOOR_CEILING = 0.999  # an irreducible floor stays below the smallest observed error
MIN_SLOPE = 1e-6


@dataclass(frozen=True)
class Context:
    """What a law needs to know about the data besides the points: e0 (error of guessing, or a
    little above the largest observed error when unknown) and the observed error range."""

    e0: float
    eps_min: float
    eps_max: float


class Law:
    name = ""
    formula = ""
    params: tuple[str, ...] = ()
    exponent_index = 0  # the parameter that is (plus or minus) the power-law exponent
    uses_small_data = True  # False: fitted on the power-law region only

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def min_points(self) -> int:
        """Fewest points a fit accepts: one more than its parameters, so its residual says something."""
        return self.n_params + 1

    def log_error(self, theta, log_x, ctx: Context):
        """log eps at log x; theta's entries may be arrays (one row per bootstrap sample) that
        broadcast against log_x."""
        raise NotImplementedError

    def bounds(self, ctx: Context) -> tuple[list[float], list[float]]:
        raise NotImplementedError

    def starts(self, log_x, log_eps, ctx: Context) -> list[list[float]]:
        raise NotImplementedError

    def asymptote(self, theta, ctx: Context):
        """(alpha, beta_g, gamma) in x units of the law's large-m power law eps ~ alpha x^beta + gamma."""
        raise NotImplementedError


def _slope(log_x, log_eps) -> float:
    return float(np.clip(np.polyfit(log_x, log_eps, 1)[0], -EXP_MAX + 0.01, -0.01))


class Power(Law):
    name, formula, params = "power", "eps = alpha * m^beta_g", ("log_a", "b")
    exponent_index = 1
    uses_small_data = False

    def log_error(self, theta, log_x, ctx):
        log_a, b = theta[0], theta[1]
        return log_a + b * log_x

    def bounds(self, ctx):
        return [-50.0, -EXP_MAX], [50.0, -MIN_SLOPE]

    def starts(self, log_x, log_eps, ctx):
        b = _slope(log_x, log_eps)
        return [[float(np.mean(log_eps - b * log_x)), b]]

    def asymptote(self, theta, ctx):
        return np.exp(theta[0]), theta[1], np.zeros(np.shape(theta[0]))


class Hestness(Law):
    name, formula, params = "hestness", "eps = alpha * m^beta_g + gamma", ("log_a", "b", "g")
    exponent_index = 1
    uses_small_data = False

    def log_error(self, theta, log_x, ctx):
        log_a, b, g = theta[0], theta[1], theta[2]
        return np.log(np.exp(log_a + b * log_x) + g)

    def bounds(self, ctx):
        return [-50.0, -EXP_MAX, 0.0], [50.0, -MIN_SLOPE, FLOOR_CEILING * ctx.eps_min]

    def starts(self, log_x, log_eps, ctx):
        b = _slope(log_x, log_eps)
        out = []
        for frac in (0.0, 0.5, 0.9):
            g = frac * FLOOR_CEILING * ctx.eps_min
            out.append([float(np.mean(np.log(np.maximum(np.exp(log_eps) - g, 1e-12)))), b, g])
        return out

    def asymptote(self, theta, ctx):
        return np.exp(theta[0]), theta[1], theta[2]


class M3(Law):
    name, formula, params = "m3", "eps = a * (1/m + g)^c  (Alabdulmohsin et al. 2022, M3)", ("log_a", "c", "log_g")
    exponent_index = 1

    def log_error(self, theta, log_x, ctx):
        log_a, c, log_g = theta[0], theta[1], theta[2]
        return log_a + c * np.logaddexp(-log_x, log_g)

    def bounds(self, ctx):
        return [-50.0, MIN_SLOPE, -30.0], [50.0, EXP_MAX, 10.0]

    def starts(self, log_x, log_eps, ctx):
        c = -_slope(log_x, log_eps)
        return [[float(np.mean(log_eps + c * log_x)), c, log_g] for log_g in (-8.0, float(-log_x.max()), float(-log_x.max()) + 2)]

    def asymptote(self, theta, ctx):
        # Below m = 1/g it is a x^-c; beyond it, the floor a g^c.
        return np.exp(theta[0]), -theta[1], np.exp(theta[0] + theta[1] * theta[2])


class M4(Law):
    name, formula, params = "m4", "(eps - gamma) / (e0 - eps)^k = b * m^c  (Alabdulmohsin et al. 2022, M4)", ("log_b", "c", "k", "e_inf")
    exponent_index = 1
    NEWTON_STEPS = 30

    def log_error(self, theta, log_x, ctx):
        # Solve w = f (B - w)^k for the excess w = eps - e_inf in (0, B), B = e0 - e_inf. In the
        # logit t of w / B it reads H(t) = log sig(t) - k log sig(-t) = log f - (1 - k) log B, and
        # H' = sig(-t) + k sig(t) lies between min(1, k) and max(1, k) while H'' keeps one sign:
        # Newton converges in a few steps from the line each end of H follows (t, or k t).
        log_b, c, k, e_inf = theta[0], theta[1], theta[2], theta[3]
        big_b = ctx.e0 - e_inf
        rhs = log_b + c * log_x - (1.0 - k) * np.log(big_b)
        t = np.where(rhs < 0, rhs, rhs / np.maximum(k, 1e-3))
        for _ in range(self.NEWTON_STEPS):
            log_sig, log_sig_neg = -np.logaddexp(0.0, -t), -np.logaddexp(0.0, t)
            step = (log_sig - k * log_sig_neg - rhs) / (np.exp(log_sig_neg) + k * np.exp(log_sig) + 1e-300)
            t = np.clip(t - step, -700.0, 700.0)  # k = 0 with f >= B has no root: w tends to B
            if not np.any(np.abs(step) > 1e-12):  # converged (NaN rows too): a few steps, not all (fits call this thousands of times)
                break
        return np.log(big_b * np.exp(-np.logaddexp(0.0, -t)) + e_inf)

    def bounds(self, ctx):
        return [-50.0, -EXP_MAX, 0.0, 0.0], [50.0, -MIN_SLOPE, 5.0, FLOOR_CEILING * ctx.eps_min]

    def starts(self, log_x, log_eps, ctx):
        b = _slope(log_x, log_eps)
        out = []
        for k in (0.0, 1.0):
            for frac in (0.0, 0.5):
                e_inf = frac * FLOOR_CEILING * ctx.eps_min
                excess = np.maximum(np.exp(log_eps) - e_inf, 1e-12)
                log_b = float(np.mean(np.log(excess) - k * np.log(ctx.e0 - np.exp(log_eps) + 1e-12) - b * log_x))
                out.append([log_b, b, k, e_inf])
        return out

    def asymptote(self, theta, ctx):
        return np.exp(theta[0]) * (ctx.e0 - theta[3]) ** theta[2], theta[1], theta[3]


class Broken(Law):
    name = "broken"
    formula = "eps = g + a m^-c0 (1 + (m/d)^(1/f))^-((c1 - c0) f)  (Caballero et al. 2022, one break)"
    params = ("g", "log_a", "c0", "c1", "log_d", "log_f")
    exponent_index = 3

    def log_error(self, theta, log_x, ctx):
        g, log_a, c0, c1, log_d, log_f = (theta[i] for i in range(6))
        f = np.exp(log_f)
        excess = log_a - c0 * log_x - (c1 - c0) * f * np.logaddexp(0.0, (log_x - log_d) / f)
        return np.log(np.exp(excess) + g)

    def bounds(self, ctx):
        return ([0.0, -50.0, 0.0, MIN_SLOPE, -15.0, math.log(0.05)],
                [FLOOR_CEILING * ctx.eps_min, 50.0, EXP_MAX, EXP_MAX, 15.0, math.log(5.0)])

    def starts(self, log_x, log_eps, ctx):
        c1 = -_slope(log_x, log_eps)
        out = []
        for log_d in np.quantile(log_x, [0.25, 0.5]):
            out.append([0.0, float(log_eps.max()), 0.05, c1, float(log_d), 0.0])
            out.append([0.5 * ctx.eps_min, float(log_eps.max()), 0.05, 1.5 * c1, float(log_d), 0.0])
        return out

    def asymptote(self, theta, ctx):
        g, log_a, c0, c1, log_d = (theta[i] for i in range(5))
        return np.exp(log_a + (c1 - c0) * log_d), -c1, g


class Plateau(Law):
    name = "plateau"
    formula = "eps = gamma + (e0 - gamma) (1 + (m/m0)^(-beta_g s))^(-1/s)  (small-data plateau e0, power law, floor)"
    params = ("log_x0", "b", "g", "log_s")
    exponent_index = 1

    def log_error(self, theta, log_x, ctx):
        log_x0, b, g, log_s = theta[0], theta[1], theta[2], theta[3]
        s = np.exp(log_s)
        excess = np.log(ctx.e0 - g) - np.logaddexp(0.0, -b * s * (log_x - log_x0)) / s
        return np.log(np.exp(excess) + g)

    def bounds(self, ctx):
        return [-30.0, -EXP_MAX, 0.0, math.log(0.2)], [30.0, -MIN_SLOPE, FLOOR_CEILING * ctx.eps_min, math.log(10.0)]

    def starts(self, log_x, log_eps, ctx):
        b = _slope(log_x, log_eps)
        out = []
        for frac in (0.0, 0.5):
            g = frac * FLOOR_CEILING * ctx.eps_min
            # where the power law through the points would meet the plateau e0
            log_x0 = float(np.mean(log_x) + (math.log(ctx.e0 - g) - np.mean(np.log(np.maximum(np.exp(log_eps) - g, 1e-12)))) / b)
            out.append([float(np.clip(log_x0, -29, 29)), b, g, 0.0])
        return out

    def asymptote(self, theta, ctx):
        log_x0, b, g = theta[0], theta[1], theta[2]
        return (ctx.e0 - g) * np.exp(-b * log_x0), b, g


class Flat(Law):
    """A curve that does not fall: its trend eps = a x^b with b free either way, so the report
    can say how flat (or rising) it is. Never a candidate for `auto`: fit.py uses it only when
    the curve's slope is not below zero by more than its noise (forecast.shape_of)."""

    name, formula, params = "flat", "eps = alpha * m^beta_g, beta_g within noise of 0 or above (the curve does not fall)", ("log_a", "b")
    exponent_index = 1

    def log_error(self, theta, log_x, ctx):
        return theta[0] + theta[1] * log_x

    def bounds(self, ctx):
        return [-50.0, -EXP_MAX], [50.0, EXP_MAX]

    def starts(self, log_x, log_eps, ctx):
        b = float(np.polyfit(log_x, log_eps, 1)[0])
        return [[float(np.mean(log_eps - b * log_x)), float(np.clip(b, -EXP_MAX + 0.01, EXP_MAX - 0.01))]]

    def asymptote(self, theta, ctx):
        return np.exp(theta[0]), theta[1], np.zeros(np.shape(theta[0]))


LAWS: dict[str, Law] = {law.name: law for law in (Power(), Hestness(), M3(), M4(), Broken(), Plateau())}
FLAT = Flat()


def get(name: str) -> Law:
    if name == FLAT.name:
        return FLAT
    try:
        return LAWS[name]
    except KeyError:
        raise ScalelabError(f"unknown law '{name}'; use auto or one of {', '.join(LAWS)}") from None


@dataclass(frozen=True)
class Fitted:
    """A law with its parameters: eps(m), the Hestness-style asymptote, the fit's residual cost."""

    law: Law
    theta: np.ndarray
    m_ref: float
    ctx: Context
    cost: float = 0.0  # half the sum of squared weighted residuals (scipy's convention)
    n: int = 0

    def log_error(self, m):
        return self.law.log_error(self.theta, np.log(np.asarray(m, float) / self.m_ref), self.ctx)

    def error(self, m):
        return np.exp(self.log_error(m))

    def residual_scale(self) -> float:
        """The weighted residuals' rms per degree of freedom: ~1 when the seeds explain the misfit,
        the misfit itself (in log error) when the fit had no seed weights."""
        return math.sqrt(2 * self.cost / max(self.n - self.law.n_params, 1))

    def asymptote(self) -> tuple[float, float, float]:
        """(alpha, beta_g, gamma) in units of m: eps ~ alpha m^beta_g + gamma for large m."""
        a, b, g = (float(v) for v in self.law.asymptote(self.theta, self.ctx))
        return a * self.m_ref ** (-b), b, g


def context(eps, e0: float | None) -> Context:
    eps = np.asarray(eps, float)
    top = float(eps.max())
    return Context(e0=max(e0 if e0 is not None else 0.0, 1.01 * top), eps_min=float(eps.min()), eps_max=top)


def fit_law(law: Law, m, eps, sigma=None, ctx: Context | None = None, m_ref: float | None = None,
            init=None) -> Fitted:
    """Weighted least squares on log eps within the law's bounds, from all its starting points at
    once (or from `init` alone), keeping the best (solve.solve_rows)."""
    m, eps = np.asarray(m, float), np.asarray(eps, float)
    if len(m) < law.min_points:
        raise ScalelabError(f"law {law.name} has {law.n_params} parameters and needs at least {law.min_points} points; got {len(m)}")
    ctx = ctx or context(eps, None)
    m_ref = m_ref or float(np.exp(np.mean(np.log(m))))
    log_x, log_eps = np.log(m / m_ref), np.log(eps)
    starts = [init] if init is not None else law.starts(log_x, log_eps, ctx)
    theta, cost = solve_rows(_residuals(law, log_x, log_eps[None, :], sigma, ctx), starts, *law.bounds(ctx))
    best = int(np.argmin(cost))
    if not np.isfinite(cost[best]):
        raise ScalelabError(f"law {law.name}: the fit did not converge on these points")
    return Fitted(law, theta[best], m_ref, ctx, float(cost[best]), len(m))


def refit_rows(fitted: Fitted, m, eps_rows, sigma=None) -> np.ndarray:
    """The law refitted to every row of `eps_rows` (B, len(m)) at once, each warm-started at the
    fit: the bootstrap's refits. Returns (B, n_params); rows that did not converge are NaN."""
    law, log_x = fitted.law, np.log(np.asarray(m, float) / fitted.m_ref)
    starts = np.repeat(np.asarray(fitted.theta, float)[None, :], len(eps_rows), axis=0)
    theta, cost = solve_rows(_residuals(law, log_x, np.log(eps_rows), sigma, fitted.ctx), starts, *law.bounds(fitted.ctx))
    return np.where(np.isfinite(cost)[:, None], theta, np.nan)


def _residuals(law: Law, log_x, log_eps_rows, sigma, ctx: Context):
    """residual_rows for solve_rows: weighted log residuals of parameter rows against the target
    row of each problem (one shared target when log_eps_rows has a single row)."""
    weight = 1.0 / np.asarray(sigma, float) if sigma is not None else 1.0
    shared = len(log_eps_rows) == 1

    def residual_rows(theta, which):
        target = log_eps_rows[0] if shared else log_eps_rows[which]
        return (law.log_error([theta[:, j:j + 1] for j in range(law.n_params)], log_x[None, :], ctx) - target) * weight
    return residual_rows


def jacobian_se(fitted: Fitted, m, eps, sigma=None) -> np.ndarray:
    """Standard errors of the parameters from the Jacobian at the fit (scaled by the residual
    variance): a quick, local measure, used where a bootstrap would cost too much."""
    m, eps = np.asarray(m, float), np.asarray(eps, float)
    weight = 1.0 / np.asarray(sigma, float) if sigma is not None else np.ones(len(m))
    log_x = np.log(m / fitted.m_ref)
    theta = np.asarray(fitted.theta, float)
    jac = np.empty((len(m), len(theta)))
    for j in range(len(theta)):
        step = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        jac[:, j] = (fitted.law.log_error(up, log_x, fitted.ctx) - fitted.law.log_error(down, log_x, fitted.ctx)) * weight / (2 * step)
    dof = max(len(m) - len(theta), 1)
    s2 = 2 * fitted.cost / dof
    cov = s2 * np.linalg.pinv(jac.T @ jac)
    return np.sqrt(np.maximum(np.diag(cov), 0.0))


# The laws as plain functions of m, for scipy.optimize.curve_fit or a plot: eps(m) with the
# parameters in the order of the formula, in units of m (no m_ref, no Context). Each calls its
# class's log_error at x = m (m_ref = 1), so the formulas live in one place.

def _eps(name: str, m, theta, e0: float = math.nan) -> np.ndarray:
    """eps(m) of law `name` at theta in its own convention; only m4 and plateau read e0."""
    theta = [np.asarray(v, float) for v in theta]
    return np.exp(LAWS[name].log_error(theta, np.log(np.asarray(m, float)), Context(e0, math.nan, math.nan)))


def _log(value):
    # log 0 is a limit, not an error: g = 0 in m3 is the plain power law a m^-c.
    with np.errstate(divide="ignore"):
        return np.log(value)


def power(m, alpha, beta):
    """eps = alpha m^beta (M1; Hestness et al. 2017's power-law region). alpha > 0, beta < 0."""
    return _eps("power", m, [_log(alpha), beta])


def hestness(m, alpha, beta, gamma):
    """eps = alpha m^beta + gamma (Hestness et al. 2017; M2): the power law and its floor gamma >= 0."""
    return _eps("hestness", m, [_log(alpha), beta, gamma])


def m3(m, a, c, g):
    """eps = a (1/m + g)^c (Alabdulmohsin et al. 2022, M3): a power law a m^-c bending to the
    floor a g^c beyond m = 1/g. a > 0, c > 0, g >= 0."""
    return _eps("m3", m, [_log(a), c, _log(g)])


def m4(m, b, c, k, e_inf, e0):
    """eps solving (eps - e_inf) / (e0 - eps)^k = b m^c (Alabdulmohsin et al. 2022, M4): from the
    error of guessing e0 down to the floor e_inf. b > 0, c < 0, k >= 0, 0 <= e_inf < e0."""
    return _eps("m4", m, [_log(b), c, k, e_inf], e0)


def broken(m, gamma, a, c0, c1, d, f):
    """eps = gamma + a m^-c0 (1 + (m/d)^(1/f))^-((c1 - c0) f) (Caballero et al. 2022, one break):
    slope -c0 below the break at m = d, -c1 above it, f its sharpness. a, d, f > 0."""
    return _eps("broken", m, [gamma, _log(a), c0, c1, _log(d), _log(f)])


def plateau(m, m0, beta, gamma, s, e0):
    """eps = gamma + (e0 - gamma) (1 + (m/m0)^(-beta s))^(-1/s) (scalelab's three regions, after
    Hestness et al. 2017): the small-data plateau e0, the power law of exponent beta < 0 from about
    m0, the floor gamma; s > 0 the bend's sharpness."""
    return _eps("plateau", m, [_log(m0), beta, gamma, _log(s)], e0)


CALLABLES = {f.__name__: f for f in (power, hestness, m3, m4, broken, plateau)}
