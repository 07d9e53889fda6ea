"""The extrapolation benchmark's numbers and tables, computed from its per-curve rows alone (so a
run written earlier, by an older version, can be summarised the same way: --baseline).

A row is one method on one curve in one mode; its points are the held-out sizes, each with the
prediction ("error"), the truth and the 95% interval ("ci", or None). Scored per point:
|log(predicted / truth)|, whether the interval holds the truth, and its interval score
(intervals.interval_score). The headline metrics take the points up to the row's "far_size" (the
largest measured anchor; synthetic curves are also predicted beyond it, reported at 2x/4x/8x apart).

Subsets of LCDB's curves (subsets_of), from the persistence rows: falling, flat, rising
(lcdb_curves.trend_of_change: the farthest truth against the last fitted median, band FLAT_BAND),
and near floor: the half of the falling curves with the smallest persistence error at the farthest
anchor (the curves that have nearly stopped falling, where a law's extra drop is a risk).
"""

from __future__ import annotations

import json
import math

import numpy as np
from intervals import interval_score
from lcdb_curves import FLAT_BAND, trend_of_change

# m / largest fitted m: up to 4 sqrt(2) on the anchor grid, further where anchors were dropped
HORIZON_BINS = ((1.0, 1.5), (1.5, 2.2), (2.2, 3.2), (3.2, math.inf))
AT_HORIZONS = (2, 4, 8)  # the synthetic curves' horizons reported apart (x the largest fitted size)
AT_TOLERANCE = 0.03  # a point is "at" horizon k when |log(h / k)| is below this (anchors are rounded)
TIE = 1e-12  # |log ratio| closer than this to persistence's is a tie (the same prediction)
SUBSETS = ("all", "falling", "flat", "near floor")
KEY_FIELDS = ("openmlid", "learner", "shape_truth", "index", "study", "family", "cut")


# --- per point and per row ------------------------------------------------------------------------

def curve_id(row: dict) -> str:
    return json.dumps({k: row[k] for k in KEY_FIELDS if k in row})


def far_size(row: dict) -> float:
    return row.get("far_size") or row["points"][-1]["size"]


def scored(row: dict) -> list[dict]:
    """The held-out points the headline metrics take: up to the row's far size."""
    top = far_size(row) * (1 + 1e-9)
    return [p for p in row["points"] if p["size"] <= top]


def abs_log(p: dict) -> float:
    return abs(math.log(p["error"] / p["truth"]))


def abs_log_far(row: dict) -> float:
    return abs_log(scored(row)[-1])


def covered(p: dict) -> bool:
    lo, hi = p["ci"]
    return bool(lo <= p["truth"] <= hi)  # NaN bounds cover nothing


def width(p: dict) -> float:
    lo, hi = p["ci"]
    return math.log(hi / lo) if lo > 0 and math.isfinite(hi) else math.inf


def score(p: dict) -> float:
    return interval_score(p["ci"][0], p["ci"][1], p["truth"])


# --- subsets --------------------------------------------------------------------------------------

