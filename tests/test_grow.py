"""A study grows in place (issue 27): `scalelab grow` adds a shard, the real Snakemake and DVC
then run that shard, its trials and the aggregates and nothing else, every finished trial keeps
its bytes, and the forecast the ledger recorded before the growth is checked on the same pool."""

import csv
import json
from pathlib import Path

import pytest
import yaml
from conftest import cli, copy_project, dvc, git_commit, git_project, scheduled_jobs, small_params, snakemake

pytestmark = pytest.mark.slow

AGGREGATES = {"select": 1, "audit": 1, "fit": 1, "figures": 1, "predict": 1, "report": 1, "all": 1}
AGGREGATE_STAGES = {"select", "audit", "fit", "figures", "predict", "report"}



def finished_trials(study: Path) -> dict[str, tuple[bytes, int]]:
    """Every finished trial's metrics.json and run.json: bytes and modification time."""
    files = sorted(p for name in ("metrics.json", "run.json") for p in (study / "results/trials").rglob(name))
    return {str(p.relative_to(study)): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def exponents(study: Path) -> list[int]:
    return yaml.safe_load((study / "params.yaml").read_text())["shards"]["exponents"]


def set_exponents(study: Path, values: list[int]) -> None:
    params = yaml.safe_load((study / "params.yaml").read_text())
    params["shards"]["exponents"] = values
    (study / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def grow_one_shard(study: Path) -> str:
    proc = cli("grow", "shard", cwd=study)
    assert proc.returncode == 0, proc.stderr
    assert exponents(study) == [7, 8, 9, 10, 11]
    return proc.stdout


@pytest.fixture(scope="module")
def snakemade(tmp_path_factory):
    study = copy_project(tmp_path_factory.mktemp("grow"), small_params())
    snakemake(study)
    return study


def test_grow_under_snakemake_trains_only_the_new_shard_and_checks_the_forecast(snakemade):
    """Catches a growth that redraws the pool (every trial retrains), rewrites finished trials, or
    loses the forecast it was meant to check."""
    before = finished_trials(snakemade)
    assert len(before) == 2 * 4 * 3
    said = grow_one_shard(snakemade)
    assert "1 shard job(s), 3 new trial(s)" in said and "ledger: 4 forecast(s) recorded" in said
    assert scheduled_jobs(snakemade) == {"shard": 1, "train": 2, **AGGREGATES}
    snakemake(snakemade)
    after = finished_trials(snakemade)
    assert {k: v for k, v in after.items() if "/k11/" not in k} == before  # same bytes, never rewritten
    assert len(after) == len(before) + 2 * 3

    summary = (snakemade / "results/summary.md").read_text()
    assert summary.split("\n## ")[1].startswith("Forecasts checked")  # first on the page
    checks = json.loads((snakemade / "results/metrics.json").read_text())["forecast_check"]
    with open(snakemade / "results/tables/best.csv") as f:
        measured = {r["size"]: r for r in csv.DictReader(f) if r["family"] == "cnn1d"}
    assert checks["cnn1d_m2048_x2"]["measured"] == pytest.approx(float(measured["2048"]["test_error"]))
    assert not any(key.startswith("cnn1d_m4096") for key in checks)  # 4x is not measured yet
    assert checks["pending"] == 2  # cnn1d's and mlp's 4x


def test_removing_a_shard_reruns_only_the_aggregates(snakemade):
    set_exponents(snakemade, [7, 8, 9, 10])
    assert scheduled_jobs(snakemade) == AGGREGATES


def test_grow_refuses_past_what_a_finite_dataset_holds_and_writes_nothing(tmp_path):
    params = small_params()
    params["data"].update(dataset="digits", val_size=256, test_size=256)
    study = copy_project(tmp_path, params)
    text = (study / "params.yaml").read_text()
    proc = cli("grow", "shard", cwd=study)  # 2^11 > the 1,285 digits left for the pool
    assert proc.returncode == 2 and "1285 for the pool" in proc.stderr and "Traceback" not in proc.stderr
    assert (study / "params.yaml").read_text() == text


def test_a_study_made_before_stable_splits_gets_one_line_from_both_engines(tmp_path):
    params = small_params()
    params["data"]["pool_size"] = 1024
    study = git_project(tmp_path, params)
    for proc in (snakemake(study, "--dry-run", check=False), dvc(study, "repro", check=False)):
        assert proc.returncode != 0
        lines = [l for l in (proc.stdout + proc.stderr).splitlines() if "stable splits" in l]
        assert lines and "scalelab migrate" in lines[0], proc.stdout + proc.stderr
    assert not (study / "data/pool.json").exists()


def test_grow_under_dvc_runs_exactly_the_new_shards_stages(tmp_path):
    study = git_project(tmp_path, small_params())
    dvc(study, "repro")
    git_commit(study, "study")
    before = finished_trials(study)
    grow_one_shard(study)
    out = dvc(study, "repro").stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}
    assert ran == {"shard@11", "train@11-cnn1d", "train@11-mlp"} | AGGREGATE_STAGES, out
    after = finished_trials(study)
    assert {k: v[0] for k, v in after.items() if "/k11/" not in k} == {k: v[0] for k, v in before.items()}
    assert dvc(study, "status").stdout.strip() == "Data and pipelines are up to date."
    git_commit(study, "grown")

    set_exponents(study, [7, 8, 9, 10])
    out = dvc(study, "repro").stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}
    # Only aggregates; those whose inputs are again the ones before the growth may come from DVC's run cache.
    assert "select" in ran and ran <= AGGREGATE_STAGES, out
