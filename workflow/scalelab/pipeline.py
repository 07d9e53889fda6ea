"""Which code files and params keys each step depends on: Snakemake's rule inputs and params,
DVC's stage deps and params (dvc.yaml lists them literally; tests/test_dvc_yaml.py fails when
it drifts from this file).

Editing one of these files reruns that step and what follows it, and nothing else. The CLI
dispatcher, the registry and the params loader (config.py) only route and validate, so they are
left out: they cannot change a result. study.py names the trials, which train (DVC trains a
family's trials in one stage) and select run. A train job (one family's trials on one shard)
depends on its own family's module only, so editing models/lstm.py retrains the LSTM's trials and
nothing else; the audit and predict build every family's models and depend on all of them. A
plug-in dataset or model module inside the study directory is added to the steps that import it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from scalelab.registry import BUILTIN

PACKAGE = Path(__file__).resolve().parent

# The other model files a built-in family's module imports (its own file is always included).
MODEL_HELPERS = {"seq2seq_transformer": ["models/seq2seq.py", "models/transformer.py"], "seq2seq_lstm": ["models/seq2seq.py"]}


def family_code(module: str) -> list[str]:
    """The model files a built-in family's module (registry.BUILTIN) runs: its helpers, then itself."""
    name = module.rsplit(".", 1)[1]
    return [*MODEL_HELPERS.get(name, []), f"models/{name}.py"]


# Every built-in family's files, in the registry's order (a train job's fingerprint hashes them in this order).
MODEL_CODE = ["models/__init__.py", *dict.fromkeys(f for module in BUILTIN["model"].values() for f in family_code(module))]
FAMILY_STEPS = ("train",)  # steps that run one family at a time: they read that family's module, not every one
# The code that draws data: prepare (the held-out sets) and shard (the pool) call the same function.
DATA_CODE = ["steps/prepare.py", "pool.py", "io.py", "datasets/__init__.py", "datasets/mnist1d.py", "datasets/digits.py", "datasets/cifar10.py",
             "datasets/text.py", "datasets/text_chars.py", "datasets/text_words.py", "datasets/translation.py",
             "datasets/speech.py", "datasets/audio.py", "datasets/espeak.py"]
STEP_CODE = {
    "prepare": DATA_CODE,
    "shard": ["steps/shard.py", *DATA_CODE],
    "train": ["steps/train.py", "training/loop.py", "training/stopping.py", "training/store.py", "study.py", "training/adam.py", "training/device.py", "pool.py", "io.py", "training/progress.py", "datasets/__init__.py", *MODEL_CODE],
    "select": ["steps/select.py", "study.py", "decisions/cost.py", "io.py"],  # audit.bits: the *_bits columns
    "audit": ["steps/audit.py", "steps/train.py", "training/loop.py", "training/stopping.py", "training/store.py", "study.py", "training/adam.py", "training/device.py", "pool.py", "io.py", "training/progress.py", "datasets/__init__.py", *MODEL_CODE],
    "fit": ["steps/fit.py", "curves/fit.py", "curves/backtest.py", "curves/forecast.py", "curves/laws.py", "curves/exponents.py", "io.py"],
    "figures": ["steps/figures.py", "decisions/cost.py", "steps/fit.py", "curves/fit.py", "curves/backtest.py", "curves/forecast.py", "curves/laws.py", "io.py"],
    "predict": ["steps/predict.py", "decisions/cost.py", "decisions/sizing.py", "decisions/plan.py", "steps/audit.py", "study.py", "steps/fit.py", "curves/fit.py", "curves/backtest.py",
                "curves/forecast.py", "curves/laws.py", "io.py", "datasets/__init__.py", *MODEL_CODE],
    "report": ["steps/report.py", "steps/report_sections.py", "decisions/ledger.py", "decisions/sizing.py", "decisions/cost.py", "steps/fit.py",
               "curves/fit.py", "curves/backtest.py", "curves/forecast.py", "curves/laws.py", "curves/exponents.py", "io.py"],
}
# The figures step's images (figures.py draws them; the rules and dvc.yaml's plots name them from here).
FIGURES = ("learning_curve", "model_size", "val_loss_vs_params", "families", "backtest", "cost")
PLUGIN_STEPS = {"dataset": ("prepare", "shard"), "model": ("train", "audit", "predict")}

