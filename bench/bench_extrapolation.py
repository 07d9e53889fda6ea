"""How far ahead can a learning curve be extrapolated? Fit the small sizes, predict the large ones.

The runner and command line of the extrapolation benchmark; its parts are modules beside it:
lcdb_curves.py (LCDB 1.0's curves and the Curve record), reference_fits.py (M4 and LCDB's MMF4,
WBL4, POW4), synthetic_curves.py (curves with a known truth), kept_curves.py (the project's own),
intervals.py (the backtest intervals of the methods that give none, and the interval score) and
extrapolation_report.py (the numbers and tables).

What it measures, on LCDB 1.0 (lcdb_curves.py): each curve is fitted on its anchors <= largest / 4
and asked for every larger anchor (1.4x up to 4-5.7x the largest fitted one, more where anchors
were dropped). A prediction is scored by |log(predicted / measured)| (0.05: about 5% off), the
measured error being the median of the 5 seeds, and its 95% interval by coverage and the interval
score in log error (Gneiting & Raftery 2007). Methods, in one table:
- scalelab: `scalelab.fit_curve(sizes, errors, predict=..., seed=0)`, the method under test, with
  its own 95% intervals (options from --scalelab-args). A ScalelabError is a refusal;
- persistence: the last fitted value (median of its seeds), the baseline a law must beat;
- m4, mmf4, wbl4, pow4: the reference fits (reference_fits.py): the library's M4 fitted alone, and
  LCDB's own models as its fit4.py fits them. A reference fit that fails (or predicts an error
  <= 0) falls back to persistence for that curve; the fallbacks are counted;
- right_law (--synthetic only): the library law the truth was drawn from, fitted alone.
Every method but scalelab gets its interval from its own backtest (intervals.py: scalelab's
parameter-free construction with the method in its place). Two modes: `replicates` (the 5 seeds'
values at each fitted anchor: 5 rows per size) and `medians` (their median: one row per size). A
refused or failed curve is scored as persistence, its interval too (what a user would fall back
to). Reported per mode and method, on all curves and on the falling, flat and near-floor ones
(extrapolation_report.py): median and mean |log ratio| at the farthest anchor, the share of curves
where that is below persistence's (ties half), 95% coverage and mean interval score over all
held-out anchors and per horizon (m / largest fitted m), refusals, fallbacks, seconds per curve
and the run's wall time.

--synthetic runs the same protocol on curves with a known truth (synthetic_curves.py: five shapes;
5 seeds per size, or a single value per size), scored against the noiseless truth, and also at 2x,
4x and 8x the largest fitted size; its clean-curve table sets scalelab against right_law. --kept
runs it on the project's own kept studies (kept_curves.py), each fitted on all shards but the last
one, and all but the last two. --baseline adds the scalelab rows of an earlier run's --json (any
version of this script) as method scalelab@baseline, on the curves both runs have.

    python bench/bench_extrapolation.py --limit 40                   # 40 even-id curves (seed 0)
    python bench/bench_extrapolation.py --jobs 2 --json out.json     # all 1,113 even-id curves: about 2 h of CPU
    python bench/bench_extrapolation.py --limit 40 --baseline old.json   # and the scalelab of an earlier run
    python bench/bench_extrapolation.py --synthetic --per-shape 10   # 5 shapes x 10 curves x 2 modes
    python bench/bench_extrapolation.py --kept                       # the kept studies, cut 1 and cut 2
    python bench/bench_extrapolation.py --curves tests/data/lcdb_subset.csv --scalelab-args '{"bootstrap": 50}'
    python bench/bench_extrapolation.py --limit 12 --write-curves tests/data/lcdb_subset.csv  # the test's curves

The test (tests/test_extrapolation.py) runs the protocol on 12 committed curves.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "bench"))

import extrapolation_report as report_  # noqa: E402
import intervals  # noqa: E402
import kept_curves  # noqa: E402
import lcdb_curves  # noqa: E402
import reference_fits  # noqa: E402
import scalelab  # noqa: E402
import synthetic_curves  # noqa: E402
from lcdb_curves import DEFAULT_CACHE, FIT_FRACTION, FLAT_BAND, NOT_FALLING, SAMPLE_SEED, Curve  # noqa: E402
from reference_fits import FitFailed  # noqa: E402

MODES = ("replicates", "medians")
METHODS = ("scalelab", "persistence", "m4", "mmf4", "wbl4", "pow4", "right_law")
DEFAULT_METHODS = METHODS[:-1]  # right_law only where the truth is a library law (--synthetic)
BASELINE = "scalelab@baseline"


# --- one method on one curve ----------------------------------------------------------------------

def fit_rows(curve: Curve, mode: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The (size, error) rows of the first n sizes (default: the fitted part) a method is fitted
    on: every seed's value, or one median per size."""
    n = curve.n_fit if n is None else n
    if mode == "replicates":
        sizes = np.concatenate([np.full(len(v), m) for m, v in zip(curve.sizes[:n], curve.values[:n])])
        return sizes, np.concatenate(curve.values[:n])
    return curve.sizes[:n].copy(), np.array([np.median(v) for v in curve.values[:n]])


