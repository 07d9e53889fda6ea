"""The real DVC runs the tiny study in a git repository: it agrees with Snakemake byte for byte,
reruns exactly what a change affects, diffs metrics between commits and restores from its run cache."""

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import dvc, git, git_commit, git_project, scheduled_jobs, small_params, snakemake
from scalelab.steps import report_sections

pytestmark = pytest.mark.slow

# Deterministic outputs both engines must write byte for byte (run.json, model.pt, timing.csv and
# cost.json hold timings; summary.md is compared without the sections that quote them).
SAME_BYTES = ["results/tables/trials.csv", "results/tables/best.csv", "results/fit.json", "results/fit_samples.csv",
              "results/predictions.json", "results/metrics.json"]
UP_TO_DATE = "Data and pipelines are up to date."



def ran(output: str) -> set[str]:
    """Stages `dvc repro` ran (not those it skipped or restored from the run cache)."""
    return set(re.findall(r"^Running stage '([^']+)'", output, re.M))


def edit_params(study: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load((study / "params.yaml").read_text())
    params[section][key] = value
    (study / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    study = git_project(tmp_path_factory.mktemp("dvc"), small_params((8, 9, 10, 11)))
    dvc(study, "repro")
    git_commit(study, "study")
    return study


@pytest.fixture(scope="module")
def snakemade(tmp_path_factory):
    """The same study made by Snakemake, in a git repository of its own."""
    study = git_project(tmp_path_factory.mktemp("snakemake"), small_params((8, 9, 10, 11)))
    snakemake(study)
    return study


def test_repro_makes_every_output_and_leaves_git_clean(study):
    for rel in SAME_BYTES + ["results/figures/learning_curve.png", "results/trials/k11/cnn1d/w16-lr0.01-s0/model.pt",
                             "data/shards/k8"]:
        assert (study / rel).exists(), rel
    assert dvc(study, "status").stdout.strip() == UP_TO_DATE
    assert git(study, "status", "--porcelain") == ""  # trials and data ignored, small results committed
    tracked = git(study, "ls-files")
    assert "results/fit.json" in tracked and "results/trials" not in tracked and "data/pool" not in tracked


def test_engines_write_the_same_bytes(study, snakemade):
    trials = sorted(p.relative_to(study) for p in (study / "results/trials").rglob("metrics.json"))
    assert len(trials) == 12
    for rel in SAME_BYTES + [str(p) for p in trials]:
        assert (study / rel).read_bytes() == (snakemade / rel).read_bytes(), rel
    timed = {d: (d / "results/summary.md").read_text().split("\n## ") for d in (study, snakemade)}
    assert [s.split("\n")[0] for s in timed[study]] == [s.split("\n")[0] for s in timed[snakemade]]
    untimed = {d: [s for s in sections if not s.startswith((report_sections.COST_SECTION, report_sections.PLAN_SECTION))] for d, sections in timed.items()}
    assert untimed[study] == untimed[snakemade] and len(untimed[study]) < len(timed[study])


def test_snakemake_accepts_dvc_outputs(study):
    assert scheduled_jobs(study) == {}


def test_dvc_takes_over_snakemake_outputs_with_commit(snakemade):
    assert dvc(snakemade, "status").stdout.strip() != UP_TO_DATE
    dvc(snakemade, "commit", "--force")
    assert dvc(snakemade, "status").stdout.strip() == UP_TO_DATE
    assert ran(dvc(snakemade, "repro").stdout) == set()


def test_fit_key_reruns_only_fit_figures_predict_report_and_metrics_diff_shows_beta_g(study):
    before = json.loads((study / "results/fit.json").read_text())["families"]["cnn1d"]
    edit_params(study, "fit", "metric", "test_loss")  # a fit key that moves beta_g
    status = dvc(study, "status", "--json").stdout
    # What read it: the audit compares fit.metric, select fails a trial whose metrics lack it (a
    # trainer's); the rest follow. select's tables come out the same bytes.
    assert set(json.loads(status)) == {"select", "fit", "audit"}
    assert ran(dvc(study, "repro").stdout) == {"select", "fit", "audit", "figures", "predict", "report"}
    git_commit(study, "fit test_loss")

    diff = json.loads(dvc(study, "metrics", "diff", "HEAD~1", "--json").stdout)
    beta_g = diff["results/metrics.json"]["beta_g"]
    assert beta_g["old"] == before["beta_g"] and beta_g["new"] != beta_g["old"]
    assert "beta_g_low" in diff["results/metrics.json"] and "best.test_loss" not in diff["results/metrics.json"]
    params = json.loads(dvc(study, "params", "diff", "HEAD~1", "--json").stdout)
    assert params["params.yaml"] == {"fit.metric": {"old": "test_error", "new": "test_loss"}}
    dvc(study, "plots", "diff", "HEAD~1", "-o", "plots")
    page = (study / "plots/index.html").read_text()
    assert page.count('"type": "log"') >= 4 and "HEAD~1" in page  # log-log axes, both commits


def test_reverted_params_restore_from_run_cache_without_training(study):
    committed = (study / "results/fit.json").read_bytes()
    edit_params(study, "train", "weight_decay", 0.01)
    retrained = ran(dvc(study, "repro").stdout)
    assert len([s for s in retrained if s.startswith("train@")]) == 4 * 2 and "select" in retrained  # shards x families
    git(study, "checkout", "params.yaml")
    out = dvc(study, "repro").stdout
    # figures, predict and report keep every output in git (images; predictions, costs, summary and
    # metrics), so they have no run cache and simply run again: seconds, and the same bytes
    assert ran(out) <= {"figures", "predict", "report"}, out
    for restored in ("train@8-cnn1d", "train@11-mlp", "select", "audit", "fit"):
        assert f"Stage '{restored}' is cached - skipping run" in out, out
    assert (study / "results/fit.json").read_bytes() == committed
    assert dvc(study, "status").stdout.strip() == UP_TO_DATE


def test_a_family_grid_edit_reruns_only_that_familys_stages(study):
    """DVC trains a family's whole grid in one stage per shard: widening mlp's grid reruns the
    mlp stages (and select, audit and predict, which read every family's grid), never cnn1d's."""
    params = yaml.safe_load((study / "params.yaml").read_text())
    params["models"]["mlp"]["width"] = [16, 32]
    (study / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stale = set(json.loads(dvc(study, "status", "--json").stdout))
    assert stale == {f"train@{k}-mlp" for k in (8, 9, 10, 11)} | {"select", "audit", "predict"}
    git(study, "checkout", "params.yaml")
    assert dvc(study, "status").stdout.strip() == UP_TO_DATE


def test_one_familys_model_code_retrains_only_its_trials(study):
    """A matrix gives every train stage one deps list, so each lists every study family's model
    code (scalelab dvc-yaml) and editing models/mlp.py reruns cnn1d's stages too; but a trial's
    fingerprint holds only its own family's module, so cnn1d's trials are copied from the store
    unchanged (no new fingerprint in the store) and only mlp's train."""
    model = study / "workflow/scalelab/models/mlp.py"

    def stored(family):  # one folder per fingerprint a trial was trained under
        return {p.parent for p in (study / ".scalelab/trials").rglob("metrics.json") if f"/{family}/" in str(p)}

    before = {p: p.read_bytes() for p in (study / "results/trials").rglob("metrics.json") if "/cnn1d/" in str(p)}
    cnn_store, mlp_store = stored("cnn1d"), stored("mlp")
    model.write_text(model.read_text().replace('"""', '"""(edited) ', 1))
    try:
        proc = dvc(study, "repro")
        out = proc.stdout + proc.stderr
        assert {s for s in ran(out) if s.startswith("train@")} == {f"train@{k}-{f}" for k in (8, 9, 10, 11) for f in ("cnn1d", "mlp")}
        assert len(re.findall(r"^train k\d+ \(m=\d+\) cnn1d .*copied from", out, re.M)) == len(before)
        mlp_trials = list((study / "results/trials").glob("k*/mlp/*/metrics.json"))
        assert stored("cnn1d") == cnn_store and len(stored("mlp") - mlp_store) == len(mlp_trials)
        assert before == {p: p.read_bytes() for p in before}
    finally:
        git(study, "checkout", "workflow/scalelab/models/mlp.py")
        dvc(study, "repro")
    assert dvc(study, "status").stdout.strip() == UP_TO_DATE


def test_exp_run_tries_a_variant_without_a_commit(study):
    head = git(study, "rev-parse", "HEAD")
    out = dvc(study, "exp", "run", "-S", "fit.bootstrap=60").stdout
    assert ran(out) == {"fit", "figures", "predict", "report"}
    assert git(study, "rev-parse", "HEAD") == head
    assert yaml.safe_load((study / "params.yaml").read_text())["fit"]["bootstrap"] == 60
    assert json.loads((study / "results/fit.json").read_text())["families"]["cnn1d"]["bootstrap"]["n"] == 60
    assert dvc(study, "exp", "list", "--name-only").stdout.split()  # kept as an experiment, not a commit
