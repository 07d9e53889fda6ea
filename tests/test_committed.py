"""The committed results are what today's code makes of the committed trials, and every number the
README and docs/ quote is what tools/quote_results.py renders from them now. Without this, a change
to the fit (or the summary) would leave results/ and the pages telling an older story: exactly the
drift a reader cannot see. The tests check numbers against files, never the pages' sentences.

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


@pytest.mark.parametrize("name", KEPT_PRESETS)
def test_a_kept_preset_run_refits_to_its_committed_numbers(name, tmp_path):
    kept = ROOT / "docs" / "presets" / name
    shutil.copy(ROOT / "presets" / f"{name}.yaml", tmp_path / "params.yaml")
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    for file, dest in (("best.csv", "results/tables"), ("trials.csv", "results/tables"), ("audit.json", "results"), ("pool.json", "data")):
        shutil.copy(kept / file, tmp_path / dest / file)
    run_steps(tmp_path, FIT_ARGS)
    then = json.loads((kept / "fit.json").read_text())
    assert_same_fit(json.loads((tmp_path / "results/fit.json").read_text()), then, f"docs/presets/{name}/fit.json")


def test_the_kept_summary_checks_every_measured_forecast_of_its_ledger():
    """Catches a kept run whose summary and ledger are from different runs: the grown study's
    summary (docs/presets/default_4x, quoted by docs/forecast.md) has one checked row per forecast
    its ledger recorded, but the 2 at 2^17, which no shard of it measured."""
    kept = ROOT / "docs" / "presets" / "default_4x"
    table = (kept / "summary.md").read_text().split("## Forecasts checked")[1].split("\n\n**")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| family")]
    assert rows and len(rows) == sum(1 for _ in open(kept / "ledger.csv")) - 1 - 2


def test_figures_leave_matplotlibs_global_style_alone(default_refit, tmp_path):
    """Catches a figures step that restyles every later plot of the process (a notebook's, a
    test's): the paper style applies inside the step only; and one that switches the process's
    backend (matplotlib.use("Agg") did: a notebook's plots stopped showing)."""
    import matplotlib
    import matplotlib.pyplot as plt

    from scalelab import config
    from scalelab.steps import figures

    backend = matplotlib.get_backend()
    plt.switch_backend("pdf")  # a process's own backend, not the Agg the step once switched to
    before = dict(plt.rcParams)
    study = default_refit
    try:
        paths = figures.run(config.load(ROOT / "params.yaml"), str(study / "results/tables"), str(study / "results/fit.json"),
                            str(study / "results/fit_samples.csv"), str(study / "results/cost.json"),
                            str(tmp_path / "figures"))
        assert matplotlib.get_backend() == "pdf"
    finally:
        plt.switch_backend(backend)
    assert len(paths) == 2 * 6 and plt.rcParams["font.size"] == before["font.size"] != figures.STYLE["font.size"]
    assert {k: plt.rcParams[k] for k in figures.STYLE} == {k: before[k] for k in figures.STYLE}


def quote_results():
    """tools/quote_results.py, imported from the checkout."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("quote_results", ROOT / "tools" / "quote_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_quoted_result_is_what_the_results_files_give_now():
    """Catches a stale or hand-edited number in the README or docs/: every block between
    `<!-- NAME:start -->` and `<!-- NAME:end -->` must be what tools/quote_results.py renders from
    the committed results (results/, docs/presets/) today. Fix: python tools/quote_results.py."""
    quotes = quote_results()
    stale = [str(p.relative_to(ROOT)) for p in quotes.quoting_files(ROOT)
             if quotes.rewrite(p.read_text(), ROOT, p.name) != p.read_text()]
    assert not stale, f"{stale}: quoted results differ from the results files; run python tools/quote_results.py"


def test_every_kind_of_quote_is_on_a_page():
    """Catches a quote whose markers were deleted: its numbers would stay on the page as plain
    text that no test compares with the results any more."""
    quotes = quote_results()
    pages = "".join(p.read_text() for p in quotes.quoting_files(ROOT))
    assert [name for name in quotes.BLOCKS if f"<!-- {name}:start -->" not in pages] == []


def test_a_changed_result_changes_its_quote(tmp_path):
    """Catches a renderer that does not read the file it quotes (a constant would pass the check
    above forever): the answer rendered from an edited fit.json differs from the committed one."""
    quotes = quote_results()
    (tmp_path / "results").mkdir()
    for name in ("fit.json", "metrics.json"):
        shutil.copy(COMMITTED / name, tmp_path / "results" / name)
    fit = json.loads((COMMITTED / "fit.json").read_text())
    fit["families"][fit["family"]]["local_slope"]["doubling_ratio"] = 0.5  # the primary family
    (tmp_path / "results/fit.json").write_text(json.dumps(fit))
    assert "x 0.5 [" in quotes.answer(tmp_path) and quotes.answer(tmp_path) != quotes.answer(ROOT)