def seed_of(curve: Curve, mode: str, method: str, cut: int = 0) -> int:
    """A seed per (curve, mode, method, backtest cut): random starts do not depend on order or --jobs."""
    return zlib.crc32(json.dumps([curve.key, mode, method] + ([cut] if cut else []), sort_keys=True).encode())


def method_curve(method: str, curve: Curve, mode: str, n: int, targets, cut: int = 0):
    """The error curve (a function of m) of a method other than scalelab, fitted on the rows of the
    first n sizes. Raises FitFailed."""
    sizes, errors = fit_rows(curve, mode, n)
    if method == "persistence":
        level = float(np.median(errors[sizes == sizes.max()]))
        return lambda m: np.full(len(np.atleast_1d(m)), level)
    if method == "right_law":
        return reference_fits.fit_library_law(curve.law, sizes, errors)
    rng = np.random.default_rng(seed_of(curve, mode, method, cut))
    return reference_fits.fit_reference(method, sizes, errors, targets, rng)


def n_params(method: str, curve: Curve) -> int:
    if method == "right_law":
        return reference_fits.laws.get(curve.law).n_params
    return reference_fits.N_PARAMS[method]


def with_interval(method: str, curve: Curve, mode: str, fitted, targets) -> list[list[float]]:
    """The 95% intervals of a method other than scalelab at `targets` (intervals.backtest_interval),
    `fitted` being its curve on the whole fitted part."""
    n = curve.n_fit
    sizes, medians = curve.sizes[:n], curve.fitted_medians

    def predict_from(k):
        try:
            with np.errstate(all="ignore"):
                return np.asarray(method_curve(method, curve, mode, k, sizes[k:], cut=n - k)(sizes[k:]), float)
        except (FitFailed, scalelab.ScalelabError):
            return None

    if method == "persistence":
        noise = intervals.level_noise(medians)
    else:
        with np.errstate(all="ignore"):
            noise = intervals.fit_noise(np.log(fitted(sizes)), np.log(medians), n_params(method, curve))
    return intervals.backtest_interval(sizes, medians, targets, fitted(targets), predict_from, noise)


def predict(method: str, curve: Curve, mode: str, targets: np.ndarray, scalelab_args: dict) -> dict:
    """One method's predictions at `targets` (and scalelab's intervals and shape); raises
    ScalelabError (refusal) or FitFailed."""
    if method == "scalelab":
        sizes, errors = fit_rows(curve, mode)
        r = scalelab.fit_curve(sizes, errors, predict=[float(t) for t in targets], seed=0, **scalelab_args)
        shape = r.get("shape")  # a name, or a dict with the name under "shape" and its evidence
        return {"errors": np.array([p["error"] for p in r["predictions"]], float),
                "intervals": [list(map(float, p["error_ci"])) for p in r["predictions"]],
                "extras": [{k: v for k, v in p.items() if k not in ("size", "error", "error_ci")} for p in r["predictions"]],
                "shape": shape.get("shape") if isinstance(shape, dict) else shape,
                "shape_detail": shape if isinstance(shape, dict) else None, "law": r.get("law")}
    fitted = method_curve(method, curve, mode, curve.n_fit, targets)
    with np.errstate(all="ignore"):
        return {"errors": np.asarray(fitted(targets), float), "fitted": fitted}


