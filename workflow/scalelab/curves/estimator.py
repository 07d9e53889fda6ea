"""`scalelab.LearningCurve`: the measured-curve fit as an estimator a notebook user expects.

    lc = scalelab.LearningCurve(best_guess=0.9).fit(sizes, errors)
    lc.predict(65536), lc.interval(65536), lc.data_for(0.02), lc.doubling, lc.backtest, lc.plot()

A thin face over `scalelab.fit_curve` (curves/measured.py): `.fit` calls it with the same options,
and every answer reads the dict it returns, through the same functions the CLI and the pipeline
use (forecast.Forecast, fit.predict_data). So the estimator cannot disagree with `fit_curve`, and
`to_dict()` is that dict: a `fit-curve` JSON or one family of a study's results/fit.json loads
with `from_dict`. Only numpy is needed; pandas (`.backtest`) and matplotlib (`.plot`) are
imported when asked for.
"""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np

from scalelab.curves import fit, forecast, measured
from scalelab.errors import ScalelabError

# fit_curve's options and defaults, read from its signature: one source, so the estimator's
# defaults cannot drift from the function's. sizes, errors and params (one per row) are data: .fit's.
DATA = ("sizes", "errors", "params", "noise")
OPTIONS = {name: p.default for name, p in inspect.signature(measured.fit_curve).parameters.items() if name not in DATA}
LEVEL = fit.CI_LEVEL / 100  # the only level the forecast's interval is calibrated at (by its backtest)
# What answering needs of a fit dict; the rest (backtest, local_slope) is checked where it is read.
NEEDED = ("forecast", "context", "m_ref", "measured")


class LevelError(ScalelabError, ValueError):
    """An interval level the fit cannot give: a ValueError to Python, a one-line error to the CLI."""


