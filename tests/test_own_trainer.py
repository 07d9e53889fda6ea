"""A study of the user's own training code: a trainer function and a command (training/trainer.py,
training/own_trial.py), run by the real Snakemake and DVC on tests/data/own_trainer, whose "model"
is a formula, so a whole study takes seconds."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, cli, copy_project, dvc, env_for, git, git_commit, scheduled_jobs, small_params, snakemake

from scalelab import config
from scalelab.errors import ScalelabError

TRAINERS = ROOT / "tests" / "data" / "own_trainer" / "mytrainer"
COMMAND = ("python mytrainer/fit_cmd.py --indices {indices} --width {width} --depth {depth} --seed {seed} "
           "--mode {mode} --checkpoint {checkpoint} --out {out}")


def own_params(fn_modes=("ok",), cmd_modes=("ok",), exponents=(7, 8, 9, 10)) -> dict:
    params = small_params(exponents)
    params["data"] = {"dataset": "manifest", "options": {"examples": 3000}, "val_size": 200, "test_size": 200, "seed": 0}
    params["models"] = {
        "fn": {"trainer": "mytrainer.fit_fn:run", "code": ["mytrainer/curve.py"], "patience": 3,
               "width": [8, 32], "depth": [1, 2], "mode": list(fn_modes)},
        "cmd": {"command": COMMAND, "code": ["mytrainer/fit_cmd.py", "mytrainer/curve.py"],
                "width": [8, 32], "depth": [1], "mode": list(cmd_modes)},
    }
    return params


def own_study(dest: Path, params: dict) -> Path:
    study = copy_project(dest, params)
    shutil.copytree(TRAINERS, study / "mytrainer", ignore=shutil.ignore_patterns("__pycache__"))
    return study


def trials_table(study: Path) -> pd.DataFrame:
    return pd.read_csv(study / "results/tables/trials.csv", keep_default_na=False)


def test_both_trainer_forms_run_a_whole_study_under_snakemake_then_dvc_gives_the_same_bytes(tmp_path):
    """Catches: a trainer's grid keys lost between params.yaml, the trial folders and the tables;
    a trainer's metrics not reaching the fit; the two engines naming or storing trials differently."""
    study = own_study(tmp_path / "study", own_params())
    snakemake(study)
    trials = trials_table(study)
    assert set(trials["status"]) == {"ok"} and set(trials["reason"]) == {""}
    assert {"hp_depth", "hp_mode"} <= set(trials.columns) and set(trials["family"]) == {"fn", "cmd"}
    assert (study / "results/trials/k10/fn/w32-depth2-modeok-s0/history.csv").read_text().count("\n") == 5  # header + 4
    assert "test_extra" in trials.columns  # a trainer's own test_ metric is kept
    best = pd.read_csv(study / "results/tables/best.csv")
    assert (best.loc[best["family"] == "fn", "width"] == 32).all()  # the formula's best model: the widest
    fit = json.loads((study / "results/fit.json").read_text())
    assert fit["families"]["fn"]["beta_g"] < 0
    assert (study / "results/summary.md").exists() and (study / "results/figures/learning_curve.png").exists()

    before = {p: p.read_bytes() for p in (study / "results/tables").glob("trials.csv")}
    git(study, "init", "-q", "-b", "main")
    git_commit(study, "a study of our own trainers")
    assert cli("dvc-yaml", cwd=study).returncode == 0
    dvc(study, "repro")  # every trial is in the store: copied, not trained again
    assert {p: p.read_bytes() for p in before} == before
    forced = dvc(study, "repro", "-f", "train@7-cmd")
    assert "copied from" in forced.stdout + forced.stderr

    # DVC tracks the trainer's code too: an edit reruns the train stages, and only the edited
    # family's trials train again (the other's fingerprints hold; they are copied from the store).
    seconds = {p: json.loads(p.read_text())["seconds"] for p in (study / "results/trials").glob("k*/*/*/run.json")}
    with open(study / "mytrainer/fit_cmd.py", "a") as f:
        f.write("# tuned\n")
    assert "mytrainer/fit_cmd.py" in dvc(study, "status", "train@7-cmd").stdout
    dvc(study, "repro")
    again = {p: json.loads(p.read_text())["seconds"] for p in seconds}
    assert {p for p in seconds if again[p] != seconds[p]} == {p for p in seconds if "/cmd/" in str(p)}


