"""Training: deterministic, early-stopped, resumable, and honest about divergence."""

import json
import math

import pytest
import torch
from conftest import cli, copy_project

from scalelab.training import loop, stopping, store
from scalelab.steps import train
from scalelab.training.adam import Adam
from scalelab.models import cnn1d


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A prepared tiny study with its k8 shard (256 examples)."""
    study = copy_project(tmp_path_factory.mktemp("train"))
    for args in (["prepare"], ["shard", "--k", "8", "--out-dir", "data/shards/k8"]):
        proc = cli(*args, cwd=study)
        assert proc.returncode == 0, proc.stderr
    return study


def train_trial(study, out, lr="0.01", seed="0", width="8"):
    """One trial alone, trained for real: a store of its own, so nothing is copied from another run."""
    return cli("train", "--k", "8", "--family", "cnn1d", "--width", width, "--lr", lr, "--seed", seed,
               "--shard", "data/shards/k8", "--out-dir", out, "--store", f"store-{out}", cwd=study)


def test_same_trial_twice_gives_identical_bytes(study):
    for out in ("a", "b"):
        proc = train_trial(study, out)
        assert proc.returncode == 0, proc.stderr
    for name in ("metrics.json", "history.csv", "model.pt"):
        assert (study / "a" / name).read_bytes() == (study / "b" / name).read_bytes(), name
    metrics = json.loads((study / "a" / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["size"] == 256
    assert metrics["best_step"] <= metrics["steps"] <= metrics["budget"]
    assert 0 <= metrics["test_error"] <= 1
    # One log line per evaluation, as the history has one row per evaluation.
    history_rows = (study / "a" / "history.csv").read_text().count("\n") - 1
    assert proc.stderr.count("\nstep ") == history_rows


def test_another_seed_gives_another_run(study):
    assert train_trial(study, "s1", seed="1").returncode == 0
    assert (study / "a" / "model.pt").read_bytes() != (study / "s1" / "model.pt").read_bytes()


def test_divergence_is_recorded_as_failed(study):
    proc = train_trial(study, "nan", lr="1e30")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((study / "nan" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["stopped"] == "diverged"
    assert metrics["test_error"] is None


def test_a_family_trained_in_one_process_equals_one_job_per_trial(study):
    """DVC trains a family's trials in one process (`--all`), Snakemake one per job: the bytes
    must not depend on which, or the engines could not take over each other's results."""
    proc = cli("train", "--k", "8", "--family", "cnn1d", "--all", "--shard", "data/shards/k8",
               "--out-dir", "family", "--store", "store-family", cwd=study)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (study / "family").iterdir()) == ["w16-lr0.01-s0", "w16-lr0.01-s1", "w8-lr0.01-s0", "w8-lr0.01-s1"]
    assert train_trial(study, "alone", seed="1", width="16").returncode == 0
    for name in ("metrics.json", "history.csv", "model.pt"):
        assert (study / "family/w16-lr0.01-s1" / name).read_bytes() == (study / "alone" / name).read_bytes(), name


def test_train_needs_a_known_family_and_one_trial_or_all(study):
    proc = cli("train", "--k", "8", "--family", "resnet", "--all", "--shard", "x.npy", "--out-dir", "o", cwd=study)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cnn1d, mlp" in proc.stderr
    proc = cli("train", "--k", "8", "--family", "mlp", "--shard", "x.npy", "--out-dir", "o", cwd=study)
    assert proc.returncode == 2 and "--width, --lr and --seed" in proc.stderr


def test_step_budget_grows_with_shard_size():
    cfg = {"batch_size": 256, "epochs": 40, "min_steps": 250, "max_steps": 4000}
    budgets = [stopping.step_budget(cfg, 2**k) for k in range(6, 18)]
    assert budgets == sorted(budgets)
    assert budgets[0] == 250 and budgets[-1] == 4000
    assert stopping.step_budget(cfg, 2**14) == 40 * 2**14 // 256


def run_args(study) -> dict:
    import yaml

    params = yaml.safe_load((study / "params.yaml").read_text())
    return dict(params=params, heldout_dir=str(study / "data/heldout"), info_path=str(study / "data/pool.json"),
                shard_dir=str(study / "data/shards/k8"), k=8, family="cnn1d", config={"width": 8, "lr": 0.01}, seed=0)


