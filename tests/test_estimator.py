"""scalelab.LearningCurve (curves/estimator.py), the estimator face of scalelab.fit_curve: each
test names the bug it catches. One simulated curve with a known law, fitted once."""

import json
import math
import sys

import numpy as np
import pytest
import scalelab
from conftest import ROOT
from scalelab.curves import fit, simulate
from scalelab.errors import ScalelabError
from test_curves import run_without_pipeline_packages

TRUTH = {"law": "plateau", "beta": -0.6, "gamma": 0.01, "m0": 200.0, "s": 1.5}
OPTIONS = {"best_guess": simulate.E0, "bootstrap": 20}
M_LAST = float(simulate.SIZES[-1])
AHEAD = [1.5 * M_LAST, 2 * M_LAST, 4 * M_LAST]


def clean_curve(noise=0.01, seeds=2):
    """The truth at the simulator's sizes, each size measured by `seeds` seeds with 1% noise."""
    sizes = np.repeat(simulate.SIZES, seeds)
    errors = simulate.true_error(TRUTH, sizes) * np.exp(np.random.default_rng(1).normal(0, noise, sizes.size))
    return sizes, errors


@pytest.fixture(scope="module")
def lc():
    return scalelab.LearningCurve(**OPTIONS).fit(*clean_curve())


def test_the_estimator_answers_what_fit_curve_answers(lc):
    """Catches the estimator fitting with other options or defaults than fit_curve, or predicting
    by its own arithmetic: its dict is fit_curve's, its points and intervals fit_curve's predictions."""
    ref = scalelab.fit_curve(*clean_curve(), predict=AHEAD, **OPTIONS)
    assert lc.to_dict() == {**ref, "predictions": []}
    np.testing.assert_allclose(lc.predict(AHEAD), [p["error"] for p in ref["predictions"]], rtol=1e-12)
    low, high = lc.interval(np.array(AHEAD))
    np.testing.assert_allclose(np.column_stack([low, high]), [p["error_ci"] for p in ref["predictions"]], rtol=1e-12)
    assert isinstance(lc.predict(AHEAD[0]), float) and lc.predict(np.array([AHEAD])).shape == (1, 3)
    assert lc.doubling == ref["local_slope"]


def test_the_defaults_are_fit_curves():
    """Catches a copied default drifting from fit_curve's (the refit count was once 100 in the API, 400 in the pipeline)."""
    import inspect

    from scalelab.curves.measured import fit_curve
    defaults = {k: p.default for k, p in inspect.signature(fit_curve).parameters.items() if p.default is not inspect.Parameter.empty}
    assert scalelab.LearningCurve().options == {k: v for k, v in defaults.items() if k not in ("params", "noise")}


def test_the_interval_covers_the_truth_at_twice_the_data(lc):
    """Catches an interval read from the wrong bounds or sizes: on a clean curve, the truth at 2x
    lies inside it, and the point sits between its ends."""
    true = float(simulate.true_error(TRUTH, [2 * M_LAST])[0])
    low, high = lc.interval(2 * M_LAST)
    assert low < lc.predict(2 * M_LAST) < high
    assert low <= true <= high, (low, true, high)


def test_bad_input_is_a_one_line_error(lc):
    """Catches inventing an interval at a level the fit was not calibrated at, answering before a
    fit, and swallowing an unknown option (a typo would silently fit with the default)."""
    with pytest.raises(ValueError, match="level 0.9 is not available") as exc:
        lc.interval(M_LAST, level=0.9)
    assert isinstance(exc.value, ScalelabError) and "\n" not in str(exc.value)
    with pytest.raises(ScalelabError, match="not fitted"):
        scalelab.LearningCurve().predict(100)
    with pytest.raises(ScalelabError, match="unknown option"):
        scalelab.LearningCurve(bootstraps=400)
    with pytest.raises(ScalelabError, match="positive"):
        lc.data_for(-1)


@pytest.mark.parametrize("call", [lambda: scalelab.LearningCurve(n_boot=50), lambda: scalelab.fit_curve([1, 2, 4], [0.5, 0.4, 0.3], n_boot=50)],
                         ids=["LearningCurve", "fit_curve"])
def test_the_old_option_name_is_refused_with_the_new_one(call):
    """Catches n_boot (renamed bootstrap) met by a bare "unexpected keyword", or taken as a typo
    among the options: one line that names the new option."""
    with pytest.raises(TypeError, match="n_boot was renamed bootstrap; pass bootstrap=50") as exc:
        call()
    assert isinstance(exc.value, ScalelabError) and "\n" not in str(exc.value)


