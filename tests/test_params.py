"""Bad params give one line naming the key and the fix, before any job runs."""

import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT, cli, copy_project, snakemake

from scalelab import config, study
from scalelab.errors import ScalelabError

CASES = [
    # (what to break, value, words the message must contain)
    (("data", "dataset"), "imagenet", ["data.dataset", "imagenet", "mnist1d"]),
    (("models", "resnet"), {"width": [8], "lr": [0.01]}, ["models.resnet", "resnet", "cnn1d", "module:"]),
    (("models", "cnn1d"), {"width": [8], "lr": [0.01], "module": "plugins.nowhere"}, ["models.cnn1d", "plugins.nowhere"]),
    (("models", "my-net"), {"width": [8], "lr": [0.01]}, ["models", "'my-net'", "letters, digits and _"]),
    (("data", "pool_size"), 4096, ["data.pool_size", "stable splits", "scalelab migrate"]),
    (("shards", "seed"), 0, ["shards.seed", "stable splits", "scalelab migrate"]),
    (("models", "mlp"), {"width": [], "lr": [0.01]}, ["models.mlp.width", "non-empty list"]),
    (("models", "mlp"), {"width": [8], "lr": ["1e-3"]}, ["models.mlp.lr[0]", "'1e-3'", "decimals"]),
    (("train", "batch_size"), "big", ["train.batch_size", "'big'", "positive integer"]),
    (("train", "device"), "tpu", ["train.device", "auto, cpu, cuda"]),
    (("train", "precision"), "fp16", ["train.precision", "fp32, or bf16"]),
    (("train", "precision"), "bf16", ["train.precision", "train.device is cpu", "fp32"]),
    (("shards", "exponents"), [10, 11], ["too few to fit", "fit.min_points"]),
    (("fit", "min_points"), 2, ["fit.min_points", "at least 3"]),
    (("train", "max_steps"), 10, ["train.max_steps", "min_steps"]),
    (("train", "eval_max_steps"), 5, ["train.eval_max_steps", "eval_min_steps"]),
    (("train", "patience_min_steps"), 40, ["train.patience_min_steps", "min_steps"]),
    (("train", "warmup_steps"), 5, ["train.warmup_steps", "cosine"]),
    (("train", "schedule"), "step", ["train.schedule", "constant", "cosine", "plateau"]),
    (("audit", "shards"), 7, ["audit.shards", "shards.exponents"]),
    (("predict", "cost_per_hour"), -1.0, ["predict.cost_per_hour", "at least 0"]),
    (("predict", "cost_per_hour"), "cheap", ["predict.cost_per_hour", "'cheap'", "a number"]),
    (("predict", "cost_per_example"), -0.5, ["predict.cost_per_example", "at least 0"]),
    (("predict", "cost_per_example"), "1 cent", ["predict.cost_per_example", "'1 cent'", "a number"]),
]


def broken(params, keys, value):
    section, key = keys
    params[section][key] = value
    return params


@pytest.mark.parametrize("keys,value,words", CASES, ids=[".".join(c[0]) + "=" + str(c[1]) for c in CASES])
def test_validation_names_key_and_fix(params, keys, value, words):
    with pytest.raises(ScalelabError) as info:
        config.validate(broken(params, keys, value))
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_unknown_and_missing_keys(params):
    params["train"]["learning_rate"] = 0.1
    with pytest.raises(ScalelabError, match="learning_rate.*remove it or fix its spelling"):
        config.validate(params)
    del params["train"]["learning_rate"]
    del params["fit"]["bootstrap"]
    with pytest.raises(ScalelabError, match=r"fit\.bootstrap: missing"):
        config.validate(params)


def test_shipped_params_and_presets_are_valid():
    root = ROOT
    for path in [root / "params.yaml", *sorted((root / "presets").glob("*.yaml"))]:
        config.load(path)


def test_cli_prints_one_line_and_exits_2(tmp_path, params):
    study = copy_project(tmp_path, broken(params, ("data", "dataset"), "imagenet"))
    proc = cli("check", cwd=study)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("scalelab: params.yaml: data.dataset")


def test_snakemake_refuses_before_any_job(tmp_path, params):
    study = copy_project(tmp_path, broken(params, ("grid", "seed"), []))
    proc = snakemake(study, "--dry-run", check=False)
    assert proc.returncode != 0
    assert "scalelab: params.yaml: grid.seed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (study / "data" / "pool.json").exists()


def test_dataset_too_small_for_the_largest_shard(tmp_path, params):
    params["data"].update(dataset="digits", val_size=256, test_size=256)
    params["shards"]["exponents"] = [6, 7, 8, 9, 10, 12]
    study = copy_project(tmp_path, params)
    proc = cli("prepare", cwd=study)
    assert proc.returncode == 2
    assert "1797 in all, 1285 for the pool" in proc.stderr and "shards.exponents" in proc.stderr and "above 10" in proc.stderr
    assert not (study / "data" / "pool.json").exists()


def test_grid_sample_is_seeded_and_per_shard_and_family(params):
    params["models"]["cnn1d"].update(width=[4, 8, 16, 32], lr=[0.01, 0.003])
    params["models"]["mlp"].update(width=[4, 8, 16, 32], lr=[0.01, 0.003])
    params["grid"].update(sample=3, sample_seed=1)
    config.validate(params)
    a = study.trials_for_shard(params, 7, "cnn1d")
    assert a == study.trials_for_shard(params, 7, "cnn1d")  # seeded: the same every time
    assert len(a) == 3 * len(params["grid"]["seed"])
    configs = {(t["width"], t["lr"]) for t in a}
    assert len(configs) == 3
    # Each shard and family draws its own sample.
    draws = {frozenset((t["width"], t["lr"]) for t in study.trials_for_shard(params, k, f))
             for k in (6, 7, 8, 9) for f in ("cnn1d", "mlp")}
    assert len(draws) > 1
    params["grid"]["sample"] = 99
    with pytest.raises(ScalelabError, match="grid.sample.*models.cnn1d"):
        config.validate(params)


def test_the_schema_ships_in_the_wheel(tmp_path):
    """Catches a schema found only in a source checkout: a plain `pip install .` would then fail
    to validate any params.yaml. The wheel must carry it beside config.py, where config looks."""
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "workflow", source / "workflow", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("scalelab-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "scalelab/params.schema.yaml" in names and "scalelab/config.py" in names
    assert config.SCHEMA_PATH.parent.name == "scalelab"