def subsets_of(rows: list[dict]) -> dict[tuple, set]:
    """(group, mode, curve id) -> the subsets (SUBSETS) the curve is in, from its persistence row."""
    base = {(r["group"], r["mode"], curve_id(r)): r for r in rows if r["method"] == "persistence"}
    out = {}
    for key, r in base.items():
        far = scored(r)[-1]
        out[key] = {"all", trend_of_change(math.log(far["truth"] / far["error"]))}
    for group, mode in {(g, m) for g, m, _ in base}:
        falling = sorted((abs_log_far(base[k]), k[2]) for k in base if k[:2] == (group, mode) and "falling" in out[k])
        for _, cid in falling[:(len(falling) + 1) // 2]:
            out[(group, mode, cid)].add("near floor")
    return out


# --- summaries ------------------------------------------------------------------------------------

def summarise(rows: list[dict], subsets: dict | None = None) -> list[dict]:
    """Per subset (all, then those of `subsets`), group (lcdb, a synthetic shape, a kept study and
    cut), mode and method: the accuracy at the farthest anchor, the share of curves beating
    persistence there, interval coverage, score and width overall and per horizon, the synthetic
    horizons, refusals, fallbacks and time."""
    base = {(r["group"], r["mode"], curve_id(r)): abs_log_far(r) for r in rows if r["method"] == "persistence"}
    names = ["all"] + ([s for s in SUBSETS[1:] if any(s in v for v in subsets.values())] if subsets else [])
    out = []
    for subset in names:
        for group, mode, method in dict.fromkeys((r["group"], r["mode"], r["method"]) for r in rows):
            mine = [r for r in rows if (r["group"], r["mode"], r["method"]) == (group, mode, method)
                    and (subset == "all" or subset in subsets.get((group, mode, curve_id(r)), ()))]
            if mine:
                out.append(summary_of(mine, base, subset))
    return out


def summary_of(mine: list[dict], base: dict, subset: str) -> dict:
    far = np.array([abs_log_far(r) for r in mine])
    first = mine[0]
    s = {"subset": subset, "group": first["group"], "mode": first["mode"], "method": first["method"], "curves": len(mine),
         "median_abs_log_far": float(np.median(far)), "mean_abs_log_far": float(np.mean(far)),
         "beats_persistence": beat_share(mine, base),
         "refused": sum(r["status"] == "refused" for r in mine),
         "failed": sum(r["status"] in ("failed", "crashed") for r in mine),
         "crashed": sum(r["status"] == "crashed" for r in mine),
         "seconds_median": float(np.median([r["seconds"] for r in mine])),
         "seconds_total": float(np.sum([r["seconds"] for r in mine])),
         "interval_seconds_median": median_or_none([r["interval_seconds"] for r in mine if "interval_seconds" in r])}
    s.update(interval_stats([p for r in mine for p in scored(r)]))
    s["at_horizon"] = at_horizons([(p, r) for r in mine for p in r["points"]])
    shapes = [r["shape"] for r in mine if r.get("shape")]
    if shapes:
        s["shapes"] = {k: shapes.count(k) for k in sorted(set(shapes))}
    return s


def median_or_none(values) -> float | None:
    return float(np.median(values)) if len(values) else None


def beat_share(rows: list[dict], base: dict) -> float | None:
    if not rows or rows[0]["method"] == "persistence":
        return None
    points = []
    for r in rows:
        diff = abs_log_far(r) - base[(r["group"], r["mode"], curve_id(r))]
        points.append(0.5 if abs(diff) <= TIE else float(diff < 0))
    return float(np.mean(points))


def interval_stats(points: list[dict]) -> dict:
    """95% coverage of the truth, the mean interval score and the median width log(hi / lo) over
    all held-out points with an interval and per horizon bin (inf where an interval is unbounded)."""
    points = [p for p in points if p.get("ci") is not None]
    if not points:
        return {"coverage": None, "interval_score": None, "points": 0, "by_horizon": []}
    bins = []
    for lo, hi in HORIZON_BINS:
        inside = [p for p in points if lo < p["horizon"] <= hi]
        bins.append({"bin": [lo, hi], "n": len(inside),
                     "coverage": float(np.mean([covered(p) for p in inside])) if inside else None,
                     "interval_score": float(np.mean([score(p) for p in inside])) if inside else None,
                     "median_width": float(np.median([width(p) for p in inside])) if inside else None})
    return {"coverage": float(np.mean([covered(p) for p in points])), "points": len(points),
            "interval_score": float(np.mean([score(p) for p in points])), "by_horizon": bins}


def at_horizons(pairs: list[tuple[dict, dict]]) -> dict:
    """At each of AT_HORIZONS (where a point is): median |log ratio|, coverage, mean interval score."""
    out = {}
    for k in AT_HORIZONS:
        at = [p for p, _ in pairs if abs(math.log(p["horizon"] / k)) < AT_TOLERANCE]
        if at:
            with_ci = [p for p in at if p.get("ci") is not None]
            out[str(k)] = {"n": len(at), "median_abs_log": float(np.median([abs_log(p) for p in at])),
                           "coverage": float(np.mean([covered(p) for p in with_ci])) if with_ci else None,
                           "interval_score": float(np.mean([score(p) for p in with_ci])) if with_ci else None}
    return out


# --- tables ---------------------------------------------------------------------------------------

def fmt(v, spec=".3f") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, spec)


