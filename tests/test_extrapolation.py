"""On real learning curves, scalelab's extrapolation beats persistence: bench/bench_extrapolation.py's
protocol (fit the anchors <= largest / 4, predict the rest) on a committed sample of LCDB 1.0
curves (tests/data/lcdb_subset.csv, see tests/data/README.md), in both of its modes.

The assertions are the issue's bar, not tuned numbers: the mean |log(predicted / measured)| at the
farthest anchor below persistence's, intervals whose coverage is a share, no curve refused."""

import math
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_extrapolation as bench  # noqa: E402

SUBSET = ROOT / "tests" / "data" / "lcdb_subset.csv"
FAST = {"n_boot": 20}  # intervals from 20 refits: enough to check they are intervals, 2x faster than the default


@pytest.fixture(scope="module")
def curves():
    curves, counts = bench.load_curves(SUBSET, ids="even")
    assert counts["eligible"] == len(curves) >= 10 and counts["odd"] == 0
    return curves


@pytest.fixture(scope="module")
def summary(curves):
    rows = bench.run_all(curves, bench.MODES, ("scalelab", "persistence"), FAST)
    return {(s["mode"], s["method"]): s for s in bench.summarise(rows)}


@pytest.mark.parametrize("mode", bench.MODES)
def test_scalelab_beats_persistence_at_the_farthest_anchor(summary, mode):
    mine, baseline = summary[(mode, "scalelab")], summary[(mode, "persistence")]
    assert mine["mean_abs_log_far"] < baseline["mean_abs_log_far"], (mine, baseline)


@pytest.mark.parametrize("mode", bench.MODES)
def test_coverage_is_a_share(summary, mode):
    coverage = summary[(mode, "scalelab")]["coverage"]
    assert coverage is not None and 0.0 <= coverage <= 1.0


@pytest.mark.parametrize("mode", bench.MODES)
def test_nothing_is_refused(summary, mode):
    assert summary[(mode, "scalelab")]["refused"] == 0


def test_reference_fits_predict_positive_errors(curves):
    """M4 and LCDB's own models fit a curve and predict every held-out anchor, or fall back to
    persistence and say so; the same seed gives the same predictions."""
    curve = curves[0]
    for method in ("m4", "mmf4", "wbl4", "pow4"):
        first, again = (bench.run_one(curve, "medians", method, {}) for _ in range(2))
        assert first["status"] in ("ok", "failed"), first["note"]
        assert all(p["error"] > 0 and math.isfinite(p["error"]) for p in first["points"])
        assert [p["error"] for p in first["points"]] == [p["error"] for p in again["points"]]


def test_split_fits_a_quarter_and_predicts_the_rest(curves):
    for curve in curves:
        fitted, held_out = curve.sizes[:curve.n_fit], curve.sizes[curve.n_fit:]
        assert fitted[-1] <= curve.sizes[-1] / 4 < held_out[0]
        assert len(fitted) >= 4 and len(held_out) >= 4
