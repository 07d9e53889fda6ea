"""A batch (one family's trials on one shard, one process) killed half-way keeps its finished
trials: the rerun, by hand, by Snakemake or by DVC, copies them from the store and trains only
the rest, and every trial ends with the bytes of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli, copy_project, dvc, env_for, git_project, run, snakemake, tiny_params

TRIALS = ["w8-lr0.01-s0", "w8-lr0.01-s1", "w16-lr0.01-s0", "w16-lr0.01-s1"]
TRIAL_FILES = ("metrics.json", "history.csv", "model.pt")  # run.json holds timings


def batch_params() -> dict:
    """One shard, one family of 4 trials of about a second each: long enough to kill in between."""
    params = tiny_params()
    params["shards"]["exponents"] = [8, 9, 10]
    params["models"] = {"cnn1d": {"width": [8, 16], "lr": [0.01]}}
    params["train"].update(min_steps=300, max_steps=300, patience_epochs=1000)
    params["fit"]["min_points"] = 3
    return params


def stored(study: Path) -> list[Path]:
    """Finished trials in the store."""
    return sorted((study / ".scalelab/trials").glob("k9/cnn1d/*/*/metrics.json"))


def kill_after(cmd: list[str], study: Path, finished: int, env: dict | None = None, timeout: float = 300) -> int:
    """Start `cmd` in its own process group and SIGKILL the whole group once `finished` trials of
    the batch are in the store (the next one is then training). Returns how many had finished."""
    proc = subprocess.Popen(cmd, cwd=study, env=env or env_for(study), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while len(stored(study)) < finished:
            assert proc.poll() is None, f"{cmd} ended before it was killed"
            assert time.monotonic() < deadline, "the batch never got that far"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = len(stored(study))
    assert 0 < done < len(TRIALS), f"{done} trials finished: kill came too late to test anything"
    return done


def assert_same_bytes(a: Path, b: Path) -> None:
    for trial in TRIALS:
        for name in TRIAL_FILES:
            assert (a / trial / name).read_bytes() == (b / trial / name).read_bytes(), f"{trial}/{name}"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The tiny study prepared and sharded, with one batch trained straight through (no store)."""
    study = copy_project(tmp_path_factory.mktemp("batch"), batch_params())
    for args in (["prepare"], ["shard", "--k", "9", "--out-dir", "data/shards/k9"]):
        proc = cli(*args, cwd=study)
        assert proc.returncode == 0, proc.stderr
    proc = cli(*batch_args("straight"), "--store", "", cwd=study)
    assert proc.returncode == 0, proc.stderr
    assert not (study / ".scalelab").exists()
    return study


def batch_args(out_dir: str) -> list[str]:
    return ["train", "--k", "9", "--family", "cnn1d", "--all", "--shard", "data/shards/k9", "--out-dir", out_dir]


def test_killed_batch_trains_only_the_rest_and_matches_an_uninterrupted_run(prepared):
    study = prepared
    cmd = [sys.executable, "-m", "scalelab", *batch_args("results/trials/k9/cnn1d")]
    done = kill_after(cmd, study, finished=2)
    rerun = cli(*batch_args("results/trials/k9/cnn1d"), cwd=study)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("copied from") == done
    assert rerun.stderr.count("\ndone: ") + rerun.stderr.startswith("done: ") == len(TRIALS) - done
    assert_same_bytes(study / "results/trials/k9/cnn1d", study / "straight")
    assert sorted(p.name for p in (study / "results/trials/k9/cnn1d").iterdir()) == sorted(TRIALS)


def test_a_trial_alone_equals_the_same_trial_in_a_batch(prepared):
    proc = cli("train", "--k", "9", "--family", "cnn1d", "--width", "16", "--lr", "0.01", "--seed", "1",
               "--shard", "data/shards/k9", "--out-dir", "alone", "--store", "", cwd=prepared)
    assert proc.returncode == 0, proc.stderr
    for name in TRIAL_FILES:
        assert (prepared / "alone" / name).read_bytes() == (prepared / "straight/w16-lr0.01-s1" / name).read_bytes(), name


def test_other_settings_are_not_copied_from_the_store(prepared, tmp_path):
    """The store answers by fingerprint only: another weight decay (or code, data, shard) trains anew."""
    import yaml

    params = yaml.safe_load((prepared / "params.yaml").read_text())
    params["train"]["weight_decay"] = 0.01
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = cli(*batch_args("decayed"), "--params", str(tmp_path / "params.yaml"), "--store", "store-decay", cwd=prepared)
    assert proc.returncode == 0 and "copied from" not in proc.stderr
    proc = cli(*batch_args("decayed-again"), "--params", str(tmp_path / "params.yaml"), "--store", "store-decay", cwd=prepared)
    assert proc.stderr.count("copied from") == len(TRIALS)
    for name in TRIAL_FILES:
        assert (prepared / "decayed/w8-lr0.01-s0" / name).read_bytes() != (prepared / "straight/w8-lr0.01-s0" / name).read_bytes()


def test_a_wider_grid_trains_only_the_new_trials(prepared, tmp_path):
    """A grid edit reruns the family's batches; in them, only the trials not in the store train."""
    import yaml

    params = yaml.safe_load((prepared / "params.yaml").read_text())
    params["models"]["cnn1d"]["width"] = [8]
    (tmp_path / "narrow.yaml").write_text(yaml.safe_dump(params))
    proc = cli(*batch_args("narrow"), "--params", str(tmp_path / "narrow.yaml"), "--store", "store-grid", cwd=prepared)
    assert proc.returncode == 0 and "copied from" not in proc.stderr
    proc = cli(*batch_args("wide"), "--store", "store-grid", cwd=prepared)  # widths 8 and 16
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("copied from") == 2 and "cnn1d w16 lr0.01 s0: " in proc.stderr.split("copied from")[-1]
    assert_same_bytes(prepared / "wide", prepared / "straight")


@pytest.mark.slow
def test_killed_snakemake_batch_resumes(prepared, tmp_path):
    """kill -9 of Snakemake and its batch job; `--unlock`, rerun: Snakemake deletes the batch's
    folder (an incomplete output) and reruns it, which trains only the trials not finished."""
    study = copy_project(tmp_path / "study", batch_params(), extra=("profiles",))
    target = "results/trials/k9/cnn1d"
    done = kill_after([sys.executable, "-m", "snakemake", "--cores", "1", target], study, finished=2)
    snakemake(study, "--unlock")
    snakemake(study, target)
    log = (study / "logs/train/k9/cnn1d.log").read_text()
    assert log.count("copied from") == done and log.count("\ndone: ") + log.startswith("done: ") == len(TRIALS) - done
    assert_same_bytes(study / target, prepared / "straight")


@pytest.mark.slow
def test_killed_dvc_stage_resumes(prepared, tmp_path):
    """kill -9 of `dvc repro` mid-stage; plain `dvc repro` again: DVC deletes the stage's outs before it runs it,
    and the stage copies the finished trials from the store and trains only the rest."""
    study = git_project(tmp_path / "study", batch_params())
    dvc(study, "repro", "shard@9")
    done = kill_after([str(Path(sys.executable).with_name("dvc")), "repro", "train@9-cnn1d"], study, finished=2)
    # A killed dvc leaves its rwlock entry behind; the next dvc sees its pid is gone and goes on.
    proc = run([str(Path(sys.executable).with_name("dvc")), "repro", "train@9-cnn1d"], study)
    out = proc.stdout + proc.stderr
    assert out.count("copied from") == done, out[-3000:]
    assert_same_bytes(study / "results/trials/k9/cnn1d", prepared / "straight")
