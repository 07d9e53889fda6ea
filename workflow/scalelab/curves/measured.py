"""`scalelab fit-curve POINTS.csv --out FIT.json` and `scalelab backtest POINTS.csv`: fit and
backtest a learning curve measured elsewhere.

The CSV needs columns `size,error`; with a `params` column (the best model's parameter count)
the model-size law is fitted too. Other columns are ignored. Several rows per size (seeds, say)
are reduced to their median, and their spread is the noise that weights the fit and sizes its
intervals. Writes the keys of one family's fit in the pipeline's fit.json (its
families.<name>), plus predictions at the sizes given with --predict.
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

import numpy as np

from scalelab import io
from scalelab.curves import backtest, fit, laws
from scalelab.errors import ScalelabError


def read_points(path: str) -> dict[str, np.ndarray]:
    """The CSV's size and error columns (and params, if there) as arrays, one entry per row.
    Read with the standard library: importing pandas would slow a command meant to answer at once."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except FileNotFoundError:
        raise ScalelabError(f"{path}: not found") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ScalelabError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = {"size", "error"} - set(header)
    if missing:
        raise ScalelabError(f"{path}: missing column(s) {', '.join(sorted(missing))}; the header must include size,error")
    columns = ["size", "error"] + (["params"] if "params" in header else [])
    out = {}
    for col in columns:
        values = []
        for line, row in enumerate(rows, start=2):  # line 1 is the header
            try:
                value = float(row[col])
            except (TypeError, ValueError):
                value = math.nan
            if not value > 0:
                raise ScalelabError(f"{path}: row {line}: {col} must be a positive number")
            values.append(value)
        out[col] = np.array(values, float)
    return out


