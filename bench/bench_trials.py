"""Throughput of a whole study: how close `snakemake --cores N` gets to the cores' limit.

Runs the study in --params from scratch in a temporary copy of the project and reports
  wall        seconds of `snakemake --cores N`, start to finish;
  training    the trials' own training seconds summed (run.json `seconds`: model, loop, final
              evaluation; not start-up, imports or data loading);
  ratio       wall / (training / cores): 1.0 means every core trained all the time;
  longest     the longest batch (one family on one shard: one job), in training seconds; no
              schedule finishes before it, so ratio >= longest / (training / cores);
  cpu         CPU seconds of Snakemake and every job (user + system): cpu - training is what
              start-up and the other steps cost, a number that other load on the machine
              barely moves (wall time does);
  no-op       median wall seconds of `snakemake -n` on the finished study (nothing to do).
Wall time and the ratio are only meaningful on an otherwise idle machine.

    python bench/bench_trials.py                                 # the default study, 2 cores
    python bench/bench_trials.py --params tests/data/tiny_params.yaml --cores 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_study(dest: Path, params: Path) -> None:
    for name in ("Snakefile", "dvc.yaml"):
        shutil.copy(ROOT / name, dest / name)
    for folder in ("workflow", "profiles"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(params, dest / "params.yaml")


def trial_seconds(study: Path) -> dict[str, list[float]]:
    """{batch folder k{k}/{family}: [training seconds of each trial]}."""
    batches: dict[str, list[float]] = {}
    for path in sorted((study / "results" / "trials").glob("*/*/*/run.json")):
        batch = path.parent.parent.relative_to(study / "results" / "trials").as_posix()
        batches.setdefault(batch, []).append(json.loads(path.read_text())["seconds"])
    return batches


def snakemake(study: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(study / "workflow")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=study, env=env, capture_output=True, text=True)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(params: Path, cores: int, noop_runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="scalelab-bench-") as tmp:
        study = Path(tmp)
        copy_study(study, params)
        cpu_before = children_cpu()
        start = time.perf_counter()
        proc = snakemake(study, "--cores", str(cores), "--quiet")
        wall = time.perf_counter() - start
        cpu = children_cpu() - cpu_before
        if proc.returncode != 0:
            sys.exit(f"snakemake --cores {cores} failed:\n{proc.stderr[-3000:]}")
        batches = trial_seconds(study)
        noop = []
        for _ in range(noop_runs):
            start = time.perf_counter()
            proc = snakemake(study, "-n", "--cores", str(cores))
            noop.append(time.perf_counter() - start)
            if "Nothing to be done" not in proc.stdout + proc.stderr:
                sys.exit(f"snakemake -n found work on the finished study:\n{proc.stdout[-3000:]}")
    training = sum(sum(s) for s in batches.values())
    longest = max(batches.items(), key=lambda item: sum(item[1]))
    return {
        "cores": cores, "wall_s": wall, "trials": sum(len(s) for s in batches.values()), "batches": len(batches),
        "train_s_sum": training, "ratio": wall / (training / cores),
        "longest_batch": longest[0], "longest_batch_s": sum(longest[1]),
        "ratio_floor": max(1.0, sum(longest[1]) / (training / cores)),
        "cpu_s": cpu, "overhead_cpu_s": cpu - training,
        "noop_s": statistics.median(noop), "noop_runs_s": noop,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--noop-runs", type=int, default=5, help="dry runs to time on the finished study (median)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load:.2f} before the run; params: {args.params}")
    r = measure(args.params.resolve(), args.cores, args.noop_runs)
    r.update(params=str(args.params), machine=f"{platform.machine()} {os.cpu_count()} cores", load_before=load)
    print(f"--cores {r['cores']}: {r['wall_s']:.1f} s wall; {r['trials']} trials in {r['batches']} batches, "
          f"{r['train_s_sum']:.1f} s of training in all")
    print(f"ratio wall / (training / cores) = {r['ratio']:.2f}  (no schedule beats {r['ratio_floor']:.2f}: "
          f"longest batch {r['longest_batch']}, {r['longest_batch_s']:.1f} s)")
    print(f"CPU: {r['cpu_s']:.1f} s in all, {r['overhead_cpu_s']:.1f} s of it outside training "
          f"({r['overhead_cpu_s'] / max(r['batches'], 1):.1f} s per batch)")
    print(f"no-op `snakemake -n`: {r['noop_s']:.2f} s (median of {len(r['noop_runs_s'])})")
    if load > 0.5:
        print(f"note: the load average was {load:.2f} before the run; wall time and ratio are inflated by other work")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
