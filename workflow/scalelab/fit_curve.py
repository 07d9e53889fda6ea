"""`scalelab fit-curve POINTS.csv --out FIT.json`: fit a learning curve measured elsewhere.

The CSV needs columns `size,error`; with a `params` column (the best model's parameter count)
the model-size law is fitted too. Other columns are ignored; several rows per size (seeds, say)
are reduced to their median. Writes the same keys as the pipeline's fit.json, plus predictions at
the sizes given with --predict.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import fit, io
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
    return frame.groupby("size", as_index=False)[columns[1:]].median()


def run(points: str, out: str, predict_sizes: list[float], best_guess: float | None,
        n_boot: int, seed: int, min_points: int) -> dict:
    frame = read_points(points)
    result = fit.fit_learning_curve(frame["size"].to_numpy(), frame["error"].to_numpy(), best_guess=best_guess,
                                    min_points=min_points, n_boot=n_boot, seed=seed)
    if "params" in frame.columns:
        in_law = frame[frame["size"] >= result["power_law_start"]]
        result.update(fit.without_samples(fit.fit_model_size(in_law["size"], in_law["params"], n_boot, seed)))
    result["source"] = str(Path(points))
    result["predictions"] = [fit.predict_error(result, m) for m in predict_sizes]
    io.write_json(out, fit.without_samples(result))
    return result
