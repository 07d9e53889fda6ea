"""The forecast's promises (scalelab.curves.forecast): an upper bound that more data cannot break
on a falling curve, a saturating curve not forecast to keep falling at its old rate, a clean
curve of one law forecast about as well as that law's own fit, and the shrunk interval rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalelab.curves import fit, forecast, laws, simulate
import scalelab

SIZES = 2.0 ** np.arange(7, 15)
DENSE = 16 * 2.0 ** (np.arange(18) / 2)  # LCDB's anchors, 16 to 2,896: the extrapolation benchmark's grid


def noisy_curve(clean, rng, noise: float, seeds: int, sizes=SIZES):
    """(sizes, errors) rows: each clean value times log-normal noise, `seeds` rows per size."""
    values = clean[:, None] * np.exp(rng.normal(0.0, noise, (len(clean), seeds)))
    return np.repeat(sizes, seeds), values.ravel()


def test_on_a_falling_curve_the_upper_bound_never_exceeds_the_last_error_plus_its_noise():
    """60 simulated curves (plateau and M4 truths, 1-4% noise, 2 seeds or one value per size):
    wherever the fit calls the curve falling, the 95% upper bound at 1.01x to 64x the largest size
    is at most the last measured error times exp(Q * its noise), that noise being the seeds'
    spread at the last size (or the residual scale without seeds). Before the ceiling, 93% of
    falling held-out LCDB curves had an upper bound above the last error at ~4.9x (issue 30).
    Catches the ceiling dropped, applied to the wrong side, or taken from another point's noise."""
    rng = np.random.default_rng(0)
    beyond = SIZES[-1] * np.exp(np.linspace(0.01, math.log(64), 40))
    checked = 0
    for i in range(60):
        truth = simulate.draw_truth(rng, ("plateau", "m4")[i % 2])
        sizes, errors = noisy_curve(simulate.true_error(truth, SIZES), rng, truth["noise"], 2 if i % 3 else 1)
        lc = scalelab.LearningCurve(bootstrap=20).fit(sizes, errors)
        result = lc.to_dict()
        if result["shape"]["shape"] != "falling":
            continue
        checked += 1
        last = result["measured"]["error"][-1]
        noise = result["forecast"]["noise"]
        if i % 3:  # with seeds, the noise is the last point's own (fit.seed_noise), not a pooled one
            assert noise == pytest.approx(max(result["noise"]["sigma"][-1], forecast.MIN_NOISE))
        _, high = lc.interval(beyond)
        assert np.all(high <= last * math.exp(forecast.Q * noise) * (1 + 1e-12)), (i, high.max() / last)
        point = lc.predict(beyond)
        assert np.all(high >= point)  # the ceiling never cuts below the forecast itself
    assert checked >= 50


def test_a_rising_curve_keeps_its_symmetric_interval():
    """The ceiling is for falling curves only: a curve the fit calls rising keeps the interval
    its backtest gives, above its last error too, and its warning."""
    lc = scalelab.LearningCurve().fit([100, 200, 400, 800, 1600], [0.30, 0.34, 0.40, 0.44, 0.50])
    result = lc.to_dict()
    assert result["shape"]["shape"] == "rising" and result["warning"]
    point = lc.predict(6400)
    low, high = lc.interval(6400)
    assert result["forecast"]["ceiling"] is None and high > 0.5
    assert math.log(high / point) == pytest.approx(math.log(point / low))


def test_a_curve_bending_into_its_floor_is_not_forecast_to_keep_falling_at_its_old_rate():
    """eps = 0.3 (m / 128)^-0.6 + 0.05 measured at 2^7..2^14 (2 seeds, 1% noise): it fell at
    m^-0.45 over its first three doublings, and at 2^14 it is bending into its floor (local slope
    -0.15). One more doubling multiplies the error by 0.91-0.93; at the early rate it would be
    0.73, and a plain power law through all points says about 0.83. The forecast must stay within
    3% of the truth and beat persistence on every one of 6 draws. Catches a forecast that keeps
    the early slope, a member law without a floor, or weights that favour the wrong member."""
    def truth(m):
        return 0.3 * (np.asarray(m, float) / 128) ** -0.6 + 0.05

    for seed in range(6):
        sizes, errors = noisy_curve(truth(SIZES), np.random.default_rng(seed), 0.01, 2)
        lc = scalelab.LearningCurve(bootstrap=20).fit(sizes, errors)
        last = lc.to_dict()["measured"]["error"][-1]
        m = 2 * SIZES[-1]
        ratio = lc.predict(m) / last
        assert ratio > 0.88, (seed, ratio)
        assert abs(math.log(lc.predict(m) / truth(m))) < 0.03
        assert abs(math.log(lc.predict(m) / truth(m))) < abs(math.log(last / truth(m)))


