"""How far ahead can a learning curve be extrapolated? Fit the small sizes, predict the large ones.

What it measures, on LCDB 1.0 (Mohr et al. 2022, MIT licence: learning curves of 20 scikit-learn
learners on OpenML datasets, measured at anchors 16, 23, 32, 45, ... (x sqrt 2) by 5 outer seeds):
each curve is fitted on its anchors <= largest / 4 and asked for every larger anchor (1.4x up to
4-5.7x the largest fitted one, more where anchors were dropped). A prediction is scored by
|log(predicted / measured)| (0.05: about 5% off), the measured error being the median of the 5
seeds. Methods, in one table:
- scalelab: `scalelab.fit_curve(sizes, errors, predict=..., seed=0)`, the method under test, with
  its 95% intervals (options from --scalelab-args). A ScalelabError is a refusal;
- persistence: the last fitted value (median of its seeds), the baseline a law must beat;
- m4: Alabdulmohsin et al. 2022's M4, (eps - eps_inf) / (eps_0 - eps)^alpha = beta m^c, all five
  fitted as in their code (eps_0 too), here by least squares on log error from 4 starting points;
- mmf4, wbl4, pow4: LCDB's own curve models exactly as its analysis code fits them (fmohr/lcdb,
  publications/2022-tpami/analysis/fit4.py): on accuracy = 1 - error, linear residuals,
  Levenberg-Marquardt from random starts in [0, 1]^4 (pow4 starts from the best pow3), the best
  training MSE of 6 fits. A reference fit that fails (or predicts an error <= 0) falls back to
  persistence for that curve; the fallbacks are counted.
Two modes: `replicates` (the 5 seeds' values at each fitted anchor: 5 rows per size) and
`medians` (their median: one row per size). A refused or failed curve is scored as persistence
(what a user would fall back to); intervals are scored where given. Reported per mode and method:
median and mean |log ratio| at the farthest anchor, the share of curves where that error is below
persistence's (ties half), 95% coverage over all held-out anchors and per horizon (m / largest
fitted m), the median interval width log(hi / lo), refusals, fallbacks and seconds per curve.

Curves: inner_seed 0, error = 1 - score_test, one curve per (openmlid, learner). Anchors missing any
of the 5 outer seeds are dropped (a median of fewer seeds is a noisier truth; most such anchors
belong to curves missing a seed everywhere, which then drop out). A curve is eligible if what is
left has >= 10 anchors, a largest anchor >= 2048 and a median error >= 0.01 at every anchor
(below that a test split's error is a handful of examples). Of the 2,172 eligible curves, 1,113
have even OpenML ids (develop and tune on these: the default) and 1,059 odd (held out: run them
only when asked, --ids odd). The first run downloads the sdist (`pip download lcdb==0.1.0`, 68 MB)
into the cache (~/.cache/scalelab/lcdb, or --cache, or $SCALELAB_CACHE), unpacks the accuracy
table and the licence (218 MB stay there), and keeps the eligible curves in a 1 MB file there:
later runs load in under a second.

--synthetic runs the same protocol on curves with a known truth, drawn from five shapes (a power
law with a hard floor, a broken power law, an exponential tail to a floor, scalelab's own plateau
law and M4), at LCDB-like anchors up to 2^15-2^16, with 1-4% log-normal noise per value; its two
modes are 5 seeds per size and a single value per size, scored (coverage too) against the
noiseless truth. --kept runs it on the project's own kept studies (results/tables and
docs/presets/*/: the primary family's chosen configuration per shard, all seeds as rows; like
every curve here, fitted without the study's best guess, which LCDB does not have).

    python bench/bench_extrapolation.py --limit 40                   # 40 even-id curves (seed 0): 5-6 min
    python bench/bench_extrapolation.py --jobs 2 --json out.json     # all 1,113 even-id curves: about 2 h of CPU
    python bench/bench_extrapolation.py --synthetic --per-shape 10   # 5 shapes x 10 curves x 2 modes: 3.5-4 min
    python bench/bench_extrapolation.py --kept                       # 3-4 kept curves: 10 s
    python bench/bench_extrapolation.py --curves tests/data/lcdb_subset.csv --scalelab-args '{"bootstrap": 50}'
    python bench/bench_extrapolation.py --limit 12 --write-curves tests/data/lcdb_subset.csv  # the test's curves

Times measured 2026-12-04 on a shared 2-core VM with scalelab's method of that day, whose 0.5-10 s
a fit (1-2.5 s median) is nearly all of it; the reference fits take 0.05-0.8 s a curve. The test
(tests/test_extrapolation.py) runs the protocol on 12 committed curves.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tarfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

import scalelab  # noqa: E402
from scalelab.curves import simulate  # noqa: E402

# --- data -----------------------------------------------------------------------------------------

LCDB_PIN = "lcdb==0.1.0"
LCDB_SDIST = "lcdb-0.1.0.tar.gz"
LCDB_MEMBERS = {"database-accuracy.csv": "lcdb-0.1.0/lcdb/database-accuracy.csv",
                "LICENSE.txt": "lcdb-0.1.0/LICENSE.txt"}
DERIVED = "lcdb-eligible-v1.csv.gz"  # bump the version when the eligibility rules change
DEFAULT_CACHE = Path.home() / ".cache" / "scalelab" / "lcdb"
KEY = ["openmlid", "learner"]
COLUMNS = ["openmlid", "learner", "size_train", "outer_seed", "error"]

N_SEEDS = 5  # LCDB's outer seeds 0-4
MIN_ANCHORS = 10
MIN_LARGEST = 2048  # so that largest / 4 leaves the small-data region behind
MIN_ERROR = 0.01  # below, a test split's error is a handful of examples: too discrete to fit in log
SAMPLE_SEED = 0

# --- protocol -------------------------------------------------------------------------------------

FIT_FRACTION = 4  # fit the sizes <= largest / 4, predict the rest
KEPT_MIN_FIT = 4  # a kept curve with fewer fitted shards than this is fitted on <= largest / 2
MODES = ("replicates", "medians")
METHODS = ("scalelab", "persistence", "m4", "mmf4", "wbl4", "pow4")
WITH_INTERVALS = ("scalelab",)
# m / largest fitted m: up to 4 sqrt(2) on the anchor grid, further where anchors were dropped
HORIZON_BINS = ((1.0, 1.5), (1.5, 2.2), (2.2, 3.2), (3.2, math.inf))
TIE = 1e-12  # |log ratio| closer than this to persistence's is a tie (the same prediction)
FLAT_BAND = 0.05  # held-out part "flat": farthest measured within 5% of the last fitted
NOT_FALLING = -0.01  # a fitted part flatter than m^-0.01 in log-log: what scalelab refuses as not falling

# --- synthetic curves -----------------------------------------------------------------------------

SHAPES = ("hardmin", "broken", "exptail", "plateau", "m4")
SYNTH_SEEDS = 5
SYNTH_NOISE = (0.01, 0.04)  # log-normal sd per value
SYNTH_STEPS = (22, 24)  # largest anchor 16 * 2^(n/2), n drawn in this range: 2^15 .. 2^16


@dataclass
class Curve:
    """One learning curve: its measured errors per size (one array of seeds per size, sizes
    ascending), and what a prediction at each size is scored against (the median of the seeds on
    LCDB and kept curves, the noiseless error on synthetic ones)."""

    key: dict
    sizes: np.ndarray
    values: list[np.ndarray]
    truth: np.ndarray
    fit_upto: float = 0.0  # sizes <= this are fitted
    note: str = ""
    group: str = "lcdb"

    def __post_init__(self):
        if not self.fit_upto:
            self.fit_upto = self.sizes[-1] / FIT_FRACTION

    @property
    def n_fit(self) -> int:
        return int(np.sum(self.sizes <= self.fit_upto))


def cache_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("SCALELAB_CACHE") or DEFAULT_CACHE).expanduser()


def fetch_lcdb(cache: Path) -> Path:
    """The derived file of eligible curves in `cache`, made once: download the sdist, unpack the
    accuracy table and the licence, keep the eligible curves."""
    derived = cache / DERIVED
    if derived.exists():
        return derived
    cache.mkdir(parents=True, exist_ok=True)
    table = cache / "database-accuracy.csv"
    if not table.exists():
        sdist = cache / LCDB_SDIST
        if not sdist.exists():
            print(f"downloading {LCDB_PIN} (68 MB) into {cache}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            LCDB_PIN, "-d", str(cache)], check=True, stdout=sys.stderr)  # stdout is the report
        unpack(sdist, cache)
    print(f"selecting the eligible curves of {table} (once)", file=sys.stderr)
    rows = read_lcdb_table(table)
    write_csv(rows[rows.set_index(KEY).index.isin(eligible_keys(rows))], derived)
    return derived


def unpack(sdist: Path, cache: Path) -> None:
    with tarfile.open(sdist) as tar:
        for name, member in LCDB_MEMBERS.items():
            source = tar.extractfile(member)
            if source is None:
                raise SystemExit(f"error: {sdist} has no {member}")
            tmp = cache / f".{name}.tmp"
            tmp.write_bytes(source.read())
            tmp.replace(cache / name)


def read_lcdb_table(path: Path):
    """LCDB's accuracy table as error rows of inner seed 0 (columns COLUMNS)."""
    import pandas as pd

    rows = pd.read_csv(path, usecols=["openmlid", "learner", "size_train", "outer_seed", "inner_seed", "score_test"])
    rows = rows[rows["inner_seed"] == 0].copy()
    rows["error"] = 1.0 - rows["score_test"]
    return rows[COLUMNS].sort_values(KEY + ["size_train", "outer_seed"]).reset_index(drop=True)