def preempt_after_third_evaluation(args, out, monkeypatch):
    """Start a run and SIGTERM it after its 3rd evaluation, as a preempting scheduler does:
    it writes a checkpoint and exits 143, leaving no metrics.json."""
    calls = {"n": 0}
    real_evaluate = loop.evaluate

    def evaluate_then_preempt(*a):
        calls["n"] += 1
        if calls["n"] == 3:
            import os
            import signal
            os.kill(os.getpid(), signal.SIGTERM)
        return real_evaluate(*a)

    monkeypatch.setattr(loop, "evaluate", evaluate_then_preempt)
    with pytest.raises(SystemExit) as stop:
        train.run(**args, out_dir=str(out))
    assert stop.value.code == 143
    assert (out / store.CHECKPOINT).exists() and not (out / "metrics.json").exists()
    monkeypatch.setattr(loop, "evaluate", real_evaluate)


def test_resume_from_checkpoint_matches_an_uninterrupted_run(study, monkeypatch):
    """A run stopped mid-way and started again ends with the same bytes as a run that was
    never interrupted."""
    args = run_args(study)
    full = study / "full"
    train.run(**args, out_dir=str(full))
    resumed = study / "resumed"
    preempt_after_third_evaluation(args, resumed, monkeypatch)
    train.run(**args, out_dir=str(resumed))
    assert not (resumed / store.CHECKPOINT).exists()
    assert json.loads((resumed / "run.json").read_text())["resumed_from_step"] > 0
    for name in ("metrics.json", "history.csv", "model.pt"):
        assert (resumed / name).read_bytes() == (full / name).read_bytes(), name


def test_checkpoint_from_other_settings_is_not_resumed(study, monkeypatch):
    """A checkpoint left by a run with other settings (params edited before the rerun) would
    resume into a different result: the run starts over instead, and matches a clean run."""
    args = run_args(study)
    out = study / "stale"
    preempt_after_third_evaluation(args, out, monkeypatch)
    args["params"]["train"]["patience_min_steps"] += 1
    train.run(**args, out_dir=str(out))
    assert json.loads((out / "run.json").read_text())["resumed_from_step"] == 0
    clean = study / "clean"
    train.run(**args, out_dir=str(clean))
    for name in ("metrics.json", "history.csv", "model.pt"):
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def test_truncated_checkpoint_is_discarded_with_a_log_line(study, monkeypatch, capfd):
    """A checkpoint cut short (the disk filled, the node died mid-write of a copy) is not resumed
    from, nor a crash: the run says so, starts over, and matches a clean run."""
    args = run_args(study)
    out = study / "truncated"
    preempt_after_third_evaluation(args, out, monkeypatch)
    ckpt = out / store.CHECKPOINT
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    capfd.readouterr()
    train.run(**args, out_dir=str(out))
    assert "checkpoint unreadable" in capfd.readouterr().err
    assert json.loads((out / "run.json").read_text())["resumed_from_step"] == 0
    clean = study / "clean-for-truncated"
    train.run(**args, out_dir=str(clean))
    for name in ("metrics.json", "history.csv", "model.pt"):
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def test_a_trial_leaves_the_callers_random_stream_and_threads_alone(study, monkeypatch):
    """The bug: a trial seeded torch's global generator (and a resumed one put its saved state
    there), so the caller's next random numbers depended on which trial ran last; and a trial
    group left torch at one thread for the rest of the caller's process."""
    args = run_args(study)
    torch.manual_seed(123)
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    train.run(**args, out_dir=str(study / "rng-plain"))
    assert torch.equal(torch.get_rng_state(), before)
    resumed = study / "rng-resumed"
    preempt_after_third_evaluation(args, resumed, monkeypatch)
    train.run(**args, out_dir=str(resumed))
    assert json.loads((resumed / "run.json").read_text())["resumed_from_step"] > 0
    assert torch.equal(torch.get_rng_state(), before) and torch.get_num_threads() == threads
    # The trial's own stream is still its seed's, whatever the caller drew before it.
    torch.rand(7)
    train.run(**args, out_dir=str(study / "rng-after-draws"))
    for name in ("metrics.json", "history.csv", "model.pt"):
        assert (study / "rng-after-draws" / name).read_bytes() == (study / "rng-plain" / name).read_bytes(), name


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_matches_torch_adam(weight_decay):
    torch.manual_seed(0)
    a = cnn1d.build(8, (40,), 10)
    torch.manual_seed(0)
    b = cnn1d.build(8, (40,), 10)
    ours = Adam(a.parameters(), lr=0.01, weight_decay=weight_decay)
    theirs = torch.optim.Adam(b.parameters(), lr=0.01, weight_decay=weight_decay)
    x, y = torch.randn(32, 40), torch.randint(0, 10, (32,))
    for _ in range(20):
        for model, opt in ((a, ours), (b, theirs)):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_bf16_autocast_path_trains(study, monkeypatch):
    """The bf16 code path (autocast forward passes, fp32 losses) end to end. CUDA is where it
    runs for real; here torch's CPU autocast stands in, since pick() refuses bf16 without CUDA."""
    args = run_args(study)
    args["params"]["train"]["precision"] = "bf16"
    monkeypatch.setattr(train.devices.Devices, "pick", lambda *_, **__: torch.device("cpu"))
    train.run(**args, out_dir=str(study / "bf16"))
    train.run(**run_args(study), out_dir=str(study / "fp32"))
    bf16, fp32 = (json.loads((study / d / "metrics.json").read_text()) for d in ("bf16", "fp32"))
    assert bf16["status"] == "ok" and 0 <= bf16["test_error"] <= 1
    assert bf16["val_loss"] != fp32["val_loss"]  # it really trained at lower precision
    assert json.loads((study / "bf16" / "run.json").read_text())["precision"] == "bf16"


