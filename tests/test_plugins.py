"""A user's own dataset and model, named by import path in params.yaml, without touching scalelab.
The modules are the examples of docs/plugins.md, read out of it so the page stays true."""

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import ROOT, cli, copy_project

from scalelab import config, registry
from scalelab import pipeline as steps


def docs_plugin(name: str) -> str:
    """The code block that follows docs/plugins.md's mention of plugins/<name>.py."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    after = text[text.index(f"`plugins/{name}.py`"):]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def plugin_study(tmp_path, params) -> Path:
    """A study of docs/plugins.md's plug-in dataset and family (family `wide`)."""
    params["data"]["dataset"] = "plugins.gauss"
    params["models"] = {"wide": {"module": "plugins.wide_mlp", "width": [16], "lr": [0.01]}}
    study = copy_project(tmp_path, params)
    (study / "plugins").mkdir()
    for name in ("gauss", "wide_mlp"):
        (study / "plugins" / f"{name}.py").write_text(docs_plugin(name))
    return study


def test_docs_plugins_run_a_trial(tmp_path, params):
    study = plugin_study(tmp_path, params)

    assert cli("check", cwd=study).returncode == 0
    for args in (["prepare"], ["shard", "--k", "8", "--out-dir", "data/shards/k8"],
                 ["train", "--k", "8", "--family", "wide", "--width", "16", "--lr", "0.01", "--seed", "0",
                  "--shard", "data/shards/k8", "--out-dir", "trial"]):
        proc = cli(*args, cwd=study)
        assert proc.returncode == 0, proc.stderr
    info = json.loads((study / "data/pool.json").read_text())
    assert info["dataset"] == "plugins.gauss" and info["n_classes"] == 2 and info["input_shape"] == [8]
    metrics = json.loads((study / "trial/metrics.json").read_text())
    assert metrics["family"] == "wide" and metrics["module"] == "plugins.wide_mlp" and metrics["params"] == 8 * 16 + 16 + 16 * 2 + 2
    assert metrics["test_error"] < 0.45  # two blobs 0.8 apart in 8 dims are learnable

    # Editing a plug-in reruns its steps: it is among their code inputs.
    assert "plugins/gauss.py" in steps.code_files("prepare", params, study)
    assert "plugins/wide_mlp.py" in steps.code_files("train", params, study)
    assert "plugins/gauss.py" not in steps.code_files("train", params, study)


@pytest.fixture
def forget_plugins():
    """Leave no study's `plugins` modules in sys.modules for the tests after."""
    yield
    for name in [n for n in sys.modules if n == "plugins" or n.startswith("plugins.")]:
        del sys.modules[name]


def test_plugins_load_from_their_files_without_touching_sys_path(tmp_path, params, monkeypatch, forget_plugins):
    """The bug: validating a study put its folder first on sys.path for the rest of the process,
    so any later `import plugins...` (a notebook's own, another study's) found this study's. Loaded
    by file instead, a plug-in must still load in the audit's spawned processes, which load it
    themselves, and train there as in this process."""
    study = plugin_study(tmp_path, params)
    for args in (["prepare"], ["shard", "--k", "8", "--out-dir", "data/shards/k8"]):
        proc = cli(*args, cwd=study)
        assert proc.returncode == 0, proc.stderr
    monkeypatch.chdir(study)
    before = list(sys.path)
    loaded = config.load("params.yaml")
    assert sys.path == before
    module = registry.load("model", "plugins.wide_mlp")
    assert sys.path == before and module.__file__ == str(study / "plugins/wide_mlp.py")
    assert registry.load("model", "plugins.wide_mlp", root=study) is module  # loaded once

    from scalelab.steps import audit, train

    tasks = [(loaded, "data/heldout", "data/pool.json", "data/shards/k8", 8, "wide", {"width": 16, "lr": 0.01}, seed,
              f"spawned/s{seed}", None, None) for seed in (0, 1)]
    spawned = audit.train_all(tasks, jobs=2)  # two spawned processes, each loading plugins.wide_mlp
    here = train.run(*tasks[1][:8], "here")
    assert spawned[1] == here and spawned[0]["seed"] == 0 and here["module"] == "plugins.wide_mlp"
    assert sys.path == before


def test_a_plugin_package_imports_its_own_modules(tmp_path, monkeypatch, forget_plugins):
    """A plug-in package's relative and absolute imports of its siblings find them through its
    parent package, with the study nowhere on sys.path; and another study's module of the same
    name is loaded from that study's file, not taken from the first."""
    for study, value in ((tmp_path / "a", 1), (tmp_path / "b", 2)):
        (study / "plugins/net").mkdir(parents=True)
        (study / "plugins/helpers.py").write_text(f"VALUE = {value}\n")
        (study / "plugins/net/__init__.py").write_text("from .layers import build\nfrom plugins.helpers import VALUE\n")
        (study / "plugins/net/layers.py").write_text("def build(width, input_shape, n_classes):\n    return width\n")
    monkeypatch.chdir(tmp_path / "a")
    before = list(sys.path)
    first = registry.load("model", "plugins.net")
    assert first.build(3, (1,), 2) == 3 and first.VALUE == 1
    assert registry.load("model", "plugins.net", root=tmp_path / "b").VALUE == 2
    assert sys.path == before
