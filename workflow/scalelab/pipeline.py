"""Which code files and params keys each step depends on: Snakemake's rule inputs and params,
DVC's stage deps and params.

A step's code files are derived, not listed: the import closure of its module
scalelab.steps.<step> (codedeps.py reads the imports with ast), plus the modules it loads by name
from params.yaml through registry.load (the dataset for prepare and shard; the model families for
train, audit and predict) with their own closures. So editing a module reruns exactly the steps
that import it, and any step named scalelab.steps.<name> is covered without a list to update.
The CLI dispatcher and the params loader (config.py) only route and validate: no step imports
them, so they are not in any step's code. A train job (one family's trials on one shard) gets its
own family's module only, so editing models/lstm.py retrains the LSTM's trials and nothing else;
the audit and predict build every family's models and depend on all of them. A plug-in dataset
or model module inside the study directory is added with the study's modules it imports.

dvc.yaml cannot compute these (DVC has no code): its stages list them for params.yaml's dataset
and families, written by `scalelab dvc-yaml` (dvcyaml.py), and a DVC stage whose list is stale
stops with one line naming that command.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from scalelab import codedeps
from scalelab.registry import BUILTIN

PACKAGE = codedeps.PACKAGE

# The figures step's images (figures.py draws them; the rules and dvc.yaml's plots name them from here).
FIGURES = ("learning_curve", "model_size", "val_loss_vs_params", "families", "backtest", "cost")

# The params.yaml keys each step reads (a section, or section.key). Only these rerun the step, and
# the CLI hands a step only these (params_slice): reading any other key raises KeyError. A train
# job is a batch, one family's trials on one shard, so it also reads models.<family> (which the
# Snakemake rule and dvc.yaml add for their family; tests/test_dvc_yaml.py knows); trials that
# finished before are copied from the store, so a grid edit trains only the new trials.
STEP_PARAMS = {
    "prepare": ["data"],
    "shard": ["data", "shards.base"],  # it draws the pool (data) and sizes the shard (base); not the exponents
    "train": ["train", "grid"],
    # shards.base: timing.csv's sizes; fit.metric: a trial without it (a trainer's) is failed, with the reason
    "select": ["select", "grid", "models", "shards.exponents", "shards.base", "fit.metric"],
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


# The module that runs a family's own trainer: a step that imports it runs the trainer's code.
RUNS_TRAINERS = PACKAGE / "training" / "own_trial.py"


def code_files(step: str, params: dict | None = None, root: str | Path = ".", family: str | None = None) -> list[str]:
    """Paths, relative to the study directory `root`, of the code `step` runs, in a fixed order
    (the train store's fingerprint hashes them in this order): the closure of its module and, given
    `params`, of the dataset or model modules it loads by name (with `family`, only that family's),
    and for a step that runs trainers, each trainer's function module and its `code:` files."""
    from scalelab import study

    root = Path(root).resolve()
    modules, files = [f"scalelab.steps.{step}"], set()
    if params is not None:
        own = codedeps.closure(modules)
        kinds = codedeps.loads_by_name(own)
        chosen = [family] if family else list(params["models"])
        if "dataset" in kinds:
            modules.append(BUILTIN["dataset"].get(params["data"]["dataset"], params["data"]["dataset"]))
        if "model" in kinds:  # a trainer's family has no model module to build
            modules += [BUILTIN["model"].get(m, m) for f in chosen if study.trainer_kind(params, f) is None
                        for m in [study.family_module(params, f)]]
        if RUNS_TRAINERS in own:
            modules += [m for f in chosen if (m := study.family_module(params, f)) and study.trainer_kind(params, f)]
            files = {f for name in chosen for f in user_code(params, name, root)}
    # An installed plug-in has no file under root: its version, not its files, is the user's to pin.
    found = {Path(os.path.relpath(f, root)).as_posix() for f in codedeps.closure(modules, root)}
    return sorted(found | files)


def user_code(params: dict, family: str, root: Path) -> list[str]:
    """The files of models.<family>.code (a folder: every file in it but caches and hidden ones),
    relative to `root`: what the user says their trainer runs."""
    files = []
    for entry in params["models"][family].get("code", []):
        path = root / entry
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not _ignored(p.relative_to(path)))
        files += [Path(os.path.relpath(p, root)).as_posix() for p in found]
    return files


def _ignored(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def data_files(step: str, params: dict) -> list[str]:
    """The data files a step reads by name from params.yaml: the manifest of a dataset on disk,
    for prepare and shard (each example's own files are the trainer's to read, not tracked)."""
    if step not in ("prepare", "shard") or params["data"]["dataset"] != "manifest":
        return []
    from scalelab.datasets import manifest

    return manifest.data_files(params["data"].get("options") or {})
