"""The convergence audit: re-training the best configs with more patience and budget catches a
stopping rule that stops runs still improving, and passes one that does not."""

import json
import math

import pytest
from conftest import cli, copy_project, tiny_params

from scalelab.steps import audit, report_sections, select, train
from scalelab import io, study as study_names
from scalelab.training import stopping


def row(family="cnn1d", k=10, before=0.5, after=0.4, threshold=0.05):
    return {"family": family, "shard": f"k{k}", "k": k, "size": 2**k, "width": 16, "lr": 0.01, "seeds": [0, 1],
            "before": before, "after": after, **audit.compare(before, after, threshold), "budget_stopped": 0}


def test_compare_is_relative_and_symmetric_in_its_threshold():
    assert audit.compare(0.5, 0.49, 0.05) == {"change": pytest.approx(-0.02), "verdict": "converged"}
    assert audit.compare(0.5, 0.4, 0.05)["verdict"] == "under-trained"
    assert audit.compare(0.5, 0.6, 0.05)["verdict"] == "under-trained"
    assert audit.compare(0.5, None, 0.05)["verdict"] == "failed"


def test_targets_are_each_familys_largest_shards():
    """The audit re-trains the shards train keeps final states for: one definition, study.audited_exponents."""
    params = {"shards": {"exponents": [8, 10, 7, 9]}, "audit": {"shards": 2}}
    assert study_names.audited_exponents(params) == [9, 10]
    best = [{"family": f, "k": str(k)} for f in ("cnn1d", "mlp") for k in (7, 8, 9, 10) if (f, k) != ("mlp", 10)]
    chosen = audit.targets(best, study_names.audited_exponents(params))
    assert [(r["family"], r["k"]) for r in chosen] == [("cnn1d", "9"), ("cnn1d", "10"), ("mlp", "9")]  # mlp's k10 failed


def test_audit_config_scales_patience_and_budget_and_keeps_the_rate_cuts():
    cfg = tiny_params()["train"]
    more = audit.audit_train_config(cfg, 2)
    assert [more[k] for k in study_names.PATIENCE_AND_BUDGET] == [2 * cfg[k] for k in study_names.PATIENCE_AND_BUDGET]
    kept = set(cfg) - set(study_names.PATIENCE_AND_BUDGET) - {"plateau_patience"}
    assert {k: more[k] for k in kept} == {k: cfg[k] for k in kept}
    assert stopping.stopping_rule(more, 2048)["budget"] == 2 * stopping.stopping_rule(cfg, 2048)["budget"]
    # the plateau schedule cuts after the same number of bad evaluations as the original run
    cuts = [math.ceil(c["plateau_patience"] * stopping.stopping_rule(c, 2048)["patience"]) for c in (cfg, more)]
    assert cuts[0] == cuts[1]


def test_markdown_says_under_trained_plainly_only_above_the_threshold():
    bad = audit.summarise([row(k=10, before=0.5, after=0.49), row(k=11, before=0.5, after=0.4)], "test_error", 2, 0.05)
    lines = report_sections.audit_markdown(bad)
    assert bad["verdict"] == "under-trained"
    assert lines[0].startswith("| family | shard size |") and len([l for l in lines if l.startswith("| cnn1d")]) == 2
    assert "-20.0%" in lines[3] and "under-trained" in lines[3] and "converged" in lines[2]
    assert lines[-1].startswith("Under-trained:") and "cnn1d at 2048 (-20.0%)" in lines[-1] and "1024" not in lines[-1]
    good = audit.summarise([row(before=0.5, after=0.49)], "test_error", 2, 0.05)
    assert good["verdict"] == "converged" and report_sections.audit_markdown(good)[-1].startswith("Converged:")
    assert "under-trained" not in "\n".join(report_sections.audit_markdown(good)).lower()


def test_metric_in_bits_comes_from_the_loss():
    assert study_names.metric_value({"test_loss": 0.6931471805599453}, "test_bits") == pytest.approx(1.0)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The tiny study's pool and its two largest shards (1024, 2048 examples)."""
    study = copy_project(tmp_path_factory.mktemp("audit"))
    for args in (["prepare"], ["shard", "--k", "10", "--out-dir", "data/shards/k10"],
                 ["shard", "--k", "11", "--out-dir", "data/shards/k11"]):
        proc = cli(*args, cwd=study)
        assert proc.returncode == 0, proc.stderr
    return study


def study_with(prepared, name, store=None, **train_keys):
    """Train one family (cnn1d w16, 2 seeds) on k10 and k11 under `train_keys`, select, audit (2x);
    with a trial store, as the pipeline trains (the audit then goes on from the original runs)."""
    params = tiny_params()
    params["shards"]["exponents"] = [10, 11]
    params["models"] = {"cnn1d": {"width": [16], "lr": [0.01]}}
    params["train"].update(train_keys)
    out = prepared / name
    data = dict(heldout_dir=str(prepared / "data/heldout"), info_path=str(prepared / "data/pool.json"))
    for t in study_names.all_trials(params):
        train.run(params, **data, shard_dir=str(prepared / f"data/shards/k{t['k']}"), k=t["k"], family=t["family"],
                  config=t["config"], seed=t["seed"], out_dir=str(out / "trials" / t["dir"]), store_root=store)
    best = select.run(params, str(out / "trials"), str(out / "tables"))
    result = audit.run(params, str(out / "tables/best.csv"), data["heldout_dir"], data["info_path"],
                       str(prepared / "data/shards"), str(out / "audit"), str(out / "audit.json"), store=store)
    return best, result, out