def ok_errors(errors) -> bool:
    return bool(np.all(np.isfinite(errors) & (np.asarray(errors) > 0)))


def run_one(curve: Curve, mode: str, method: str, scalelab_args: dict) -> dict:
    """One method on one curve in one mode: its predictions and 95% intervals at every held-out
    size against the truth, and |log ratio| at the farthest scored one. A refusal or failure is
    scored as persistence, persistence's interval included."""
    targets, truth = curve.sizes[curve.n_fit:], curve.truth[curve.n_fit:]
    started = time.perf_counter()
    status, note, out = "ok", "", {}
    try:
        out = predict(method, curve, mode, targets, scalelab_args)
        if not ok_errors(out["errors"]):
            status, note = "failed", "a prediction is not a positive number"
    except scalelab.ScalelabError as exc:
        status, note = "refused", str(exc)
    except FitFailed as exc:
        status, note = "failed", str(exc)
    except Exception as exc:  # a bug in the method: counted and shown, the run goes on
        status, note = "crashed", f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    if status != "ok":
        out = predict("persistence", curve, mode, targets, scalelab_args)
    started = time.perf_counter()
    ci = out.get("intervals") or with_interval("persistence" if status != "ok" else method, curve, mode, out["fitted"], targets)
    interval_seconds = time.perf_counter() - started if method != "scalelab" or status != "ok" else 0.0
    fitted_max = curve.sizes[curve.n_fit - 1]
    extras = out.get("extras") if status == "ok" else None
    points = [{"size": float(m), "horizon": float(m / fitted_max), "error": float(e), "truth": float(t), "ci": ci[i],
               **(extras[i] if extras else {})}
              for i, (m, e, t) in enumerate(zip(targets, out["errors"], truth))]
    row = {**curve.key, "group": curve.group, "mode": mode, "method": method, "status": status, "note": note,
           "shape": out.get("shape"), "shape_detail": out.get("shape_detail"), "law": out.get("law"), "seconds": seconds,
           "interval_seconds": interval_seconds, "fitted_sizes": [float(m) for m in curve.sizes[:curve.n_fit]],
           "far_size": curve.far_size, "points": points}
    row["abs_log_far"] = report_.abs_log_far(row)
    return row


def methods_for(curve: Curve, methods) -> tuple:
    return tuple(m for m in methods if m != "right_law" or curve.law)


def run_curve(curve: Curve, modes=MODES, methods=DEFAULT_METHODS, scalelab_args: dict | None = None) -> list[dict]:
    return [run_one(curve, mode, method, scalelab_args or {}) for mode in modes for method in methods_for(curve, methods)]


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


def run_synthetic(curves: list[Curve], modes, methods, scalelab_args: dict, jobs: int) -> list[dict]:
    """Each synthetic curve in its own mode only (5 seeds: replicates; 1 value: medians)."""
    rows = []
    for mode in modes:
        rows += run_all([c for c in curves if c.key["for_mode"] == mode], (mode,), methods, scalelab_args, jobs)
    return rows


# --- an earlier run -------------------------------------------------------------------------------

def with_baseline(rows: list[dict], path: Path) -> tuple[list[dict], str]:
    """This run's rows on the curves an earlier run (its --json) also has, with that run's scalelab
    rows as method BASELINE; and a line that says how many curves that is. Everything is recomputed
    from the earlier rows' points (error, truth, ci), so any version's JSON serves."""
    try:
        old = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"error: --baseline {path}: not a JSON this script wrote ({exc})") from None
    key = lambda r: (r["group"], r["mode"], report_.curve_id(r))  # noqa: E731
    theirs = {key(r): r for r in old if r.get("method") == "scalelab"}
    mine = {key(r) for r in rows}
    common = mine & set(theirs)
    kept = [r for r in rows if key(r) in common] + [{**theirs[k], "method": BASELINE} for k in sorted(common)]
    curves = lambda keys: len({(g, c) for g, _, c in keys})  # noqa: E731
    return kept, (f"baseline: {path}'s scalelab rows as {BASELINE}; {curves(common)} of this run's {curves(mine)} curves "
                  f"({len(common)} of {len(mine)} curve-modes) are in both runs, and every table is on those")


