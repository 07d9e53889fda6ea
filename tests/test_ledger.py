"""The forecast ledger: fit.json's forecasts at the sizes a growth step adds, recorded once, and
checked against a later best.csv on the same pool; the report step puts the check first on summary.md
and in metrics.json. Each case has numbers worked out by hand."""

import json
import math
import shutil

import pandas as pd
import pytest
from conftest import ROOT, cli

from scalelab import config, io
from scalelab.curves import fit
from scalelab.steps import fit as fit_step, predict, report, report_sections
from scalelab.decisions import ledger
from scalelab.errors import ScalelabError

COMMITTED = ROOT / "results"
INFO = {"dataset": "mnist1d", "unit": "examples", "loss_per": "example", "n_classes": 10, "input_shape": [40],
        "tokens_per_example": 1, "sha256": "pool-a"}
SIZES = [1024, 2048, 4096]


def family(forecasts, last_error, metric="test_error") -> dict:
    """A family's fit.json entry as the ledger reads it: points, law, and growth forecasts."""
    return {"metric": metric, "law": "power", "from_sizes": SIZES,
            "points": [{"size": m, "error": last_error * 4096 / m} for m in SIZES],
            "forecasts": [{"size": 4096 * k, "multiplier": k, "error": e, "error_ci": [lo, hi]} for k, (e, lo, hi) in forecasts.items()]}


def whole_fit() -> dict:
    return {"family": "cnn1d", "families": {
        "cnn1d": family({2: (0.02, 0.01, 0.04), 4: (0.015, 0.005, 0.045)}, last_error=0.05),
        "mlp": family({2: (0.2, 0.1, 0.3), 4: (0.18, 0.08, 0.4)}, last_error=0.25)}}


@pytest.fixture
def recorded(tmp_path):
    io.write_json(tmp_path / "fit.json", whole_fit())
    io.write_json(tmp_path / "pool.json", INFO)
    return tmp_path


def best_with(measured: dict) -> pd.DataFrame:
    """best.csv's columns the check reads, the recorded shards plus {(family, size): value} measured since."""
    rows = [{"family": f, "size": m, "test_error": 0.05 * 4096 / m, "test_loss": 1.0} for f in ("cnn1d", "mlp") for m in SIZES]
    rows += [{"family": f, "size": m, "test_error": v, "test_loss": 1.0} for (f, m), v in measured.items()]
    return pd.DataFrame(rows)


def test_recording_the_same_fit_twice_adds_nothing_and_keeps_the_bytes(recorded):
    """Catches a ledger that grows a duplicate of every forecast each time `scalelab grow` runs, or
    rewrites history (a date, another float format) so that every record shows as a change."""
    path = recorded / "ledger.csv"
    added = ledger.record(recorded / "fit.json", recorded / "pool.json", path)
    assert [(r["family"], r["size"], r["multiplier"]) for r in added] == [
        ("cnn1d", 8192, 2.0), ("cnn1d", 16384, 4.0), ("mlp", 8192, 2.0), ("mlp", 16384, 4.0)]
    first = path.read_bytes()
    assert first.decode().splitlines()[0] == ",".join(ledger.COLUMNS)
    assert "pool-a,mnist1d,test_error,cnn1d,power,1024;2048;4096,8192,2,0.02,0.01,0.04,4096,0.05" in first.decode()
    assert ledger.record(recorded / "fit.json", recorded / "pool.json", path) == []
    assert path.read_bytes() == first
    assert ledger.read(path) == added  # the numbers come back as they were recorded
    # A later fit (one more shard) adds its own rows after the old ones, which stay byte for byte.
    later = whole_fit()
    later["families"]["cnn1d"]["from_sizes"] = [*SIZES, 8192]
    io.write_json(recorded / "fit.json", later)
    assert len(ledger.record(recorded / "fit.json", recorded / "pool.json", path)) == 2
    assert path.read_bytes().startswith(first)


