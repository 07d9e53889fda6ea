"""Wall time of a whole study under `snakemake --cores N`, for several N (parallel speedup).

Each run starts from scratch in a temporary copy of the project (code + params.yaml), so
nothing is cached. Prints one line per run and a summary; --json writes the numbers.

    python bench/bench_study.py --cores 1 2            # the default study, ~20 min in all
    python bench/bench_study.py --params tests/data/tiny_params.yaml --cores 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_study(dest: Path, params: Path) -> None:
    shutil.copy(ROOT / "Snakefile", dest / "Snakefile")
    shutil.copytree(ROOT / "workflow", dest / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "profiles", dest / "profiles")
    shutil.copy(params, dest / "params.yaml")


def train_seconds(study: Path) -> tuple[int, float]:
    runs = list((study / "results" / "trials").glob("*/*/*/run.json"))  # k{k}/{family}/{trial}
    return len(runs), sum(json.loads(p.read_text())["seconds"] for p in runs)


def run_once(params: Path, cores: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="scalelab-bench-") as tmp:
        study = Path(tmp)
        copy_study(study, params)
        env = {**os.environ, "PYTHONPATH": str(study / "workflow")}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet"],
                              cwd=study, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"snakemake --cores {cores} failed:\n{proc.stderr[-3000:]}")
        n_trials, trained = train_seconds(study)
        whole = json.loads((study / "results" / "fit.json").read_text())
        fit = whole["families"][whole["family"]]  # the primary family
    return {"cores": cores, "wall_s": wall, "trials": n_trials, "train_s_sum": trained, "beta_g": fit["beta_g"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; params: {args.params}")
    results = []
    for cores in args.cores:
        r = run_once(args.params.resolve(), cores)
        results.append(r)
        print(f"--cores {cores}: {r['wall_s']:.0f} s wall, {r['trials']} trials, "
              f"{r['train_s_sum']:.0f} s inside training loops (sum over trials), beta_g {r['beta_g']:.4f}")
    base = min(results, key=lambda r: r["cores"])
    for r in results:
        if r is not base:
            print(f"speedup of --cores {r['cores']} over --cores {base['cores']}: {base['wall_s'] / r['wall_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
