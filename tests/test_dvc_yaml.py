"""dvc.yaml lists code and params literally (it cannot import Python): it must agree with steps.py,
which the Snakemake rules use, and its matrix must name trials exactly as the steps do."""

import re

import pytest
import yaml
from conftest import ROOT, cli, dvc, git_project, tiny_params

from scalelab import config
from scalelab.steps import STEP_CODE, STEP_PARAMS, code_files

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
# Read by a DVC stage only: the matrix trains the full grid, so `train --full-grid` reads
# grid.sample to refuse it (Snakemake draws the sample itself and never passes it to train).
DVC_ONLY_PARAMS = {"train": {"grid.sample"}}


def stage(step: str) -> dict:
    definition = DVC_YAML["stages"][step]
    return definition.get("do", definition)  # foreach stages keep theirs under do:


def test_every_step_is_a_stage():
    assert list(DVC_YAML["stages"]) == list(STEP_CODE)


@pytest.mark.parametrize("step", list(STEP_CODE))
def test_stage_code_deps_are_steps_py(step):
    deps = [d for d in stage(step)["deps"] if d.startswith("workflow/")]
    assert sorted(deps) == sorted(code_files(step, root=ROOT)), f"dvc.yaml stage {step}: update its code deps from steps.py"


@pytest.mark.parametrize("step", list(STEP_CODE))
def test_stage_params_are_steps_py(step):
    params = set(stage(step)["params"])
    assert params == set(STEP_PARAMS[step]) | DVC_ONLY_PARAMS.get(step, set()), f"dvc.yaml stage {step}: params drifted from steps.py"


@pytest.mark.parametrize("step", list(STEP_CODE))
def test_stage_runs_the_step(step):
    assert re.match(rf"scalelab {step}\b", stage(step)["cmd"])


def test_matrix_renders_trial_names_as_the_steps_do(tmp_path):
    """${item.lr} must print a learning rate as str(float) does, or the engines' paths differ."""
    params = tiny_params()
    params["shards"]["exponents"] = [8, 9, 10]
    params["grid"]["lr"] = [0.01, 0.003, 0.0001, 1.0]
    study = git_project(tmp_path / "study", params)
    listed = dvc(study, "stage", "list").stdout
    rendered = set(re.findall(r"^train@\S+\s+Outputs (\S+)$", listed, re.M))
    expected = {f"results/trials/{config.shard_name(k)}/{t['name']}"
                for k in params["shards"]["exponents"] for t in config.trials_for_shard(params, k)}
    assert rendered == expected
    assert set(re.findall(r"^shard@\S+\s+Outputs (\S+)$", listed, re.M)) == {f"data/shards/k{k}.npy" for k in (8, 9, 10)}


def test_full_grid_train_refuses_grid_sample(tmp_path):
    params = tiny_params()
    params["grid"]["sample"] = 1
    study = git_project(tmp_path / "study", params)
    proc = cli("train", "--k", "6", "--width", "8", "--lr", "0.01", "--seed", "0", "--shard", "x.npy",
               "--out-dir", "out", "--full-grid", cwd=study)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "grid.sample" in proc.stderr and "snakemake" in proc.stderr, proc.stderr
    assert "grid.sample is set" in cli("check", cwd=study).stdout
