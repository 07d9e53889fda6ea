"""What training costs: the seconds every trial measured (its run.json), a power law of cost
against shard size, and the cost of training at a predicted size. Pure functions on tables.

Two costs per shard:
- the best configuration's: one training run of the chosen model (the median over its seeds),
  what the final model at a predicted size costs;
- the whole shard's: every trial of every family on it, what one more shard of the study costs.

Each is fitted as hours = a * m^b on the largest shards (COST_POINTS of them): small shards are
dominated by a fixed number of steps and by start-up, which says nothing about large m. The 95%
interval of a prediction is the regression's prediction interval in log hours (Student t): a
few timings give wide intervals, as they should.

Seconds are wall-clock, measured on the device the trials ran on: unlike every other number in
results/, they differ between two runs of the same study, and the cost numbers with them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from scalelab import study
from scalelab.errors import ScalelabError

TIMING_COLUMNS = ["family", "k", "size", "width", "lr", "seed", "seconds", "device", "device_name", "threads"]
COST_POINTS = 4  # the largest shards the cost law is fitted on


def device_hours(timing: pd.DataFrame) -> pd.Series:
    """Core-hours on a CPU (seconds x threads), GPU-hours on a GPU: what a cluster bills."""
    on_cpu = timing["device"].astype(str).str.startswith("cpu")
    return timing["seconds"] / 3600.0 * np.where(on_cpu, timing["threads"].fillna(1), 1)


def unit(timing: pd.DataFrame) -> str:
    """The unit of device_hours, naming the devices the timed trials were measured on."""
    timed = timing.dropna(subset=["seconds"])
    kinds = sorted({("core-hours" if str(d).startswith("cpu") else "GPU-hours", str(n))
                    for d, n in zip(timed["device"], timed["device_name"])})
    if len({k for k, _ in kinds}) > 1:
        return "device-hours (mixed: " + ", ".join(f"{k} on {n}" for k, n in kinds) + ")"
    return f"{kinds[0][0]} ({', '.join(n for _, n in kinds)})" if kinds else "hours"


def per_shard(timing: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """size, best (hours of one run of the shard's best configuration of best's family, median over
    seeds) and shard (hours of every trial on the shard, every family), largest shard last."""
    config = ["family", "k", *study.grid_columns(timing.columns)]
    timed = study.comparable(timing.assign(hours=device_hours(timing)).dropna(subset=["hours"]), config)
    runs = timed.groupby(config)["hours"].median()
    keys = [tuple(row[c] for c in config) for _, row in study.comparable(best, config).iterrows()]
    best_hours = [float(runs.get(key, math.nan)) for key in keys]
    whole = timed.groupby("size")["hours"].sum()
    sizes = best["size"].to_numpy(int)
    return pd.DataFrame({"size": sizes, "best": best_hours,
                         "shard": [float(whole.get(s, math.nan)) for s in sizes]}).sort_values("size").reset_index(drop=True)


class LogLine:
    """log y = log_a + b log x by least squares, with Student-t intervals: a power law y = a x^b
    (the cost laws here; sizing.trend, how the model size moves with m)."""

    def __init__(self, x, y):
        x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
        if len(x) < 3 or np.ptp(x) == 0:
            raise ScalelabError(f"{len(x)} points are too few for a line in log-log; 3 are needed")
        self.n, self.x_mean, self.sxx = len(x), float(np.mean(x)), float(np.sum((x - np.mean(x)) ** 2))
        self.b, self.log_a = (float(v) for v in np.polyfit(x, y, 1))
        self.scale = float(np.sqrt(np.sum((y - self.log_a - self.b * x) ** 2) / (self.n - 2)))
        self.t = float(stats.t.ppf(0.975, self.n - 2))

    def exponent_ci(self) -> list[float]:
        half = self.t * self.scale / math.sqrt(self.sxx)
        return [self.b - half, self.b + half]

    def predict(self, m: float) -> tuple[float, float, float]:
        """(point, low, high) of y at x = m, with its 95% prediction interval."""
        x = math.log(m)
        point = self.log_a + self.b * x
        half = self.t * self.scale * math.sqrt(1 + 1 / self.n + (x - self.x_mean) ** 2 / self.sxx)
        return math.exp(point), math.exp(point - half), math.exp(point + half)


class CostLaw(LogLine):
    """hours = a * m^b on the largest COST_POINTS shards with a positive timing."""

    def __init__(self, sizes, hours):
        sizes, hours = np.asarray(sizes, float), np.asarray(hours, float)
        ok = np.isfinite(hours) & (hours > 0)
        self.sizes = [float(v) for v in sizes[ok][-COST_POINTS:]]
        super().__init__(self.sizes, hours[ok][-COST_POINTS:])

    def to_dict(self) -> dict:
        return {"exponent": self.b, "exponent_ci": self.exponent_ci(), "log_a": self.log_a, "fitted_on": self.sizes}


def hours_at(law: dict, m: float) -> float:
    """A cost law's point at size m from its dict (CostLaw.to_dict, as cost.json stores it): the
    point CostLaw.predict gives, the same bytes, for a reader that has only the file."""
    return math.exp(law["log_a"] + law["exponent"] * math.log(m))


def cost_laws(shards: pd.DataFrame) -> dict:
    """The best run's and the whole shard's cost law (None where too few shards were timed)."""
    laws = {}
    for what in ("best", "shard"):
        try:
            laws[what] = CostLaw(shards["size"], shards[what])
        except ScalelabError:
            laws[what] = None
    return laws


def priced(prices: dict) -> bool:
    """Whether the reader set a price: then costs are also given, and the plan ranked, in money."""
    return any(v is not None for v in prices.values())


def money(hours: float | None, new_examples: float, prices: dict) -> float | None:
    """What a run costs in the reader's currency: compute at cost_per_hour plus the examples still
    to collect at cost_per_example; None when no price is set."""
    per_hour, per_example = prices.get("cost_per_hour"), prices.get("cost_per_example")
    if not priced(prices) or (per_hour is not None and hours is None):
        return None
    total = (per_hour or 0.0) * (hours or 0.0) + (per_example or 0.0) * max(new_examples, 0.0)
    return float(total)
