"""The study on a real single-node SLURM cluster through `snakemake --profile slurm`.

Every trial must run inside a SLURM job that was granted a (fake) GPU, with the study copy's own
code, small trials batched per shard, and the results byte-identical to a local run. Skipped,
with the reason, where no cluster can be started (not root, no apt-get, a SLURM already set up).
"""

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import cli, copy_project, env_for, run, snakemake, tiny_params
from slurm_cluster import SlurmCluster, unavailable_reason

pytestmark = pytest.mark.slow

STUDY_TIMEOUT = 420  # seconds; the run takes about 100 s on 2 cores
STAMP = "0.1.0+slurm-test"  # the copy's version: proves the jobs ran the copy's code


def small_params() -> dict:
    """3 shards x 2 seeds of one family: the fewest trials the fit accepts (all in its power-law region)."""
    params = tiny_params()
    params["shards"]["exponents"] = [9, 10, 11]
    params["models"] = {"cnn1d": {"width": [8], "lr": [0.01]}}
    params["train"]["device"] = "auto"  # the GPU SLURM grants if torch can use it, else CPU
    return params


@dataclass
class Finished:
    """A study that ran: its folder, wall seconds and, on SLURM, {job id: (state, elapsed)}."""
    study: Path
    wall_s: float
    jobs: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def cluster():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"cannot start a SLURM test cluster: {reason}")
    with SlurmCluster.started() as started:
        yield started


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    study = copy_project(tmp_path_factory.mktemp("local"), small_params(), extra=("profiles",))
    started = time.perf_counter()
    snakemake(study)
    return Finished(study, time.perf_counter() - started)


def profile_run(cluster, study: Path, *targets: str) -> tuple[list[str], dict]:
    """`snakemake --profile slurm` as a user runs it on a login node, under a hard timeout.
    No PYTHONPATH: the Snakefile itself must get the study's code to the jobs."""
    env = cluster.env(env_for(study))
    del env["PYTHONPATH"]
    cmd = ["timeout", "-k", "10", str(STUDY_TIMEOUT), sys.executable, "-m", "snakemake", "--profile", "slurm",
           "--slurm-init-seconds-before-status-checks", "2", *targets]  # poll sooner than a real cluster needs
    return cmd, env


@pytest.fixture(scope="module")
def on_slurm(tmp_path_factory, cluster):
    study = copy_project(tmp_path_factory.mktemp("slurm"), small_params(), extra=("profiles", "slurm"))
    init = study / "workflow/scalelab/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{STAMP}"'))
    cmd, env = profile_run(cluster, study)
    started = time.perf_counter()
    proc = run(cmd, study, check=False, timeout=STUDY_TIMEOUT + 30, env=env)
    wall_s = time.perf_counter() - started
    jobs = cluster.run("squeue", "--states=all", "--noheader", "--format=%i|%T|%M").stdout
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}\n{jobs}\n{cluster.logs()}"
    return Finished(study, wall_s, {line.split("|")[0]: tuple(line.split("|")[1:]) for line in jobs.split()})


def trial_dirs(study: Path) -> list[Path]:
    return sorted(p.parent for p in (study / "results/trials").glob("*/*/*/metrics.json"))


def test_every_trial_ran_in_a_slurm_job_with_a_gpu_and_the_study_code(on_slurm):
    runs = [json.loads((d / "run.json").read_text()) for d in trial_dirs(on_slurm.study)]
    assert len(runs) == 6
    for info in runs:
        assert info["slurm_job_id"] in on_slurm.jobs  # a job of this cluster
        assert info["cuda_visible_devices"] in ("0", "1")  # granted one fake GPU
        assert info["versions"]["scalelab"] == STAMP
    assert all(state == "COMPLETED" for state, _ in on_slurm.jobs.values()), on_slurm.jobs


def test_small_trials_are_batched_one_job_per_shard(on_slurm):
    trials = on_slurm.study / "results/trials"
    job_of = {d.relative_to(trials): json.loads((d / "run.json").read_text())["slurm_job_id"]
              for d in trial_dirs(on_slurm.study)}
    by_shard = {}
    for trial, job in job_of.items():
        by_shard.setdefault(trial.parts[0], set()).add(job)
    assert all(len(jobs) == 1 for jobs in by_shard.values()), by_shard
    audit_jobs = {json.loads(p.read_text())["slurm_job_id"] for p in (on_slurm.study / "results/audit").glob("*/*/*/run.json")}
    assert len(audit_jobs) == 1  # the audit re-trains the largest shards' best configs in one job
    assert len(set(job_of.values())) + len(audit_jobs) == 4 == len(on_slurm.jobs)  # nothing else was submitted


