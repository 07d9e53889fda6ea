"""What scalelab adds around a user's training command (issue 29): the wall time of a batch of trials
run by `scalelab train --all` (Python and imports, the fingerprint, the store, the index files,
the copy to the trial's folder) against the same commands, with the same arguments, run by hand
one after another.

    python bench/bench_trainer_overhead.py [--trials 1 4] [--repeats 3] [--clips 1200] [--k 9]

Two trainers: one that writes its metrics.json and exits at once (the overhead alone), and the
worked example's train.py (examples/wav_commands) on one shard. For each it prints the median
over repeats of: the hand-run wall time of the trials, scalelab's wall time, and the difference
per trial, absolute and relative. Each scalelab run uses a fresh store, so every trial trains.
Target: at most max(0.5 s, 5% of the trial) per trial.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "tests"))

INSTANT = "instant.py"  # writes the metrics and exits
INSTANT_CODE = """import json, sys
out = sys.argv[sys.argv.index("--out") + 1]
json.dump({"val_loss": 1.0, "test_error": 0.5, "params": 10}, open(out + "/metrics.json", "w"))
"""


def study_for(root: Path, family: dict, clips: int) -> Path:
    from conftest import copy_project
    from test_example_study import make_data, tiny_example_params

    params = tiny_example_params()
    params["models"] = {"f": family}
    params["shards"]["exponents"] = [5, 6, 7, 8, 9]
    study = copy_project(root, params)
    shutil.copytree(ROOT / "examples/wav_commands", study / "examples/wav_commands", ignore=shutil.ignore_patterns("results"))
    (study / INSTANT).write_text(INSTANT_CODE)
    make_data(study, "--examples", str(clips))
    return study


def env_of(study: Path) -> dict:
    from conftest import env_for

    return env_for(study)


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def prepare(study: Path, k: int, env: dict) -> None:
    base = [sys.executable, "-m", "scalelab"]
    subprocess.run([*base, "prepare", "--heldout-dir", "data/heldout", "--info", "data/pool.json"], cwd=study, env=env, check=True)
    subprocess.run([*base, "shard", "--k", str(k), "--info", "data/pool.json", "--out-dir", f"data/shards/k{k}"],
                   cwd=study, env=env, check=True)


def hand_commands(study: Path, k: int, env: dict) -> list[list[str]]:
    """The argv scalelab runs for each trial (taken from a run's store), to run by hand."""
    from scalelab import config, study as names
    from scalelab.training import trainer

    params = config.load(study / "params.yaml", root=study)
    spec = params["models"]["f"]
    store = study / "hand"
    cmds = []
    for t in names.trials_for_shard(params, k, "f"):
        work = store / t["name"]
        (work / "trainer_out").mkdir(parents=True, exist_ok=True)
        (work / "checkpoint").mkdir(exist_ok=True)
        files = {}
        for split, field in (("train", "indices"), ("val", "val_indices"), ("test", "test_indices")):
            src = "data/shards/k%d/x.npy" % k if split == "train" else f"data/heldout/{split}_x.npy"
            import numpy as np

            files[field] = str(work / f"{field}.txt")
            trainer.write_indices(Path(files[field]), np.load(study / src))
        fields = {**t["config"], **files, "manifest": str(study / "data/wav_commands/manifest.csv"),
                  "out": str(work / "trainer_out"), "checkpoint": str(work / "checkpoint"), "device": "cpu",
                  "precision": "fp32", "seed": t["seed"], "k": k, "size": 2**k, "family": "f", "patience_factor": 1}
        cmds.append(trainer.fill(spec["command"], fields))
    return cmds


def measure(name: str, family: dict, trials: int, repeats: int, clips: int, k: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        family = {**family, "width": [4 * (i + 1) for i in range(trials)]}
        study = study_for(Path(tmp) / "study", family, clips)
        env = env_of(study)
        prepare(study, k, env)
        cmds = hand_commands(study, k, env)
        hand, tool = [], []
        for r in range(repeats):
            hand.append(sum(timed(cmd, study, env) for cmd in cmds))
            shutil.rmtree(study / "hand", ignore_errors=True)
            cmds = hand_commands(study, k, env)
            tool.append(timed([sys.executable, "-m", "scalelab", "train", "--k", str(k), "--family", "f", "--all",
                               "--heldout-dir", "data/heldout", "--info", "data/pool.json", "--shard", f"data/shards/k{k}",
                               "--out-dir", f"out{r}", "--store", f"store{r}"], study, env))
        hand_s, tool_s = statistics.median(hand), statistics.median(tool)
        per_trial = (tool_s - hand_s) / trials
        row = {"trainer": name, "trials": trials, "hand_s": hand_s, "scalelab_s": tool_s, "overhead_per_trial_s": per_trial,
               "overhead_pct": 100 * per_trial / (hand_s / trials), "target_s": max(0.5, 0.05 * hand_s / trials)}
        print(f"{name:8s} {trials} trial(s): by hand {hand_s:6.2f} s, by scalelab {tool_s:6.2f} s -> "
              f"{per_trial:+.3f} s per trial ({row['overhead_pct']:+.1f}%), target <= {row['target_s']:.2f} s", flush=True)
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=int, default=1200)
    parser.add_argument("--k", type=int, default=9, help="the shard: 2^k clips")
    parser.add_argument("--json")
    args = parser.parse_args()
    example = yaml.safe_load((ROOT / "examples/wav_commands/params.yaml").read_text())["models"]["cnn"]
    trainers = {
        "instant": {"command": f"python {INSTANT} --out {{out}} --width {{width}}"},
        "example": {"command": example["command"] + " --epochs 5 --min-steps 0", "code": example["code"], "depth": [2], "lr": [0.003]},
    }
    rows = [measure(name, family, n, args.repeats, args.clips, args.k) for name, family in trainers.items() for n in args.trials]
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