class LearningCurve:
    """A learning curve's fit: what more data buys, with the fit's 95% intervals.

    LearningCurve(**options) takes scalelab.fit_curve's options, with its defaults (law, best_guess,
    bootstrap, seed, min_points, predict). Each point's noise comes from several errors at one size
    (seeds), or from .fit's `noise` where you know it."""

    def __init__(self, **options):
        measured.check_renamed(options, "LearningCurve")
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ScalelabError(f"LearningCurve: unknown option(s) {', '.join(unknown)}; "
                                f"the options are {', '.join(OPTIONS)} (as scalelab.fit_curve)")
        self.options = {**OPTIONS, **options}
        self._result = None

    def fit(self, sizes, errors, params=None, noise=None) -> LearningCurve:
        """Fit one entry per measurement (several at one size are seeds); params: the best model's
        parameter count per row, to fit the model-size law too; noise: each row's sd of log error
        where you know it, in place of the seeds' spread. Returns self."""
        return self._load(measured.fit_curve(sizes, errors, params=params, noise=noise, **self.options))

    def _load(self, result: dict) -> LearningCurve:
        self._result = result
        self._forecast = forecast.Forecast.from_result(result)  # built once: every prediction reads it
        return self

    def _fitted(self) -> dict:
        if self._result is None:
            raise ScalelabError("LearningCurve is not fitted: call .fit(sizes, errors) or LearningCurve.from_dict(d) first")
        return self._result

    @staticmethod
    def _sizes(m) -> np.ndarray:
        sizes = np.asarray(m, float)
        if not (np.all(np.isfinite(sizes)) and np.all(sizes > 0)):
            raise ScalelabError("LearningCurve: sizes to predict at must be positive and finite")
        return sizes

    def _predict(self, m):
        """(point, low, high) at sizes m: floats for a scalar m, arrays of m's shape otherwise."""
        self._fitted()
        sizes = self._sizes(m)
        out = self._forecast.predict(sizes.ravel())  # fit.predict_error's computation, vectorised
        if sizes.ndim == 0:
            return tuple(float(v[0]) for v in out)
        return tuple(v.reshape(sizes.shape) for v in out)

    def predict(self, m):
        """The forecast error at size(s) m: the floor laws and persistence averaged in log error,
        each weighted by its backtest (a flat or rising curve: its level), as fit_curve's `predictions`."""
        return self._predict(m)[0]

    def interval(self, m, level: float = LEVEL):
        """(low, high) of the error at size(s) m. Only the 95% interval exists: its width is
        calibrated on backtests at that level, and another level's would be a guess."""
        if not math.isclose(level, LEVEL):
            raise LevelError(f"LearningCurve.interval: level {level!r} is not available; the fit's interval is calibrated at {LEVEL:g} only")
        _, low, high = self._predict(m)
        return low, high

    def prediction(self, m: float) -> dict:
        """The error at one size as the pipeline records it (predictions.json, the ledger): size,
        error, error_ci, and beyond_trusted past the benchmarked horizon."""
        return fit.predict_error(self._fitted(), float(self._sizes(m)))

    def data_needed(self, target: float) -> dict:
        """data_for with its 95% bounds, as predictions.json records it: the size where the point
        reaches `target` and where the bounds do, and whether a measured size already has."""
        if not (isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
            raise ScalelabError(f"LearningCurve.data_for: the target error must be a positive number, not {target!r}")
        return fit.predict_data(self._fitted(), float(target))

    def data_for(self, target: float) -> float:
        """The training-set size at which the forecast reaches error `target` (inf if it never
        does). data_needed(target) gives the sizes where its 95% bounds do too."""
        return self.data_needed(target)["size"]

    @property
    def doubling(self) -> dict:
        """What one more doubling of data buys past the largest size: the error ratio and the
        local slope, each with its 95% interval (fit_curve's `local_slope`)."""
        return dict(self._part("local_slope"))

    @property
    def backtest(self):
        """The backtest as a pandas DataFrame, one row per held-out point of each law's splits
        (and of the forecast, which predictions use): law, holdout, size, observed, predicted,
        abs_log_error, and the law's mean and rank over the splits (NaN where it has none)."""
        try:
            import pandas as pd  # here, not at the top: the library itself needs no pandas
        except ImportError:
            raise ScalelabError("LearningCurve.backtest needs pandas (pip install pandas); to_dict()['backtest'] has the same") from None
        bt = self._part("backtest")
        measured_ = self._result["measured"]
        sizes, errors = np.asarray(measured_["size"]), np.asarray(measured_["error"])
        laws_ = bt["rows"] + ([bt["forecast"]] if bt.get("forecast") else [])
        rows = []
        for law in laws_:
            for h, predicted in law["predicted"].items():
                held = slice(len(sizes) - int(h), None)
                for m, e, p in zip(sizes[held], errors[held], predicted):
                    rows.append({"law": law["law"], "holdout": int(h), "size": float(m), "observed": float(e),
                                 "predicted": float(p), "abs_log_error": abs(math.log(p / e)),
                                 "law_mean": law.get("mean"), "law_rank": law.get("rank")})
        columns = ["law", "holdout", "size", "observed", "predicted", "abs_log_error", "law_mean", "law_rank"]
        return pd.DataFrame(rows, columns=columns).astype({"law_mean": float, "law_rank": float})

    def _part(self, key: str):
        result = self._fitted()
        if key not in result:
            raise ScalelabError(f"LearningCurve: the fit dict has no {key!r}; it is not a fit_curve result")
        return result[key]

    def plot(self, ax=None):
        """The measured points, the chosen law's fit, and the forecast with its 95% band out to
        the horizon the LCDB benchmark trusts (TRUSTED_HORIZON x the largest size), log-log.
        Draws on `ax` (pyplot's current axes if None) and returns it."""
        result = self._fitted()
        if ax is None:
            import matplotlib.pyplot as plt  # only without an axes: a given one leaves pyplot's state alone
            ax = plt.gca()
        sizes, errors = np.asarray(result["measured"]["size"]), np.asarray(result["measured"]["error"])
        m_last = result["forecast"]["m_last"]
        seeds = [(p["size"], s) for p in result.get("points", []) for s in p.get("seeds", [])]
        if seeds:
            ax.scatter(*zip(*seeds), s=8, color="0.6", label="seeds", zorder=2)
        ax.scatter(sizes, errors, s=24, color="C0", label="measured (median)", zorder=3)
        start = result.get("fit_start", sizes[0])
        along = np.exp(np.linspace(math.log(start), math.log(m_last), 100))
        with np.errstate(all="ignore"):
            ax.plot(along, fit.fitted_of(result).error(along), color="C0", label=f"law {result['law']}")
        ahead = np.exp(np.linspace(math.log(m_last), math.log(forecast.TRUSTED_HORIZON * m_last), 60))
        point, low, high = self._forecast.predict(ahead)
        ax.plot(ahead, point, color="C1", linestyle="--", label="forecast")
        ax.fill_between(ahead, low, high, color="C1", alpha=0.2, label=f"{LEVEL:.0%} interval")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training-set size")
        ax.set_ylabel("error")
        ax.legend()
        return ax

    def to_dict(self) -> dict:
        """The fit as scalelab.fit_curve returns it (a copy): JSON-ready, and what from_dict loads."""
        return copy.deepcopy(self._fitted())

    @classmethod
    def from_dict(cls, d: dict) -> LearningCurve:
        """A fitted estimator from fit_curve's dict, a `fit-curve` JSON, or one family of a study's
        results/fit.json. Its options are the defaults with those the dict records (best_guess,
        the bootstrap's n and seed), for a refit; the requested law is not recorded."""
        missing = [k for k in NEEDED if k not in d]
        if missing:
            raise ScalelabError(f"LearningCurve.from_dict: missing {', '.join(missing)}; expected a scalelab.fit_curve result")
        boot = d.get("bootstrap") or {}
        recorded = {"best_guess": d.get("best_guess"), "bootstrap": boot.get("n"), "seed": boot.get("seed")}
        lc = cls(**{k: v for k, v in recorded.items() if v is not None})
        return lc._load(copy.deepcopy(d))

    def __repr__(self) -> str:
        if self._result is None:
            return f"LearningCurve({', '.join(f'{k}={v!r}' for k, v in self.options.items() if OPTIONS[k] != v)}) (not fitted)"
        r = self._result
        return f"LearningCurve(law={r['law']}, beta_g={r.get('beta_g', math.nan):.4g}, {len(r['measured']['size'])} sizes)"