def curve_of(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """The median per size (sizes ascending), and the noise of each median from the rows behind it."""
    return reduce_rows(read_points(path))


def reduce_rows(rows: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """Rows (one per measurement; several per size are seeds) to the median per size, sizes
    ascending, and the noise of each median from the rows behind it."""
    sizes = np.unique(rows["size"])
    groups = {col: [values[rows["size"] == m] for m in sizes] for col, values in rows.items()}
    frame = {col: np.array([np.median(g) for g in gs]) for col, gs in groups.items()}
    return frame, fit.seed_noise(groups["error"])


# Options renamed, old name to new: the old one is refused with the new name, not silently ignored
# or met with Python's bare "unexpected keyword".
RENAMED = {"n_boot": "bootstrap"}


class RenamedOption(ScalelabError, TypeError):
    """An option under its old name: a TypeError to Python (as any wrong keyword), one line to the CLI."""


def check_renamed(options: dict, where: str) -> None:
    old = sorted(set(options) & set(RENAMED))
    if old:
        new = RENAMED[old[0]]
        raise RenamedOption(f"{where}: {old[0]} was renamed {new}; pass {new}={options[old[0]]!r}")


def refuse_renamed(func):
    """`func` with RENAMED's old names refused by name; its signature (what LearningCurve reads) unchanged."""
    @functools.wraps(func)
    def checked(*args, **options):
        check_renamed(options, func.__name__)
        return func(*args, **options)
    return checked


def given_noise(row_sizes, noise, sizes) -> dict:
    """seed_noise's answer from a noise the caller knows, one sd of log error per row: each size's
    point gets sqrt(mean(noise^2) / rows), never below fit.NOISE_FLOOR."""
    noise = np.asarray(noise, float)
    if noise.shape != row_sizes.shape:
        got = noise.shape[0] if noise.ndim else "a scalar"
        raise ScalelabError(f"noise: one positive number per row is needed ({len(row_sizes)} rows); got {got}")
    if not np.all(np.isfinite(noise)) or np.any(noise <= 0):
        raise ScalelabError("noise: every entry must be a positive, finite sd of log error")
    groups = [noise[row_sizes == m] for m in sizes]
    sigma = np.array([max(math.sqrt(np.mean(g**2) / len(g)), fit.NOISE_FLOOR) for g in groups])
    return {"sigma": sigma, "seed_sd": float(np.sqrt(np.mean(noise**2))), "seeds": [len(g) for g in groups]}


@refuse_renamed
def fit_curve(sizes, errors, predict=(), params=None, law: str = "auto", best_guess: float | None = None,
              bootstrap: int = fit.BOOTSTRAP, seed: int = 0, min_points: int = 3, noise=None) -> dict:
    """Fit a learning curve measured elsewhere: the Python face of `scalelab fit-curve`, the same result.

    sizes, errors: one entry per measurement; several at one size are seeds (their median is the
    point, their spread its noise). params: the best model's parameter count per row (optional:
    fits the model-size law too). predict: sizes to predict the error at. bootstrap: refits behind
    the intervals of alpha, beta_g and gamma (fit.BOOTSTRAP). noise: the standard deviation of each
    row's log error, where you know it (a test split's binomial error, say): it replaces the seeds'
    spread, a size's point getting sqrt(mean(noise^2) / rows). Returns fit-curve's JSON
    as a dict (`result["predictions"]`: size, error, error_ci per size asked); raises
    ScalelabError on input it cannot answer.
    """
    rows = {"size": np.asarray(sizes, float), "error": np.asarray(errors, float)}
    if params is not None:
        rows["params"] = np.asarray(params, float)
    frame, spread = reduce_rows(rows)
    if noise is not None:
        spread = given_noise(rows["size"], noise, frame["size"])
    result = fit.fit_learning_curve(frame["size"], frame["error"], spread["sigma"], law=law,
                                    best_guess=best_guess, min_points=min_points, bootstrap=bootstrap, seed=seed,
                                    seed_sd=spread["seed_sd"])
    if "params" in frame:
        in_law = frame["size"] >= result["power_law_start"]
        result.update(fit.without_samples(fit.fit_model_size(frame["size"][in_law], frame["params"][in_law], bootstrap, seed)))
    result["predictions"] = [fit.predict_error(result, m) for m in predict]
    # The points behind the fit, each size's seeds kept: what `scalelab plan` simulates more of.
    result["points"] = [{"size": float(m), "error": float(e), "seeds": [float(v) for v in rows["error"][rows["size"] == m]]}
                        for m, e in zip(frame["size"], frame["error"])]
    return fit.without_samples(result)


def run(points: str, out: str, predict_sizes: list[float], best_guess: float | None,
        bootstrap: int, seed: int, min_points: int, law: str = "auto") -> dict:
    rows = read_points(points)
    try:
        result = fit_curve(rows["size"], rows["error"], predict=predict_sizes, params=rows.get("params"), law=law,
                           best_guess=best_guess, bootstrap=bootstrap, seed=seed, min_points=min_points)
    except ScalelabError as exc:
        raise ScalelabError(f"{points}: {exc}") from None
    result = {**result, "source": str(Path(points))}
    io.write_json(out, result)
    print(answer_line(points, result))
    return result


def answer_line(points: str, result: dict) -> str:
    """What `fit-curve` prints: what one more doubling buys, the law and exponent, any warning."""
    slope = result["local_slope"]
    lines = [f"{points}: one more doubling of data (to m = {2 * slope['size']:g}): error x {slope['doubling_ratio']:.3f} "
             f"[{slope['doubling_ratio_ci'][0]:.3f}, {slope['doubling_ratio_ci'][1]:.3f}], local slope {slope['slope']:.3f}",
             f"  law {result['law']} ({result['law_reason']}); beta_g {result['beta_g']:.4f} "
             f"[{result['beta_g_ci'][0]:.4f}, {result['beta_g_ci'][1]:.4f}], gamma {result['gamma']:.4g}"]
    lines += [f"  at m = {p['size']:g}: {p['error']:.4g} [{p['error_ci'][0]:.4g}, {p['error_ci'][1]:.4g}]"
              + (" (beyond the benchmarked horizon)" if p["beyond_trusted"] else "") for p in result["predictions"]]
    if result["warning"]:
        lines.append(f"  warning: {result['warning']}")
    return "\n".join(lines)


def backtest_table(points: str, best_guess: float | None) -> str:
    """The backtest of every law on a curve, as the text table `scalelab backtest` prints."""
    frame, noise = curve_of(points)
    m, eps = frame["size"], frame["error"]
    try:
        fit.check_points(m, eps, points)
    except ScalelabError as exc:
        raise ScalelabError(str(exc)) from None
    curve = fit.Curve(m, eps, noise["sigma"], best_guess)
    bt = backtest.backtest(curve, list(laws.LAWS))
    chosen, why = backtest.choose_law(bt, "auto", curve, backtest.noise_tolerance(curve, bt))
    head = ["law"] + [f"last {h}" for h in bt["holdouts"]] + ["mean", "rank"]
    lines = [" ".join(f"{h:>11}" for h in head)]
    for r in sorted(bt["rows"], key=lambda r: (r.get("rank", 99), r["law"])):
        cells = [r["law"]] + ["-" if r["errors"][str(h)] is None else f"{r['errors'][str(h)]:.4f}" for h in bt["holdouts"]]
        cells += ["-" if r["mean"] is None else f"{r['mean']:.4f}", str(r.get("rank", "-"))]
        lines.append(" ".join(f"{c:>11}" for c in cells))
    lines += ["", f"error: {bt['metric']}", f"auto chooses {chosen}: {why}"]
    return "\n".join(lines)
