"""A user's own dataset and model, named by import path in params.yaml, without touching scalelab.
The modules are the README's examples, read out of README.md so the README stays true."""

import json
import re

from conftest import ROOT, cli, copy_project

from scalelab import pipeline as steps


def readme_plugin(name: str) -> str:
    """The code block that follows the README's mention of plugins/<name>.py."""
    text = (ROOT / "README.md").read_text()
    after = text[text.index(f"`plugins/{name}.py`"):]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_readme_plugins_run_a_trial(tmp_path, params):
    params["data"]["dataset"] = "plugins.gauss"
    params["models"] = {"wide": {"module": "plugins.wide_mlp", "width": [16], "lr": [0.01]}}
    study = copy_project(tmp_path, params)
    (study / "plugins").mkdir()
    for name in ("gauss", "wide_mlp"):
        (study / "plugins" / f"{name}.py").write_text(readme_plugin(name))

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