# --- command line ---------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ids", choices=["even", "odd", "all"], default="even", help="OpenML id parity (odd ids are held out)")
    p.add_argument("--limit", type=int, help="a seeded sample (seed 0) of this many eligible curves")
    p.add_argument("--curves", help="a CSV of curve rows (openmlid,learner,size_train,outer_seed,error) instead of LCDB")
    p.add_argument("--cache", help=f"where LCDB is downloaded and derived (default $SCALELAB_CACHE or {DEFAULT_CACHE})")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--methods", help=f"default {','.join(DEFAULT_METHODS)} (with --synthetic, and right_law)")
    p.add_argument("--scalelab-args", default="{}", help="JSON of extra keyword arguments to scalelab.fit_curve")
    p.add_argument("--jobs", type=int, default=1, help="worker processes over curves (results do not depend on it)")
    p.add_argument("--json", help="write the summary and every per-curve row here")
    p.add_argument("--rows", help="an earlier run's --json of the same curves: report its rows again (with another "
                   "--baseline, say) instead of running the methods")
    p.add_argument("--baseline", help="an earlier run's --json: its scalelab rows join the tables as " + BASELINE)
    p.add_argument("--synthetic", action="store_true", help="curves drawn from known truths of several shapes")
    p.add_argument("--per-shape", type=int, default=40)
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic curves")
    p.add_argument("--kept", action="store_true", help="the project's own kept curves (kept_curves.STUDIES)")
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
    args.modes = check_list(args.modes, MODES, "modes")
    default = METHODS if args.synthetic else DEFAULT_METHODS
    args.methods = check_list(args.methods, METHODS, "methods") if args.methods else default
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


def machine() -> str:
    return f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def command_line() -> str:
    script = os.path.relpath(sys.argv[0], Path.cwd()) if sys.argv[0] else "bench/bench_extrapolation.py"
    return "python " + shlex.join([script, *sys.argv[1:]])


def own_rows(args, header: list[str], run) -> list[dict]:
    """This run's rows: `run()`, or with --rows those an earlier run wrote (its wall time is its own)."""
    if not args.rows:
        return run()
    try:
        earlier = json.loads(Path(args.rows).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"error: --rows {args.rows}: not a JSON this script wrote ({exc})") from None
    header.append(f"rows: reported again from {args.rows} ({earlier['command']}, {earlier['wall_s']:.0f} s on {earlier['machine']})")
    return earlier["rows"]


def compared(rows: list[dict], args, header: list[str]) -> list[dict]:
    """The rows the tables take: with --baseline, those of the curves both runs have, and the baseline's."""
    if not args.baseline:
        return rows
    rows, line = with_baseline(rows, Path(args.baseline))
    header.append(line)
    return rows


def main_synthetic(args, header: list[str], started: float) -> tuple[list[dict], list[dict]]:
    curves = synthetic_curves.synthetic_curves(args.per_shape, args.seed)
    own = own_rows(args, header, lambda: run_synthetic(curves, args.modes, args.methods, args.scalelab_args, args.jobs))
    rows = compared(own, args, header)
    summary = report_.summarise(rows)
    header.append(f"modes: replicates = {synthetic_curves.SYNTH_SEEDS} seeds per size, medians = a single value per size; "
                  f"noise {synthetic_curves.SYNTH_NOISE[0]:.0%}-{synthetic_curves.SYNTH_NOISE[1]:.0%} log-normal per "
                  "value; truth: the noiseless curve; right_law: the truth's library law fitted alone (broken, plateau, m4)")
    wall = time.perf_counter() - started
    report_.report(f"Synthetic curves: {args.per_shape} per shape ({', '.join(synthetic_curves.SHAPES)}), seed {args.seed}, "
                   f"fitted on sizes <= largest / {FIT_FRACTION}", summary, rows, True, header)
    print("### Clean curves: scalelab against the right law (median |log ratio|; ratio = scalelab / right law)\n")
    print(report_.clean_table(summary) + "\n")
    print("### At 2x, 4x and 8x the largest fitted size (predicted past the drawn anchors; truth known)\n")
    print(report_.at_horizon_table(summary) + "\n")
    print("\n".join(report_.timing_lines(summary, wall)) + "\n")
    return summary, own


