"""`scalelab fit-curve POINTS.csv --out FIT.json` and `scalelab backtest POINTS.csv`: fit and
backtest a learning curve measured elsewhere.

The CSV needs columns `size,error`; with a `params` column (the best model's parameter count)
the model-size law is fitted too. Other columns are ignored. Several rows per size (seeds, say)
are reduced to their median, and their spread is the noise that weights the fit and sizes its
intervals. Writes the same keys as the pipeline's fit.json, plus predictions at the sizes given
with --predict.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import fit, io, laws
from .errors import ScalelabError


def read_points(path: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ScalelabError(f"{path}: not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScalelabError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = {"size", "error"} - set(frame.columns)
    if missing:
        raise ScalelabError(f"{path}: missing column(s) {', '.join(sorted(missing))}; the header must include size,error")
    columns = ["size", "error"] + (["params"] if "params" in frame.columns else [])
    for col in columns:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
        bad = frame[frame[col].isna() | (frame[col] <= 0)]
        if len(bad):
            raise ScalelabError(f"{path}: row {bad.index[0] + 2}: {col} must be a positive number")
    return frame[columns]


def curve_of(path: str) -> tuple[pd.DataFrame, dict]:
    """The median per size, and the noise of each median from the rows behind it."""
    rows = read_points(path)
    frame = rows.groupby("size", as_index=False).median()
    noise = fit.seed_noise([g["error"].to_numpy() for _, g in rows.groupby("size")])
    return frame, noise


def run(points: str, out: str, predict_sizes: list[float], best_guess: float | None,
        n_boot: int, seed: int, min_points: int, law: str = "auto") -> dict:
    frame, noise = curve_of(points)
    try:
        result = fit.fit_learning_curve(frame["size"].to_numpy(), frame["error"].to_numpy(), noise["sigma"], law=law,
                                        best_guess=best_guess, min_points=min_points, n_boot=n_boot, seed=seed,
                                        seed_sd=noise["seed_sd"])
    except ScalelabError as exc:
        raise ScalelabError(f"{points}: {exc}") from None
    if "params" in frame.columns:
        in_law = frame[frame["size"] >= result["power_law_start"]]
        result.update(fit.without_samples(fit.fit_model_size(in_law["size"], in_law["params"], n_boot, seed)))
    result["source"] = str(Path(points))
    result["predictions"] = [fit.predict_error(result, result["samples"], m) for m in predict_sizes]
    io.write_json(out, fit.without_samples(result))
    print(f"{points}: law {result['law']} ({result['law_reason']}); beta_g {result['beta_g']:.4f} "
          f"[{result['beta_g_ci'][0]:.4f}, {result['beta_g_ci'][1]:.4f}], gamma {result['gamma']:.4g}")
    return result


def backtest_table(points: str, best_guess: float | None) -> str:
    """The backtest of every law on a curve, as the text table `scalelab backtest` prints."""
    frame, noise = curve_of(points)
    m, eps = frame["size"].to_numpy(), frame["error"].to_numpy()
    try:
        fit.check_points(m, eps, points)
    except ScalelabError as exc:
        raise ScalelabError(str(exc)) from None
    curve = fit.Curve(m, eps, noise["sigma"], best_guess)
    bt = fit.backtest(curve, list(laws.LAWS))
    chosen, why = fit.choose_law(bt, "auto", curve, fit.noise_tolerance(curve, bt))
    head = ["law"] + [f"last {h}" for h in bt["holdouts"]] + ["mean", "rank"]
    lines = [" ".join(f"{h:>11}" for h in head)]
    for r in sorted(bt["rows"], key=lambda r: (r.get("rank", 99), r["law"])):
        cells = [r["law"]] + ["-" if r["errors"][str(h)] is None else f"{r['errors'][str(h)]:.4f}" for h in bt["holdouts"]]
        cells += ["-" if r["mean"] is None else f"{r['mean']:.4f}", str(r.get("rank", "-"))]
        lines.append(" ".join(f"{c:>11}" for c in cells))
    lines += ["", f"error: {bt['metric']}", f"auto chooses {chosen}: {why}"]
    return "\n".join(lines)