def test_editing_a_trainers_code_reruns_only_its_family(tmp_path):
    """Catches: the trainer's files missing from the fingerprint and the rule inputs (an edit
    reruns nothing), or shared by every family (an edit retrains all)."""
    study = own_study(tmp_path / "study", own_params(exponents=(7, 8, 9)))
    snakemake(study, "results/tables/trials.csv")
    seconds = {p: json.loads(p.read_text())["seconds"] for p in (study / "results/trials").glob("k*/fn/*/run.json")}
    with open(study / "mytrainer/fit_cmd.py", "a") as f:
        f.write("# tuned\n")
    assert scheduled_jobs(study).get("train") == 3  # the command family's batch on each of 3 shards
    snakemake(study, "results/tables/trials.csv")
    assert {p: json.loads(p.read_text())["seconds"] for p in seconds} == seconds  # fn's trials untouched
    with open(study / "mytrainer/curve.py", "a") as f:  # shared by both: both rerun
        f.write("# tuned\n")
    assert scheduled_jobs(study).get("train") == 6


@pytest.mark.parametrize("family", ["fn", "cmd"])
def test_a_failing_trial_is_recorded_with_its_reason_and_the_study_goes_on(tmp_path, family):
    """Catches: a trainer's crash, bad exit, malformed or NaN metrics, or a missing study metric
    stopping the study or becoming a point on the curve."""
    modes = {"fn": ("ok", "raise", "nan", "nometric", "noparams"), "cmd": ("ok", "exit3", "malformed", "nan", "nometric")}[family]
    params = own_params(exponents=(7, 8, 9))
    params["models"] = {family: {**params["models"][family], "mode": list(modes)}}
    study = own_study(tmp_path / "study", params)
    snakemake(study, "results/tables/best.csv")
    trials = trials_table(study)
    reasons = dict(zip(trials["hp_mode"], trials["reason"]))
    assert reasons["ok"] == "" and (trials.loc[trials["hp_mode"] == "ok", "status"] == "ok").all()
    expected = {
        "raise": "RuntimeError: CUDA out of memory (simulated)",
        "exit3": "exit code 1: could not open the dataset (simulated)",
        "malformed": "metrics.json is not valid JSON",
        "nan": "val_loss is not a finite number",
        "nometric": "metrics.json has no finite test_error",
        "noparams": "the trainer's return value has no params",
    }
    for mode in modes[1:]:
        assert expected[mode] in reasons[mode]
        assert (trials.loc[trials["hp_mode"] == mode, "status"] == "failed").all()
    best = pd.read_csv(study / "results/tables/best.csv", keep_default_na=False)
    assert set(best["hp_mode"]) == {"ok"}


