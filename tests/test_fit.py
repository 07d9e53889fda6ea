"""Step `fit` on the committed study: the default's results/fit.json and every kept preset run's
docs/presets/NAME/fit.json are what today's code fits to their committed tables and audit. (The
curve science the step calls is tested in test_curves.py.)"""

import json
import shutil

import pytest
from conftest import COMMITTED, FIT_ARGS, ROOT, close, run_steps


KEPT_PRESETS = sorted(p.name for p in (ROOT / "docs" / "presets").glob("*") if (p / "fit.json").exists())


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
