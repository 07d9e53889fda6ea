"""The fit recovers known laws from noisy synthetic curves, with honest intervals."""

import json

import numpy as np
import pytest
from conftest import cli

from scalelab import fit
from scalelab.errors import ScalelabError

SIZES = 2.0 ** np.arange(7, 19)  # 12 shards, 2^7 .. 2^18
TRUTH = {"alpha": 4.0, "beta": -0.45, "gamma": 0.03}
NOISE = 0.03  # multiplicative (log-normal) noise, as seen between seeds


def synthetic(seed: int, plateau: float | None = None, alpha=TRUTH["alpha"]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    eps = (alpha * SIZES ** TRUTH["beta"] + TRUTH["gamma"]) * np.exp(rng.normal(0, NOISE, len(SIZES)))
    if plateau is not None:  # small data: error cannot exceed best guessing
        eps = np.minimum(eps, plateau * np.exp(rng.normal(0, 0.01, len(SIZES))))
    return eps


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_recovers_parameters_without_plateau(seed):
    r = fit.fit_learning_curve(SIZES, synthetic(seed), best_guess=0.9, n_boot=200, seed=seed)
    assert r["small_data_sizes"] == []
    assert r["beta_g"] == pytest.approx(TRUTH["beta"], abs=0.06)
    assert r["gamma"] == pytest.approx(TRUTH["gamma"], abs=0.01)
    assert r["alpha"] == pytest.approx(TRUTH["alpha"], rel=0.35)
    assert r["r2"] > 0.99


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_finds_and_excludes_the_small_data_plateau(seed):
    # alpha = 20 puts the first four shards (2^7..2^10) on the best-guess plateau at 0.9.
    eps = synthetic(seed, plateau=0.9, alpha=20.0)
    r = fit.fit_learning_curve(SIZES, eps, best_guess=0.9, n_boot=200, seed=seed)
    assert r["power_law_start"] in (2.0**11, 2.0**12)
    assert r["beta_g"] == pytest.approx(TRUTH["beta"], abs=0.08)
    assert r["gamma"] == pytest.approx(TRUTH["gamma"], abs=0.012)
    # Without the detection, the plateau would drag the exponent far from the truth.
    naive = fit.fit_saturating(SIZES, eps)
    assert abs(naive.beta - TRUTH["beta"]) > abs(r["beta_g"] - TRUTH["beta"])


def test_plateau_is_found_without_a_best_guess_too():
    # Here the plateau (0.7, below best guessing) covers 2^7..2^12; the law takes over at 2^13.
    eps = synthetic(5, plateau=0.7, alpha=40.0)
    r = fit.fit_learning_curve(SIZES, eps, best_guess=None, n_boot=50)
    assert r["power_law_start"] in (2.0**13, 2.0**14)


def test_95_percent_intervals_cover_the_truth():
    """Coverage over 40 independent curves: a 95% interval may miss a few, not many."""
    hits = {"alpha": 0, "beta_g": 0, "gamma": 0}
    runs = 40
    for seed in range(runs):
        r = fit.fit_learning_curve(SIZES, synthetic(100 + seed), best_guess=0.9, n_boot=200, seed=seed)
        for key, true in (("alpha", TRUTH["alpha"]), ("beta_g", TRUTH["beta"]), ("gamma", TRUTH["gamma"])):
            lo, hi = r[f"{key}_ci"]
            hits[key] += lo <= true <= hi
    for key, n in hits.items():
        assert n >= 0.85 * runs, f"{key}: interval covered the truth in only {n} of {runs} curves"


def test_predictions_are_consistent():
    r = fit.fit_learning_curve(SIZES, synthetic(0), best_guess=0.9, n_boot=100)
    for m in (1e5, 1e6, 1e7):
        err = fit.predict_error(r, m)
        assert err["error_ci"][0] <= err["error"] <= err["error_ci"][1]
        back = fit.predict_data(r, err["error"])
        assert back["size"] == pytest.approx(m, rel=1e-9)
    below_gamma = fit.predict_data(r, r["gamma"] / 2)
    assert below_gamma["size"] == float("inf")


def test_model_size_law_recovers_exponent():
    rng = np.random.default_rng(0)
    params = 50 * SIZES**0.7 * np.exp(rng.normal(0, 0.05, len(SIZES)))
    r = fit.fit_model_size(SIZES, params, n_boot=200)
    assert r["beta_p"] == pytest.approx(0.7, abs=0.03)
    assert r["beta_p_ci"][0] <= 0.7 <= r["beta_p_ci"][1]


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ScalelabError, match="too few"):
        fit.fit_learning_curve(SIZES[:2], synthetic(0)[:2], min_points=3)
    with pytest.raises(ScalelabError, match="power-law region"):
        fit.fit_learning_curve(SIZES[:4], np.full(4, 0.9), best_guess=0.9, min_points=3)