def markdown(head: list[str], body: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(c) + " |" for c in body])


def summary_table(summary: list[dict], with_group: bool) -> str:
    head = (["truth"] if with_group else []) + [
        "mode", "method", "curves", "median abs log far", "mean", "beats persistence", "coverage 95%", "interval score",
        "refused", "fallbacks", "s/curve median", "interval s/curve", "s total"]
    body = [([s["group"]] if with_group else []) + [
        s["mode"], s["method"], str(s["curves"]), fmt(s["median_abs_log_far"]), fmt(s["mean_abs_log_far"]),
        fmt(s["beats_persistence"], ".2f"), fmt(s.get("coverage"), ".3f"), fmt(s.get("interval_score")), str(s["refused"]),
        str(s["failed"]), fmt(s["seconds_median"], ".2f"), fmt(s.get("interval_seconds_median"), ".2f"), fmt(s["seconds_total"], ".0f")]
        for s in summary]
    return markdown(head, body)


def horizon_table(summary: list[dict], with_group: bool) -> str:
    bins = [f"({lo:g}, {hi:g}]" if math.isfinite(hi) else f"> {lo:g}" for lo, hi in HORIZON_BINS]
    head = (["truth"] if with_group else []) + ["mode", "method"] + [f"{b} coverage / score / width / n" for b in bins]
    body = [([s["group"]] if with_group else []) + [s["mode"], s["method"]]
            + [f"{fmt(b['coverage'], '.2f')} / {fmt(b['interval_score'], '.2f')} / {fmt(b['median_width'], '.2f')} / {b['n']}"
               for b in s["by_horizon"]]
            for s in summary if s.get("by_horizon")]
    return markdown(head, body)


def at_horizon_table(summary: list[dict]) -> str:
    """Synthetic curves at 2x, 4x and 8x the largest fitted size."""
    head = ["truth", "mode", "method"] + [f"{k}x: median abs log / coverage / score" for k in AT_HORIZONS]
    body = []
    for s in summary:
        cells = [s["group"], s["mode"], s["method"]]
        for k in AT_HORIZONS:
            a = s["at_horizon"].get(str(k))
            cells.append(f"{fmt(a['median_abs_log'])} / {fmt(a['coverage'], '.2f')} / {fmt(a['interval_score'], '.2f')}" if a else "-")
        body.append(cells)
    return markdown(head, body)


def clean_table(summary: list[dict]) -> str:
    """scalelab against the right law (the truth's own library law fitted alone), per shape and mode."""
    by = {(s["group"], s["mode"], s["method"]): s for s in summary}
    head = ["truth", "mode", "curves", "far: scalelab / right law / ratio"] + [f"{k}x: scalelab / right law / ratio" for k in AT_HORIZONS]
    body = []
    for (group, mode, method), right in by.items():
        mine = by.get((group, mode, "scalelab"))
        if method != "right_law" or mine is None:
            continue
        cells = [group, mode, str(right["curves"]), ratio_cell(mine["median_abs_log_far"], right["median_abs_log_far"])]
        for k in AT_HORIZONS:
            a, b = mine["at_horizon"].get(str(k)), right["at_horizon"].get(str(k))
            cells.append(ratio_cell(a["median_abs_log"], b["median_abs_log"]) if a and b else "-")
        body.append(cells)
    return markdown(head, body)


def ratio_cell(mine: float, right: float) -> str:
    return f"{fmt(mine)} / {fmt(right)} / {fmt(mine / right if right > 0 else math.inf, '.2f')}x"


