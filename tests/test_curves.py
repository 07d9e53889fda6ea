"""The laws recover known truths from noisy synthetic curves; the backtest, the law choice, the
intervals and the shared-exponent test behave as documented; bad curves are one-line errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, cli

from scalelab.curves import backtest, exponents, fit, forecast, laws, simulate
from scalelab import io
from scalelab.cli import PIPELINE_IMPORTS
from scalelab.errors import ScalelabError

SIZES = 2.0 ** np.arange(7, 19)  # 12 shards, 2^7 .. 2^18
E0 = 0.9


def truth_of(name: str):
    """A known parameter vector for each law, in units of x = m / m_ref (m_ref = 2^12)."""
    return {
        "power": [np.log(0.2), -0.5],
        "hestness": [np.log(0.2), -0.5, 0.02],
        "m3": [np.log(0.2), 0.5, -8.0],
        "m4": [np.log(0.1), -0.6, 0.5, 0.02],
        "broken": [0.02, np.log(0.3), 0.1, 0.7, 0.0, 0.0],
        "plateau": [-2.0, -0.7, 0.02, 0.3],
    }[name]


def true_error(name: str, m) -> np.ndarray:
    """The error of name's truth (truth_of) at sizes m: what draw's curves scatter about."""
    return np.exp(laws.get(name).log_error(truth_of(name), np.log(np.asarray(m, float) / 2.0**12), laws.Context(E0, 0.0, E0)))


def draw(name: str, seed: int, noise: float = 0.02, n_seeds: int = 2):
    law, m_ref = laws.get(name), 2.0**12
    ctx = laws.Context(E0, 0.0, E0)
    clean = np.exp(law.log_error(truth_of(name), np.log(SIZES / m_ref), ctx))
    rng = np.random.default_rng(seed)
    seeds = clean[:, None] * np.exp(rng.normal(0, noise, (len(SIZES), n_seeds)))
    return clean, seeds


@pytest.mark.parametrize("name", list(laws.LAWS))
def test_each_law_recovers_its_own_truth(name):
    """Fitted to its own noisy curve, each law's curve stays within a few percent of the truth."""
    clean, seeds = draw(name, seed=1)
    noise = fit.seed_noise(list(seeds))
    curve = fit.Curve(SIZES, np.median(seeds, axis=1), noise["sigma"], E0)
    fitted = curve.fit(laws.get(name))
    m, _, _ = curve.points(laws.get(name))
    truth = clean[len(SIZES) - len(m):]
    assert np.max(np.abs(fitted.log_error(m) - np.log(truth))) < 0.06


def test_plateau_law_recovers_the_exponent_without_a_cut():
    _, seeds = draw("plateau", seed=3)
    noise = fit.seed_noise(list(seeds))
    r = fit.fit_learning_curve(SIZES, np.median(seeds, axis=1), noise["sigma"], law="plateau", best_guess=E0, bootstrap=100)
    assert r["law"] == "plateau" and r["fit_start"] == SIZES[0]  # every point used
    assert r["beta_g_ci"][0] <= -0.7 <= r["beta_g_ci"][1]
    assert r["beta_g"] == pytest.approx(-0.7, abs=0.08)


def test_backtest_table_scores_every_law_and_persistence():
    _, seeds = draw("plateau", seed=4)
    curve = fit.Curve(SIZES, np.median(seeds, axis=1), fit.seed_noise(list(seeds))["sigma"], E0)
    bt = backtest.backtest(curve, list(laws.LAWS))
    assert bt["holdouts"] == [1, 2, 3]
    rows = {r["law"]: r for r in bt["rows"]}
    assert set(rows) == set(laws.LAWS) | {"persistence"}
    for r in rows.values():
        assert set(r["errors"]) == {"1", "2", "3"}
    # The curve keeps falling: persistence is far off, the true law is not.
    assert rows["plateau"]["mean"] < 0.5 * rows["persistence"]["mean"]
    ranks = sorted(r["rank"] for r in rows.values() if "rank" in r)
    assert ranks == list(range(1, len(ranks) + 1))


def test_backtest_skips_splits_that_leave_too_few_points():
    _, seeds = draw("hestness", seed=0)
    curve = fit.Curve(SIZES[:6], np.median(seeds, axis=1)[:6], None, E0)
    bt = backtest.backtest(curve, ["power", "broken"])
    assert bt["holdouts"] == [1, 2]  # 6 points: holding out 3 would leave fewer than 4
    broken = next(r for r in bt["rows"] if r["law"] == "broken")
    assert broken["mean"] is None and broken["errors"] == {"1": None, "2": None}  # 6 parameters need 7 points