def test_results_equal_the_local_run_byte_for_byte(on_slurm, local):
    trials = [d.relative_to(on_slurm.study) for d in trial_dirs(on_slurm.study)]
    assert trials == [d.relative_to(local.study) for d in trial_dirs(local.study)]
    for rel in [t / "metrics.json" for t in trials] + [Path("results/fit.json")]:
        assert (on_slurm.study / rel).read_bytes() == (local.study / rel).read_bytes(), rel
    print_overhead(on_slurm, local)


def print_overhead(on_slurm: Finished, local: Finished) -> None:
    """What a SLURM job costs beyond its trials: each job's elapsed time (squeue %M, whole
    seconds) minus the training seconds its trials report in run.json. Shown with -s."""
    trained = {}
    for d in trial_dirs(on_slurm.study):
        info = json.loads((d / "run.json").read_text())
        trained.setdefault(info["slurm_job_id"], []).append(info["seconds"])
    print(f"\nwhole study: {on_slurm.wall_s:.0f} s with --profile slurm, {local.wall_s:.0f} s locally (--cores 2)")
    for job, (state, elapsed) in sorted(on_slurm.jobs.items()):
        seconds = sum(int(x) * 60**i for i, x in enumerate(reversed(re.split("[:-]", elapsed))))
        busy = sum(trained.get(job, []))
        print(f"SLURM job {job}: {len(trained.get(job, []))} trials, {seconds} s in SLURM, "
              f"{busy:.1f} s training -> {seconds - busy:.0f} s overhead")


def test_a_cancelled_trial_is_resubmitted_and_resumes_from_its_checkpoint(tmp_path, cluster):
    """scancel (as a failing node or a preemption that cancels does) mid-trial: the profile's
    retries resubmit it, it resumes where its checkpoint left off, and ends as if never stopped."""
    params = small_params()
    params["train"].update(min_steps=3000, max_steps=3000, patience_min_steps=2999, eval_min_steps=20, eval_max_steps=20)  # about 10 s
    study = copy_project(tmp_path, params, extra=("profiles", "slurm"))
    trial = "results/trials/k9/cnn1d/w8-lr0.01-s0"  # the first trial of its batch
    cmd, env = profile_run(cluster, study, "results/trials/k9/cnn1d")
    log = study / "logs/train/k9/cnn1d.log"
    with subprocess.Popen(cmd, cwd=study, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            deadline = time.monotonic() + STUDY_TIMEOUT
            while not (log.exists() and log.read_text().count("\nstep ") >= 5):  # mid-run
                assert proc.poll() is None and time.monotonic() < deadline, "the trial never started"
                time.sleep(0.2)
            first_job = cluster.run("squeue", "--noheader", "--states=running", "--format=%i").stdout.split()
            cluster.run("scancel", *first_job)
            output, _ = proc.communicate(timeout=STUDY_TIMEOUT)
        finally:
            proc.kill()
    assert proc.returncode == 0, output[-5000:]
    info = json.loads((study / trial / "run.json").read_text())
    assert info["resumed_from_step"] > 0 and info["slurm_job_id"] not in first_job
    assert not list((study / ".scalelab/trials").rglob(".checkpoint.pt"))
    # The same trial run straight through, outside SLURM, gives the same bytes.
    proc = cli("train", "--k", "9", "--family", "cnn1d", "--width", "8", "--lr", "0.01", "--seed", "0", "--shard", "data/shards/k9",
               "--out-dir", "straight", "--store", "", cwd=study)
    assert proc.returncode == 0, proc.stderr
    for name in ("metrics.json", "history.csv", "model.pt"):
        assert (study / trial / name).read_bytes() == (study / "straight" / name).read_bytes(), name


def test_the_worked_example_runs_its_own_command_in_slurm_jobs(tmp_path, cluster):
    """Catches a user's command that runs locally but not in a SLURM job (its placeholders' paths,
    `python` on the job's PATH, the granted device), and its trials leaving SLURM's jobs."""
    import pandas as pd
    from test_example_study import example_study, tiny_example_params

    params = tiny_example_params()
    params["shards"]["exponents"] = [5, 6, 7]
    params["train"]["device"] = "auto"  # the GPU SLURM grants if torch can use it, else CPU
    study = example_study(tmp_path, params, extra=("profiles", "slurm"))
    cmd, env = profile_run(cluster, study, "results/tables/best.csv")
    proc = run(cmd, study, check=False, timeout=STUDY_TIMEOUT + 30, env=env)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}\n{cluster.logs()}"
    trials = pd.read_csv(study / "results/tables/trials.csv", keep_default_na=False)
    assert len(trials) == 6 and set(trials["status"]) == {"ok"}, trials[["shard", "width", "reason"]]
    jobs = {json.loads(p.read_text())["slurm_job_id"] for p in trial_dirs_of(study, "run.json")}
    assert None not in jobs and len(jobs) >= 1


def trial_dirs_of(study: Path, name: str) -> list[Path]:
    return sorted((study / "results/trials").glob(f"*/*/*/{name}"))
