"""Per-job overhead of a training trial: process start-up and imports against training time.

Runs `scalelab train` as Snakemake would (one process per trial) on the default study's data and
splits each job's wall time into: interpreter + imports, and the rest (data loading, model
build, final evaluation, writing outputs), against the seconds spent in the training loop
(run.json). Prints what it measured.

    python bench/bench_overhead.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import yaml  # noqa: E402
from conftest import cli, copy_project  # noqa: E402  (the tests' study helpers)

REPEATS = 5


def timed(cmd: list[str], env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="scalelab-overhead-") as tmp:
        study = copy_project(Path(tmp), yaml.safe_load((ROOT / "params.yaml").read_text()))  # the default study
        for args in (["prepare"], *[["shard", "--k", str(k), "--out-dir", f"data/shards/k{k}"] for k in (7, 12)]):
            assert cli(*args, cwd=study).returncode == 0
        env = {**os.environ, "PYTHONPATH": str(study / "workflow")}
        py = sys.executable
        bare = statistics.median(timed([py, "-c", "pass"], env, study) for _ in range(REPEATS))
        imports = statistics.median(timed([py, "-c", "import scalelab.cli, scalelab.config, scalelab.steps.train"], env, study)
                                    for _ in range(REPEATS))
        print(f"python start-up: {bare:.2f} s; + imports of the train step (torch, numpy, yaml): {imports - bare:.2f} s")
        for k, width in ((7, 16), (12, 16), (12, 128)):
            walls, inside = [], []
            for rep in range(REPEATS):
                out = f"results/b{k}-{width}-{rep}"
                walls.append(timed([py, "-m", "scalelab", "train", "--k", str(k), "--family", "cnn1d", "--width", str(width), "--lr", "0.01",
                                    "--seed", "0", "--shard", f"data/shards/k{k}", "--out-dir", out], env, study))
                inside.append(json.loads((study / out / "run.json").read_text())["seconds"])
            wall, train = statistics.median(walls), statistics.median(inside)
            print(f"trial k{k} (m={2**k}) width {width}: job {wall:.2f} s = training loop {train:.2f} s "
                  f"+ overhead {wall - train:.2f} s ({(wall - train) / wall:.0%} of the job; imports {imports:.2f} s of it)")


if __name__ == "__main__":
    main()