def test_fit_curve_cli(tmp_path):
    eps = synthetic(7)
    csv = tmp_path / "points.csv"
    csv.write_text("size,error,note\n" + "".join(f"{int(m)},{e},run\n" for m, e in zip(SIZES, eps)))
    out = tmp_path / "fit.json"
    proc = cli("fit-curve", str(csv), "--out", str(out), "--predict", "1e6,1e7", "--bootstrap", "100")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for key in ("beta_g", "beta_g_ci", "alpha", "gamma", "r2", "predictions"):
        assert key in result
    assert [p["size"] for p in result["predictions"]] == [1e6, 1e7]
    assert result["beta_g"] == pytest.approx(TRUTH["beta"], abs=0.06)


def test_fit_curve_cli_rejects_bad_csv(tmp_path):
    csv = tmp_path / "points.csv"
    csv.write_text("n,err\n1,2\n")
    proc = cli("fit-curve", str(csv), "--out", str(tmp_path / "f.json"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "size,error" in proc.stderr
    assert not (tmp_path / "f.json").exists()


def law(alpha: float, beta: float, gamma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (alpha * SIZES ** beta + gamma) * np.exp(rng.normal(0, NOISE, len(SIZES)))


def verdict(curves: dict[str, np.ndarray]) -> dict:
    from scalelab.fit_step import compare_exponents

    fits = {name: fit.fit_learning_curve(SIZES, eps, best_guess=0.9, n_boot=300, seed=1) for name, eps in curves.items()}
    return compare_exponents({name: r["beta_g_ci"] for name, r in fits.items()})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_families_sharing_an_exponent_overlap(seed):
    """The paper's finding within a domain: same beta_g, different intercepts alpha."""
    c = verdict({"small": law(4.0, -0.45, 0.03, seed), "big": law(2.0, -0.45, 0.03, seed + 10)})
    assert c["overlap"] and c["apart"] == []
    assert "consistent with one exponent" in c["verdict"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_families_with_different_exponents_do_not_overlap(seed):
    c = verdict({"steep": law(4.0, -0.6, 0.01, seed), "flat": law(1.0, -0.2, 0.01, seed + 10),
                 "steep2": law(3.0, -0.6, 0.01, seed + 20)})
    assert not c["overlap"]
    assert ["steep", "flat"] in c["apart"] and ["flat", "steep2"] in c["apart"] and ["steep", "steep2"] not in c["apart"]
    assert "differ" in c["verdict"] and "steep vs flat" in c["verdict"]


def test_overlap_needs_one_value_in_every_interval():
    from scalelab.fit_step import compare_exponents

    # Pairwise each touches its neighbour, but no value lies in all three.
    c = compare_exponents({"a": [-0.5, -0.4], "b": [-0.42, -0.3], "c": [-0.32, -0.2]})
    assert not c["overlap"] and c["apart"] == [["a", "c"]]
    assert compare_exponents({"only": [-0.5, -0.4]})["verdict"] == "one family: nothing to compare"


def test_a_flat_curve_needs_infinite_data_not_an_overflow():
    assert fit.Curve(alpha=1.0, beta=-1e-4, gamma=0.0).data_for(0.01) == float("inf")