def test_auto_names_its_law_and_why():
    _, seeds = draw("plateau", seed=5)
    r = fit.fit_learning_curve(SIZES, np.median(seeds, axis=1), fit.seed_noise(list(seeds))["sigma"], best_guess=E0, bootstrap=50)
    # A plateau-shaped truth: the broken law backtests best, but the plateau law ties with it within
    # the noise, and of tied laws the three-region law is reported; the reason quotes its own score.
    scores = {row["law"]: row["mean"] for row in r["backtest"]["rows"]}
    assert min(scores, key=scores.get) == "broken"
    assert r["law"] == "plateau"
    assert f"backtest error {scores['plateau']:.4f}" in r["law_reason"] and "the three-region law" in r["law_reason"]
    assert f"beats persistence ({scores['persistence']:.4f})" in r["law_reason"]
    named = fit.fit_learning_curve(SIZES, np.median(seeds, axis=1), law="m4", best_guess=E0, bootstrap=20)
    assert named["law"] == "m4" and "fit.law: m4" in named["law_reason"]


def test_seed_noise_shrinks_towards_the_pooled_spread():
    groups = [np.array([1.0, 1.0]), np.array([1.0, 1.1]), np.array([1.0, 0.9])]
    noise = fit.seed_noise(groups)
    assert noise["sigma"][0] > fit.NOISE_FLOOR  # two equal seeds do not make a point exact
    assert noise["seed_sd"] == pytest.approx(np.sqrt(np.mean([0, np.var(np.log([1, 1.1]), ddof=1), np.var(np.log([1, 0.9]), ddof=1)])))
    assert fit.seed_noise([np.array([0.5]), np.array([0.4])])["sigma"] is None  # one seed each: no spread


def test_intervals_cover_the_truth_in_simulation():
    """The fast version of bench/bench_calibration.py: the 95% intervals of the three-region law
    and of `auto` (its mixture of laws) on plateau-shaped truths with 1-4% noise per seed. With 24
    curves one miss is 4 points of coverage: the bench's 200 curves measure it, this catches a
    collapse (the chosen law's bootstrap alone covered 0.895 there, the mixture 0.95)."""
    summary = {s["law"]: s for s in simulate.summarise(simulate.run(24, ["plateau", "auto"], seed=7, bootstrap=60))}
    for s in summary.values():
        assert s["cover_beta"] >= 0.85 and s["cover_4x"] >= 0.85, s
        assert s["median_err_4x"] < 0.08, s


@pytest.mark.parametrize("truth_law", simulate.TRUTHS)
def test_simulated_truths_have_the_three_regions_and_the_stated_exponent(truth_law):
    truth = simulate.draw_truth(np.random.default_rng(3), truth_law)
    eps = simulate.true_error(truth, [1e-6, truth["m0"], 1e12, 2e12])
    assert eps[0] == pytest.approx(simulate.E0, rel=0.05)  # guessing without data
    if truth_law == "m4":
        assert eps[1] == pytest.approx(simulate.E0 / 2)  # half-way down at m0
    slope = np.log((eps[3] - truth["gamma"]) / (eps[2] - truth["gamma"])) / np.log(2)
    assert slope == pytest.approx(truth["beta"], abs=0.01)  # the exponent the coverage is judged against


def test_law_weights_follow_the_backtest():
    bt = {"rows": [{"law": "plateau", "mean": 0.10}, {"law": "m4", "mean": 0.13}, {"law": "power", "mean": 0.19},
                   {"law": "broken", "mean": None}, {"law": "persistence", "mean": 0.5}]}
    w = backtest.law_weights(bt, "plateau", "auto", tolerance=0.03)
    assert set(w) == {"plateau", "m4", "power"} and sum(w.values()) == pytest.approx(1.0)
    assert w["m4"] / w["plateau"] == pytest.approx(np.exp(-0.5))  # one tolerance off
    assert w["power"] / w["plateau"] == pytest.approx(np.exp(-4.5))  # three off: about 1%
    assert backtest.law_weights(bt, "m4", "m4", tolerance=0.03) == {"m4": 1.0}  # a named law is taken whole
    assert backtest.law_weights(bt, "plateau", "auto", tolerance=0.0) == {"plateau": 1.0}  # no noise to judge ties by
    counts = backtest.allocate(w, 100)
    assert sum(counts.values()) == 100 and counts["plateau"] > counts["m4"] > counts["power"] > 0
    assert backtest.allocate({"a": 0.995, "b": 0.005}, 10) == {"a": 10}