def test_to_dict_and_from_dict_round_trip(lc):
    """Catches a dict that loses what predictions read (through JSON, as fit.json stores it), and
    from_dict needing keys only fit_curve writes: a family of the committed results/fit.json loads
    and predicts what fit.predict_error says on it."""
    again = scalelab.LearningCurve.from_dict(json.loads(json.dumps(lc.to_dict())))
    assert np.array_equal(again.predict(AHEAD), lc.predict(AHEAD))
    assert np.array_equal(again.interval(AHEAD), lc.interval(AHEAD))
    assert again.doubling == lc.doubling and again.options["bootstrap"] == OPTIONS["bootstrap"]
    family = next(iter(json.loads((ROOT / "results" / "fit.json").read_text())["families"].values()))
    study = scalelab.LearningCurve.from_dict(family)
    m = 2 * family["forecast"]["m_last"]
    assert study.predict(m) == fit.predict_error(family, m)["error"]
    assert study.doubling == family["local_slope"]
    with pytest.raises(ScalelabError, match="missing forecast"):
        scalelab.LearningCurve.from_dict({"law": "power"})


def test_data_for_inverts_predict(lc):
    """Catches data_for reading the wrong crossing (a bound, or the measured points): the forecast
    at the size it names is the target, within the grid's step; a target below the floor is never reached."""
    for target in [0.8 * lc.predict(M_LAST), lc.predict(3 * M_LAST)]:
        size = lc.data_for(target)
        assert lc.predict(size) == pytest.approx(target, rel=0.01)
    assert lc.data_for(1e-9) == math.inf


def test_backtest_has_one_row_per_held_out_point(lc):
    """Catches a table that drops a law, a split or a point, or names its columns differently."""
    table = lc.backtest
    bt = lc.to_dict()["backtest"]
    laws = bt["rows"] + [bt["forecast"]]
    assert len(table) == sum(int(h) for row in laws for h in row["predicted"])
    assert list(table.columns) == ["law", "holdout", "size", "observed", "predicted", "abs_log_error", "law_mean", "law_rank"]
    assert set(table["law"]) == {row["law"] for row in laws}
    last = table[(table.law == "persistence") & (table.holdout == 1)]
    assert last["size"].tolist() == [M_LAST]


def test_plot_draws_on_the_given_axes_without_pyplot(lc, monkeypatch):
    """Catches plot() reaching for pyplot (a global figure, a backend switch) when handed an axes:
    pyplot cannot be imported here, and the points, law and band land on the Agg axes, log-log."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    assert lc.plot(ax=ax) is ax
    fig.canvas.draw()
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert len(ax.lines) == 2 and len(ax.collections) == 3  # law, forecast; seeds, medians, band


def test_the_estimator_needs_no_pipeline_package_and_costs_nothing_at_import():
    """Catches the estimator importing pandas (or torch, Snakemake, DVC) outside .backtest, and
    `import scalelab` loading it (the CLI's start-up would pay for numpy and the fit)."""
    run_without_pipeline_packages("""
import scalelab
assert not [m for m in sys.modules if m == "numpy" or m.startswith("scalelab.curves")]
import numpy as np
sizes = np.repeat(2.0 ** np.arange(7, 15), 2)
errors = 0.02 + 3 * sizes ** -0.4 * np.exp(np.random.default_rng(0).normal(0, 0.02, sizes.size))
lc = scalelab.LearningCurve(bootstrap=10).fit(sizes, errors)
lc = scalelab.LearningCurve.from_dict(lc.to_dict())
assert lc.predict(2 ** 16) < lc.interval(2 ** 16)[1] and lc.data_for(0.03) > 0 and lc.doubling["doubling_ratio"] < 1
try:
    lc.backtest
except scalelab.ScalelabError as exc:
    assert "needs pandas" in str(exc)
else:
    raise AssertionError(".backtest answered without pandas")
""")


def test_a_known_noise_per_row_replaces_the_seed_spread():
    """fit(..., noise=...) with one value per size: the forecast's noise is the last size's given
    sd (no seeds to estimate it from), and a bad noise is one line naming the fix. Catches the
    argument accepted but ignored (the residual scale would stand in)."""
    sizes = 2.0 ** np.arange(7, 15)
    errors = 0.02 + 0.88 / (1 + (sizes / 500) ** 0.8)
    given = np.full(len(sizes), 0.05)
    lc = scalelab.LearningCurve(bootstrap=20).fit(sizes, errors, noise=given)
    assert lc.to_dict()["forecast"]["noise"] == pytest.approx(0.05)
    assert lc.to_dict()["noise"]["sigma"] == pytest.approx(list(given))
    with pytest.raises(ScalelabError, match="one positive number per row"):
        scalelab.LearningCurve().fit(sizes, errors, noise=given[:3])
