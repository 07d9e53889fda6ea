"""Shared helpers: a temporary copy of the project with the tiny study, and engine runners."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = ROOT / "tests" / "data" / "tiny_params.yaml"
sys.path.insert(0, str(ROOT / "workflow"))  # test the checkout's own package


def tiny_params() -> dict:
    return yaml.safe_load(TINY_PARAMS.read_text())


def small_params(exponents: tuple[int, ...] = (7, 8, 9, 10)) -> dict:
    """The tiny study on 4 shards x 3 trials, one seed: the fewest points the fit accepts, for the
    tests that run a whole study under an engine."""
    params = tiny_params()
    params["shards"]["exponents"] = list(exponents)
    params["grid"]["seed"] = [0]
    params["fit"]["min_points"] = 3
    return params


def write_params(study: Path, params: dict) -> None:
    (study / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, default_flow_style=False))


def copy_project(dest: Path, params: dict | None = None, extra: tuple[str, ...] = ()) -> Path:
    """The pipeline's files for both engines (not data/ or results/) in `dest`, with the tiny
    params; `extra` names more top-level folders to copy, e.g. the profiles ("profiles", "slurm")."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / ".dvc", dest / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache", "config.local"))
    for folder in ("workflow", *extra):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    write_params(dest, params or tiny_params())
    # The forecast ledger is history the predict step reads, so it must exist: an empty one.
    from scalelab.decisions import ledger

    (dest / "results").mkdir(exist_ok=True)
    (dest / "results/ledger.csv").write_text(ledger.text_of([]))
    return dest


def env_for(study: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(study / "workflow")  # the copy's code, not the checkout's
    # Jobs call the `scalelab` command: find this interpreter's, even from an unactivated venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DVC_NO_ANALYTICS"] = "1"  # no network calls from tests
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env or env_for(cwd), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m scalelab ARGS` with the checkout's package (or the study copy's, given cwd)."""
    cwd = cwd or ROOT
    env = env_for(cwd) if (cwd / "workflow").exists() else {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    return subprocess.run([sys.executable, "-m", "scalelab", *args], cwd=cwd, env=env, capture_output=True, text=True)


def snakemake(study: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "snakemake", "--cores", "2", *args], study, check=check)


def dvc(study: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real `dvc` (from this Python's environment) in the study copy."""
    return run([str(Path(sys.executable).with_name("dvc")), *args], study, check=check)


def git(study: Path, *args: str) -> str:
    return run(["git", "-c", "user.name=scalelab", "-c", "user.email=scalelab@example.invalid", *args], study).stdout


def git_commit(study: Path, message: str) -> None:
    git(study, "add", "-A")
    git(study, "commit", "-q", "-m", message)


def git_project(dest: Path, params: dict | None = None) -> Path:
    """copy_project() as a fresh git repository with its DVC setup committed."""
    study = copy_project(dest, params)
    git(study, "init", "-q", "-b", "main")
    git_commit(study, "project")
    return study


def scheduled_jobs(study: Path) -> dict[str, int]:
    """{rule: job count} that a dry run would execute now ({} when nothing is to be done)."""
    out = snakemake(study, "--dry-run").stdout
    if "Job stats:" not in out:
        assert "Nothing to be done" in out, out[-2000:]
        return {}
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = {}
    for line in table.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if match and match.group(1) != "total":
            jobs[match.group(1)] = int(match.group(2))
    return jobs


def drawn(data_cfg: dict, pool: int = 0) -> tuple[dict, dict]:
    """What prepare and the shard step draw for a data section and a pool of `pool` units: the
    three sets as {split_x, split_y} arrays, and pool.json's description with the pool's own
    description (`pool_info`, which the shard step keeps) added."""
    from scalelab import registry
    from scalelab.steps import prepare

    made = prepare.draw(data_cfg, pool)
    arrays = {f"{s}_{a}": made[s][i] for s in ("pool", "val", "test") for i, a in enumerate(("x", "y"))}
    info = prepare.describe(data_cfg, registry.load("dataset", data_cfg["dataset"]), made)
    return arrays, {**info, "pool_info": made.get("pool_info", {})}


@pytest.fixture
def params():
    return tiny_params()


# The committed default study, refitted: fit, predict and report rerun from its committed tables and
# audit (the trials are not re-trained). Numbers are compared to 1e-6 relative, not byte for byte:
# another CPU may round the last bits of an optimiser's path differently.
COMMITTED = ROOT / "results"
FIT_ARGS = ["fit", "--best", "results/tables/best.csv", "--trials", "results/tables/trials.csv",
            "--audit", "results/audit.json", "--info", "data/pool.json", "--out", "results/fit.json"]


def close(a, b, rel=1e-6):
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=rel, abs=1e-12)
    return a == b


def run_steps(study: Path, *steps: list[str]) -> None:
    for args in steps:
        proc = cli(*args, cwd=study)
        assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def default_refit(tmp_path_factory):
    """fit, predict and report rerun from the default study's committed tables, in a scratch folder."""
    study = tmp_path_factory.mktemp("committed")
    shutil.copy(ROOT / "params.yaml", study / "params.yaml")
    shutil.copytree(COMMITTED / "tables", study / "results" / "tables")
    shutil.copy(COMMITTED / "audit.json", study / "results" / "audit.json")
    shutil.copy(COMMITTED / "ledger.csv", study / "results" / "ledger.csv")  # the forecasts the summary checks
    run_steps(study, ["prepare", "--heldout-dir", "data/heldout", "--info", "data/pool.json"], FIT_ARGS,
              ["predict", "--fit", "results/fit.json", "--tables-dir", "results/tables", "--info", "data/pool.json",
               "--out", "results/predictions.json"],
              ["report", "--fit", "results/fit.json", "--best", "results/tables/best.csv", "--info", "data/pool.json",
               "--summary", "results/summary.md", "--metrics", "results/metrics.json", "--ledger", "results/ledger.csv"])
    return study