def test_auto_mixes_the_laws_it_cannot_tell_apart():
    """auto's draws come from several laws; the parameter intervals and sample_errors read them
    all, and the reported numbers stay those of the chosen law's fit. (predict_error reads the
    forecast, not the draws: its interval is tested in test_predictions_are_consistent.)"""
    _, seeds = draw("plateau", seed=5)
    noise = fit.seed_noise(list(seeds))
    r = fit.fit_learning_curve(SIZES, np.median(seeds, axis=1), noise["sigma"], best_guess=E0, bootstrap=120)
    drawn = set(r["samples"].law)
    assert len(drawn) > 1 and r["law"] in drawn and len(r["samples"]) <= 120
    assert r["bootstrap"]["laws"][r["law"]] > 0 and sum(r["bootstrap"]["laws"].values()) == 120
    assert r["beta_g"] == fit.fitted_of(r).asymptote()[1]
    errors = fit.sample_errors(r, r["samples"], [1e6, 1e7])
    assert errors.shape == (len(r["samples"]), 2) and np.all(np.isfinite(errors))


def test_predictions_are_consistent():
    """The data needed for the error predicted at m is m (to the search grid's 1%); the interval of
    a prediction widens with the horizon and holds the truth's error at about 4x and 40x the largest
    shard; the data interval for the truth's error holds m, its lower end where the optimistic
    bound reaches that error; a target the shards reach is labelled reached.

    Bugs caught: low and high swapped (in predict_error or predict_data); the horizon term dropped
    from the interval (the noise alone misses the truth here by 3.6 and 8 sd); the data interval's
    ends read off the wrong bound. On this seed the truth lies 1.1 and 0.9 sd from the point.
    (The plateau truth of truth_of, whose floor is most of the error at the largest shard, is not
    used: the forecast's interval misses it at 2x and 4x on 8 of seeds 0-9, by 2-5 sd.)"""
    _, seeds = draw("hestness", seed=0)
    r = fit.fit_learning_curve(SIZES, np.median(seeds, axis=1), law="hestness", best_guess=E0, bootstrap=50)
    widths = []
    for m in (1e6, 1e7):
        err = fit.predict_error(r, m)
        truth = float(true_error("hestness", [m])[0])
        assert err["error_ci"][0] < truth < err["error_ci"][1], (m, err, truth)
        widths.append(err["error_ci"][1] / err["error_ci"][0])
        back = fit.predict_data(r, err["error"])
        assert back["size"] == pytest.approx(m, rel=0.01) and not back["reached"]
        need = fit.predict_data(r, truth)
        assert need["size_ci"][0] < m < need["size_ci"][1], (m, need)
        optimistic = fit.predict_error(r, need["size_ci"][0])["error_ci"][0]  # the low bound, where it reaches the truth
        assert optimistic == pytest.approx(truth, rel=0.01)
    assert widths[1] > widths[0]
    reached = fit.predict_data(r, float(np.median(seeds, axis=1)[3]))
    assert reached["reached"] and reached["reached_at"] == SIZES[3]
    assert fit.predict_data(r, 1e-9)["size"] == float("inf")


def test_model_size_law_recovers_exponent():
    rng = np.random.default_rng(0)
    params = 50 * SIZES**0.7 * np.exp(rng.normal(0, 0.05, len(SIZES)))
    r = fit.fit_model_size(SIZES, params, bootstrap=200)
    assert r["beta_p"] == pytest.approx(0.7, abs=0.03)
    assert r["beta_p_ci"][0] <= 0.7 <= r["beta_p_ci"][1]


def test_bad_curves_are_clear_errors():
    with pytest.raises(ScalelabError, match="too few"):
        fit.fit_learning_curve(SIZES[:2], np.array([0.5, 0.4]))
    with pytest.raises(ScalelabError, match="law broken has 6 parameters and needs at least 7 points; got 5"):
        fit.fit_learning_curve(SIZES[:5], 0.5 * (SIZES[:5] / 128) ** -0.5, law="broken")