@pytest.mark.slow
def test_too_impatient_rule_is_caught(prepared):
    """Patience of one evaluation interval (5 steps) and a constant rate: runs stop while still
    improving, and 2x patience moves test error by far more than 5%."""
    _, result, out = study_with(prepared, "impatient", schedule="constant", eval_min_steps=5, eval_max_steps=5,
                                patience_epochs=0.01, patience_min_steps=5)
    assert result["verdict"] == "under-trained"
    assert min(r["change"] for r in result["rows"]) < -0.1
    assert json.loads((out / "audit.json").read_text()) == io.to_jsonable(result)
    assert sorted(p.name for p in (out / "audit/k11/cnn1d").iterdir()) == ["w16-lr0.01-s0", "w16-lr0.01-s1"]


@pytest.mark.slow
def test_patient_rule_passes_the_audit(prepared):
    """The same study with patience of 8 passes (100 steps at least), a plateau schedule and a
    budget far past it: more patience changes little, and the audit says converged."""
    best, result, out = study_with(prepared, "patient", patience_epochs=8, patience_min_steps=100,
                                 min_steps=400, max_steps=4000, epochs=400)
    assert result["verdict"] == "converged", report_sections.audit_markdown(result)
    assert list(best["budget_stopped"]) == [0, 0]
    # The re-trained run repeats the original step for step (same rate cuts) and only goes on longer.
    for trial in ("k10/cnn1d/w16-lr0.01-s0", "k11/cnn1d/w16-lr0.01-s1"):
        original = (out / "trials" / trial / "history.csv").read_text().splitlines()
        longer = (out / "audit" / trial / "history.csv").read_text().splitlines()
        assert len(longer) > len(original) and longer[:len(original)] == original


@pytest.mark.slow
def test_audit_goes_on_from_the_original_runs_and_writes_the_same_bytes(prepared):
    """With the pipeline's trial store, each re-training loads the original run's last state and
    only trains the extra steps; its files are byte for byte those of a re-training from step 0."""
    patient = dict(patience_epochs=8, patience_min_steps=100, min_steps=400, max_steps=4000, epochs=400)
    _, continued, out = study_with(prepared, "continued", store=str(prepared / "store"), **patient)
    params = tiny_params()
    params["shards"]["exponents"] = [10, 11]
    params["models"] = {"cnn1d": {"width": [16], "lr": [0.01]}}
    params["train"].update(patient)
    from_start = audit.run(params, str(out / "tables/best.csv"), str(prepared / "data/heldout"), str(prepared / "data/pool.json"),
                           str(prepared / "data/shards"), str(out / "audit_from_start"), str(out / "audit_from_start.json"))
    assert (out / "audit.json").read_bytes() == (out / "audit_from_start.json").read_bytes()
    assert continued == from_start
    for trial in ("k10/cnn1d/w16-lr0.01-s0", "k11/cnn1d/w16-lr0.01-s1"):
        for name in ("metrics.json", "history.csv", "model.pt"):
            assert (out / "audit" / trial / name).read_bytes() == (out / "audit_from_start" / trial / name).read_bytes()
        original = json.loads((out / "trials" / trial / "metrics.json").read_text())
        went_on = json.loads((out / "audit" / trial / "run.json").read_text())["resumed_from_step"]
        assert went_on == original["steps"] > 0  # it skipped the original's steps
        assert json.loads((out / "audit_from_start" / trial / "run.json").read_text())["resumed_from_step"] == 0


def test_only_a_longer_patience_or_budget_lets_a_run_go_on_from_another():
    cfg = {**tiny_params()["train"], "schedule": "plateau"}
    longer = audit.audit_train_config(cfg, 2)
    assert stopping.continuable(cfg, longer, 2048) and stopping.continuable({**cfg, "schedule": "constant"}, {**longer, "schedule": "constant"}, 2048)
    assert not stopping.continuable(longer, cfg, 2048)  # shorter patience: it would have stopped before
    assert not stopping.continuable({**cfg, "schedule": "cosine"}, {**longer, "schedule": "cosine"}, 2048)  # decays to the budget
    assert not stopping.continuable(cfg, {**longer, "weight_decay": 0.1}, 2048)
    assert not stopping.continuable(cfg, {**longer, "eval_min_steps": cfg["eval_min_steps"] + 7}, 2048)
    assert not stopping.continuable(cfg, {**longer, "plateau_patience": cfg["plateau_patience"]}, 2048)  # later rate cuts


@pytest.mark.slow
def test_run_cut_by_the_budget_is_flagged(prepared):
    """A 40-step budget stops runs that are still improving: each says stopped=budget, and the
    shard's best row counts both seeds."""
    best, result, out = study_with(prepared, "budget", min_steps=40, max_steps=40)
    metrics = json.loads((out / "trials/k11/cnn1d/w16-lr0.01-s0/metrics.json").read_text())
    assert metrics["stopped"] == "budget" and metrics["steps"] == metrics["budget"] == 40
    assert list(best["budget_stopped"]) == [2, 2]
    trials = (out / "tables/trials.csv").read_text()
    assert trials.count(",ok,budget,") == 4


@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_audit_jobs_must_be_a_positive_whole_number(jobs):
    proc = cli("audit", "--jobs", jobs)
    assert proc.returncode == 2 and "argument --jobs: expected a whole number >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr
