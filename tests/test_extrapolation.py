"""On real learning curves, scalelab's extrapolation beats persistence: bench/bench_extrapolation.py's
protocol (fit the anchors <= largest / 4, predict the rest) on a committed sample of LCDB 1.0
curves (tests/data/lcdb_subset.csv, see tests/data/README.md), in both of its modes.

The assertions are the issue's bar, not tuned numbers: the mean |log(predicted / measured)| at the
farthest anchor below persistence's, intervals that hold most measured errors and widen with the
horizon, no curve refused; and the coverage, the interval score, the backtest interval of the
other methods and the subsets the bench reports are counted right (by hand)."""

import math
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_extrapolation as bench  # noqa: E402  (puts workflow/ on sys.path too)
import extrapolation_report as report  # noqa: E402
import intervals  # noqa: E402
import lcdb_curves  # noqa: E402


SUBSET = ROOT / "tests" / "data" / "lcdb_subset.csv"
FAST = {"bootstrap": 20}  # intervals from 20 refits: enough to check they are intervals, 2x faster than the default


@pytest.fixture(scope="module")
def curves():
    curves, counts = lcdb_curves.load_curves(SUBSET, ids="even")
    assert counts["eligible"] == len(curves) >= 10 and counts["odd"] == 0
    return curves


@pytest.fixture(scope="module")
def rows(curves):
    return bench.run_all(curves, bench.MODES, ("scalelab", "persistence"), FAST)


@pytest.fixture(scope="module")
def summary(rows):
    return {(s["mode"], s["method"]): s for s in report.summarise(rows) if s["subset"] == "all"}


@pytest.mark.parametrize("mode", bench.MODES)
def test_scalelab_beats_persistence_at_the_farthest_anchor(summary, mode):
    mine, baseline = summary[(mode, "scalelab")], summary[(mode, "persistence")]
    assert mine["mean_abs_log_far"] < baseline["mean_abs_log_far"], (mine, baseline)


def test_coverage_is_counted_by_hand():
    """interval_stats on six handmade points, counted by hand:
      h 1.2  [0.1, 0.3]  truth 0.2   covered
      h 1.5  [0.1, 0.3]  truth 0.3   covered: on the bound, and bin (1.0, 1.5] holds its upper edge
      h 1.4  [0.1, 0.3]  truth 0.35  missed
      h 2.0  [nan, nan]  truth 0.2   missed: NaN bounds cover nothing
      h 2.0  no interval             not scored (a refusal scored as persistence has none)
      h 4.0  [0.1, inf]  truth 5.0   covered
    Overall 3 of 5 scored = 0.6; bins (1, 1.5]: 2/3, (1.5, 2.2]: 0/1, (2.2, 3.2]: none, (3.2, inf): 1/1.
    Catches: strict bounds (2/5), NaN counted as covering (4/5), a missing interval counted as a
    miss (3/6 = 0.5), bins closed on the left (1.5 moves up: 1/2 and 1/2), the overall share taken
    as the mean of the bins' (0.556)."""
    def point(h, ci, truth=0.2):
        return {"horizon": h, "ci": ci, "truth": truth}
    nan, inf = math.nan, math.inf
    points = [point(1.2, [0.1, 0.3]), point(1.5, [0.1, 0.3], 0.3), point(1.4, [0.1, 0.3], 0.35),
              point(2.0, [nan, nan]), point(2.0, None), point(4.0, [0.1, inf], 5.0)]
    stats = report.interval_stats(points)
    assert stats["coverage"] == pytest.approx(0.6) and stats["points"] == 5
    assert [b["n"] for b in stats["by_horizon"]] == [3, 1, 0, 1]
    assert [b["coverage"] for b in stats["by_horizon"]] == [pytest.approx(2 / 3), 0.0, None, 1.0]
    assert stats["by_horizon"][0]["median_width"] == pytest.approx(math.log(3))  # log(0.3 / 0.1)


@pytest.mark.parametrize("mode", bench.MODES)
def test_intervals_hold_most_measurements_and_widen_with_the_horizon(summary, rows, mode):
    """On the LCDB sample the 95% intervals hold most of the 55 held-out measurements (0.92-0.94
    on all even-id LCDB curves, bench/README.md); 0.8 is 5 binomial sd below 0.95 on 55 points.
    On every curve the width grows with the horizon (the ceiling caps the upper side of a falling
    curve, but its lower side keeps moving down). Catches intervals that collapse or stop growing
    with the horizon (the backtest's rate dropped) and bounds swapped (nothing covered)."""
    s = summary[(mode, "scalelab")]
    assert s["points"] == 55 and s["coverage"] >= 0.8, s
    for row in (r for r in rows if r["mode"] == mode and r["method"] == "scalelab"):
        widths = [math.log(p["ci"][1] / p["ci"][0]) for p in sorted(row["points"], key=lambda p: p["horizon"])]
        assert all(a < b for a, b in zip(widths, widths[1:])), (row["openmlid"], row["learner"], widths)


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
        assert all(0 < p["ci"][0] <= p["error"] <= p["ci"][1] < math.inf for p in first["points"])  # its own backtest interval
        assert [p["error"] for p in first["points"]] == [p["error"] for p in again["points"]]


def test_split_fits_a_quarter_and_predicts_the_rest(curves):
    for curve in curves:
        fitted, held_out = curve.sizes[:curve.n_fit], curve.sizes[curve.n_fit:]
        assert fitted[-1] <= curve.sizes[-1] / 4 < held_out[0]
        assert len(fitted) >= 4 and len(held_out) >= 4


def test_interval_score_by_hand():
    """Gneiting & Raftery's interval score in log error, alpha 0.05 (a miss costs 40x its distance):
      [1, 2], truth 4: width log 2, the truth log 2 above: log 2 + 40 log 2
      [1, 2], truth 0.5: width log 2, log 2 below: log 2 + 40 log 2
      [1, 2], truth 1.5: inside, the width alone: log 2
      [1, inf] or NaN bounds: inf (no interval)."""
    log2 = math.log(2)
    assert intervals.interval_score(1.0, 2.0, 4.0) == pytest.approx(log2 + 40 * log2)
    assert intervals.interval_score(1.0, 2.0, 0.5) == pytest.approx(log2 + 40 * log2)
    assert intervals.interval_score(1.0, 2.0, 1.5) == pytest.approx(log2)
    assert intervals.interval_score(1.0, math.inf, 1.5) == math.inf
    assert intervals.interval_score(math.nan, math.nan, 1.5) == math.inf


def test_backtest_interval_of_persistence_by_hand():
    """Persistence on medians 0.8, 0.4, 0.2, 0.1, 0.05 at sizes 1, 2, 4, 8, 16 (error halves per
    doubling). Backtest: refitted on the first 3 sizes (cut 2) it predicts 0.2 at 8 and 16, missing
    by log 2 and log 4 at horizons log 2 and log 4 past 4: ratios 1 and 1; cut 3 leaves 2 sizes and
    is skipped (as the library skips splits under 3): rate 1. Noise: the last half of the medians,
    at least 3 (0.2, 0.1, 0.05), about their mean in log: residuals log 2, 0, -log 2 over 2 degrees
    of freedom = log 2. At 32 (horizon log 2 past 16): sd^2 = (log 2)^2 + (1 x log 2)^2."""
    sizes, medians = [1.0, 2.0, 4.0, 8.0, 16.0], [0.8, 0.4, 0.2, 0.1, 0.05]
    asked = []

    def predict_from(n):
        asked.append(n)
        return [medians[n - 1]] * (len(sizes) - n)

    noise = intervals.level_noise(medians)
    assert noise == pytest.approx(math.log(2))
    (lo, hi), = intervals.backtest_interval(sizes, medians, [32.0], [0.05], predict_from, noise)
    assert asked == [3]
    half = intervals.Z95 * math.sqrt(2) * math.log(2)
    assert math.log(hi / 0.05) == pytest.approx(half) and math.log(0.05 / lo) == pytest.approx(half)


def test_subsets_by_hand():
    """Four persistence rows (last fitted 1.0): farthest truths 0.5, 0.9, 0.97, 1.2 fall, fall,
    stay flat (within 5%), rise; near floor is the falling half with the smallest persistence
    error: 0.9 (|log 0.9| < |log 0.5|)."""
    def row(i, truth):
        return {"openmlid": i, "learner": "x", "group": "lcdb", "mode": "medians", "method": "persistence",
                "points": [{"size": 8.0, "horizon": 2.0, "error": 1.0, "truth": truth, "ci": None}]}
    rows = [row(i, t) for i, t in enumerate((0.5, 0.9, 0.97, 1.2))]
    subsets = report.subsets_of(rows)
    got = [sorted(subsets[("lcdb", "medians", report.curve_id(r))] - {"all"}) for r in rows]
    assert got == [["falling"], ["falling", "near floor"], ["flat"], ["rising"]]