# The params.yaml keys each step reads (a section, or section.key). Only these rerun the step, and
# the CLI hands a step only these (params_slice): reading any other key raises KeyError. A train
# job is a batch, one family's trials on one shard, so it also reads models.<family> (which the
# Snakemake rule and dvc.yaml add for their family; tests/test_dvc_yaml.py knows); trials that
# finished before are copied from the store, so a grid edit trains only the new trials.
STEP_PARAMS = {
    "prepare": ["data"],
    "shard": ["data", "shards.base"],  # it draws the pool (data) and sizes the shard (base); not the exponents
    "train": ["train", "grid"],
    "select": ["select", "grid", "models", "shards.exponents", "shards.base"],  # shards.base: timing.csv's sizes
    # The audit re-trains (train), every seed (grid.seed) of the family's best config (models: its
    # module) on the largest shards, and compares fit.metric.
    "audit": ["audit", "train", "fit.metric", "grid.seed", "models", "shards.exponents"],
    "fit": ["fit"],
    "figures": ["figures", "predict.data_multipliers"],
    # predict sizes models by the selection metric, and plans with the fit's small-data region and
    # seed and the study's seeds (grid.seed).
    "predict": ["predict", "models", "select.metric", "grid.seed", "fit.small_data_tolerance", "fit.small_data_slope",
                "fit.seed"],
    "report": ["data.dataset"],  # the page's title; every number comes from the files predict and fit wrote
}
# Keys a step reads that change none of its outputs: in its slice, but not among the keys that
# rerun it. train: store.Store.keeps_final, whether a trial on one of the `audit.shards` largest
# shards keeps its last state in the store for the audit to go on from. No trial's bytes depend on
# it, and declaring the shard list would retrain every trial when a shard size is added.
NO_OUTPUT_READS = {"train": ["audit.shards", "shards.exponents"]}


def param_values(step: str, params: dict) -> dict:
    """{name: value} of the keys `step` reads, for a Snakemake rule's `params:` (dots become _)."""
    values = {}
    for key in STEP_PARAMS[step]:
        value = params
        for part in key.split("."):
            value = value[part]
        values[key.replace(".", "_")] = value
    return values


class Slice(dict):
    """A mapping that holds only what a step declares: a key of params.yaml it does not declare
    raises KeyError on [], get() and `in` alike (a get() that quietly gave its default would hide
    the read); keys params.yaml does not have at all behave as in a dict."""

    def __init__(self, visible: dict, hidden: set[str], where: str, step: str):
        super().__init__(visible)
        self._hidden, self._where, self._step = hidden, where, step

    def _check(self, key) -> None:
        if key in self._hidden:
            raise KeyError(f"step {self._step} reads params {self._where}{key}, which pipeline.STEP_PARAMS[{self._step!r}] "
                           "does not declare: declare it (and in dvc.yaml's params) or stop reading it")

    def __getitem__(self, key):
        self._check(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._check(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self._check(key)
        return super().__contains__(key)


def params_slice(step: str, params: dict, family: str | None = None) -> Slice:
    """The part of params `step` reads: STEP_PARAMS[step] and NO_OUTPUT_READS[step], and for a
    train job its family's grid (models.<family>); a copy, nested like params.yaml."""
    keys = {*STEP_PARAMS[step], *NO_OUTPUT_READS.get(step, ()), *([f"models.{family}"] if family else [])}
    top, hidden = {}, set()
    for section, value in params.items():
        wanted = {k.split(".", 1)[1] for k in keys if k.startswith(f"{section}.")}
        if section in keys:
            top[section] = copy.deepcopy(value)
        elif wanted:
            top[section] = Slice({k: copy.deepcopy(v) for k, v in value.items() if k in wanted}, set(value) - wanted,
                                 f"{section}.", step)
        else:
            hidden.add(section)
    return Slice(top, hidden, "", step)


def _plugin_file(name: str, root: Path) -> str | None:
    """The file of a user's module path (e.g. plugins.my_data) if it lives under `root`."""
    base = root / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(root).as_posix()
    return None  # an installed package: its version, not its files, is the user's to pin


def code_files(step: str, params: dict | None = None, root: str | Path = ".", family: str | None = None) -> list[str]:
    """Paths, relative to the study directory `root`, of the code `step` runs; for a step of one
    `family` (train), only that family's model module among the models."""
    root = Path(root)
    pkg = os.path.relpath(PACKAGE, root.resolve())
    files = [f"{pkg}/{f}" for f in STEP_CODE[step]]
    if params is None:
        return files
    from scalelab.study import family_module

    one_family = family is not None and step in FAMILY_STEPS
    if one_family:
        module = family_module(params, family)
        builtin = BUILTIN["model"].get(module)
        keep = {f"{pkg}/models/__init__.py"}
        if builtin:
            keep |= {f"{pkg}/{f}" for f in family_code(builtin)}
        files = [f for f in files if not f.startswith(f"{pkg}/models/") or f in keep]
    # Only the steps that import a plug-in read its name: a train job reads no data.dataset.
    plugins = [("dataset", params["data"]["dataset"])] if step in PLUGIN_STEPS["dataset"] else []
    if step in PLUGIN_STEPS["model"]:
        plugins += [("model", family_module(params, f)) for f in ([family] if one_family else params["models"])]
    for kind, name in plugins:
        if name not in BUILTIN[kind]:
            plugin = _plugin_file(name, root)
            if plugin:
                files.append(plugin)
    return files