def _family(beta: float, m0: float, seed: int, noise: float = 0.02, n_seeds: int = 2, sizes=simulate.SIZES):
    rng = np.random.default_rng(seed)
    clean = simulate.true_error({"beta": beta, "gamma": 0.01, "m0": m0, "s": 1.5}, sizes)
    eps = clean[:, None] * np.exp(rng.normal(0, noise, (len(sizes), n_seeds)))
    return np.repeat(sizes, n_seeds), eps.ravel()


@pytest.mark.parametrize("seed", [0, 1])
def test_shared_exponent_test_says_same(seed):
    """The paper's finding within a domain: same beta_g, another intercept. Showing sameness (not
    just failing to show a difference) takes precise points: 1% noise, 3 seeds."""
    c = exponents.compare({"a": _family(-0.8, 150, seed, 0.01, 3), "b": _family(-0.8, 400, seed + 10, 0.01, 3)}, "hestness",
                          E0, 0.01, n_jitter=40, seed=seed)
    assert c["verdict"] == "same", c["verdict_text"]
    assert c["p_value"] > 0.05 and c["stability"] >= 0.95


@pytest.mark.parametrize("seed", [0, 1])
def test_shared_exponent_test_says_different(seed):
    c = exponents.compare({"steep": _family(-1.0, 150, seed), "flat": _family(-0.4, 400, seed + 10)}, "hestness", E0, 0.02,
                          n_jitter=40, seed=seed)
    assert c["verdict"] == "different" and c["p_value"] < 1e-3 and c["stability"] >= 0.95


def test_shared_exponent_test_is_undecided_on_tiny_data():
    small = simulate.SIZES[:6]
    c = exponents.compare({"a": _family(-0.8, 150, 0, noise=0.05, n_seeds=1, sizes=small),
                           "b": _family(-0.7, 400, 1, noise=0.05, n_seeds=1, sizes=small)}, "hestness", E0, 0.05, n_jitter=40)
    assert c["verdict"] == "undecided"


def test_one_family_has_nothing_to_compare():
    assert exponents.compare({"only": _family(-0.8, 150, 0)}, "hestness", E0, 0.02)["verdict"] == "one family: nothing to compare"


def test_fit_curve_cli(tmp_path):
    _, seeds = draw("plateau", seed=7)
    csv = tmp_path / "points.csv"
    csv.write_text("size,error,note\n" + "".join(f"{int(m)},{e},run\n" for m, row in zip(SIZES, seeds) for e in row))
    out = tmp_path / "fit.json"
    proc = cli("fit-curve", str(csv), "--out", str(out), "--predict", "1e6,1e7", "--bootstrap", "50", "--best-guess", "0.9")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for key in ("law", "law_reason", "beta_g", "beta_g_ci", "alpha", "gamma", "backtest", "predictions"):
        assert key in result
    assert result["noise"]["seed_sd"] > 0  # two rows per size: their spread is the noise
    # The truth's law and exponent (-0.7, truth_of) come back, and the predictions fall on from the largest size.
    assert result["law"] == "plateau"
    assert result["beta_g"] == pytest.approx(-0.7, abs=0.1) and result["beta_g_ci"][0] < -0.7 < result["beta_g_ci"][1]
    assert [p["size"] for p in result["predictions"]] == [1e6, 1e7]
    at_1e6, at_1e7 = (p["error"] for p in result["predictions"])
    assert at_1e7 < at_1e6 < np.median(seeds[-1])
    # The intervals written are the ones the file's forecast block describes (forecast.py): log
    # error = point - Q sd below, and above point + Q sd capped at the ceiling (the last error plus
    # Q times its noise), sd = sqrt(noise^2 + (rate log(m / m_last))^2), wider at 1e7 than at 1e6.
    # Catches bounds swapped or taken from elsewhere (the bootstrap draws) on the way to the file,
    # the horizon term dropped, and an upper bound above the ceiling.
    f = result["forecast"]
    assert f["ceiling"] == pytest.approx(np.log(np.median(seeds[-1])) + forecast.Q * f["noise"], rel=1e-9)
    for p in result["predictions"]:
        sd = np.sqrt(f["noise"] ** 2 + (f["rate"] * np.log(p["size"] / f["m_last"])) ** 2)
        assert np.log(p["error_ci"][0] / p["error"]) == pytest.approx(-forecast.Q * sd, rel=1e-5)
        assert np.log(p["error_ci"][1]) == pytest.approx(min(np.log(p["error"]) + forecast.Q * sd, f["ceiling"]), rel=1e-5)
    assert f["rate"] > 0
    table = cli("backtest", str(csv), "--best-guess", "0.9")
    assert table.returncode == 0, table.stderr
    assert "persistence" in table.stdout and "auto chooses" in table.stdout


