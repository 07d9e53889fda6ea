"""How much DVC costs next to Snakemake, measured on this machine.

  python bench/bench_dvc.py                        tiny study (tests/data/tiny_params.yaml), minutes
  python bench/bench_dvc.py --params params.yaml   the default study: about an hour per engine

1. Overhead per stage: `dvc repro` of N stages whose command does nothing, minus the time the
   commands themselves take, divided by N; and `dvc status` on them.
2. The study, each engine in a fresh git copy of the project (no shared cache): `dvc repro`,
   `snakemake --cores 1`, `snakemake --cores all`, and `snakemake --cores all` followed by
   `dvc commit --force` (parallel training, DVC's versioning: the sound way to run DVC's DAG in
   parallel, since `dvc repro` runs one stage at a time and holds a repository lock).
   Trial metrics and fit.json must be the same bytes under every engine; the script checks.
Prints one line per measurement; wall-clock seconds from time.perf_counter().
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import git_project, run  # noqa: E402  (one definition of a study copy)

from scalelab import study as study_names  # noqa: E402  (conftest put the checkout's workflow/ on sys.path)

CORES = os.cpu_count() or 1
SAME_BYTES = ["results/fit.json", "results/tables/best.csv", "results/predictions.json"]
DVC = str(Path(sys.executable).with_name("dvc"))
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Each engine as the commands it runs; no time limit (the default study takes an hour on 2 cores).
ENGINES = {
    "dvc repro": [[DVC, "repro"]],
    "snakemake --cores 1": [SNAKEMAKE + ["--cores", "1"]],
    f"snakemake --cores all ({CORES})": [SNAKEMAKE + ["--cores", "all"]],
    "snakemake --cores all, then dvc commit --force": [SNAKEMAKE + ["--cores", "all"], [DVC, "commit", "--force"]],
}


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def stage_overhead(tmp: Path, n: int) -> None:
    """N independent stages running `true`; DVC's cost is everything but the commands."""
    repo = tmp / "overhead"
    repo.mkdir()
    run(["git", "init", "-q"], repo)
    run([DVC, "init", "-q"], repo)
    (repo / "params.yaml").write_text(yaml.safe_dump({"ids": list(range(n))}))
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"noop": {
        "foreach": "${ids}", "do": {"cmd": "echo ${item} > out${item}.txt", "params": ["ids"],
                                     "outs": ["out${item}.txt"]}}}}))
    wall, _ = timed(run, [DVC, "repro"], repo)
    cmd_only, _ = timed(lambda: [subprocess.run(["sh", "-c", f"echo {i} > /dev/null"], check=True) for i in range(n)])
    status, _ = timed(run, [DVC, "status"], repo)
    print(f"dvc repro, {n} no-op stages: {wall:.1f} s = {(wall - cmd_only) / n:.2f} s of DVC per stage "
          f"(the commands alone: {cmd_only:.2f} s)")
    print(f"dvc status, {n} stages up to date: {status:.1f} s", flush=True)


def engines(tmp: Path, params: dict) -> None:
    reference = None
    for i, (name, commands) in enumerate(ENGINES.items()):
        study = git_project(tmp / f"study{i}", params)
        wall, _ = timed(lambda: [run(cmd, study, timeout=None) for cmd in commands])
        print(f"{name}: {wall:.1f} s", flush=True)
        got = {rel: (study / rel).read_bytes() for rel in SAME_BYTES}
        got.update({str(p.relative_to(study)): p.read_bytes() for p in (study / "results/trials").rglob("metrics.json")})
        if reference is None:
            reference = got
        elif got != reference:
            print(f"  DIFFERENT bytes from dvc repro: {sorted(k for k in got if got[k] != reference.get(k))}")
        shutil.rmtree(study)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", default=str(ROOT / "tests/data/tiny_params.yaml"), help="the study to run")
    p.add_argument("--stages", type=int, default=30, help="no-op stages for the overhead measurement")
    p.add_argument("--skip-study", action="store_true", help="measure the per-stage overhead only")
    args = p.parse_args()
    params = yaml.safe_load(Path(args.params).read_text())
    n_trials = len(study_names.all_trials(params))
    print(f"machine: {platform.node()}, {CORES} cores, {platform.processor() or platform.machine()}; "
          f"python {platform.python_version()}; study {args.params}: {n_trials} trials")
    with tempfile.TemporaryDirectory(prefix="bench-dvc-") as tmp:
        stage_overhead(Path(tmp), args.stages)
        if not args.skip_study:
            engines(Path(tmp), params)


if __name__ == "__main__":
    main()
