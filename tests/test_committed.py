"""The committed default results are what today's code makes of the committed trials, and the
README quotes them. Without this, a change to the fit (or the summary) would leave results/ and
the README telling an older story: exactly the drift a reader cannot see.

The trials themselves are not re-trained (that is the 6-9 minute study): fit and predict run on
the committed tables (results/tables/) and audit, after `prepare` makes data/pool.json. Numbers
are compared to 1e-6 relative, not byte for byte: another CPU may round the last bits of an
optimiser's path differently."""

import json
import re
import shutil

import pytest
from conftest import ROOT, cli

COMMITTED = ROOT / "results"


def close(a, b, rel=1e-6):
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=rel, abs=1e-12)
    return a == b


@pytest.fixture(scope="module")
def refit(tmp_path_factory):
    """fit and predict rerun from the committed tables, in a scratch folder."""
    study = tmp_path_factory.mktemp("committed")
    shutil.copy(ROOT / "params.yaml", study / "params.yaml")
    shutil.copytree(COMMITTED / "tables", study / "results" / "tables")
    shutil.copy(COMMITTED / "audit.json", study / "results" / "audit.json")
    for args in (["prepare", "--pool-dir", "data/pool", "--info", "data/pool.json"],
                 ["fit", "--best", "results/tables/best.csv", "--trials", "results/tables/trials.csv",
                  "--audit", "results/audit.json", "--info", "data/pool.json", "--out", "results/fit.json"],
                 ["predict", "--fit", "results/fit.json", "--tables-dir", "results/tables", "--info", "data/pool.json",
                  "--out", "results/predictions.json", "--summary", "results/summary.md", "--metrics", "results/metrics.json"]):
        proc = cli(*args, cwd=study)
        assert proc.returncode == 0, proc.stderr
    return study


def test_the_committed_fit_is_what_the_code_computes(refit):
    now, then = (json.loads((d / "fit.json").read_text()) for d in (refit / "results", COMMITTED))
    for family in then["families"]:
        a, b = now["families"][family], then["families"][family]
        for key in ("law", "beta_g", "beta_g_ci", "alpha", "gamma", "gamma_ci", "beta_p", "grid_edge_sizes"):
            assert close(a[key], b[key]), f"{family}.{key}: the code gives {a[key]}, results/fit.json says {b[key]}: rerun the study and commit"
        assert a["bootstrap"].get("laws") == b["bootstrap"].get("laws"), family
    for key in ("verdict", "p_value", "f", "stability", "shared_beta_g"):
        assert close(now["comparison"].get(key), then["comparison"].get(key)), key
    assert now["convergence"] == then["convergence"]


def test_the_committed_summary_is_what_the_code_writes(refit):
    """Every line of summary.md but its numbers' last digits (which the test above guards)."""
    def shape(text):
        return re.sub(r"-?\d[\d,.]*(e[+-]\d+)?", "#", text)
    assert shape((refit / "results/summary.md").read_text()) == shape((COMMITTED / "summary.md").read_text())


def test_the_readme_quotes_the_committed_results():
    fit = json.loads((COMMITTED / "fit.json").read_text())
    readme = (ROOT / "README.md").read_text()
    lo, hi = fit["beta_g_ci"]
    assert f"CNN {fit['beta_g']:.2f} [{lo:.2f}, {hi:.2f}]" in readme  # the paper's table, images row
    assert f"m^{fit['beta_g']:.2f} from" in readme and f"{lo:.2f} to {hi:.2f}" in readme  # "Measured"
    c = fit["comparison"]
    assert f"**{c['verdict']}**" in readme and f"F = {c['f']:.1f}" in readme
