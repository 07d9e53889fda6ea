"""The answer page's numbers: the cost law, the model-size answer, targets beyond (or within) the
data, and the next experiment, each on a case whose answer is known."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, cli

from scalelab.decisions import cost, plan, sizing
from scalelab.curves import fit
from scalelab.steps import predict, report_sections

SIZES = [2**k for k in range(6, 13)]


def timing_table(seconds_at, widths=(16, 32), seeds=(0, 1), device="cpu", threads=1) -> pd.DataFrame:
    """Trials with known seconds: seconds_at(size, width), the same for every seed."""
    rows = [{"family": "net", "k": int(math.log2(m)), "size": m, "width": w, "lr": 0.01, "seed": s,
             "seconds": seconds_at(m, w), "device": device, "device_name": "test-device", "threads": threads}
            for m in SIZES for w in widths for s in seeds]
    return pd.DataFrame(rows, columns=cost.TIMING_COLUMNS)


def best_table(width=32) -> pd.DataFrame:
    return pd.DataFrame({"family": "net", "k": [int(math.log2(m)) for m in SIZES], "size": SIZES, "width": width, "lr": 0.01})


def test_the_cost_law_recovers_known_seconds():
    """Seconds growing as m^0.8 (the wide model twice the narrow one's): the law's exponent is 0.8
    and a whole shard costs the sum of its trials; core-hours count threads, GPU-hours do not."""
    timing = timing_table(lambda m, w: 0.01 * m**0.8 * (2 if w == 32 else 1), threads=4)
    shards = cost.per_shard(timing, best_table())
    laws = cost.cost_laws(shards)
    assert laws["best"].b == pytest.approx(0.8, abs=1e-9) and laws["shard"].b == pytest.approx(0.8, abs=1e-9)
    assert laws["best"].sizes == [float(m) for m in SIZES[-cost.COST_POINTS:]]  # only the largest shards
    m = 4 * SIZES[-1]
    point, low, high = laws["best"].predict(m)
    assert point == pytest.approx(4 * 0.01 * 2 * m**0.8 / 3600, rel=1e-9)  # 4 threads, width 32, one run
    # Timings exactly on the law leave no residual: the prediction interval is the point. An
    # interval not sized by the residuals (a floor on its width, the spread of the hours themselves)
    # is wider.
    assert low == pytest.approx(point, rel=1e-9) and high == pytest.approx(point, rel=1e-9)
    assert shards["shard"].iloc[-1] == pytest.approx(4 * 2 * (1 + 2) * 0.01 * SIZES[-1] ** 0.8 / 3600)  # 2 seeds x 2 widths
    assert cost.unit(timing) == "core-hours (test-device)"
    gpu = timing_table(lambda m, w: 1.0, device="cuda:0", threads=8)
    assert cost.device_hours(gpu).iloc[0] == pytest.approx(1 / 3600) and cost.unit(gpu) == "GPU-hours (test-device)"


def test_noisy_seconds_give_an_interval_that_holds_the_truth():
    rng = np.random.default_rng(0)
    timing = timing_table(lambda m, w: 0.01 * m * math.exp(0.1 * rng.standard_normal()))
    law = cost.CostLaw(*zip(*cost.per_shard(timing, best_table())[["size", "best"]].to_numpy()))
    lo, hi = law.to_dict()["exponent_ci"]
    assert lo < 1.0 < hi and hi - lo < 1.0
    point, low, high = law.predict(4 * SIZES[-1])
    assert low < 0.01 * 4 * SIZES[-1] / 3600 < high


def test_the_cost_interval_is_the_students_t_prediction_interval_worked_by_hand():
    """Four shards at m = e^0, e^1, e^2, e^3 (log m = 0, 1, 2, 3) whose log hours sit on a line of
    slope 0.8 plus residuals 0.1 x (+1, -1, -1, +1): these sum to 0 and are orthogonal to log m, so
    least squares returns the line itself. By hand:
      residual scale s = sqrt(4 x 0.1^2 / (4 - 2)) = 0.1 sqrt(2) = 0.141421
      t(0.975, 2 dof) = 4.302653, mean log m = 1.5, Sxx = 2.25 + 0.25 + 0.25 + 2.25 = 5
      exponent half-width: t s / sqrt(Sxx) = 4.302653 x 0.141421 / 2.236068 = 0.272124
      prediction at log m = 5: half-width t s sqrt(1 + 1/4 + 3.5^2 / 5) = t s sqrt(3.7) = 1.170448
    Catches: the interval of the mean line instead of a new run's (no "1 +": 0.9998), the normal
    1.96 for Student's t (0.533), n - 1 degrees of freedom (t = 3.18: 0.866), the scale divided by
    n instead of n - 2 (0.828), the horizon term measured from 0 instead of the mean log m, low
    and high swapped."""
    log_hours = np.log(0.002) + 0.8 * np.arange(4) + 0.1 * np.array([1, -1, -1, 1])
    law = cost.CostLaw(np.exp(np.arange(4.0)), np.exp(log_hours))
    assert law.b == pytest.approx(0.8, abs=1e-12) and law.log_a == pytest.approx(np.log(0.002), abs=1e-12)
    lo, hi = law.exponent_ci()
    assert lo == pytest.approx(0.8 - 0.272124, abs=1e-6) and hi == pytest.approx(0.8 + 0.272124, abs=1e-6)
    point, low, high = law.predict(math.exp(5.0))
    assert point == pytest.approx(0.002 * math.exp(4.0), rel=1e-12)
    assert math.log(low / point) == pytest.approx(-1.170448, abs=1e-6)
    assert math.log(high / point) == pytest.approx(1.170448, abs=1e-6)


def test_prices_turn_hours_into_money_and_none_stay_hours():
    assert cost.money(2.0, 100, {"cost_per_hour": 3.0, "cost_per_example": 0.01}) == pytest.approx(7.0)
    assert cost.money(2.0, 100, {"cost_per_hour": None, "cost_per_example": None}) is None
    assert cost.money(None, 100, {"cost_per_hour": 3.0, "cost_per_example": None}) is None  # no cost law: no price


def size_trials(value_at, widths=(32, 64, 128), seeds=(0, 1, 2), noise=0.01) -> pd.DataFrame:
    """A trials table whose median val_loss at (size, width) is value_at(size, width), seeds
    spread by +-noise; params grow as width^2."""
    rows = [{"family": "net", "size": m, "width": w, "lr": 0.01, "seed": s, "params": w * w, "status": "ok",
             "val_loss": value_at(m, w) + noise * (s - 1)} for m in SIZES for w in widths for s in seeds]
    return pd.DataFrame(rows)


def test_the_widest_winning_by_less_than_the_noise_is_censored_and_the_smaller_size_is_the_answer():
    """The widest model wins every shard, but the middle one is within the seed noise: the size
    law is censored from above, and the answer is the middle width, flat in m."""
    trials = size_trials(lambda m, w: {32: 1.0, 64: 0.505, 128: 0.5}[w])
    rows = sizing.per_shard(trials, "net", "val_loss", [32, 64, 128])
    assert all(r["best_width"] == 128 and r["edge"] == "widest" and r["smallest_width"] == 64 for r in rows)
    assert "widest model tried won" in sizing.censoring(rows, SIZES[0])
    trend = sizing.trend(rows, SIZES[0])
    assert trend["kind"] == "flat" and trend["width"] == 64 and trend["params"] == 64 * 64


def test_a_size_that_grows_with_the_data_is_an_uncensored_trend():
    """The best width moves from 32 to 128 inside the grid as m grows: measured (no edge at the
    large shards), and its trend is a power law with a positive exponent."""
    def value(m, w):
        best = 32 if m < 2**8 else 64 if m < 2**11 else 128
        return 0.5 if w == best else 1.0
    rows = sizing.per_shard(size_trials(value, widths=(16, 32, 64, 128, 256)), "net", "val_loss", [16, 32, 64, 128, 256])
    assert [r["edge"] for r in rows] == [None] * len(SIZES)
    assert sizing.censoring(rows, SIZES[0]) is None
    trend = sizing.trend(rows, SIZES[0])
    assert trend["kind"] == "moving" and trend["exponent_ci"][0] > 0
    assert sizing.params_at(trend, 4 * SIZES[-1]) > 128 * 128


def test_one_seed_has_no_noise_so_the_best_is_the_smallest():
    rows = sizing.per_shard(size_trials(lambda m, w: {32: 1.0, 64: 0.505, 128: 0.5}[w], seeds=(0,)), "net", "val_loss",
                            [32, 64, 128])
    assert all(r["noise"] is None and r["smallest_width"] == 128 for r in rows)


def falling_result(seeds_at, law_free=True) -> dict:
    """fit.fit_learning_curve on a curve with the given seed values per size, as fit_step loads it."""
    m = np.array(SIZES, float)
    noise = fit.seed_noise([np.asarray(s) for s in seeds_at])
    r = fit.fit_learning_curve(m, [np.median(s) for s in seeds_at], noise["sigma"], best_guess=0.9, bootstrap=20,
                               seed_sd=noise["seed_sd"])
    r.update(beta_p=None, size_samples=np.full((20, 2), np.nan), metric="test_error", unit="examples")
    r["points"] = [{"size": float(mm), "seeds": list(map(float, s))} for mm, s in zip(m, seeds_at)]
    return r


def test_targets_the_curve_reaches_say_so_and_chosen_targets_look_ahead():
    rng = np.random.default_rng(1)
    truth = [2.0 * m**-0.5 + 0.01 for m in SIZES]
    r = falling_result([t * np.exp(0.02 * rng.standard_normal(3)) for t in truth])
    largest_error = float(r["measured"]["error"][-1])
    targets, chosen = predict.targets_for({"target_errors": None}, largest_error)
    assert chosen and targets == [float(f"{f * largest_error:.3g}") for f in predict.AUTO_TARGETS]
    pred = predict.predictions(r, SIZES[-1], [4], [r["measured"]["error"][2], *targets], "mlp",
                               {"input_shape": [40], "n_classes": 10})
    reached, *ahead = pred["for_target_error"]
    assert reached["reached"] and reached["reached_at"] == SIZES[2]
    assert "reached: measured at 256" in report_sections.summary_row_for_target(reached)
    assert all(not row["reached"] and row["size"] > SIZES[-1] for row in ahead)


def extrapolation_dominated() -> dict:
    """Many seeds, little noise, and a curve that bends where the last shards are: its own backtest
    misses, so the interval is the extrapolation's."""
    rng = np.random.default_rng(2)
    truth = [0.8 * m**-0.2 if m < 2**10 else 0.8 * 2**(-2.0) * (m / 2**10) ** -0.6 for m in SIZES]
    return falling_result([t * np.exp(0.01 * rng.standard_normal(8)) for t in truth])


def one_seed_curve() -> dict:
    rng = np.random.default_rng(3)
    return falling_result([[(2.0 * m**-0.5 + 0.01) * math.exp(0.15 * rng.standard_normal())] for m in SIZES])


def ranking(result: dict, prices: dict | None = None) -> list[str]:
    """plan.rank with the pipeline's costing: hours from a cost law linear in m, a shard of trials at
    m costing m / 1000 hours per seed, the reader's prices on top."""
    n_seeds = len(result["points"][0]["seeds"])
    hours = [n_seeds * m / 1000 for m in SIZES]
    laws = {"shard": cost.CostLaw(SIZES, hours), "best": cost.CostLaw(SIZES, [h / n_seeds for h in hours])}
    prices = prices or {"cost_per_hour": None, "cost_per_example": None}
    step_costs = predict.plan_costs(laws, SIZES[-1], sum(hours), n_seeds, None, prices)
    ranked = plan.rank(result, {"best_guess": 0.9}, 4, step_costs, "hours")
    return [r["step"] for r in ranked["rows"]]


def test_plan_takes_more_data_where_the_extrapolation_dominates():
    assert ranking(extrapolation_dominated())[0] == "one more shard"


def test_plan_takes_more_seeds_on_a_one_seed_curve_when_new_data_must_be_bought():
    """One seed, noisy: more seeds narrow the interval, and so does data. With new examples
    priced (the usual case for real data), the seeds, which need none, come first. Compute alone
    prices one more shard below two more seeds on every shard, and halving the horizon narrows
    more than the seeds do: then data comes first, even here."""
    curve = one_seed_curve()
    assert ranking(curve, {"cost_per_hour": 1.0, "cost_per_example": 0.01})[0] == f"{plan.EXTRA_SEEDS} more seeds"
    assert ranking(curve)[0] == "one more shard"


def test_plan_cli_ranks_a_fit_curve_output(tmp_path):
    out = tmp_path / "fit.json"
    assert cli("fit-curve", str(ROOT / "docs" / "example_curve.csv"), "--out", str(out)).returncode == 0
    proc = cli("plan", "--curve", str(out), "--out", str(tmp_path / "plan.json"))
    assert proc.returncode == 0, proc.stderr
    ranked = json.loads((tmp_path / "plan.json").read_text())
    assert [r["rank"] for r in ranked["rows"]] == [1, 2, 3] and "headline" in proc.stdout
    assert ranked["unit"] == "examples processed" and ranked["rows"][0]["step"] in proc.stdout.splitlines()[2]
    missing = cli("plan", "--cost", str(tmp_path / "nowhere.json"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "--curve" in missing.stderr


def test_plan_prints_a_finished_studys_ranking(default_refit):
    """`scalelab plan` in a study reads the ranking predict wrote to results/cost.json."""
    proc = cli("plan", cwd=default_refit)
    assert proc.returncode == 0, proc.stderr
    ranked = json.loads((default_refit / "results/cost.json").read_text())["plan"]["rows"]
    lines = proc.stdout.splitlines()[2:]
    assert [line.split()[0] for line in lines] == [str(r["rank"]) for r in ranked]
    assert all(r["step"] in line for r, line in zip(ranked, lines))
