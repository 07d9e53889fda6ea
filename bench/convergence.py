"""Issue 14's table redone: test error of cnn1d width 128 on MNIST-1D (pool 2^16) under the stopping
rule as shipped before issue 14 and under the params.yaml rule now, shards 2^14 and 2^16, seeds 0/1.

    PYTHONPATH=workflow python bench/convergence.py [--shards 14,16] [--seeds 0,1] [--dir /tmp/conv-bench]

The old rule is written in the new keys: an evaluation every 25 steps, patience 6 evaluations
(150 steps, whatever the shard), budget 40 passes within [250, 4000] steps, constant rate, no
min_rel_delta. Prints one row per shard and what it measured (seconds per run included); it
takes several minutes per 2^16 run on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from scalelab.steps import train  # noqa: E402

OLD_RULE = {"eval_per_epoch": 1, "eval_min_steps": 25, "eval_max_steps": 25, "patience_epochs": 1e-9,
            "patience_min_steps": 150, "min_rel_delta": 0.0, "epochs": 40, "min_steps": 250, "max_steps": 4000,
            "schedule": "constant", "warmup_steps": 0}
AS_SHIPPED = {"0": (None, None), "14": (0.0376, 0.0383), "16": (0.0273, 0.0222)}  # issue 14's numbers, seeds 0/1


def study_params(shards: list[int]) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(val_size=2048, test_size=4096)
    # Only `shards` are cut and trained; the four largest sizes are listed so params.yaml validates
    # (a study needs fit.min_points sizes), nothing is fitted here.
    params["shards"]["exponents"] = sorted(set(shards) | set(range(max(shards) - 3, max(shards) + 1)))
    params["models"] = {"cnn1d": {"width": [128], "lr": [0.01]}}
    params["train"]["device"] = "cpu"
    return params


def scalelab(*args: str, cwd: Path) -> None:
    env = {"PYTHONPATH": str(ROOT / "workflow"), "PATH": str(Path(sys.executable).parent)}
    subprocess.run([sys.executable, "-m", "scalelab", *args], cwd=cwd, env=env, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", default="14,16")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--dir", default="/tmp/conv-bench")
    args = ap.parse_args()
    shards = [int(k) for k in args.shards.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    params = study_params(shards)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if not (work / "data/pool.json").exists():
        scalelab("prepare", cwd=work)
    rules = {"old": {**params, "train": {**params["train"], **OLD_RULE}}, "new": copy.deepcopy(params)}
    print("| shard | rule | test error (seeds) | median | stopped | steps | best step | s/run |")
    print("|---|---|---|---|---|---|---|---|")
    for k in shards:
        shard = work / f"data/shards/k{k}"
        if not shard.exists():
            scalelab("shard", "--k", str(k), "--out-dir", str(shard), cwd=work)
        for name, rule in rules.items():
            runs, seconds = [], []
            for seed in seeds:
                started = time.perf_counter()
                runs.append(train.run(rule, str(work / "data/heldout"), str(work / "data/pool.json"), str(shard), k, "cnn1d",
                                      128, 0.01, seed, str(work / f"runs/{name}/k{k}/s{seed}")))
                seconds.append(time.perf_counter() - started)
            errors = [r["test_error"] for r in runs]
            print(f"| 2^{k} | {name} | {' / '.join(f'{e:.4f}' for e in errors)} | {statistics.median(errors):.4f} | "
                  f"{' / '.join(r['stopped'] for r in runs)} | {' / '.join(str(r['steps']) for r in runs)} | "
                  f"{' / '.join(str(r['best_step']) for r in runs)} | {statistics.mean(seconds):.0f} |", flush=True)
    print("issue 14 as shipped (other machine): " + ", ".join(f"2^{k}: {AS_SHIPPED.get(str(k))}" for k in shards))


if __name__ == "__main__":
    main()