def test_fit_curve_cli_rejects_bad_csv(tmp_path):
    csv = tmp_path / "points.csv"
    csv.write_text("n,err\n1,2\n")
    proc = cli("fit-curve", str(csv), "--out", str(tmp_path / "f.json"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "size,error" in proc.stderr
    assert not (tmp_path / "f.json").exists()


def test_a_flat_curve_is_answered_with_its_level():
    """A curve whose slope is within noise of 0 is not refused: more data buys nothing measurable,
    and the forecast is its level with an interval that holds the level."""
    rng = np.random.default_rng(0)
    eps = 0.3 * np.exp(rng.normal(0, 0.02, len(SIZES)))
    r = fit.fit_learning_curve(SIZES, eps, bootstrap=30)
    assert r["shape"]["shape"] == "flat" and r["law"] == "flat" and "nothing measurable" in r["law_reason"]
    assert r["warning"] is None
    p = fit.predict_error(r, 4 * SIZES[-1])
    assert p["error_ci"][0] < 0.3 < p["error_ci"][1] and p["error"] == pytest.approx(eps[-1])  # where it is now
    assert r["beta_g_ci"][0] < 0 < r["beta_g_ci"][1]  # the slope's own interval holds 0


def test_a_rising_curve_is_answered_with_a_warning(tmp_path):
    csv = tmp_path / "points.csv"
    csv.write_text("size,error\n100,0.3\n200,0.35\n400,0.4\n800,0.45\n")
    proc = cli("fit-curve", str(csv), "--out", str(tmp_path / "f.json"), "--predict", "3200")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "f.json").read_text())
    assert result["shape"]["shape"] == "rising" and "RISES" in result["warning"]
    # Its forecast is its level, the last point, 0.45. Four points are too few to backtest (both
    # splits leave under 3), so the rate is the last step's |slope|, log(0.45 / 0.40) / log 2 =
    # 0.169925, shrunk as rising curves' are (forecast.RATE_PRIOR): exp(0.487 log 0.169925 + 0.389
    # log 0.125739 - 0.179) = 0.157431. The noise is the sd of the last three log errors,
    # log(0.35, 0.40, 0.45) = (-1.04982, -0.91629, -0.79851), mean -0.92154, squared deviations
    # 0.016456 + 0.000028 + 0.015137 = 0.031621, / 2 -> 0.125739. At 4x: sd = sqrt(0.125739^2 +
    # (0.157431 log 4)^2) = 0.251876, and 2.75 sd = 0.692659: [0.45 e^-0.692659, 0.45 e^0.692659]
    # = [0.22511, 0.89956], no ceiling (the curve does not fall). Catches a level that is the mean
    # of the last points (0.40), bounds swapped, the noise taken over the wrong points or dof, the
    # rate left unshrunk (0.169925: [0.2138, 0.9471]) or the fallback rate dropped ([0.3183, 0.6361]).
    prediction = result["predictions"][0]
    assert prediction["error"] == pytest.approx(0.45, rel=1e-9)
    assert prediction["error_ci"] == pytest.approx([0.22511, 0.89956], abs=1e-5)


def test_a_curve_that_turns_is_flagged_where_it_turns_across_seeds():
    """Falls to 2^11, then rises at every larger size by more than the seeds' spread: flagged at
    2^11. The same rise within the seeds' noise is not a turn."""
    sizes = SIZES[:8]
    clean = 0.5 * (sizes / 128) ** -0.5
    clean[5:] = clean[4] * np.array([1.15, 1.3, 1.45])
    rng = np.random.default_rng(1)
    for noise, turns in ((0.01, True), (0.3, False)):
        seeds = clean[:, None] * np.exp(rng.normal(0, noise, (len(sizes), 5)))
        sigma = fit.seed_noise(list(seeds))["sigma"]
        shape = fit.Curve(sizes, np.median(seeds, axis=1), sigma).shape
        assert (shape["turn"] == sizes[4]) if turns else shape["turn"] is None, (noise, shape)


