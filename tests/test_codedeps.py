"""A step's code files are its module's import closure (codedeps.py, pipeline.code_files): each
test names the import form or the rule whose loss would make an edit not rerun a step that runs
the edited module (or rerun one that does not)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from scalelab import codedeps
from scalelab.pipeline import PACKAGE, STEP_PARAMS, code_files

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def code(step: str, params: dict | None = PARAMS, root=ROOT, **options) -> list[str]:
    return [f.removeprefix("workflow/scalelab/") for f in code_files(step, params, root, **options)]


@pytest.mark.parametrize("step", list(STEP_PARAMS))
def test_every_module_python_imports_is_in_the_steps_code(step):
    """Catches an import form the ast reading misses: the scalelab modules that importing the step
    really loads (in a fresh interpreter) must all be in its code."""
    probe = (f"import sys, scalelab.steps.{step}\n"
             "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('scalelab') and getattr(m, '__file__', None)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(PACKAGE.parent), "PATH": ""}).stdout
    loaded = {Path(f).resolve().relative_to(PACKAGE).as_posix() for f in out.split()}
    assert loaded - {"pipeline.py", "codedeps.py"} <= set(code(step, None))


def test_a_function_level_import_counts():
    """Catches following module-level imports only: the audit imports the train step inside a
    function (torch only when training), and runs it."""
    assert {"steps/train.py", "training/loop.py", "models/__init__.py"} <= set(code("audit"))


def test_from_package_import_submodule_is_that_module():
    """Catches `from scalelab.curves import fit` read as an attribute of curves/__init__.py."""
    assert {"curves/fit.py", "curves/exponents.py"} <= set(code("fit"))


def test_every_package_on_the_way_runs_its_init():
    """Catches leaving out __init__.py files, which run on every import of a submodule."""
    for step in STEP_PARAMS:
        assert {"__init__.py", "steps/__init__.py"} <= set(code(step)), step
    assert "training/__init__.py" in code("train")


def test_a_packages_lazy_accessor_runs_only_when_named():
    """Catches counting scalelab.fit_curve's lazy import (the measured-curve fit) as run by every
    step because every step imports the scalelab package. (The steps that read a fit through
    scalelab.curves.estimator do import it, and that import counts.)"""
    for step in STEP_PARAMS:
        if "curves/estimator.py" not in code(step):
            assert "curves/measured.py" not in code(step), step
    assert "curves/measured.py" not in code("prepare")  # imports the scalelab package, never the fit


def test_routing_and_bookkeeping_are_in_no_step():
    """Catches the CLI dispatcher or the params loader entering a step's code, and the store's
    lazy import of pipeline.py (to hash the code list) retraining every trial on an edit of it."""
    for step in STEP_PARAMS:
        assert not {"cli.py", "config.py", "pipeline.py", "codedeps.py", "dvcyaml.py"} & set(code(step)), step


def test_steps_import_no_more_than_they_run():
    """Catches the hand lists' drift this replaced: select reads no trained model (no training/,
    models/), predict no longer imports the audit step, figures runs curves/exponents.py via steps/fit.py."""
    assert not [f for f in code("select") if f.startswith(("training/", "models/", "steps/audit"))]
    assert "steps/audit.py" not in code("predict")
    assert "curves/exponents.py" in code("figures")


def test_only_the_steps_that_load_by_name_get_the_dataset_or_families():
    """Catches a dataset's module missing from prepare/shard, or a model module in a step that
    builds no model (select, fit, figures)."""
    expected = {"prepare": ["dataset"], "shard": ["dataset"], "train": ["model"], "audit": ["model"], "predict": ["model"],
                "select": [], "fit": [], "figures": []}
    for step, kinds in expected.items():
        assert codedeps.loads_by_name(codedeps.closure([f"scalelab.steps.{step}"])) == kinds, step
    assert "datasets/mnist1d.py" in code("shard") and "datasets/mnist1d.py" not in code("train")
    assert {"models/cnn1d.py", "models/mlp.py"} <= set(code("predict")) and "models/lstm.py" not in code("predict")


def test_a_dataset_brings_its_own_imports():
    """Catches adding only the dataset's own file: speech runs text, translation, audio and (lazily) espeak."""
    params = {**PARAMS, "data": {**PARAMS["data"], "dataset": "speech"}}
    assert {"datasets/speech.py", "datasets/text.py", "datasets/translation.py", "datasets/audio.py", "datasets/espeak.py"} <= set(code("prepare", params))
    assert "datasets/mnist1d.py" not in code("prepare", params)


def test_a_train_job_gets_its_own_familys_code_only():
    """Catches a train job rerunning on another family's edit (its fingerprint would change too)."""
    params = {**PARAMS, "models": {"lstm": {"width": [8], "lr": [0.01]}, "tr": {"module": "seq2seq_transformer", "width": [8], "lr": [0.01]}}}
    assert [f for f in code("train", params, family="lstm") if f.startswith("models/")] == ["models/__init__.py", "models/lstm.py"]
    assert [f for f in code("train", params, family="tr") if f.startswith("models/")] == [
        "models/__init__.py", "models/seq2seq.py", "models/seq2seq_transformer.py", "models/transformer.py"]


def test_the_order_is_fixed():
    """Catches set order leaking into the list the trial fingerprint hashes in order."""
    probe = "import yaml; from scalelab.pipeline import code_files; print(code_files('predict', yaml.safe_load(open('params.yaml'))))"
    runs = {subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": str(PACKAGE.parent), "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1 and code("predict") == sorted(code("predict"))


def test_a_plugin_brings_the_study_modules_it_imports(tmp_path):
    """Catches following a plug-in's imports not at all, or into installed packages: the study's
    own helper (through a package's accessor), scalelab's text module, not numpy; a
    TYPE_CHECKING import runs nothing."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "__init__.py").write_text("def helper():\n    from plugins import shared\n    return shared\n")
    (plugins / "shared.py").write_text("X = 1\n")
    (plugins / "unused.py").write_text("Y = 1\n")
    (plugins / "typed.py").write_text("Z = 1\n")
    (plugins / "data.py").write_text(
        "from typing import TYPE_CHECKING\nimport numpy as np\nfrom plugins import helper\n"
        "from scalelab.datasets import text\nif TYPE_CHECKING:\n    from plugins import typed\n")
    params = {**PARAMS, "data": {**PARAMS["data"], "dataset": "plugins.data"}}
    files = code_files("prepare", params, tmp_path)
    assert {"plugins/__init__.py", "plugins/data.py", "plugins/shared.py"} <= set(files)
    assert not {"plugins/unused.py", "plugins/typed.py"} & set(files)
    assert any(f.endswith("scalelab/datasets/text.py") for f in files)
    assert not any("numpy" in f for f in files)
    assert not [f for f in code_files("train", params, tmp_path) if f.startswith("plugins/")]
