"""The real Snakemake runs the tiny study end to end and reruns exactly what a change affects."""

import base64
import contextlib
import json

import pytest
import yaml
from conftest import copy_project, scheduled_jobs, snakemake, tiny_params

from scalelab.curves.exponents import P_VALUE, STABLE

pytestmark = pytest.mark.slow

OUTPUTS = [
    "data/pool.json", "data/shards/k6", "data/shards/k10",
    "results/trials/k6/cnn1d/w8-lr0.01-s0/metrics.json", "results/trials/k10/cnn1d/w16-lr0.01-s1/model.pt",
    "results/trials/k10/mlp/w16-lr0.01-s1/metrics.json", "results/figures/families.png", "results/figures/families.pdf",
    "results/tables/trials.csv", "results/tables/best.csv", "results/fit.json", "results/fit_samples.csv",
    "results/figures/learning_curve.png", "results/figures/learning_curve.pdf",
    "results/figures/model_size.png", "results/figures/val_loss_vs_params.pdf",
    "results/predictions.json", "results/cost.json", "results/summary.md", "results/metrics.json", "logs/train/k6/cnn1d.log",
    "logs/report.log",
    "results/audit.json", "results/audit/k10/cnn1d", "logs/audit.log",
]
# The audit reads best.csv and re-trains with the train code: whatever changes trials reruns it.
AGGREGATES = {"select": 1, "audit": 1, "fit": 1, "figures": 1, "predict": 1, "report": 1, "all": 1}
FROM_FIT = {"fit": 1, "predict": 1, "figures": 1, "report": 1, "all": 1}  # figures draws predict's cost laws


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    params = tiny_params()
    params["shards"]["exponents"] = [6, 7, 8, 9, 10]  # 11 is added by a test below
    study = copy_project(tmp_path_factory.mktemp("pipeline"), params)
    snakemake(study)
    return study


@contextlib.contextmanager
def edited(path, old, new):
    """Replace text in a file for the duration of the block, then put the bytes back."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
    try:
        yield
    finally:
        path.write_text(text)


@contextlib.contextmanager
def params_changed(study, section, key, value):
    """params.yaml with one key changed for the duration of the block."""
    path = study / "params.yaml"
    text = path.read_text()
    params = yaml.safe_load(text)
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        yield
    finally:
        path.write_text(text)


def test_every_output_is_made(study):
    for rel in OUTPUTS:
        assert (study / rel).exists(), rel
    whole = json.loads((study / "results/fit.json").read_text())
    # Two families, each with its own fit, stored once; the first listed is the primary one.
    assert whole["family"] == "cnn1d" and list(whole["families"]) == ["cnn1d", "mlp"] and "beta_g" not in whole
    fit = whole["families"]["cnn1d"]
    for key in ("beta_g", "beta_g_ci", "alpha", "gamma", "beta_p", "r2"):
        assert key in fit
    assert fit["beta_g"] < 0 and fit["beta_g"] != whole["families"]["mlp"]["beta_g"]
    comparison = whole["comparison"]
    assert set(comparison["families"]) == {"cnn1d", "mlp"}
    # The verdict is the one its own numbers give (exponents.py), and the summary states it.
    measured = ("different" if comparison["p_value"] < P_VALUE else
                "same" if comparison["largest_difference_95"] < comparison["margin"] * abs(comparison["shared_beta_g"]) else "undecided")
    assert comparison["measured_verdict"] == measured
    assert comparison["verdict"] == (measured if comparison["stability"] is None or comparison["stability"] >= STABLE else "undecided")
    assert fit["law"] in ("power", "hestness", "m3", "m4", "broken", "plateau") and fit["backtest"]["rows"]
    best = (study / "results/tables/best.csv").read_text().splitlines()
    assert len(best) == 1 + 2 * 5  # one row per family and shard
    summary = (study / "results/summary.md").read_text()
    assert "beta_g" in summary and "figures/learning_curve.png" in summary
    assert "## Families compared" in summary and "| mlp |" in summary and f"**Verdict: {comparison['verdict']}.**" in summary
    assert "### Backtest" in summary and "| persistence |" in summary
    log = (study / "logs/train/k10/cnn1d.log").read_text()  # one job per family and shard: a batch
    assert log.count("train k10 (m=1024) cnn1d ") == 4  # its trials, one after another
    assert log.count("\nstep ") >= 4 * 3  # a line per evaluation


def test_second_run_does_nothing(study):
    assert scheduled_jobs(study) == {}


def test_fit_key_reruns_fit_figures_predict_report(study):
    with params_changed(study, "fit", "bootstrap", 60):
        assert scheduled_jobs(study) == FROM_FIT
    assert scheduled_jobs(study) == {}


def test_audit_is_its_own_cached_step(study):
    """An audit key reruns only the audit and what reads it (fit carries it, figures and predict read fit); it audits the two largest
    shards of every family, each with every seed of its best config."""
    audit = json.loads((study / "results/audit.json").read_text())
    assert [(r["family"], r["k"]) for r in audit["rows"]] == [("cnn1d", 9), ("cnn1d", 10), ("mlp", 9), ("mlp", 10)]
    assert all(r["seeds"] == [0, 1] and r["verdict"] in ("converged", "under-trained") for r in audit["rows"])
    for key, value in (("threshold", 0.1), ("factor", 3)):
        with params_changed(study, "audit", key, value):
            assert scheduled_jobs(study) == {"audit": 1, **FROM_FIT}
    with params_changed(study, "fit", "metric", "test_loss"):  # the audit compares fit.metric
        assert scheduled_jobs(study)["audit"] == 1
    assert scheduled_jobs(study) == {}


def test_figure_key_reruns_only_figures(study):
    with params_changed(study, "figures", "dpi", 120):
        assert scheduled_jobs(study) == {"figures": 1, "all": 1}


def test_predict_keys_rerun_predict_and_what_reads_its_outputs(study):
    """figures reads cost.json (the cost laws, fitted once in predict), the report both files."""
    with params_changed(study, "predict", "target_errors", [0.3]):
        assert scheduled_jobs(study) == {"predict": 1, "figures": 1, "report": 1, "all": 1}
    with params_changed(study, "predict", "data_multipliers", [8]):  # also the extrapolation drawn
        assert scheduled_jobs(study) == {"predict": 1, "figures": 1, "report": 1, "all": 1}


def test_report_code_reruns_only_the_report(study):
    """Catches predict (or figures) still depending on the page's code, or the report missing its own."""
    with edited(study / "workflow/scalelab/steps/report_sections.py", '"""The sections', '"""(edited) The sections'):
        assert scheduled_jobs(study) == {"report": 1, "all": 1}