def main_kept(args, header: list[str], started: float) -> tuple[list[dict], list[dict]]:
    studies, absent = kept_curves.kept_studies()
    curves = [c for study in studies for c in kept_curves.kept_curves(*study)]
    own = own_rows(args, header, lambda: run_all(curves, ("replicates",), args.methods, args.scalelab_args, args.jobs))
    rows = compared(own, args, header)
    seeds = {(c.key["study"], c.key["cut"]): [len(v) for v in c.values] for c in curves}
    for r in rows:
        r["seeds"] = seeds[(r["study"], r["cut"])]
    summary = report_.summarise(rows)
    wall = time.perf_counter() - started
    print(f"## Kept curves: the primary family's test error, fitted on all shards but the last {' or '.join(map(str, kept_curves.CUTS))}, "
          "every seed a row\n")
    print("\n".join(header + [f"studies: {', '.join(s[0] for s in studies)}; absent (no kept tables in the repository): "
                              f"{', '.join(absent) or 'none'}"]) + "\n")
    methods = tuple(dict.fromkeys(r["method"] for r in rows))
    print(report_.kept_table(rows, methods) + "\n")
    print("\n".join(report_.timing_lines(summary, wall)) + "\n")
    return summary, own


def main_lcdb(args, header: list[str], started: float) -> tuple[list[dict], list[dict]] | None:
    if args.curves:
        source = Path(args.curves)
    else:
        cache = lcdb_curves.cache_dir(args.cache)
        print(f"LCDB cache: {cache}", file=sys.stderr)
        source = lcdb_curves.fetch_lcdb(cache)
    curves, counts = lcdb_curves.load_curves(source, args.ids, args.limit)
    if args.write_curves:
        lcdb_curves.write_curves(Path(args.write_curves), source, [(c.key["openmlid"], c.key["learner"]) for c in curves])
        print(f"wrote the rows of {len(curves)} curves to {args.write_curves}")
        return None
    if not curves:
        raise SystemExit(f"error: {source}: no eligible curve with {args.ids} ids")
    own = own_rows(args, header, lambda: run_all(curves, args.modes, args.methods, args.scalelab_args, args.jobs))
    rows = compared(own, args, header)
    summary, shape = report_.summarise(rows, report_.subsets_of(rows)), lcdb_curves.describe_curves(curves)
    wall = time.perf_counter() - started
    header += [f"data: {source} ({counts['eligible']} eligible curves: {counts['even']} even ids, {counts['odd']} odd); "
               + (f"a sample of {args.limit} (seed {SAMPLE_SEED})" if args.limit else "all of them"),
               f"curves: {len({c.key['openmlid'] for c in curves})} datasets, {len({c.key['learner'] for c in curves})} "
               f"learners; farthest measured against the last fitted: falling {shape['falling']}, flat (within "
               f"{FLAT_BAND:.0%}) {shape['flat']}, rising {shape['rising']}; fitted part flatter than m^{NOT_FALLING:g}: "
               f"{shape['fitted_part_not_falling']}",
               f"scalelab args: {json.dumps(args.scalelab_args)}"]
    report_.report(f"Extrapolation on {args.curves or 'LCDB 1.0'}: {len(curves)} curves, {args.ids} OpenML ids, fitted on "
                   f"anchors <= largest / {FIT_FRACTION}", summary, rows, False, header)
    print("\n".join(report_.timing_lines(summary, wall)) + "\n")
    return summary, own


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
