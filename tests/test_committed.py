"""The committed results are what today's code makes of the committed trials, and the README quotes
them. Without this, a change to the fit (or the summary) would leave results/ and the README
telling an older story: exactly the drift a reader cannot see.

The trials themselves are not re-trained (that is the 6-9 minute default study, 20-40 minutes a
preset): `fit` (and `predict` and `report`, for the default) run on the committed tables and audit.
- the default study: results/tables/ and results/audit.json; `prepare` makes data/pool.json;
- a preset NAME whose run is kept in docs/presets/NAME/ (best.csv, trials.csv, audit.json,
  pool.json and its fit.json), with presets/NAME.yaml as params.
Numbers are compared to 1e-6 relative, not byte for byte: another CPU may round the last bits of
an optimiser's path differently."""

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, cli

COMMITTED = ROOT / "results"
KEPT_PRESETS = sorted(p.name for p in (ROOT / "docs" / "presets").glob("*") if (p / "fit.json").exists())
FIT_ARGS = ["fit", "--best", "results/tables/best.csv", "--trials", "results/tables/trials.csv",
            "--audit", "results/audit.json", "--info", "data/pool.json", "--out", "results/fit.json"]


def close(a, b, rel=1e-6):
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=rel, abs=1e-12)
    return a == b


def run_steps(study: Path, *steps: list[str]) -> None:
    for args in steps:
        proc = cli(*args, cwd=study)
        assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def default_refit(tmp_path_factory):
    """fit, predict and report rerun from the default study's committed tables, in a scratch folder."""
    study = tmp_path_factory.mktemp("committed")
    shutil.copy(ROOT / "params.yaml", study / "params.yaml")
    shutil.copytree(COMMITTED / "tables", study / "results" / "tables")
    shutil.copy(COMMITTED / "audit.json", study / "results" / "audit.json")
    shutil.copy(COMMITTED / "ledger.csv", study / "results" / "ledger.csv")  # the forecasts the summary checks
    run_steps(study, ["prepare", "--heldout-dir", "data/heldout", "--info", "data/pool.json"], FIT_ARGS,
              ["predict", "--fit", "results/fit.json", "--tables-dir", "results/tables", "--info", "data/pool.json",
               "--out", "results/predictions.json"],
              ["report", "--fit", "results/fit.json", "--best", "results/tables/best.csv", "--info", "data/pool.json",
               "--summary", "results/summary.md", "--metrics", "results/metrics.json", "--ledger", "results/ledger.csv"])
    return study


def assert_same_fit(now: dict, then: dict, where: str) -> None:
    for family in then["families"]:
        a, b = now["families"][family], then["families"][family]
        for key in ("law", "beta_g", "beta_g_ci", "alpha", "gamma", "gamma_ci", "beta_p", "grid_edge_sizes"):
            assert close(a[key], b[key]), f"{where} {family}.{key}: the code gives {a[key]}, the committed fit.json {b[key]}: refit and commit"
        assert a["bootstrap"].get("laws") == b["bootstrap"].get("laws"), f"{where} {family}"
    for key in ("verdict", "p_value", "f", "stability", "shared_beta_g"):
        assert close(now["comparison"].get(key), then["comparison"].get(key)), f"{where} comparison.{key}"
    assert now["convergence"] == then["convergence"]


def test_the_committed_fit_is_what_the_code_computes(default_refit):
    now, then = (json.loads((d / "fit.json").read_text()) for d in (default_refit / "results", COMMITTED))
    assert_same_fit(now, then, "results/fit.json")


def test_the_committed_summary_is_what_the_code_writes(default_refit):
    """Every line of summary.md but its numbers' last digits (which the test above guards)."""
    def shape(text):
        return re.sub(r"-?\d[\d,.]*(e[+-]\d+)?", "#", text)
    assert shape((default_refit / "results/summary.md").read_text()) == shape((COMMITTED / "summary.md").read_text())
    now, then = (json.loads((d / "cost.json").read_text()) for d in (default_refit / "results", COMMITTED))
    assert [r["step"] for r in now["plan"]["rows"]] == [r["step"] for r in then["plan"]["rows"]]
    assert close(now["study_hours"], then["study_hours"]) and close(now["laws"]["best"]["exponent"], then["laws"]["best"]["exponent"])


def test_plan_prints_a_finished_studys_ranking(default_refit):
    """`scalelab plan` in a study reads the ranking predict wrote to results/cost.json."""
    proc = cli("plan", cwd=default_refit)
    assert proc.returncode == 0, proc.stderr
    ranked = json.loads((default_refit / "results/cost.json").read_text())["plan"]["rows"]
    lines = proc.stdout.splitlines()[2:]
    assert [line.split()[0] for line in lines] == [str(r["rank"]) for r in ranked]
    assert all(r["step"] in line for r, line in zip(ranked, lines))


def test_the_readme_quotes_the_committed_results():
    whole = json.loads((COMMITTED / "fit.json").read_text())
    fit = whole["families"][whole["family"]]  # the primary family, stored once
    readme = (ROOT / "README.md").read_text()
    lo, hi = fit["beta_g_ci"]
    assert f"CNN {fit['beta_g']:.2f} [{lo:.2f}, {hi:.2f}]" in readme  # the paper's table, images row
    assert f"m^{fit['beta_g']:.2f} from" in readme and f"{lo:.2f} to {hi:.2f}" in readme  # "Measured"
    c = whole["comparison"]
    assert f"**{c['verdict']}**" in readme and f"F = {c['f']:.1f}" in readme