def test_a_forecast_is_checked_against_the_size_measured_since(recorded):
    """Catches a check that compares the wrong numbers: the miss, the interval test, persistence's
    miss and the interval score each against a hand computation, one forecast inside, one outside."""
    ledger.record(recorded / "fit.json", recorded / "pool.json", recorded / "ledger.csv")
    best = best_with({("cnn1d", 8192): 0.03, ("mlp", 8192): 0.5})
    checks = ledger.check(ledger.read(recorded / "ledger.csv"), best, INFO, "test_error")
    cnn, mlp = checks["checked"]
    # cnn1d: forecast 0.02 [0.01, 0.04] from a last point of 0.05; measured 0.03.
    assert (cnn["family"], cnn["size"], cnn["measured"], cnn["inside"]) == ("cnn1d", 8192, 0.03, True)
    assert cnn["log_miss"] == pytest.approx(math.log(1.5)) and cnn["miss"] == pytest.approx(0.5)
    assert cnn["persistence_log_miss"] == pytest.approx(math.log(0.6))
    assert cnn["interval_score"] == pytest.approx(math.log(4))  # inside: the width in log error
    # mlp: forecast 0.2 [0.1, 0.3], measured 0.5: above the interval, penalised 2 / 0.05 per log unit beyond it.
    assert (mlp["measured"], mlp["inside"]) == (0.5, False)
    assert mlp["log_miss"] == pytest.approx(math.log(2.5)) and mlp["persistence_log_miss"] == pytest.approx(math.log(2))
    assert mlp["interval_score"] == pytest.approx(math.log(3) + 40 * math.log(0.5 / 0.3))
    assert [(r["family"], r["size"]) for r in checks["pending"]] == [("cnn1d", 16384), ("mlp", 16384)]
    assert checks["ignored"] == {}
    metrics = report.forecast_check_metrics(checks)
    assert (metrics["checked"], metrics["inside"], metrics["pending"]) == (2, 1, 2)
    assert metrics["cnn1d_m8192_x2"]["inside"] == 1 and metrics["mlp_m8192_x2"]["inside"] == 0


def test_forecasts_of_another_pool_metric_or_family_are_ignored_and_counted(recorded):
    """Catches a check that scores a forecast made on other data (another pool, another metric, a
    family dropped from the study) against this study's measurement."""
    path = recorded / "ledger.csv"
    ledger.record(recorded / "fit.json", recorded / "pool.json", path)
    io.write_json(recorded / "pool.json", {**INFO, "sha256": "pool-b"})
    ledger.record(recorded / "fit.json", recorded / "pool.json", path)
    rows = ledger.read(path)
    assert len(rows) == 8  # the same forecasts on two pools are two records
    rows.append({**rows[0], "metric": "test_loss"})
    rows.append({**rows[0], "family": "lstm"})
    checks = ledger.check(rows, best_with({("cnn1d", 8192): 0.03}), INFO, "test_error")
    assert [(r["family"], r["size"], r["pool"]) for r in checks["checked"]] == [("cnn1d", 8192, "pool-a")]
    assert checks["ignored"] == {"another pool": 4, "another metric": 1, "a family not in the study": 1}
    assert ledger.pool_id({**INFO, "pool_id": "stable"}) == "stable"  # the id that survives a growing pool wins


def test_no_ledger_means_no_section_and_no_metrics(tmp_path):
    """Catches a page that changes for a study that never recorded a forecast (the committed one)."""
    assert ledger.read(tmp_path / "missing.csv") == []
    checks = ledger.check([], best_with({}), INFO, "test_error")
    assert report_sections.forecast_check_markdown(checks) == [] and report_sections.forecast_check_markdown(None) == []
    (tmp_path / "bad.csv").write_text("pool,size\nx,1\n")
    with pytest.raises(ScalelabError, match="bad.csv: columns pool,size"):
        ledger.read(tmp_path / "bad.csv")


def test_the_fit_forecasts_the_sizes_predict_reports():
    """Catches growth forecasts made at the wrong size or by another method: the 4x forecast of
    each family is the one predictions.json gives at 4x the largest shard."""
    whole = io.read_json(COMMITTED / "fit.json")
    pred = io.read_json(COMMITTED / "predictions.json")
    for name, result in whole["families"].items():
        made = fit_step.growth_forecasts(result)
        largest = max(p["size"] for p in result["points"])
        assert made["from_sizes"] == [p["size"] for p in result["points"]]
        assert [(f["size"], f["multiplier"]) for f in made["forecasts"]] == [(2 * largest, 2), (4 * largest, 4)]
        page = pred["at_more_data"][0] if name == whole["family"] else pred["families"][name][0]
        assert page["multiplier"] == 4
        four = made["forecasts"][1]
        assert four["error"] == pytest.approx(page["error"], rel=1e-8)
        assert four["error_ci"] == pytest.approx(page["error_ci"], rel=1e-8)
        assert four["error"] == fit.predict_error(result, 4 * largest)["error"]


