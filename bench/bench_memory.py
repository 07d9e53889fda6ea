"""Peak memory and time of each step of a finished study, one process per step.

    python bench/bench_memory.py [--study .] [--k 14] [--family mlp]

Reruns every step's command on the study's own inputs, writing into a temporary folder (the study
is not touched), under `/usr/bin/time -f "%M %e"`: the peak resident set size of that process and
its wall seconds. Training is measured on one batch (--k, --family: the largest shard's cheapest
family by default; every batch loads the same pool, so the model adds little), with no store, so
it trains for real. The audit re-trains with the same code, one process per re-training: a train
batch stands for it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path


def measure(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of `cmd` run once."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %e", *cmd], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    peak_kb, seconds = proc.stderr.strip().splitlines()[-1].split()
    return int(peak_kb) / 1024, float(seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, default=Path("."))
    ap.add_argument("--k", type=int, default=14)
    ap.add_argument("--family", default="mlp")
    args = ap.parse_args()
    study = args.study.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="scalelab-memory-"))
    steps = {
        "prepare": ["prepare", "--heldout-dir", f"{tmp}/heldout", "--info", f"{tmp}/pool.json"],
        "shard": ["shard", "--k", str(args.k), "--out-dir", f"{tmp}/k{args.k}"],
        f"train (k{args.k} {args.family}, one batch)": [
            "train", "--k", str(args.k), "--family", args.family, "--all", "--shard", f"data/shards/k{args.k}",
            "--out-dir", f"{tmp}/trials", "--store", ""],
        "select": ["select", "--out-dir", f"{tmp}/tables"],
        "fit": ["fit", "--out", f"{tmp}/fit.json", "--samples", f"{tmp}/fit_samples.csv"],
        "figures": ["figures", "--out-dir", f"{tmp}/figures"],
        "predict": ["predict", "--out", f"{tmp}/predictions.json", "--summary", f"{tmp}/summary.md",
                    "--metrics", f"{tmp}/metrics.json"],
    }
    print(f"study {study}; each step once, `/usr/bin/time -f '%M %e'`")
    print("| step | peak RSS | wall |")
    print("|---|---|---|")
    for name, step in steps.items():
        peak_mb, seconds = measure([sys.executable, "-m", "scalelab", *step], study)
        print(f"| {name} | {peak_mb:,.0f} MB | {seconds:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