def write_csv(rows, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    gzip = {"method": "gzip", "mtime": 0}  # no time stamp: the same rows give the same bytes
    rows.to_csv(tmp, index=False, float_format="%.10g", compression=gzip if path.suffix == ".gz" else None)
    tmp.replace(path)


def complete_anchors(rows):
    """The rows at anchors measured by all N_SEEDS outer seeds."""
    seeds = rows.groupby(KEY + ["size_train"])["outer_seed"].transform("nunique")
    return rows[seeds == N_SEEDS]


def eligible_keys(rows):
    """(openmlid, learner) of the eligible curves: at the anchors with all seeds, >= MIN_ANCHORS
    of them, the largest >= MIN_LARGEST and a median error >= MIN_ERROR at each."""
    anchors = complete_anchors(rows).groupby(KEY + ["size_train"])["error"].median().reset_index()
    per_curve = anchors.groupby(KEY).agg(n=("size_train", "size"), largest=("size_train", "max"), low=("error", "min"))
    ok = (per_curve["n"] >= MIN_ANCHORS) & (per_curve["largest"] >= MIN_LARGEST) & (per_curve["low"] >= MIN_ERROR)
    return per_curve.index[ok]


def read_curves_file(path: Path):
    """A CSV of curve rows (columns COLUMNS, as LCDB's derived file and tests/data/lcdb_subset.csv)."""
    import pandas as pd

    if not path.exists():
        raise SystemExit(f"error: {path}: not found")
    try:
        rows = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise SystemExit(f"error: {path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = set(COLUMNS) - set(rows.columns)
    if missing:
        raise SystemExit(f"error: {path}: missing column(s) {', '.join(sorted(missing))}; needs {','.join(COLUMNS)}")
    return rows[COLUMNS]


def select_keys(keys: list[tuple], ids: str, limit: int | None) -> list[tuple]:
    """The curves of the id parity asked for, sorted; with `limit`, a seeded sample of them."""
    parity = {"even": [0], "odd": [1], "all": [0, 1]}[ids]
    keys = sorted(k for k in keys if int(k[0]) % 2 in parity)
    if limit is not None and limit < len(keys):
        picked = np.random.default_rng(SAMPLE_SEED).choice(len(keys), size=limit, replace=False)
        keys = [keys[i] for i in sorted(picked)]
    return keys


def load_curves(path: Path, ids: str = "even", limit: int | None = None) -> tuple[list[Curve], dict]:
    """The eligible curves of a rows file (see read_curves_file), selected by id parity and sample;
    and counts of the eligible curves by parity."""
    rows = read_curves_file(path)
    keys = [tuple(k) for k in eligible_keys(rows)]
    counts = {"eligible": len(keys), "even": sum(int(k[0]) % 2 == 0 for k in keys)}
    counts["odd"] = counts["eligible"] - counts["even"]
    chosen = select_keys(keys, ids, limit)
    full = complete_anchors(rows[rows.set_index(KEY).index.isin(chosen)])
    groups = dict(iter(full.groupby(KEY)))
    return [curve_of_rows(k, groups[k]) for k in chosen], counts


def curve_of_rows(key: tuple, rows) -> Curve:
    sizes = np.array(sorted(rows["size_train"].unique()), float)
    values = [rows.loc[rows["size_train"] == m, "error"].to_numpy(float) for m in sizes]
    return Curve({"openmlid": int(key[0]), "learner": str(key[1])}, sizes, values,
                 np.array([np.median(v) for v in values]))


def write_curves(path: Path, source: Path, keys: list[tuple]) -> None:
    """All rows of these curves (anchors missing a seed too) from the rows file `source`."""
    rows = read_curves_file(source)
    write_csv(rows[rows.set_index(KEY).index.isin(keys)], path)


# --- reference fits -------------------------------------------------------------------------------

class FitFailed(Exception):
    pass


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


def m4_error(theta, m, m_ref):
    """M4's error at sizes m: the excess w = eps - eps_inf solves w = f (B - w)^alpha, f = beta
    (m / m_ref)^c, B = eps_0 - eps_inf. In u = log w the equation h(u) = u - log f - alpha log(B - e^u)
    = 0 is increasing and convex, so Newton from the right of the root (u = log f + alpha log B,
    capped below log B) walks down to it without overshooting."""
    log_beta, c, alpha, e_inf, e_0 = theta
    big_b = e_0 - e_inf
    log_f = log_beta + c * np.log(np.asarray(m, float) / m_ref)
    if alpha < 1e-9:  # the paper's code: eps_inf + f when alpha vanishes
        return e_inf + np.exp(log_f)
    log_big_b = math.log(big_b)
    u = np.minimum(log_f + alpha * log_big_b, log_big_b - 1e-12)
    for _ in range(60):
        w = np.exp(u)
        rest = np.maximum(big_b - w, big_b * 1e-15)
        step = (u - log_f - alpha * np.log(rest)) / (1.0 + alpha * w / rest)
        u = np.minimum(u - step, log_big_b - 1e-12)
        if np.max(np.abs(step)) < 1e-12:
            break
    return e_inf + np.exp(u)


def fit_m4(sizes, errors):
    """M4 with all five parameters fitted (eps_0 too, as Alabdulmohsin et al.'s code does), by least
    squares on log error within bounds: c <= 0, 0 <= alpha <= 5, 0 <= eps_inf < the smallest error,
    eps_0 above the largest. Four starting points (alpha 0.1 or 1, eps_inf 0 or half the smallest
    error); the lowest cost wins. Returns the fitted function of m."""
    from scipy.optimize import least_squares

    m, e = np.asarray(sizes, float), np.asarray(errors, float)
    m_ref = float(np.exp(np.mean(np.log(m))))
    lo = [-50.0, -5.0, 0.0, 0.0, 1.0001 * e.max()]
    hi = [50.0, 0.0, 5.0, 0.999 * e.min(), max(1.0, 1.5 * e.max())]
    slope = float(np.clip(np.polyfit(np.log(m), np.log(e), 1)[0], -2.0, -0.01))
    e_0 = float(np.clip(1.0, lo[4] + 1e-6, hi[4] - 1e-6))  # the paper's default err_0
    best = None
    for alpha in (0.1, 1.0):
        for frac in (0.0, 0.5):
            e_inf = frac * hi[3]
            log_beta = float(np.mean(np.log(e - e_inf) - alpha * np.log(e_0 - e) - slope * np.log(m / m_ref)))
            x0 = np.clip([log_beta, slope, alpha, e_inf, e_0], np.array(lo) + 1e-9, np.array(hi) - 1e-9)
            with np.errstate(all="ignore"):
                sol = least_squares(lambda t: np.log(m4_error(t, m, m_ref)) - np.log(e), x0, bounds=(lo, hi), method="trf")
            if np.isfinite(sol.cost) and (best is None or sol.cost < best.cost):
                best = sol
    if best is None:
        raise FitFailed("m4: no start converged")
    return lambda x: m4_error(best.x, x, m_ref)


# --- running one curve ----------------------------------------------------------------------------

def fit_rows(curve: Curve, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The (size, error) rows a method is fitted on: every seed's value, or one median per size."""
    n = curve.n_fit
    if mode == "replicates":
        sizes = np.concatenate([np.full(len(v), m) for m, v in zip(curve.sizes[:n], curve.values[:n])])
        return sizes, np.concatenate(curve.values[:n])
    return curve.sizes[:n].copy(), np.array([np.median(v) for v in curve.values[:n]])


def persistence(curve: Curve) -> float:
    return float(np.median(curve.values[curve.n_fit - 1]))


def seed_of(curve: Curve, mode: str, method: str) -> int:
    """A seed per (curve, mode, method): the random starts do not depend on order or --jobs."""
    return zlib.crc32(json.dumps([curve.key, mode, method], sort_keys=True).encode())


def predict(method: str, curve: Curve, mode: str, targets: np.ndarray, scalelab_args: dict) -> dict:
    """One method's predictions (and intervals, shape) at `targets`; raises ScalelabError
    (refusal) or FitFailed."""
    sizes, errors = fit_rows(curve, mode)
    if method == "persistence":
        return {"errors": np.full(len(targets), persistence(curve))}
    if method == "scalelab":
        r = scalelab.fit_curve(sizes, errors, predict=[float(t) for t in targets], seed=0, **scalelab_args)
        shape = r.get("shape")  # a name, or a dict with the name under "shape" and its evidence
        return {"errors": np.array([p["error"] for p in r["predictions"]], float),
                "intervals": [list(map(float, p["error_ci"])) for p in r["predictions"]],
                "extras": [{k: v for k, v in p.items() if k not in ("size", "error", "error_ci")} for p in r["predictions"]],
                "shape": shape.get("shape") if isinstance(shape, dict) else shape,
                "shape_detail": shape if isinstance(shape, dict) else None, "law": r.get("law")}
    with np.errstate(all="ignore"):
        if method == "m4":
            return {"errors": np.asarray(fit_m4(sizes, errors)(targets), float)}
        fun, _ = fit_lcdb(method, sizes, 1.0 - errors, targets, np.random.default_rng(seed_of(curve, mode, method)))
        return {"errors": 1.0 - np.asarray(fun(targets), float)}


def run_one(curve: Curve, mode: str, method: str, scalelab_args: dict) -> dict:
    """One method on one curve in one mode: its predictions at every held-out size against the
    truth, and |log ratio| at the farthest. A refusal or failure is scored as persistence."""
    targets, truth = curve.sizes[curve.n_fit:], curve.truth[curve.n_fit:]
    started = time.perf_counter()
    status, note, out = "ok", "", {}
    try:
        out = predict(method, curve, mode, targets, scalelab_args)
        if not np.all(np.isfinite(out["errors"]) & (out["errors"] > 0)):
            status, note = "failed", "a prediction is not a positive number"
    except scalelab.ScalelabError as exc:
        status, note = "refused", str(exc)
    except FitFailed as exc:
        status, note = "failed", str(exc)
    except Exception as exc:  # a bug in the method: counted and shown, the run goes on
        status, note = "crashed", f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    errors = out["errors"] if status == "ok" else np.full(len(targets), persistence(curve))
    intervals = out.get("intervals") if status == "ok" else None
    fitted_max = curve.sizes[curve.n_fit - 1]
    extras = out.get("extras") if status == "ok" else None
    points = [{"size": float(m), "horizon": float(m / fitted_max), "error": float(e), "truth": float(t),
               "ci": None if intervals is None else intervals[i], **(extras[i] if extras else {})}
              for i, (m, e, t) in enumerate(zip(targets, errors, truth))]
    return {**curve.key, "group": curve.group, "mode": mode, "method": method, "status": status, "note": note,
            "shape": out.get("shape"), "shape_detail": out.get("shape_detail"), "law": out.get("law"), "seconds": seconds,
            "fitted_sizes": [float(m) for m in curve.sizes[:curve.n_fit]],
            "abs_log_far": abs(math.log(points[-1]["error"] / points[-1]["truth"])), "points": points}


def run_curve(curve: Curve, modes=MODES, methods=METHODS, scalelab_args: dict | None = None) -> list[dict]:
    return [run_one(curve, mode, method, scalelab_args or {}) for mode in modes for method in methods]


def _run_task(task) -> list[dict]:
    return run_curve(*task)


def run_all(curves: list[Curve], modes, methods, scalelab_args: dict, jobs: int = 1) -> list[dict]:
    """Every curve through every mode and method; in curve order whatever `jobs` is."""
    tasks = [(c, modes, methods, scalelab_args) for c in curves]
    started, out = time.perf_counter(), []
    if jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for i, rows in enumerate(pool.imap(_run_task, tasks, chunksize=1), 1):
                out += rows
                progress(i, len(tasks), started)
    else:
        for i, task in enumerate(tasks, 1):
            out += _run_task(task)
            progress(i, len(tasks), started)
    return out


def progress(done: int, total: int, started: float) -> None:
    if done % 10 == 0 or done == total:
        print(f"  {done}/{total} curves, {time.perf_counter() - started:.0f} s", file=sys.stderr)


# --- summary --------------------------------------------------------------------------------------

def summarise(rows: list[dict]) -> list[dict]:
    """Per group (lcdb, a synthetic shape, a kept study), mode and method: the accuracy at the
    farthest anchor, the share of curves beating persistence there, interval coverage and width
    per horizon, refusals, fallbacks and time."""
    base = {(r["group"], r["mode"], curve_id(r)): r["abs_log_far"] for r in rows if r["method"] == "persistence"}
    out = []
    for group, mode, method in dict.fromkeys((r["group"], r["mode"], r["method"]) for r in rows):
        mine = [r for r in rows if (r["group"], r["mode"], r["method"]) == (group, mode, method)]
        far = np.array([r["abs_log_far"] for r in mine])
        s = {"group": group, "mode": mode, "method": method, "curves": len(mine),
             "median_abs_log_far": float(np.median(far)), "mean_abs_log_far": float(np.mean(far)),
             "beats_persistence": beat_share(mine, base),
             "refused": sum(r["status"] == "refused" for r in mine),
             "failed": sum(r["status"] in ("failed", "crashed") for r in mine),
             "crashed": sum(r["status"] == "crashed" for r in mine),
             "seconds_median": float(np.median([r["seconds"] for r in mine])),
             "seconds_total": float(np.sum([r["seconds"] for r in mine]))}
        if method in WITH_INTERVALS:
            s.update(interval_stats([p for r in mine if r["status"] == "ok" for p in r["points"]]))
        shapes = [r["shape"] for r in mine if r.get("shape")]
        if shapes:
            s["shapes"] = {k: shapes.count(k) for k in sorted(set(shapes))}
        out.append(s)
    return out


def curve_id(row: dict) -> str:
    return json.dumps({k: row[k] for k in ("openmlid", "learner", "shape_truth", "index", "study", "family") if k in row})


def beat_share(rows: list[dict], base: dict) -> float | None:
    if not rows or rows[0]["method"] == "persistence":
        return None
    score = []
    for r in rows:
        diff = r["abs_log_far"] - base[(r["group"], r["mode"], curve_id(r))]
        score.append(0.5 if abs(diff) <= TIE else float(diff < 0))
    return float(np.mean(score))


def interval_stats(points: list[dict]) -> dict:
    """95% coverage of the truth over all held-out points and per horizon bin, and the median
    width log(hi / lo) per bin (inf where an interval is unbounded)."""
    points = [p for p in points if p["ci"] is not None]
    if not points:
        return {"coverage": None, "by_horizon": []}
    bins = []
    for lo, hi in HORIZON_BINS:
        inside = [p for p in points if lo < p["horizon"] <= hi]
        bins.append({"bin": [lo, hi], "n": len(inside),
                     "coverage": float(np.mean([covered(p) for p in inside])) if inside else None,
                     "median_width": float(np.median([width(p) for p in inside])) if inside else None})
    return {"coverage": float(np.mean([covered(p) for p in points])), "points": len(points), "by_horizon": bins}


def covered(p: dict) -> bool:
    lo, hi = p["ci"]
    return bool(lo <= p["truth"] <= hi)  # NaN bounds cover nothing


def width(p: dict) -> float:
    lo, hi = p["ci"]
    return math.log(hi / lo) if lo > 0 and math.isfinite(hi) else math.inf


def describe_curves(curves: list[Curve]) -> dict:
    """How the held-out part moves: the farthest truth against the last fitted median (falling,
    flat within FLAT_BAND, rising), and how many fitted parts are flatter than NOT_FALLING."""
    change = np.array([math.log(c.truth[-1] / persistence(c)) for c in curves])
    slopes = np.array([np.polyfit(np.log(c.sizes[:c.n_fit]), np.log([np.median(v) for v in c.values[:c.n_fit]]), 1)[0]
                       for c in curves])
    return {"falling": int(np.sum(change < -FLAT_BAND)), "flat": int(np.sum(np.abs(change) <= FLAT_BAND)),
            "rising": int(np.sum(change > FLAT_BAND)), "fitted_part_not_falling": int(np.sum(slopes > NOT_FALLING))}


# --- synthetic curves -----------------------------------------------------------------------------

def synthetic_truth(shape: str, rng: np.random.Generator):
    """A noiseless error curve of the given shape, as a function of m (parameters drawn)."""
    if shape == "hardmin":  # eps = max(a m^b, floor): the power law stops dead at a floor
        e16, b, floor = rng.uniform(0.3, 0.7), rng.uniform(-0.8, -0.2), math.exp(rng.uniform(math.log(0.01), math.log(0.15)))
        return lambda m: np.maximum(e16 * (np.asarray(m, float) / 16) ** b, floor)
    if shape == "broken":  # slope b1, then b2 past a break at m_b (sharpness f), steeper or flatter
        e16, b1, b2 = rng.uniform(0.3, 0.7), rng.uniform(-0.7, -0.1), rng.uniform(-0.7, -0.1)
        m_b, f = math.exp(rng.uniform(math.log(256), math.log(2**14))), rng.uniform(0.1, 0.5)
        bend = lambda m: (1 + (np.asarray(m, float) / m_b) ** (1 / f)) ** ((b2 - b1) * f)  # noqa: E731
        return lambda m: e16 * (np.asarray(m, float) / 16) ** b1 * bend(m) / bend(16)
    if shape == "exptail":  # eps = g + a exp(-(m / tau)^k): saturates faster than any power law
        g, a = math.exp(rng.uniform(math.log(0.01), math.log(0.2))), rng.uniform(0.2, 0.6)
        tau, k = math.exp(rng.uniform(math.log(64), math.log(8192))), rng.uniform(0.3, 1.0)
        return lambda m: g + a * np.exp(-(np.asarray(m, float) / tau) ** k)
    truth = simulate.draw_truth(rng, shape)  # scalelab's plateau law, or M4
    return lambda m: simulate.true_error(truth, m)


def synthetic_curves(per_shape: int, seed: int = 0) -> list[Curve]:
    """per_shape curves of each shape, each observed by SYNTH_SEEDS seeds (mode replicates) and
    once (mode medians of a single value), at anchors round(16 * 2^(n/2)) as LCDB's."""
    curves = []
    for s, shape in enumerate(SHAPES):
        for i in range(per_shape):
            rng = np.random.default_rng([seed, s, i])
            truth = synthetic_truth(shape, rng)
            sizes = np.round(16 * 2 ** (np.arange(rng.integers(SYNTH_STEPS[0], SYNTH_STEPS[1] + 1) + 1) / 2))
            clean = truth(sizes)
            noisy = clean[:, None] * np.exp(rng.normal(0.0, rng.uniform(*SYNTH_NOISE), (len(sizes), SYNTH_SEEDS)))
            for mode, seeds in (("replicates", noisy), ("medians", noisy[:, :1])):
                curves.append(Curve({"shape_truth": shape, "index": i, "for_mode": mode}, sizes, list(seeds), clean, group=shape))
    return curves


def run_synthetic(curves: list[Curve], modes, methods, scalelab_args: dict, jobs: int) -> list[dict]:
    """Each synthetic curve in its own mode only (5 seeds: replicates; 1 value: medians)."""
    by_mode = {m: [c for c in curves if c.key["for_mode"] == m] for m in modes}
    rows = []
    for mode, mine in by_mode.items():
        rows += run_all(mine, (mode,), methods, scalelab_args, jobs)
    return rows


# --- kept curves ----------------------------------------------------------------------------------

def kept_studies() -> list[tuple[str, Path, Path]]:
    """(name, tables folder, params file) of the default study and each kept preset run."""
    out = [("default", ROOT / "results" / "tables", ROOT / "params.yaml")]
    for folder in sorted(p for p in (ROOT / "docs" / "presets").glob("*") if (p / "best.csv").exists()):
        out.append((folder.name, folder, ROOT / "presets" / f"{folder.name}.yaml"))
    return out


def primary_family(params: Path, best) -> str:
    """The first family of the study's params (its primary one), else best.csv's first."""
    import yaml

    if params.exists():
        models = (yaml.safe_load(params.read_text()) or {}).get("models") or {}
        if models:
            return next(iter(models))
    return str(best["family"].iloc[0])


def kept_curve(name: str, tables: Path, params: Path) -> Curve:
    """The primary family's test errors (every seed) of the configuration best.csv chose at each shard."""
    import pandas as pd

    best, trials = pd.read_csv(tables / "best.csv"), pd.read_csv(tables / "trials.csv")
    family = primary_family(params, best)
    if "status" in trials:
        trials = trials[trials["status"] == "ok"]
    sizes, values = [], []
    for _, b in best[best["family"] == family].sort_values("size").iterrows():
        mine = trials[(trials["family"] == family) & (trials["shard"] == b["shard"]) & (trials["width"] == b["width"])
                      & np.isclose(trials["lr"], b["lr"])]
        sizes.append(float(b["size"]))
        values.append(mine["test_error"].to_numpy(float))
    sizes = np.array(sizes)
    curve = Curve({"study": name, "family": family}, sizes, values, np.array([np.median(v) for v in values]), group=name)
    if curve.n_fit < KEPT_MIN_FIT:
        curve.fit_upto, curve.note = sizes[-1] / 2, "fitted on <= largest / 2 (largest / 4 left fewer than 4 shards)"
    return curve


# --- report ---------------------------------------------------------------------------------------

def fmt(v, spec=".3f") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, spec)


def summary_table(summary: list[dict], with_group: bool) -> str:
    head = (["truth"] if with_group else []) + ["mode", "method", "curves", "median abs log far", "mean", "beats persistence",
                                                "coverage 95%", "refused", "fallbacks", "s/curve median", "s total"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        cells = ([s["group"]] if with_group else []) + [
            s["mode"], s["method"], str(s["curves"]), fmt(s["median_abs_log_far"]), fmt(s["mean_abs_log_far"]),
            fmt(s["beats_persistence"], ".2f"), fmt(s.get("coverage"), ".2f"), str(s["refused"]),
            str(s["failed"]), fmt(s["seconds_median"], ".2f"), fmt(s["seconds_total"], ".0f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def horizon_table(summary: list[dict], with_group: bool) -> str:
    bins = [f"({lo:g}, {hi:g}]" if math.isfinite(hi) else f"> {lo:g}" for lo, hi in HORIZON_BINS]
    head = (["truth"] if with_group else []) + ["mode", "method"] + [f"{b} coverage / width / n" for b in bins]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        if not s.get("by_horizon"):
            continue
        cells = ([s["group"]] if with_group else []) + [s["mode"], s["method"]]
        cells += [f"{fmt(b['coverage'], '.2f')} / {fmt(b['median_width'], '.2f')} / {b['n']}" for b in s["by_horizon"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    return f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def report(title: str, summary: list[dict], rows: list[dict], with_group: bool, notes: list[str]) -> None:
    print(f"## {title}\n")
    for line in notes:
        print(line)
    print("\nmedian / mean |log(predicted / measured)| at the farthest held-out anchor; beats persistence: share of "
          "curves where that is smaller (ties half); coverage: of the 95% intervals over all held-out anchors; "
          "refused or failed curves are scored as persistence.\n")
    print(summary_table(summary, with_group))
    if any(s.get("by_horizon") for s in summary):
        print("\nper horizon (m / largest fitted m): coverage of the 95% intervals / median width log(hi / lo) / points\n")
        print(horizon_table(summary, with_group))
    shapes = [f"{s['group'] + ' ' if with_group else ''}{s['mode']}: " + ", ".join(f"{k} {v}" for k, v in s["shapes"].items())
              for s in summary if s.get("shapes")]
    if shapes:
        print("\nscalelab's shape: " + "; ".join(shapes))
    crashes = [r for r in rows if r["status"] == "crashed"]
    if crashes:
        print(f"\nCRASHED {len(crashes)} times (scored as persistence), first: {crashes[0]['method']} on "
              f"{curve_id(crashes[0])}: {crashes[0]['note']}")
    print()


def kept_table(rows: list[dict], curves: list[Curve]) -> str:
    head = ["study", "family", "fitted sizes", "predicted sizes", "measured", "scalelab", "95% interval",
            "persistence", "farthest abs log: scalelab / persistence / m4 / mmf4 / wbl4 / pow4"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in curves:
        mine = {r["method"]: r for r in rows if r.get("study") == c.key["study"]}
        s, p = mine.get("scalelab"), mine.get("persistence")
        fitted = ", ".join(f"{m:g}" for m in c.sizes[:c.n_fit]) + (f" ({c.note})" if c.note else "")
        seeds = "/".join(str(len(v)) for v in c.values)
        cells = [c.key["study"], f"{c.key['family']} (seeds {seeds})", fitted,
                 " / ".join(f"{m:g}" for m in c.sizes[c.n_fit:]),
                 " / ".join(f"{t:.4f}" for t in c.truth[c.n_fit:]),
                 " / ".join(f"{q['error']:.4f}" for q in s["points"]) + ("" if s["status"] == "ok" else f" ({s['status']})") if s else "-",
                 " / ".join(f"[{q['ci'][0]:.4f}, {q['ci'][1]:.4f}]" for q in s["points"]) if s and s["status"] == "ok" else "-",
                 f"{p['points'][0]['error']:.4f}" if p else "-",
                 " / ".join(fmt(mine[m]["abs_log_far"]) if m in mine else "-" for m in METHODS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ids", choices=["even", "odd", "all"], default="even", help="OpenML id parity (odd ids are held out)")
    p.add_argument("--limit", type=int, help="a seeded sample (seed 0) of this many eligible curves")
    p.add_argument("--curves", help="a CSV of curve rows (openmlid,learner,size_train,outer_seed,error) instead of LCDB")
    p.add_argument("--cache", help=f"where LCDB is downloaded and derived (default $SCALELAB_CACHE or {DEFAULT_CACHE})")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--scalelab-args", default="{}", help="JSON of extra keyword arguments to scalelab.fit_curve")
    p.add_argument("--jobs", type=int, default=1, help="worker processes over curves (results do not depend on it)")
    p.add_argument("--json", help="write the summary and every per-curve row here")
    p.add_argument("--synthetic", action="store_true", help="curves drawn from known truths of several shapes")
    p.add_argument("--per-shape", type=int, default=40)
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic curves")
    p.add_argument("--kept", action="store_true", help="the project's own kept curves (results/tables, docs/presets/*)")
    p.add_argument("--write-curves", help="write the selected LCDB curves' rows to this CSV and stop")
    args = p.parse_args(argv)
    for name in ("limit", "per_shape", "jobs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1; got {value}")
    if args.synthetic and args.kept:
        raise SystemExit("error: --synthetic and --kept are separate runs; give one")
    try:
        args.scalelab_args = json.loads(args.scalelab_args)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: --scalelab-args is not JSON ({exc})") from None
    if not isinstance(args.scalelab_args, dict):
        raise SystemExit("error: --scalelab-args must be a JSON object, e.g. '{\"bootstrap\": 50}'")
    check_scalelab_args(args.scalelab_args)
    args.modes, args.methods = check_list(args.modes, MODES, "modes"), check_list(args.methods, METHODS, "methods")
    if "persistence" not in args.methods:  # the baseline every other method is compared with
        args.methods = ("persistence", *args.methods)
    return args


def check_scalelab_args(options: dict) -> None:
    """A bad option is one error now, not a crash on every curve: try the options on a clean curve
    (scalelab.fit_curve may pass them on as **options, so its signature cannot tell)."""
    reserved = sorted({"sizes", "errors", "predict", "seed"} & set(options))
    if reserved:
        raise SystemExit(f"error: --scalelab-args: {', '.join(reserved)}: the benchmark sets these itself")
    if not options:
        return
    m = 2.0 ** np.arange(7, 15)
    try:
        scalelab.fit_curve(m, 0.5 * (m / m[0]) ** -0.5, predict=[2 * m[-1]], seed=0, **options)
    except TypeError as exc:
        raise SystemExit(f"error: --scalelab-args: {exc}") from None
    except Exception:  # noqa: BLE001 - options fine, this curve not: the real curves will tell
        pass


def check_list(text: str, allowed: tuple, what: str) -> tuple:
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in items if t not in allowed]
    if unknown or not items:
        raise SystemExit(f"error: --{what}: unknown {', '.join(unknown) or '(none given)'}; use some of {','.join(allowed)}")
    return items


def main_synthetic(args, header: list[str], started: float) -> tuple[list[dict], list[dict]]:
    curves = synthetic_curves(args.per_shape, args.seed)
    rows = run_synthetic(curves, args.modes, args.methods, args.scalelab_args, args.jobs)
    summary = summarise(rows)
    header.append(f"modes: replicates = {SYNTH_SEEDS} seeds per size, medians = a single value per size; "
                  f"noise {SYNTH_NOISE[0]:.0%}-{SYNTH_NOISE[1]:.0%} log-normal per value; truth: the noiseless curve")
    report(f"Synthetic curves: {args.per_shape} per shape ({', '.join(SHAPES)}), seed {args.seed}, fitted on sizes "
           f"<= largest / {FIT_FRACTION}", summary, rows, True, header + [f"wall: {time.perf_counter() - started:.0f} s"])
    return summary, rows


def main_kept(args, header: list[str], started: float) -> tuple[list[dict], list[dict]]:
    curves = [kept_curve(*study) for study in kept_studies()]
    rows = run_all(curves, ("replicates",), args.methods, args.scalelab_args, args.jobs)
    print(f"## Kept curves: the primary family's test error, fitted on shards <= largest / {FIT_FRACTION}, every seed a row\n")
    print("\n".join(header + [f"wall: {time.perf_counter() - started:.0f} s"]) + "\n")
    print(kept_table(rows, curves) + "\n")
    return summarise(rows), rows


def main_lcdb(args, header: list[str], started: float) -> tuple[list[dict], list[dict]] | None:
    if args.curves:
        source = Path(args.curves)
    else:
        cache = cache_dir(args.cache)
        print(f"LCDB cache: {cache}", file=sys.stderr)
        source = fetch_lcdb(cache)
    curves, counts = load_curves(source, args.ids, args.limit)
    if args.write_curves:
        write_curves(Path(args.write_curves), source, [(c.key["openmlid"], c.key["learner"]) for c in curves])
        print(f"wrote the rows of {len(curves)} curves to {args.write_curves}")
        return None
    if not curves:
        raise SystemExit(f"error: {source}: no eligible curve with {args.ids} ids")
    rows = run_all(curves, args.modes, args.methods, args.scalelab_args, args.jobs)
    summary, shape = summarise(rows), describe_curves(curves)
    header += [f"data: {source} ({counts['eligible']} eligible curves: {counts['even']} even ids, {counts['odd']} odd); "
               + (f"a sample of {args.limit} (seed {SAMPLE_SEED})" if args.limit else "all of them"),
               f"curves: {len({c.key['openmlid'] for c in curves})} datasets, {len({c.key['learner'] for c in curves})} "
               f"learners; farthest measured against the last fitted: falling {shape['falling']}, flat (within "
               f"{FLAT_BAND:.0%}) {shape['flat']}, rising {shape['rising']}; fitted part flatter than m^{NOT_FALLING:g}: "
               f"{shape['fitted_part_not_falling']}",
               f"scalelab args: {json.dumps(args.scalelab_args)}; wall: {time.perf_counter() - started:.0f} s"]
    report(f"Extrapolation on {args.curves or 'LCDB 1.0'}: {len(curves)} curves, {args.ids} OpenML ids, fitted on "
           f"anchors <= largest / {FIT_FRACTION}", summary, rows, False, header)
    return summary, rows


def command_line() -> str:
    script = os.path.relpath(sys.argv[0], Path.cwd()) if sys.argv[0] else "bench/bench_extrapolation.py"
    return "python " + shlex.join([script, *sys.argv[1:]])


def main(argv=None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    header = [f"command: `{command_line()}`", f"machine: {machine()}"]
    done = (main_synthetic if args.synthetic else main_kept if args.kept else main_lcdb)(args, header, started)
    if done and args.json:
        summary, rows = done
        out = {"command": command_line(), "machine": machine(), "args": vars(args),
               "wall_s": time.perf_counter() - started, "summary": summary, "rows": rows}
        Path(args.json).write_text(json.dumps(out, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
