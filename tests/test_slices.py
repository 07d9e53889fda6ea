"""Each step is handed only its slice of params.yaml (pipeline.params_slice): the keys
pipeline.STEP_PARAMS declares for it, which are the keys whose edit reruns it under both engines.
Reading any other key raises KeyError, so a step that reads a key its list misses fails, here on a
tiny study run end to end through the command line, rather than letting an edit of that key go
unseen (the step's cached outputs kept, though made from the old value)."""

from __future__ import annotations

import pytest
import yaml
from conftest import tiny_params

from scalelab import cli, study
from scalelab.pipeline import NO_OUTPUT_READS, STEP_PARAMS, params_slice


def test_the_slice_hides_undeclared_keys():
    """Catches a slice that leaks a section or key, or a get() / `in` that quietly answers for a
    key the step did not declare (a default read in place of the user's value)."""
    params = tiny_params()
    mine = params_slice("figures", params)  # figures, and predict.data_multipliers only
    assert mine["figures"] == params["figures"]
    assert mine["predict"]["data_multipliers"] == params["predict"]["data_multipliers"]
    undeclared = [lambda: mine["fit"], lambda: mine.get("fit"), lambda: "fit" in mine,
                  lambda: mine["predict"]["target_errors"], lambda: mine["predict"].get("target_errors", [1.0]),
                  lambda: "target_errors" in mine["predict"]]
    for read in undeclared:
        with pytest.raises(KeyError, match=r"figures reads params .*STEP_PARAMS\['figures'\]"):
            read()
    # A key params.yaml does not have at all is no undeclared read: an optional key reads as absent.
    assert mine["predict"].get("cost_per_hour") is None and "cost_per_hour" not in mine["predict"]


def test_a_slice_is_a_copy():
    """Catches a slice sharing its lists with params: a step that edits its own (the audit
    multiplies the train budget) would change what the next step in the process reads."""
    params = tiny_params()
    params_slice("audit", params)["train"]["max_steps"] *= 2
    params_slice("select", params)["models"]["mlp"]["width"].append(1024)
    assert params == tiny_params()


def test_a_train_job_reads_its_family_and_the_reads_that_change_no_output():
    """Catches a train job handed every family's grid (an mlp edit would then go unseen only by
    luck) or denied the store's audit.shards / shards.exponents (NO_OUTPUT_READS)."""
    params = tiny_params()
    mine = params_slice("train", params, "mlp")
    assert mine["models"]["mlp"] == params["models"]["mlp"] and mine["train"] == params["train"]
    assert study.audited_exponents(mine) == sorted(params["shards"]["exponents"])[-params["audit"]["shards"]:]
    for read in (lambda: mine["models"]["cnn1d"], lambda: mine["audit"]["factor"], lambda: mine["shards"]["base"],
                 lambda: mine["data"]):
        with pytest.raises(KeyError, match="STEP_PARAMS"):
            read()


def test_reads_that_change_no_output_rerun_nothing():
    """NO_OUTPUT_READS are in the slice but must not be rerun keys: declaring audit.shards for
    train would retrain every trial when the audit changes."""
    for step, keys in NO_OUTPUT_READS.items():
        assert not set(keys) & set(STEP_PARAMS[step]), f"{step}: a no-output read is also a rerun key"


def study_commands(d, exponents: list[int], families: list[str]) -> list[tuple[str, list[str]]]:
    """(step, `scalelab` arguments) of the whole pipeline in folder d, in DAG order; a train job
    is one family's trials on one shard."""
    p = ["--params", str(d / "params.yaml")]
    pool, held, shards, tables = str(d / "pool.json"), str(d / "heldout"), d / "shards", d / "tables"
    fit, samples, cost, pred = str(d / "fit.json"), str(d / "fit_samples.csv"), str(d / "cost.json"), str(d / "predictions.json")
    return [
        ("prepare", ["prepare", *p, "--heldout-dir", held, "--info", pool]),
        *[("shard", ["shard", *p, "--k", str(k), "--info", pool, "--out-dir", str(shards / f"k{k}")]) for k in exponents],
        *[("train", ["train", *p, "--k", str(k), "--family", f, "--all", "--heldout-dir", held, "--info", pool,
                     "--shard", str(shards / f"k{k}"), "--out-dir", str(d / f"trials/k{k}/{f}"), "--store", ""])
          for k in exponents for f in families],
        ("select", ["select", *p, "--trials-dir", str(d / "trials"), "--out-dir", str(tables)]),
        ("audit", ["audit", *p, "--best", str(tables / "best.csv"), "--heldout-dir", held, "--info", pool,
                   "--shards-dir", str(shards), "--out-dir", str(d / "audit"), "--out", str(d / "audit.json"),
                   "--jobs", "1", "--store", ""]),
        ("fit", ["fit", *p, "--best", str(tables / "best.csv"), "--trials", str(tables / "trials.csv"),
                 "--audit", str(d / "audit.json"), "--info", pool, "--out", fit, "--samples", samples]),
        ("predict", ["predict", *p, "--fit", fit, "--samples", samples, "--tables-dir", str(tables), "--info", pool,
                     "--out", pred, "--cost", cost]),
        ("figures", ["figures", *p, "--tables-dir", str(tables), "--fit", fit, "--samples", samples, "--cost", cost,
                     "--out-dir", str(d / "figures")]),
        ("report", ["report", *p, "--fit", fit, "--predictions", pred, "--cost", cost, "--best", str(tables / "best.csv"),
                    "--info", pool, "--ledger", str(d / "ledger.csv"), "--summary", str(d / "summary.md"),
                    "--metrics", str(d / "metrics.json")]),
    ]


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """The tiny study cut to what every step needs (5 shards, one width per family, 2 seeds, short
    runs), run step by step through the command line in this process: each step gets its slice."""
    d = tmp_path_factory.mktemp("slices")
    params = tiny_params()
    params["shards"]["exponents"] = [6, 7, 8, 9, 10]
    params["models"] = {"cnn1d": {"width": [8], "lr": [0.01]}, "mlp": {"width": [16], "lr": [0.01]}}
    params["train"].update(min_steps=20, max_steps=40, patience_min_steps=10, eval_min_steps=5, eval_max_steps=10)
    params["fit"].update(bootstrap=20, jitter=5)
    (d / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran = []
    for step, args in study_commands(d, params["shards"]["exponents"], list(params["models"])):
        assert cli.main(args) == 0, f"scalelab {step} failed on its slice"  # an undeclared read raises KeyError
        ran.append(step)
    return d, ran


def test_every_step_runs_end_to_end_on_its_slice(tiny_study):
    """Catches a step that reads a key STEP_PARAMS does not declare for it (KeyError in the
    fixture), and a step left out of this run (so never checked)."""
    d, ran = tiny_study
    assert set(ran) == set(STEP_PARAMS)
    for out in ("tables/best.csv", "audit.json", "fit.json", "predictions.json", "cost.json", "figures/cost.png",
                "summary.md", "metrics.json"):
        assert (d / out).exists(), out


def test_a_step_reading_an_undeclared_key_fails(tiny_study, monkeypatch):
    """Catches a command line that hands a step more than its slice (the whole params): with
    data.dataset undeclared, the report's title read must fail."""
    d, _ = tiny_study
    monkeypatch.setitem(STEP_PARAMS, "report", [])
    report = next(args for step, args in study_commands(d, [], []) if step == "report")
    with pytest.raises(KeyError, match=r"step report reads params data\b"):
        cli.main(report)