def lrs_over(schedule, opt, steps, val_losses=None):
    """The rate each of `steps` optimiser steps uses (per-step schedules), or after each
    evaluation's val loss (plateau)."""
    seen = []
    for i in range(steps):
        seen.append(opt.lr)
        opt.step()
        schedule.step() if val_losses is None else schedule.step(val_losses[i])
    return seen


def tiny_opt(lr=0.1):
    model = torch.nn.Linear(2, 2)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    return Adam(model.parameters(), lr=lr)


def test_cosine_schedule_warms_up_then_decays_to_zero_at_the_budget():
    cfg = {"schedule": "cosine", "warmup_steps": 10}
    opt = tiny_opt()
    lrs = lrs_over(stopping.make_schedule(opt, cfg, {"budget": 110, "patience": 5}), opt, 110)
    assert lrs[0] == pytest.approx(0.01) and lrs[5] == pytest.approx(0.055)  # linear from lr / warmup_steps
    assert lrs[10] == pytest.approx(0.1)                                       # the full rate after warm-up
    assert lrs[60] == pytest.approx(0.05)                                      # half-way through the cosine
    assert lrs[109] == pytest.approx(0.1 * (1 + math.cos(math.pi * 99 / 100)) / 2) and opt.lr == pytest.approx(0.0, abs=1e-12)
    opt = tiny_opt()
    assert stopping.make_schedule(opt, {"schedule": "constant"}, {"budget": 10, "patience": 5}) is None


def test_plateau_schedule_cuts_after_its_share_of_the_patience():
    cfg = {"schedule": "plateau", "plateau_factor": 0.5, "plateau_patience": 0.5, "min_rel_delta": 0.0}
    opt = tiny_opt()
    schedule = stopping.make_schedule(opt, cfg, {"budget": 1000, "patience": 6})  # cut after 3 bad evaluations
    lrs = lrs_over(schedule, opt, 8, val_losses=[1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.9, 0.9])
    assert lrs + [opt.lr] == pytest.approx([0.1] * 5 + [0.05] * 4)


def test_trial_follows_its_schedule(study):
    """A real run with warm-up and cosine: the rate each evaluation's history row records is the
    schedule's at that step."""
    args = run_args(study)
    cfg = args["params"]["train"]
    cfg.update(schedule="cosine", warmup_steps=20, patience_min_steps=cfg["min_steps"] - 1, patience_epochs=1000)
    train.run(**args, out_dir=str(study / "cosine"))
    rule = stopping.stopping_rule(cfg, 256)
    rows = [line.split(",") for line in (study / "cosine/history.csv").read_text().splitlines()[1:]]
    budget, warm = rule["budget"], 20
    for step, lr in ((int(r[0]), float(r[1])) for r in rows):
        s = step - 1  # the rate the step used was set after step - 1 steps
        want = 0.01 * (1 / warm + (1 - 1 / warm) * s / warm) if s < warm else 0.01 * (1 + math.cos(math.pi * (s - warm) / (budget - warm))) / 2
        assert lr == pytest.approx(want, rel=1e-6), step
    assert int(rows[-1][0]) == budget


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_resume_restores_the_schedule(study, monkeypatch, schedule):
    """The resume test above runs the plateau schedule (tiny params); the per-step one must
    resume its rate too."""
    args = run_args(study)
    args["params"]["train"].update(schedule=schedule, warmup_steps=5 if schedule == "cosine" else 0)
    full = study / f"full-{schedule}"
    train.run(**args, out_dir=str(full))
    resumed = study / f"resumed-{schedule}"
    preempt_after_third_evaluation(args, resumed, monkeypatch)
    train.run(**args, out_dir=str(resumed))
    for name in ("metrics.json", "history.csv", "model.pt"):
        assert (resumed / name).read_bytes() == (full / name).read_bytes(), name
