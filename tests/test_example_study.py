"""The worked example (examples/wav_commands/) as a scalelab study, at tiny sizes: its params.yaml
with fewer clips, shards and epochs, run by the real Snakemake and DVC on real .wav files through
the example's own training script. The SLURM run is in test_slurm.py; the README's params snippet
is checked against the example's params.yaml here."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, cli, copy_project, dvc, git, git_commit, scheduled_jobs, snakemake

EXAMPLE = ROOT / "examples" / "wav_commands"
TINY_EPOCHS = " --epochs 2 --min-steps 0 --warmup-steps 5 --batch-size 8"  # appended: argparse keeps the last value


def tiny_example_params() -> dict:
    """The example's params.yaml at test size: 700 clips, shards of 32..256, one seed."""
    params = yaml.safe_load((EXAMPLE / "params.yaml").read_text())
    params["data"].update(val_size=60, test_size=60)
    params["shards"]["exponents"] = [5, 6, 7, 8]
    family = params["models"]["cnn"]
    family.update(command=family["command"] + TINY_EPOCHS, width=[4, 8], depth=[1])
    params["grid"]["seed"] = [0]
    params["fit"].update(min_points=3, bootstrap=50, jitter=20)
    params["figures"]["dpi"] = 100
    return params


def example_study(dest: Path, params: dict | None = None, clips: int = 700, extra: tuple[str, ...] = ()) -> Path:
    """A copy of the project with the example's files, its data made offline (real .wav files)."""
    study = copy_project(dest, params or tiny_example_params(), extra=extra)
    shutil.copytree(EXAMPLE, study / "examples" / "wav_commands", ignore=shutil.ignore_patterns("__pycache__", "results"))
    make_data(study, "--examples", str(clips))
    return study


def make_data(study: Path, *args: str) -> None:
    subprocess.run([sys.executable, "examples/wav_commands/make_data.py", *args], cwd=study, check=True, capture_output=True)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    study = example_study(tmp_path_factory.mktemp("example"))
    snakemake(study)
    return study


def metrics_files(study: Path) -> dict[str, bytes]:
    return {str(p.relative_to(study)): p.read_bytes() for p in sorted((study / "results/trials").glob("*/*/*/metrics.json"))}


def test_the_example_runs_end_to_end_under_snakemake(local):
    """Catches the example's command, placeholders or metrics.json drifting from what scalelab
    hands and reads: every trial must train and the study reach its summary."""
    trials = pd.read_csv(local / "results/tables/trials.csv", keep_default_na=False)
    assert len(trials) == 8 and set(trials["status"]) == {"ok"}, trials[["shard", "width", "reason"]]
    assert (trials["params"] > 0).all() and "hp_depth" in trials.columns
    assert (local / "results/summary.md").exists() and (local / "results/figures/learning_curve.png").exists()
    lr = tiny_example_params()["models"]["cnn"]["lr"][0]
    assert "epoch 2/2" in (local / f"results/trials/k8/cnn/w8-depth1-lr{lr}-s0/trainer.log").read_text()


def test_dvc_repro_of_the_example_gives_the_same_trials_byte_for_byte(local, tmp_path):
    """Catches the two engines running the user's command differently (other index files, seeds
    or device): a fresh DVC run must reproduce Snakemake's metrics exactly."""
    study = example_study(tmp_path / "dvc")
    git(study, "init", "-q", "-b", "main")
    assert cli("dvc-yaml", cwd=study).returncode == 0
    git_commit(study, "the example")
    dvc(study, "repro")
    assert metrics_files(study) == metrics_files(local)
    assert (study / "results/fit.json").read_bytes() == (local / "results/fit.json").read_bytes()


def test_appending_clips_and_adding_a_shard_trains_only_the_new_shard(tmp_path):
    """Catches a grown manifest redrawing validation, test or an existing shard: data bought later
    must cost only the new shard's trials."""
    params = tiny_example_params()
    params["shards"]["exponents"] = [5, 6, 7]
    study = example_study(tmp_path / "grow", params)
    snakemake(study, "results/tables/trials.csv")
    before = {p: p.read_bytes() for p in sorted((study / "data").rglob("*.npy"))}
    pending = scheduled_jobs(study)  # the steps after the trials table, not run here
    assert "train" not in pending and "shard" not in pending
    make_data(study, "--examples", "700", "--append", "300")
    assert scheduled_jobs(study) == pending  # appending alone reruns nothing
    params["shards"]["exponents"].append(9)
    (study / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    jobs = scheduled_jobs(study)
    assert jobs["train"] == 1 and jobs["shard"] == 1 and "prepare" not in jobs, jobs
    snakemake(study, "results/tables/trials.csv")
    assert {p: p.read_bytes() for p in before} == before
    trials = pd.read_csv(study / "results/tables/trials.csv")
    assert set(trials["k"]) == {5, 6, 7, 9} and (trials["status"] == "ok").all()


def test_the_readmes_params_are_the_examples():
    """Catches the README's params snippet drifting from the example it says drives the figure."""
    readme = (ROOT / "README.md").read_text()
    snippet = yaml.safe_load(re.sub(r"^   ", "", re.search(r"```yaml\n(.*?)```", readme[readme.index("## Study your own model"):],
                                                            re.S).group(1), flags=re.M))
    example = yaml.safe_load((EXAMPLE / "params.yaml").read_text())
    assert snippet["models"] == {"cnn": {k: v for k, v in example["models"]["cnn"].items() if k in snippet["models"]["cnn"]}}
    assert snippet["models"]["cnn"]["command"] == example["models"]["cnn"]["command"]
    assert snippet["shards"] == example["shards"]
    for key, value in snippet["data"].items():
        assert value == ({k: example["data"]["options"][k] for k in value} if key == "options" else example["data"][key])