def test_the_ledger_command_records_once(recorded):
    """Catches a `scalelab ledger` that is not wired to record (or reports rows it did not add)."""
    args = ["ledger", "--fit", str(recorded / "fit.json"), "--info", str(recorded / "pool.json"), "--ledger", str(recorded / "ledger.csv")]
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0 and "recorded 4 forecasts" in first.stdout and "cnn1d: test_error at m = 8,192 (2x)" in first.stdout
    assert second.returncode == 0 and "nothing new" in second.stdout
    missing = cli("ledger", "--fit", str(recorded / "nowhere.json"), "--info", str(recorded / "pool.json"))
    assert missing.returncode == 2 and missing.stderr.startswith("scalelab: ") and "nowhere.json: not found" in missing.stderr


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """The committed default study fitted and recorded, then predicted and reported on a best.csv
    that has since measured cnn1d at 2x its largest shard: (folder, the summary_markdown arguments
    the report used)."""
    d = tmp_path_factory.mktemp("grown")
    params = config.load(ROOT / "params.yaml")
    params["fit"]["bootstrap"] = 100  # the check reads the forecast; its interval's exact bytes do not matter here
    shutil.copytree(COMMITTED / "tables", d / "tables")
    io.write_json(d / "pool.json", INFO)
    fit_step.run(params, str(d / "tables/best.csv"), str(d / "tables/trials.csv"), str(d / "pool.json"),
                 str(d / "fit.json"), str(d / "fit_samples.csv"), str(COMMITTED / "audit.json"))
    ledger.record(d / "fit.json", d / "pool.json", d / "ledger.csv")
    best = pd.read_csv(d / "tables/best.csv")
    largest, k = int(best["size"].max()), int(best["k"].max())
    more = best[(best["family"] == "cnn1d") & (best["size"] == largest)].assign(size=2 * largest, k=k + 1, shard=f"k{k + 1}",
                                                                                 test_error=0.0125)
    pd.concat([best, more]).to_csv(d / "tables/best.csv", index=False)
    calls = []
    original = report.summary_markdown

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "summary_markdown", spy)
        predict.run(params, str(d / "fit.json"), str(d / "fit_samples.csv"), str(d / "tables"), str(d / "pool.json"),
                    str(d / "predictions.json"), str(d / "cost.json"))
        report.run(params, str(d / "fit.json"), str(d / "predictions.json"), str(d / "cost.json"), str(d / "tables/best.csv"),
                   str(d / "pool.json"), str(d / "ledger.csv"), str(d / "summary.md"), str(d / "metrics.json"))
    return d, calls[0]


def test_the_report_puts_the_check_first_on_the_page(grown):
    """Catches the check buried below the answer, or a page that changes elsewhere when the ledger
    is read: the section follows the title, and without it the page is the one an empty ledger gives."""
    d, (args, kwargs) = grown
    page = (d / "summary.md").read_text()
    lines = page.splitlines()
    assert lines[0].startswith("# scalelab study:") and lines[2] == "## Forecasts checked"
    assert page.index("## Forecasts checked") < page.index("![learning curve]")
    fit = io.read_json(d / "fit.json")["families"]["cnn1d"]
    largest, n = max(fit["from_sizes"]), len(fit["from_sizes"])
    forecast = next(f for f in fit["forecasts"] if f["size"] == 2 * largest)
    row = next(line for line in lines if line.startswith(f"| cnn1d | {n} shards, m = 128 to {largest:,} | {2 * largest:,} (2x) |"))
    assert f"| {forecast['error']:.3g} [" in row and "| 0.0125 |" in row
    inside = forecast["error_ci"][0] <= 0.0125 <= forecast["error_ci"][1]
    assert f"**{int(inside)} of 1 forecast fell inside its 95% interval**" in page
    assert f"Still awaiting data: m = {2 * largest:,} (mlp); m = {4 * largest:,} (cnn1d, mlp)." in page
    section = page[page.index("## Forecasts checked"):page.index("![learning curve]")]
    assert page.replace(section, "") == report.summary_markdown(*args[:8], None)


def test_the_report_writes_the_check_to_metrics(grown):
    """Catches a check that `dvc metrics diff` cannot see: scalars keyed by family, size and horizon."""
    d, _ = grown
    check = json.loads((d / "metrics.json").read_text())["forecast_check"]
    assert (check["checked"], check["pending"]) == (1, 3)
    largest = max(io.read_json(d / "fit.json")["families"]["cnn1d"]["from_sizes"])
    row = check[f"cnn1d_m{2 * largest}_x2"]
    assert set(row) == {"forecast", "low", "high", "measured", "inside", "log_miss", "persistence_log_miss", "interval_score"}
    assert row["measured"] == 0.0125 and row["inside"] == int(row["low"] <= 0.0125 <= row["high"]) == check["inside"]
    assert row["log_miss"] == pytest.approx(math.log(0.0125 / row["forecast"]), rel=1e-8)