def test_one_value_per_size_still_mixes_the_laws_and_has_noise():
    """Without seeds the noise comes from the residuals (never zero), so auto's ties and mixture
    work as they do with seeds, and the forecast's interval is not a line."""
    clean, seeds = draw("plateau", seed=5, n_seeds=1)
    r = fit.fit_learning_curve(SIZES, seeds[:, 0], best_guess=E0, bootstrap=60)
    assert len(set(r["samples"].law)) > 1, r["bootstrap"]
    assert r["forecast"]["noise"] > 0.003
    p = fit.predict_error(r, 4 * SIZES[-1])
    assert p["error_ci"][1] / p["error_ci"][0] > 1.02


def test_the_api_gives_the_cli_result(tmp_path):
    import scalelab

    _, seeds = draw("plateau", seed=7)
    rows = [(int(m), e) for m, row in zip(SIZES, seeds) for e in row]
    csv = tmp_path / "points.csv"
    csv.write_text("size,error\n" + "".join(f"{m},{float(e)!r}\n" for m, e in rows))
    proc = cli("fit-curve", str(csv), "--out", str(tmp_path / "fit.json"), "--predict", "1e6", "--bootstrap", "30")
    assert proc.returncode == 0, proc.stderr
    from_cli = json.loads((tmp_path / "fit.json").read_text())
    from_api = scalelab.fit_curve([m for m, _ in rows], [e for _, e in rows], predict=[1e6], bootstrap=30)
    from_cli.pop("source")
    assert json.loads(json.dumps(io.to_jsonable(from_api))) == from_cli  # the file rounds as to_jsonable does
    with pytest.raises(scalelab.ScalelabError, match="distinct sizes"):
        scalelab.fit_curve([1, 1, 2], [0.5, 0.4, 0.3])


def test_a_flat_law_needs_infinite_data_not_an_overflow():
    fitted = laws.Fitted(laws.get("power"), np.array([np.log(0.5), -1e-4]), 1000.0, laws.Context(E0, 0.1, 0.5))
    assert fit.data_for(fitted, 0.01) == float("inf")


# The curve library is the science a notebook uses alone: numpy, scipy and matplotlib only; the
# `pipeline` extra's packages (by their import names) are what it must never import.
PIPELINE_PACKAGES = tuple(PIPELINE_IMPORTS.values())


def test_the_curve_library_imports_only_the_plumbing_of_the_package():
    """Catches a curves module that starts importing a step, the training code or the decisions
    (and through them torch or pandas): its import closure is curves/ plus errors and io."""
    from scalelab import codedeps

    modules = [f"scalelab.curves.{p.stem}" for p in (codedeps.PACKAGE / "curves").glob("*.py") if p.stem != "__init__"]
    files = {p.relative_to(codedeps.PACKAGE).as_posix() for p in codedeps.closure(modules)}
    assert {f for f in files if not f.startswith("curves/")} == {"__init__.py", "errors.py", "io.py"}


def run_without_pipeline_packages(body: str) -> None:
    """Run `body` in a fresh interpreter in which the PIPELINE_PACKAGES cannot be imported, then
    assert that none of them got loaded anyway and that the body ran to its end."""
    script = f"""
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {PIPELINE_PACKAGES!r}:  # as Python says of a package not installed
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Missing())
{body}
loaded = [m for m in sys.modules if m.split(".")[0] in {PIPELINE_PACKAGES!r}]
assert loaded == [], loaded
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}  # the checkout's package, not an installed one
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_the_curve_library_fits_a_curve_with_the_pipeline_packages_missing():
    """Catches an import of torch, Snakemake, DVC or pandas anywhere the library runs (at import or
    inside a function): a fresh interpreter in which those cannot be imported fits, backtests,
    simulates and compares curves."""
    run_without_pipeline_packages("""
import numpy as np
import scalelab
from scalelab.curves import backtest, exponents, fit, forecast, laws, measured, simulate
sizes = np.repeat(2.0 ** np.arange(7, 15), 2)
errors = 0.02 + 3 * sizes ** -0.4 * np.exp(np.random.default_rng(0).normal(0, 0.02, sizes.size))
result = scalelab.fit_curve(sizes, errors, predict=[2 ** 16])
assert result["predictions"] and result["beta_g"] < 0
""")