def test_new_shard_size_runs_only_its_jobs_and_the_aggregates(study):
    with params_changed(study, "shards", "exponents", [6, 7, 8, 9, 10, 11]):
        assert scheduled_jobs(study) == {"shard": 1, "train": 2, **AGGREGATES}  # a batch per family


def test_a_wider_grid_for_one_family_reruns_only_its_batches(study):
    """...in which only the new trials train: the others are copied from the store (test_batch.py)."""
    with params_changed(study, "models", "mlp", {"width": [16, 32], "lr": [0.01]}):
        assert scheduled_jobs(study) == {"train": 5, **AGGREGATES}


def test_training_code_reruns_every_trial_but_not_prepare_or_shards(study):
    with edited(study / "workflow/scalelab/steps/train.py", '"""Step `train`', '"""Step `train` (edited)'):
        assert scheduled_jobs(study) == {"train": 5 * 2, **AGGREGATES}


def test_one_familys_model_code_reruns_only_its_batches_and_the_aggregates(study):
    """Editing models/mlp.py retrains mlp's batches, never cnn1d's; the audit and predict build
    every family's models, so they rerun with the other aggregates."""
    with edited(study / "workflow/scalelab/models/mlp.py", '"""', '"""(edited) ', ):
        assert scheduled_jobs(study) == {"train": 5, **AGGREGATES}
        dry = snakemake(study, "--dry-run").stdout
        assert "family=mlp" in dry and "family=cnn1d" not in dry


def test_fit_code_reruns_from_fit_on(study):
    with edited(study / "workflow/scalelab/curves/fit.py", "CI_LEVEL = 95.0", "CI_LEVEL = 95.0  # edited"):
        assert scheduled_jobs(study) == FROM_FIT


def test_changed_fit_key_really_reruns_and_updates(study):
    """...and changing it back gives the same bytes as before: fit, figures and summary are
    deterministic (no dates in PDF/PNG metadata, seeded bootstrap)."""
    products = ["results/fit.json", "results/summary.md", "results/figures/learning_curve.png",
                "results/figures/learning_curve.pdf"]
    before_bytes = {p: (study / p).read_bytes() for p in products}
    before = json.loads((study / "results/fit.json").read_text())
    trial = study / "results/trials/k6/cnn1d/w8-lr0.01-s0/metrics.json"
    trial_mtime = trial.stat().st_mtime_ns
    with params_changed(study, "fit", "bootstrap", 40):
        snakemake(study)
        after = json.loads((study / "results/fit.json").read_text())
    after, before = after["families"]["cnn1d"], before["families"]["cnn1d"]
    assert after["bootstrap"]["n"] == 40 and before["bootstrap"]["n"] == 50
    assert after["beta_g"] == before["beta_g"]  # the point estimate does not depend on resampling
    assert trial.stat().st_mtime_ns == trial_mtime  # no trial was retrained
    snakemake(study)  # back to the committed params
    for p in products:
        assert (study / p).read_bytes() == before_bytes[p], p


def test_html_report_embeds_figures_and_tables(study):
    snakemake(study, "--report", "report.html")
    html = (study / "report.html").read_text(errors="replace")
    # Self-contained: each file's bytes are inlined (base64), not merely its name linked.
    for rel in ("results/figures/learning_curve.png", "results/tables/best.csv", "results/summary.md"):
        assert base64.b64encode((study / rel).read_bytes()).decode() in html, f"{rel} is not embedded"
