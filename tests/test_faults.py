"""Faults and bad input, with real processes: nothing crashes with a traceback, nothing half-written
looks finished, and an interrupted or doubled run ends with the same bytes as a clean one.
(Killed runs that resume: test_batch.py; a preempted trial that resumes: test_train.py and
test_slurm.py. bench/README.md lists every fault tried and what happened.)"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, copy_project, env_for, run, snakemake, tiny_params

pytestmark = pytest.mark.slow
COMPARED = ["results/tables/trials.csv", "results/tables/best.csv", "results/fit.json", "results/predictions.json"]


def fault_params() -> dict:
    """The tiny study on 4 shards, with an mlp learning rate that diverges: its trials fail, the
    study goes on without them."""
    params = tiny_params()
    params["shards"]["exponents"] = [6, 7, 8, 9]
    params["models"]["mlp"]["lr"] = [0.01, 1e30]
    return params


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    study = copy_project(tmp_path_factory.mktemp("faults"), fault_params(), extra=("profiles",))
    snakemake(study)
    return study


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """The failure a user sees: exit status 2, one line on stderr starting 'scalelab:', naming `words`."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("scalelab: "), proc.stderr[-3000:]
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


@contextlib.contextmanager
def changed_file(path: Path, data: bytes):
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        yield
    finally:
        path.write_bytes(original)


def test_a_diverging_trial_is_recorded_as_failed_and_the_study_completes(study):
    trials = (study / "results/tables/trials.csv").read_text().splitlines()
    failed = [row for row in trials if ",1e+30," in row]
    assert len(failed) == 4 * 2 and all(",failed,diverged," in row for row in failed)
    best = (study / "results/tables/best.csv").read_text()
    assert "1e+30" not in best and (study / "results/summary.md").exists()


@pytest.mark.parametrize("damage", ["truncated", "edited"])
def test_a_broken_trial_metrics_file_is_a_one_line_error_naming_it(study, damage):
    path = study / "results/trials/k8/cnn1d/w8-lr0.01-s0/metrics.json"
    text = path.read_text()
    broken = text[: len(text) // 2] if damage == "truncated" else text.replace('"val_loss": ', '"val_loss": "low", "x": ', 1)
    with changed_file(path, broken.encode()):
        line = one_line_error(cli("select", "--out-dir", "results/check", cwd=study), str(path.relative_to(study)))
    assert ("not valid JSON" in line) if damage == "truncated" else ("val_loss not a number" in line)
    assert not (study / "results/check").exists()  # nothing written


def test_a_held_out_set_that_no_longer_matches_its_checksum_is_refused_before_training(study):
    path = study / "data/heldout/val_y.npy"
    labels = np.load(path)
    labels[0] = (labels[0] + 1) % 10
    edited = study / "edited.npy"
    np.save(edited, labels)
    with changed_file(path, edited.read_bytes()):
        proc = cli("train", "--k", "6", "--family", "mlp", "--width", "16", "--lr", "0.02", "--seed", "0",
                   "--shard", "data/shards/k6", "--out-dir", "new-trial", "--store", "", cwd=study)
        one_line_error(proc, "data/heldout", "data/pool.json", "rerun prepare")
    assert not (study / "new-trial/metrics.json").exists()


def test_a_full_disk_is_a_one_line_error_and_leaves_nothing_that_looks_finished(study, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(full)], capture_output=True).returncode:
        pytest.skip("mount -t tmpfs is not allowed here")
    try:
        one_line_error(cli("select", "--out-dir", str(full), cwd=study), "trials.csv", "No space left on device", "disk is full")
        assert os.listdir(full) == []  # no trials.csv, no best.csv, no temporary file
    finally:
        subprocess.run(["umount", str(full)], check=True)


def test_a_second_snakemake_on_the_same_study_is_refused_and_corrupts_nothing(study, tmp_path):
    """While one run holds the study, a second one stops with Snakemake's lock message; the first
    finishes with the same bytes as an undisturbed run."""
    twin = copy_project(tmp_path / "twin", fault_params(), extra=("profiles",))
    first = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=twin, env=env_for(twin),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    locks = twin / ".snakemake/locks"
    deadline = time.monotonic() + 120
    while not (locks.exists() and any(locks.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    second = snakemake(twin, check=False)
    assert second.returncode != 0 and "Directory cannot be locked" in second.stdout + second.stderr
    assert first.wait(timeout=600) == 0, first.stdout.read()[-3000:]
    for rel in COMPARED:
        assert (twin / rel).read_bytes() == (study / rel).read_bytes(), rel


def test_kill_9_of_the_whole_study_then_unlock_and_rerun_gives_the_same_bytes(study, tmp_path):
    """kill -9 of Snakemake's process group while it trains; the rerun asks for --unlock (the
    README says so), then finishes with the bytes of an uninterrupted run."""
    twin = copy_project(tmp_path / "killed", fault_params(), extra=("profiles",))
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=twin, env=env_for(twin),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store = twin / ".scalelab/trials"
    deadline = time.monotonic() + 300
    while len(list(store.rglob("metrics.json"))) < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the study finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    refused = snakemake(twin, check=False)
    assert refused.returncode != 0 and "--unlock" in refused.stdout + refused.stderr
    snakemake(twin, "--unlock")
    snakemake(twin)
    for rel in COMPARED:
        assert (twin / rel).read_bytes() == (study / rel).read_bytes(), rel


def test_predicting_a_huge_model_takes_seconds_and_little_memory():
    """A size law can ask for 10^12 parameters: the width search counts parameters on the meta
    device, never allocating them, and stops at its bound."""
    code = (
        "import resource, sys, time\n"
        "from scalelab.decisions import sizing\n"
        "t = time.perf_counter()\n"
        "widths = [sizing.width_for_params(f, 1e12, s, n) for f, s, n in "
        "[('cnn1d', [40], 10), ('mlp', [40], 10), ('lstm', [32], 100), ('transformer', [32], 100), ('cnn2d', [3, 32, 32], 10)]]\n"
        "print(widths, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    proc = run([sys.executable, "-c", code], Path(__file__).parent, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "workflow")})
    widths, seconds, peak_mb = proc.stdout.rsplit(" ", 2)
    assert widths == "[None, None, None, None, None]"  # beyond the search: reported as a parameter count only
    assert float(seconds) < 30 and int(peak_mb) < 1024, proc.stdout


def test_a_prediction_beyond_the_grid_says_so():
    from scalelab.steps import report_sections

    row = {"error": 0.01, "size": 1e9, "size_ci": [1e8, 1e10], "multiplier": 1e5, "params": 1e12,
           "params_ci": [1e11, 1e13], "width": None, "beyond_grid": True}
    text = report_sections.summary_row_for_target(row)
    assert "beyond the grid: an extrapolation" in text and "> 65,536" in text
