"""How long does a fit of one learning curve take? `scalelab fit-curve` from the shell (start-up
included) and `scalelab.LearningCurve.fit` from Python, against issue 30's targets: <= 1 s for 10
points from the shell (75 rows, 15 sizes x 5 seeds: <= 2 s, issue 21's), <= 0.2 s median per LCDB
curve from Python.

    python bench/bench_fit_curve.py            # about a minute on 2 cores

The shell commands run 5 times each (the median is printed); the Python calls run once on each of
the 12 committed LCDB curves (tests/data/lcdb_subset.csv), fitted on their sizes up to a quarter of
the largest (as the extrapolation benchmark fits them) and on every size (15-20), in both of its
modes. Run it on a quiet machine: a busy core
doubles every number.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "bench"))

import scalelab  # noqa: E402
import bench_extrapolation as lcdb  # noqa: E402
import lcdb_curves  # noqa: E402

REPEATS = 5


def curve_csv(path: Path, n_sizes: int, n_seeds: int) -> None:
    """A plateau-shaped curve with 2% noise per seed, at n_sizes powers of two from 2^7."""
    rng = np.random.default_rng(0)
    sizes = 2.0 ** np.arange(7, 7 + n_sizes)
    clean = 0.02 + 0.88 / (1 + (sizes / 500) ** 0.8)
    rows = [f"{int(m)},{float(e * np.exp(rng.normal(0, 0.02)))!r}" for m, e in zip(sizes, clean) for _ in range(n_seeds)]
    path.write_text("size,error\n" + "\n".join(rows) + "\n")


def shell_seconds(csv: Path, out: Path) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "scalelab", "fit-curve", str(csv), "--out", str(out)], check=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    print(f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        for n_sizes, n_seeds, target in ((10, 1, 1.0), (15, 5, 2.0)):
            csv = Path(tmp) / f"curve_{n_sizes}x{n_seeds}.csv"
            curve_csv(csv, n_sizes, n_seeds)
            seconds = shell_seconds(csv, Path(tmp) / "fit.json")
            print(f"fit-curve, {n_sizes} sizes x {n_seeds} seeds ({n_sizes * n_seeds} rows): {seconds:.2f} s median of {REPEATS} "
                  f"(target <= {target} s)")
    curves, _ = lcdb_curves.load_curves(ROOT / "tests" / "data" / "lcdb_subset.csv", ids="even")
    for mode in lcdb.MODES:
        for part, upto in (("sizes <= largest / 4", None), ("every size", math.inf)):
            times = []
            for curve in curves:
                sizes, errors = lcdb.fit_rows(curve, mode, None if upto is None else len(curve.sizes))
                started = time.perf_counter()
                scalelab.LearningCurve().fit(sizes, errors)
                times.append(time.perf_counter() - started)
            print(f"LearningCurve.fit, {mode}, {len(curves)} LCDB curves ({part}, {len(sizes)} rows in the last): median "
                  f"{statistics.median(times):.2f} s, max {max(times):.2f} s (target: median <= 0.2 s)")


if __name__ == "__main__":
    main()