def test_the_readme_quotes_the_committed_answer_page():
    """The lines the README's cost, size and next-experiment section quotes are the summary's,
    and its size answer is predictions.json's."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## What it costs, which model, what to run next")[1].split("\n## ")[0]
    quoted = [line[4:] for line in section.splitlines() if line.startswith("    ") and not line.startswith("     ")]
    summary = (COMMITTED / "summary.md").read_text()
    assert len(quoted) >= 5 and all(line in summary for line in quoted), [q for q in quoted if q not in summary]
    sizes = json.loads((COMMITTED / "predictions.json").read_text())["model_size"]
    trend = sizes["trend"]
    assert f"train width {trend['width']} ({trend['params']:,} parameters)" in section
    power_law = [r for r in sizes["per_shard"] if r["size"] in trend["sizes"]]
    within = sum(r["smallest_width"] == trend["width"] for r in power_law)
    assert f"width {trend['width']} is within the seed noise at {within} of the {len(power_law)}" in section
    plan = json.loads((COMMITTED / "cost.json").read_text())["plan"]
    assert f"spans a factor {plan['headline']['width_factor']:.0f} today" in section
    first, seeds = plan["rows"][0], next(r for r in plan["rows"] if r["step"].endswith("more seeds"))
    assert first["step"] == "one more shard" and f"to about a factor {first['width_factor']:.0f}" in section
    assert f"bring it to about {seeds['width_factor']:.0f}" in section.replace("\n", " ")


@pytest.mark.parametrize("name", KEPT_PRESETS)
def test_a_kept_preset_run_refits_to_its_committed_numbers_and_the_readme_quotes_them(name, tmp_path):
    kept = ROOT / "docs" / "presets" / name
    shutil.copy(ROOT / "presets" / f"{name}.yaml", tmp_path / "params.yaml")
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    for file, dest in (("best.csv", "results/tables"), ("trials.csv", "results/tables"), ("audit.json", "results"), ("pool.json", "data")):
        shutil.copy(kept / file, tmp_path / dest / file)
    run_steps(tmp_path, FIT_ARGS)
    then = json.loads((kept / "fit.json").read_text())
    assert_same_fit(json.loads((tmp_path / "results/fit.json").read_text()), then, f"docs/presets/{name}/fit.json")
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if f"`{name}.yaml`" in line and "[" in line)  # the paper's table
    for family, r in then["families"].items():
        quoted = f"{r['beta_g']:.3f} [{r['beta_g_ci'][0]:.3f}, {r['beta_g_ci'][1]:.3f}]"
        assert quoted in row, f"README's {name} row should quote {family}'s {quoted}"


def test_the_readmes_forecast_check_is_the_ledgers():
    """The README's table of checked forecasts is the one the grown study's own summary rendered
    from its ledger (docs/presets/default_4x), row for row: a hand-edited or stale number fails."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("**The forecasts checked on their own pool.**")[1].split("\n\n- ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| family")]
    kept = ROOT / "docs" / "presets" / "default_4x"
    summary = (kept / "summary.md").read_text()
    table = summary.split("## Forecasts checked")[1].split("\n\n**")[0]
    assert rows and rows == [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| family")]
    assert len(rows) == sum(1 for _ in open(kept / "ledger.csv")) - 1 - 2  # every recorded forecast but the 2 at 2^17


def test_figures_leave_matplotlibs_global_style_alone(default_refit, tmp_path):
    """Catches a figures step that restyles every later plot of the process (a notebook's, a
    test's): the paper style applies inside the step only."""
    import matplotlib.pyplot as plt

    from scalelab import config
    from scalelab.steps import figures

    before = dict(plt.rcParams)
    study = default_refit
    paths = figures.run(config.load(ROOT / "params.yaml"), str(study / "results/tables"), str(study / "results/fit.json"),
                        str(study / "results/fit_samples.csv"), str(study / "results/cost.json"), str(tmp_path / "figures"))
    assert len(paths) == 2 * 6 and plt.rcParams["font.size"] == before["font.size"] != figures.STYLE["font.size"]
    assert {k: plt.rcParams[k] for k in figures.STYLE} == {k: before[k] for k in figures.STYLE}


def test_the_readmes_words_on_the_checked_forecasts_are_the_ledgers():
    """Catches the bullets under the README's forecast table drifting from the kept ledger: how
    many fell inside, the factor by which each beat persistence, and that every miss is negative."""
    import pandas as pd

    from scalelab.decisions import ledger

    kept = ROOT / "docs" / "presets" / "default_4x"
    info = json.loads((kept / "pool.json").read_text())
    checks = ledger.check(ledger.read(kept / "ledger.csv"), pd.read_csv(kept / "best.csv"), info, "test_error")["checked"]
    section = (ROOT / "README.md").read_text().split("**The forecasts checked on their own pool.**")[1].split("\n## ")[0]
    inside = sum(r["inside"] for r in checks)
    assert f"**Inside:** {inside} of {len(checks)}" in section
    factors = [r["persistence_log_miss"] / r["log_miss"] for r in checks]
    assert f"by a factor {min(factors):.1f} to {max(factors):.1f} in log error" in section
    assert all(r["log_miss"] < 0 for r in checks) and "every miss is negative" in section
    outside = [r for r in checks if not r["inside"]]
    assert all(f"{100 * (1 - r['measured'] / r['low']):.1f}% below its lower bound" in section for r in outside)