@pytest.mark.parametrize("family", ["fn", "cmd"])
def test_sigterm_checkpoints_and_the_rerun_resumes_to_the_same_metrics(tmp_path, family):
    """Catches: SIGTERM not reaching the trainer, its checkpoint folder lost with the job's outputs,
    or a resumed trial ending with other metrics than an uninterrupted one."""
    params = own_params(exponents=(7, 8, 9))
    params["models"] = {family: {**params["models"][family], "width": [8], "depth": [1], "mode": ["slow"]}}
    study = own_study(tmp_path / "study", params)
    assert cli("prepare", "--heldout-dir", "data/heldout", "--info", "data/pool.json", cwd=study).returncode == 0
    assert cli("shard", "--k", "7", "--info", "data/pool.json", "--out-dir", "data/shards/k7", cwd=study).returncode == 0
    args = [sys.executable, "-m", "scalelab", "train", "--k", "7", "--family", family, "--all", "--heldout-dir", "data/heldout",
            "--info", "data/pool.json", "--shard", "data/shards/k7"]
    env = {**env_for(study), "PID_FILE": str(tmp_path / "pid")}
    proc = subprocess.Popen([*args, "--out-dir", "out", "--store", "store"], cwd=study, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list((study / "store").rglob("state.json")) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    saved = json.loads(next((study / "store").rglob("state.json")).read_text())["step"]
    assert 1 <= saved < 4 and "SIGTERM" in err
    resumed = subprocess.run([*args, "--out-dir", "out", "--store", "store"], cwd=study, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0 and f"resumed at step {saved}" in resumed.stdout + resumed.stderr
    clean = subprocess.run([*args, "--out-dir", "clean", "--store", "other"], cwd=study, env=env, capture_output=True, text=True)
    assert clean.returncode == 0 and "resumed" not in clean.stderr
    name = "w8-depth1-modeslow-s0"
    assert (study / "out" / name / "metrics.json").read_bytes() == (study / "clean" / name / "metrics.json").read_bytes()
    assert not list((study / "store").rglob("state.json"))  # the checkpoint folder goes once the trial is done


BAD = [
    (lambda p: p["models"]["fn"].update(trainer="mytrainer.missing:run"), "models.fn.trainer: module 'mytrainer.missing' not found"),
    (lambda p: p["models"]["fn"].update(trainer="mytrainer.fit_fn:train"), "has no top-level function 'train'"),
    (lambda p: p["models"]["fn"].update(dropout=[0.1]), "models.fn.dropout: run() in"),
    (lambda p: p["models"]["cmd"].update(command="nosuchprogram --out {out} {width} {depth} {mode} {seed}"),
     "command 'nosuchprogram' not found"),
    (lambda p: p["models"]["cmd"].update(command=COMMAND + " --lr {lr}"), "placeholder {lr} is neither a grid key"),
    (lambda p: p["models"]["cmd"].update(dropout=[0.1]), "models.cmd.dropout: the command has no {dropout} placeholder"),
    (lambda p: p["models"]["cmd"].update(command=COMMAND.replace(" --out {out}", "")), "no {out} placeholder"),
    (lambda p: p["models"]["cmd"].update(size="depthx"), "models.cmd.size: 'depthx' is not one of the family's grid keys"),
    (lambda p: p["models"]["cmd"].update(code=["mytrainer/gone.py"]), "models.cmd.code: 'mytrainer/gone.py' not found"),
    (lambda p: p["models"]["cmd"].update(module="plugins.x"), "give one of module:, trainer: or command:"),
    (lambda p: p["data"].update(dataset="mnist1d", options=None), "the study needs data.dataset: manifest"),
    (lambda p: p["models"].update(cnn1d={"width": [8], "lr": [0.01]}), "models.cnn1d: scalelab's own loop cannot train"),
    (lambda p: p["models"].update(cnn1d={"width": [8], "lr": [0.01], "depth": [2]}), "models.cnn1d: 'depth' is not a setting"),
]


@pytest.mark.parametrize("break_it, message", BAD, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD)])
def test_bad_trainer_settings_are_one_line_before_any_job(tmp_path, monkeypatch, break_it, message):
    """Catches: a trainer that cannot run found only when its first job fails (or never: a grid
    key the trainer silently ignores)."""
    study = own_study(tmp_path / "study", own_params())
    monkeypatch.chdir(study)
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    params = copy.deepcopy(own_params())
    config.validate(params, root=study)  # the unbroken study is valid
    break_it(params)
    with pytest.raises(ScalelabError) as error:
        config.validate(params, root=study)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_report_keeps_the_history_and_says_stop_after_the_familys_patience(tmp_path):
    """Catches early stopping that never fires (or fires before the patience ran out), the audit's
    factor not lengthening it, and a resumed trainer's repeated evaluations kept twice."""
    import numpy as np

    from scalelab.training import trainer

    def trial(factor=1):
        return trainer.Trial(family="f", hparams={"width": 8}, seed=0, indices=np.arange(4), val_indices=np.arange(2),
                             test_indices=np.arange(2), manifest=None, device="cpu", precision="fp32",
                             work=tmp_path / f"x{factor}", patience=2, min_rel_delta=0.01, patience_factor=factor,
                             log=lambda text: None)

    t = trial()
    losses = [1.0, 0.5, 0.499, 0.6]  # 0.499 is not 1% better than 0.5: it does not reset patience
    said = [t.report(step, loss) for step, loss in enumerate(losses, 1)]
    assert said == [False, False, False, True]
    assert [r["val_loss"] for r in trainer.read_history(tmp_path / "x1/history.csv")] == losses
    again = trial()  # a resumed trainer re-reports from step 3: the rows after it are replaced
    assert len(again.history) == 4 and again.report(3, 0.4) is False and [r["step"] for r in again.history] == [1, 2, 3]
    longer = trial(factor=2)
    assert [longer.report(step, loss) for step, loss in enumerate([1.0, 0.5, 0.6, 0.6, 0.6, 0.6], 1)] == [False] * 5 + [True]
