"""Which model size to train: an answer with numbers even where the paper's size law cannot be
measured. Pure functions on the trials table.

The paper fits s(m) = alpha_p * m^beta_p to the best model's size per shard. That law is censored
where the best model is the widest (or narrowest) of the grid: a wider one might be better still
(or size does not matter down to the smallest tried). What the reader needs either way is the
smallest model that does as well as the best one as far as the seeds can tell, and how that size
moves with m:
- at each shard, the configurations whose median selection metric is within the seed noise of the
  best's (NOISE_SIGMAS standard errors of a difference of two medians over the shard's seeds);
  the one with the fewest parameters is "smallest within noise";
- its trend: log params against log m over the power-law shards, "flat" when the 95% interval of
  the slope holds 0, else a power law that is extrapolated to the predicted size.
"""

from __future__ import annotations

import math

import pandas as pd

from scalelab import registry, study
from scalelab.decisions import MAX_WIDTH, cost

NOISE_SIGMAS = 2.0  # within this many standard errors of the best: the seeds cannot tell them apart


def per_shard(trials: pd.DataFrame, family: str, metric: str, widths: list[int]) -> list[dict]:
    """For each shard of `family`: the best configuration (lowest median of `metric` over seeds),
    the smallest one within the seed noise of it, the noise, and the grid edge the best sits on."""
    ok = trials[(trials["family"] == family) & (trials["status"] == "ok")]
    rows = []
    by = study.grid_columns(trials.columns)
    for size, shard in ok.groupby("size"):
        configs = shard.groupby(by, dropna=False).agg(value=(metric, "median"), params=("params", "first"),
                                                     n=(metric, "size")).reset_index()
        best = configs.loc[configs["value"].idxmin()]
        spread = shard.groupby(by, dropna=False)[metric].var(ddof=1).dropna()
        n_seeds = int(configs["n"].max())
        noise = None
        if n_seeds > 1 and len(spread):
            noise = NOISE_SIGMAS * math.sqrt(float(spread.mean())) * math.sqrt(2.0 / n_seeds)
        close = configs[configs["value"] <= best["value"] + (noise or 0.0)]
        smallest = close.loc[close["params"].idxmin()]
        edge = "widest" if best["width"] == max(widths) else "narrowest" if best["width"] == min(widths) else None
        if len(widths) == 1:
            edge = "only"
        rows.append({"size": int(size), "best_width": int(best["width"]), "best_params": int(best["params"]),
                     "smallest_width": int(smallest["width"]), "smallest_params": int(smallest["params"]),
                     "noise": noise, "edge": edge})
    return rows


def trend(rows: list[dict], start: float) -> dict:
    """How the smallest-within-noise size moves with m over the shards from `start` (the power-law
    region): a power law params = a * m^b, or flat when the slope's 95% interval holds 0."""
    use = [r for r in rows if r["size"] >= start]
    last = use[-1] if use else rows[-1]
    flat = {"kind": "flat", "exponent": 0.0, "exponent_ci": None, "params": last["smallest_params"],
            "width": last["smallest_width"], "sizes": [r["size"] for r in use]}
    if len(use) < 3 or len({r["smallest_params"] for r in use}) == 1:
        return flat
    line = cost.LogLine([r["size"] for r in use], [r["smallest_params"] for r in use])
    lo, hi = line.exponent_ci()
    if lo <= 0 <= hi:
        return {**flat, "exponent": line.b, "exponent_ci": [lo, hi]}
    return {"kind": "moving", "exponent": line.b, "exponent_ci": [lo, hi], "log_a": line.log_a, "params": None,
            "width": None, "sizes": [r["size"] for r in use]}


def params_at(size_trend: dict, m: float) -> float:
    """The smallest-within-noise parameter count the trend gives at size m."""
    if size_trend["kind"] == "flat":
        return float(size_trend["params"])
    return math.exp(size_trend["log_a"] + size_trend["exponent"] * math.log(m))


def censoring(rows: list[dict], start: float) -> str | None:
    """Which way the paper's size law is censored over the power-law shards, in the reader's terms."""
    use = [r for r in rows if r["size"] >= start]
    wide = [r["size"] for r in use if r["edge"] == "widest"]
    narrow = [r["size"] for r in use if r["edge"] == "narrowest"]
    parts = []
    if wide:
        parts.append(f"the widest model tried won at m = {', '.join(f'{m:,}' for m in wide)}: a wider one might do "
                     "better there, so the best size is only known to be at least the widest")
    if narrow:
        parts.append(f"the narrowest model tried won at m = {', '.join(f'{m:,}' for m in narrow)}: size does not "
                     "limit the error there down to the smallest tried")
    return "; ".join(parts) or None


def params_of(family_name: str, width: int, input_shape: list[int], n_classes: int) -> int:
    """Parameters of the family's model at `width`, built on the meta device: counted, never allocated."""
    import torch

    from scalelab.models import count_params

    with torch.device("meta"):
        return count_params(registry.load("model", family_name).build(width, tuple(input_shape), n_classes))


def width_for_params(family_name: str, target: float, input_shape: list[int], n_classes: int) -> int | None:
    """The width whose model has the parameter count closest to `target` (count grows with width);
    None beyond MAX_WIDTH. Models are built on the meta device: parameters are counted, never
    allocated, so memory and time stay bounded whatever size a law asks for (about 30 builds)."""
    if not math.isfinite(target):
        return None

    def n(width: int) -> int:
        return params_of(family_name, width, input_shape, n_classes)

    if n(MAX_WIDTH) < target:
        return None  # beyond the search: the parameter count is still reported
    lo, hi = 1, 1
    while n(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if n(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda w: abs(n(w) - target))