@pytest.mark.parametrize("law", ["plateau", "m4"])
def test_a_clean_curve_is_forecast_within_1_3x_of_its_own_laws_error(law):
    """12 clean curves of one library law (simulate's truths, 1-4% noise, one value per size) at
    LCDB's 18 anchors from 16 to 2,896, forecast at 2x, 4x and 8x: the median |log error| is
    within 1.3x of the right law fitted alone (issue 30's bar). The plain mean of the five members
    was 2.5-3.1x the right law's on such curves (bench/README.md); the backtest weights let the
    law that predicts its own held-out points take over. Catches the weights dropped (equal) or
    inverted. (On 8 sizes the last 3 held-out points choose less well: bench/README.md.)"""
    rng = np.random.default_rng(1)
    ours, right = [], []
    for _ in range(12):
        truth = simulate.draw_truth(rng, law)
        sizes, errors = noisy_curve(simulate.true_error(truth, DENSE), rng, truth["noise"], 1, DENSE)
        lc = scalelab.LearningCurve(bootstrap=20).fit(sizes, errors)
        result = lc.to_dict()
        alone = laws.fit_law(laws.get(law), sizes, errors, ctx=laws.Context(**result["context"]), m_ref=result["m_ref"])
        far = DENSE[-1] * np.array(simulate.BEYOND, float)
        true = simulate.true_error(truth, far)
        ours += list(np.abs(np.log(lc.predict(far) / true)))
        right += list(np.abs(np.log(alone.error(far) / true)))
    assert np.median(ours) <= 1.3 * np.median(right), (np.median(ours), np.median(right))


def test_the_interval_rate_is_the_backtest_rate_shrunk_as_stated():
    """forecast.shrunk_rate by hand: a falling curve with rate_own 0.2 and noise 0.02 gets
    exp(0.619 log 0.2 + 0.366 log 0.02 - 0.058) = exp(-2.4860) = 0.0832; a rate_own of 0 stays positive
    (MIN_RATE). Catches the prior's constants swapped between shapes or applied in linear scale."""
    assert forecast.shrunk_rate(0.2, 0.02, "falling") == pytest.approx(
        math.exp(0.619 * math.log(0.2) + 0.366 * math.log(0.02) - 0.058), rel=1e-12)
    assert forecast.shrunk_rate(0.2, 0.02, "falling") == pytest.approx(0.0832, abs=5e-5)
    assert 0 < forecast.shrunk_rate(0.0, 0.02, "flat") < forecast.shrunk_rate(0.0, 0.02, "falling")


def test_member_weights_follow_the_backtest():
    """A member 1.65x (e^0.5) worse than the best keeps exp(-1/2) of its weight, persistence
    among them; one without a complete backtest gets none; with no complete backtest of a law
    the laws are weighted equally and persistence not at all."""
    bt = {"rows": [{"law": "hestness", "mean": 0.02}, {"law": "m4", "mean": 0.02 * math.exp(0.5)},
                   {"law": "m3", "mean": None}, {"law": "persistence", "mean": 0.02 * math.exp(1.0)}]}
    weights, last = forecast.member_weights(bt, ["hestness", "m4", "m3"])
    assert list(weights) == pytest.approx([1.0, math.exp(-0.5), 0.0]) and last == pytest.approx(math.exp(-2.0))
    weights, last = forecast.member_weights({"rows": [{"law": "persistence", "mean": 0.01}]}, ["hestness", "m4"])
    assert list(weights) == [1.0, 1.0] and last == 0.0


def test_the_fit_and_its_json_give_the_same_forecast():
    """fit.predict_error on the dict and on the dict read back (the pipeline's fit.json) agree
    with the estimator: weights and ceiling survive the round trip."""
    rng = np.random.default_rng(3)
    truth = simulate.draw_truth(rng, "plateau")
    sizes, errors = noisy_curve(simulate.true_error(truth, SIZES), rng, truth["noise"], 2)
    lc = scalelab.LearningCurve(bootstrap=20).fit(sizes, errors)
    again = scalelab.LearningCurve.from_dict(lc.to_dict())
    for m in (SIZES[-1] * 2, SIZES[-1] * 8):
        p = fit.predict_error(lc.to_dict(), m)
        assert again.predict(m) == pytest.approx(p["error"], rel=1e-12)
        assert list(again.interval(m)) == pytest.approx(p["error_ci"], rel=1e-12)