def report(title: str, summary: list[dict], rows: list[dict], with_group: bool, notes: list[str]) -> None:
    print(f"## {title}\n")
    for line in notes:
        print(line)
    print("\nmedian / mean |log(predicted / measured)| at the farthest held-out anchor; beats persistence: share of "
          "curves where that is smaller (ties half); coverage: of the 95% intervals over all held-out anchors; interval "
          "score: their mean interval score in log error (Gneiting & Raftery 2007, alpha 0.05: width + 40 x any miss), "
          "lower is better; scalelab's intervals are its own, every other method's from its own backtest "
          "(bench/intervals.py); refused or failed curves are scored as persistence, its interval included.")
    for subset in dict.fromkeys(s["subset"] for s in summary):
        mine = [s for s in summary if s["subset"] == subset]
        curves = max(s["curves"] for s in mine)
        print(f"\n### {subset_title(subset)}: {curves} curves\n")
        print(summary_table(mine, with_group))
    everything = [s for s in summary if s["subset"] == "all"]
    print("\nper horizon (m / largest fitted m), all curves: coverage of the 95% intervals / mean interval score / "
          "median width log(hi / lo) / points\n")
    print(horizon_table(everything, with_group))
    shapes = [f"{s['group'] + ' ' if with_group else ''}{s['mode']}{'' if s['method'] == 'scalelab' else ' ' + s['method']}: " + ", ".join(f"{k} {v}" for k, v in s["shapes"].items())
              for s in everything if s.get("shapes")]
    if shapes:
        print("\nscalelab's shape: " + "; ".join(shapes))
    crashes = [r for r in rows if r["status"] == "crashed"]
    if crashes:
        print(f"\nCRASHED {len(crashes)} times (scored as persistence), first: {crashes[0]['method']} on "
              f"{curve_id(crashes[0])}: {crashes[0]['note']}")
    print()


def subset_title(subset: str) -> str:
    return {"all": "All curves",
            "falling": f"Falling: the farthest truth below the last fitted median by more than {FLAT_BAND:.0%}",
            "flat": f"Flat: the farthest truth within {FLAT_BAND:.0%} of the last fitted median",
            "near floor": "Near floor: the half of the falling curves with the smallest persistence error at the farthest anchor",
            }.get(subset, subset)


def timing_lines(summary: list[dict], wall: float) -> list[str]:
    """Seconds per curve (median over curves and modes) per method, and the whole run's wall time."""
    per = {}
    for s in summary:
        if s["subset"] == "all":
            per.setdefault(s["method"], []).append(s["seconds_median"])
    return ["time per curve (median, seconds; the point fit, intervals apart): "
            + ", ".join(f"{m} {np.median(v):.2f}" for m, v in per.items()), f"wall time of the run: {wall:.1f} s"]


def kept_table(rows: list[dict], methods: tuple) -> str:
    """Per kept study and cut: the fitted sizes, the measured errors held out, each method's
    prediction with its |log error|, scalelab's interval and its interval score."""
    head = ["study", "cut", "fitted sizes", "predicted sizes", "measured"] + [f"{m} (abs log)" for m in methods] + [
        "scalelab 95% interval", "scalelab interval score"]
    body = []
    for key in dict.fromkeys((r["study"], r["cut"]) for r in rows):
        mine = {r["method"]: r for r in rows if (r["study"], r["cut"]) == key}
        any_row = next(iter(mine.values()))
        seeds = "/".join(str(n) for n in any_row.get("seeds", []))
        cells = [f"{key[0]} ({any_row['family']}{', seeds ' + seeds if seeds else ''})", str(key[1]),
                 ", ".join(f"{m:g}" for m in any_row["fitted_sizes"]),
                 " / ".join(f"{p['size']:g}" for p in any_row["points"]),
                 " / ".join(f"{p['truth']:.4f}" for p in any_row["points"])]
        for m in methods:
            r = mine.get(m)
            cells.append(" / ".join(f"{p['error']:.4f} ({abs_log(p):.3f})" for p in r["points"])
                         + ("" if r["status"] == "ok" else f" ({r['status']})") if r else "-")
        s = mine.get("scalelab")
        ok = s is not None and all(p.get("ci") for p in s["points"])
        cells.append(" / ".join(f"[{p['ci'][0]:.4f}, {p['ci'][1]:.4f}]" for p in s["points"]) if ok else "-")
        cells.append(" / ".join(fmt(score(p), ".3f") for p in s["points"]) if ok else "-")
        body.append(cells)
    return markdown(head, body)
