"""The reference fits the benchmark compares scalelab with, each a function of the fitted rows that
returns the fitted curve as a function of m (error at sizes m):

- mmf4, wbl4, pow4: LCDB's own curve models exactly as its analysis code fits them (fmohr/lcdb,
  publications/2022-tpami/analysis/fit4.py): on accuracy = 1 - error, linear residuals,
  Levenberg-Marquardt from random starts in [0, 1]^4 (pow4 starts from the best pow3), the best
  training MSE of 6 fits;
- m4: Alabdulmohsin et al. 2022's M4, (eps - e_inf) / (e0 - eps)^k = b m^c, as the LIBRARY fits it
  (scalelab.curves.laws, `laws.fit_law(laws.get("m4"), ...)`): least squares on log error from its
  four starts. Unlike the paper's code, which fits e0 too, the library fixes e0 at a context value
  and fits the other four: here `laws.context(errors, None)`, e0 = 1.01 x the largest fitted error,
  what the library does when it is given no best guess (nor is scalelab.fit_curve here);
- right_law (synthetic curves only): the library law the truth was drawn from, fitted alone the same
  way, on the same context: what a user who knew the family would get.

A fit that fails raises FitFailed (the benchmark then falls back to persistence and counts it).
"""

from __future__ import annotations

import numpy as np

from scalelab.curves import laws
from scalelab.errors import ScalelabError

REFERENCES = ("m4", "mmf4", "wbl4", "pow4")
N_PARAMS = {"m4": 4, "mmf4": 4, "wbl4": 4, "pow4": 4}  # the residual scale's degrees of freedom


class FitFailed(Exception):
    pass


def fit_reference(method: str, sizes, errors, targets, rng: np.random.Generator):
    """The fitted error curve (a function of m) of one reference method on rows (sizes, errors);
    `targets` are where it will be asked (LCDB's fits reject a fit that is not finite there)."""
    sizes, errors = np.asarray(sizes, float), np.asarray(errors, float)
    if len(sizes) < N_PARAMS[method]:  # Levenberg-Marquardt needs a row per parameter: fail now, not after 100 tries
        raise FitFailed(f"{method}: {len(sizes)} rows for {N_PARAMS[method]} parameters")
    with np.errstate(all="ignore"):
        if method == "m4":
            return fit_library_law("m4", sizes, errors)
        fun, _ = fit_lcdb(method, sizes, 1.0 - errors, targets, rng)
    return lambda m: 1.0 - np.asarray(fun(np.asarray(m, float)), float)


def fit_library_law(name: str, sizes, errors):
    """One law of scalelab.curves.laws fitted alone on the rows, with the library's context for
    a curve without a best guess (e0 just above the largest error)."""
    law = laws.get(name)
    try:
        fitted = laws.fit_law(law, sizes, errors, ctx=laws.context(errors, None))
    except ScalelabError as exc:
        raise FitFailed(f"{name}: {exc}") from None
    return lambda m: np.asarray(fitted.error(np.asarray(m, float)), float)


def lcdb_model(name: str, beta):
    """LCDB's curve models (fit4.py's get_fun), on the score (accuracy) scale."""
    a, b, c = beta[0], beta[1], beta[2]
    d = beta[3] if len(beta) > 3 else None
    return {
        "pow3": lambda x: a - b * x ** (-c),
        "mmf4": lambda x: (a * b + c * x ** d) / (b + x ** d),
        "wbl4": lambda x: c - b * np.exp(-a * x ** d),
        "pow4": lambda x: a - b * (x + d) ** (-c),
    }[name]


LCDB_PARAMS = {"pow3": 3, "mmf4": 4, "wbl4": 4, "pow4": 4}
LCDB_FITS = 6  # fit4.py: `rep = 5; while i <= rep`, six successful fits
LCDB_GIVE_UP = (1000, 100)  # fit4.py gives up after this many bad starts / bad fits


def fit_lcdb(name: str, sizes, scores, targets, rng: np.random.Generator):
    """fit4.py's fit_model: Levenberg-Marquardt on the score from random starts in [0, 1]^p; a
    start must give finite values, a fit finite extrapolations; the best training MSE of
    LCDB_FITS fits. Returns the fitted function."""
    from scipy.optimize import least_squares

    sizes, scores, targets = (np.asarray(v, float) for v in (sizes, scores, targets))
    every = np.concatenate([sizes, targets])
    fits, bad_starts, bad_fits = [], 0, 0
    while len(fits) < LCDB_FITS:
        while True:
            if bad_starts > LCDB_GIVE_UP[0] or bad_fits > LCDB_GIVE_UP[1]:
                raise FitFailed(f"{name}: gave up after {bad_starts} bad starts and {bad_fits} bad fits")
            init = rng.random(LCDB_PARAMS[name])
            if name == "pow4":  # as fit4.py: a fresh pow3 fit gives the first three
                init[:3] = fit_lcdb_beta("pow3", sizes, scores, targets, rng)
            if np.all(np.isfinite(lcdb_model(name, init)(every))):
                break
            bad_starts += 1
        try:
            beta = least_squares(lambda t: lcdb_model(name, t)(sizes) - scores, init, method="lm").x
        except ValueError:  # non-finite residuals on the way
            bad_fits += 1
            continue
        if np.all(np.isfinite(lcdb_model(name, beta)(targets))):
            fits.append((float(np.mean((lcdb_model(name, beta)(sizes) - scores) ** 2)), beta))
        else:
            bad_fits += 1
    best = min(fits, key=lambda f: f[0])[1]
    return lcdb_model(name, best), best


def fit_lcdb_beta(name, sizes, scores, targets, rng):
    return fit_lcdb(name, sizes, scores, targets, rng)[1]
