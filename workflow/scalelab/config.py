"""Load params.yaml and check it, so a mistake is one line naming the key and the fix.

The command line loads the whole file through `load()` once and hands each step only its own
slice (pipeline.params_slice); the schema (params.schema.yaml, package data beside this module)
holds the types, this module the checks across keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scalelab import registry, study
from scalelab.errors import ScalelabError
from scalelab.training import trainer

# Package data, so a plain (non-editable) `pip install` validates params.yaml too.
SCHEMA_PATH = Path(__file__).resolve().with_name("params.schema.yaml")
# libyaml's parser when PyYAML has it (the same values, about 5x faster): every Snakemake call,
# a no-op dry run included, loads params.yaml and the schema.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _key(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _schema_error_message(error, schema: dict, source: str) -> str:
    """Turn a jsonschema error into `file: key: problem; expected <fix>`."""
    key = _key(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return f"{source}: {_key(list(error.absolute_path) + [missing])}: missing; add it (see the shipped params.yaml)"
    if error.validator == "additionalProperties":
        return f"{source}: {key}: {error.message}; remove it or fix its spelling"
    # Walk the schema to the nearest description on the key's path: it states the fix.
    node, fix = schema, None
    for part in error.absolute_path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:  # a named key, or one of a mapping's free keys (models.<family>)
            extra = node.get("additionalProperties")
            node = node.get("properties", {}).get(part, extra if isinstance(extra, dict) else {})
        fix = node.get("description", fix)
    if "propertyNames" in error.schema_path:  # a bad key name, reported at its parent mapping
        fix = node.get("propertyNames", {}).get("description", fix)
    fix = fix or "see the comments in params.yaml"
    return f"{source}: {key}: {error.instance!r} is not valid; expected {fix}"


def validate(params: Any, source: str = "params.yaml", root: str | Path | None = None, check_data: bool = True) -> dict:
    """Check types with the schema, then the rules that span keys. Returns params unchanged.
    `root`: the study directory its plug-ins live in (default: the working directory). `check_data`:
    also check that the dataset can fill the largest shard (reads a manifest file)."""
    import jsonschema

    schema = yaml.load(SCHEMA_PATH.read_text(), Loader=_Loader)
    if not isinstance(params, dict):
        raise ScalelabError(f"{source}: expected a mapping of sections (data, shards, ...), got {type(params).__name__}")
    _check_not_legacy(params, source)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ScalelabError(_schema_error_message(errors[0], schema, source))

    registry.check("dataset", params["data"]["dataset"], root=root)
    for family in params["models"]:
        trainer.check_family(params, family, root if root is not None else ".", source)
        if study.trainer_kind(params, family) is None:
            registry.check("model", study.family_module(params, family), key=f"models.{family}", root=root)
    _check_data_suits_families(params, source)

    if check_data:  # reads a manifest: once per engine call and in the data steps, not in every job
        _check_pool_can_hold(params, source, root)
    train = params["train"]
    if train["precision"] == "bf16" and train["device"] == "cpu":
        raise ScalelabError(f"{source}: train.precision: bf16 runs on CUDA GPUs only and train.device is cpu; "
                            "set train.precision: fp32 or train.device: auto")
    if train["max_steps"] < train["min_steps"]:
        raise ScalelabError(f"{source}: train.max_steps ({train['max_steps']}) is below train.min_steps ({train['min_steps']}); raise max_steps")
    if train["eval_max_steps"] < train["eval_min_steps"]:
        raise ScalelabError(f"{source}: train.eval_max_steps ({train['eval_max_steps']}) is below train.eval_min_steps "
                            f"({train['eval_min_steps']}); raise eval_max_steps")
    if train["patience_min_steps"] >= train["min_steps"]:
        raise ScalelabError(f"{source}: train.patience_min_steps ({train['patience_min_steps']}) is not below train.min_steps "
                            f"({train['min_steps']}): small shards could never stop early; lower it or raise min_steps")
    if train["warmup_steps"] and train["schedule"] != "cosine":
        raise ScalelabError(f"{source}: train.warmup_steps: only the cosine schedule warms up and train.schedule is "
                            f"{train['schedule']}; set warmup_steps: 0 or schedule: cosine")
    if train["warmup_steps"] >= train["min_steps"]:
        raise ScalelabError(f"{source}: train.warmup_steps ({train['warmup_steps']}) is not below train.min_steps "
                            f"({train['min_steps']}): a small shard's budget would end inside the warm-up; lower it")
    n_shards = len(params["shards"]["exponents"])
    if params["audit"]["shards"] > n_shards:
        raise ScalelabError(f"{source}: audit.shards: {params['audit']['shards']} exceeds the {n_shards} sizes in "
                            "shards.exponents; lower it")
    if n_shards < params["fit"]["min_points"]:
        raise ScalelabError(
            f"{source}: shards.exponents: {n_shards} shard sizes are too few to fit; "
            f"fit.min_points asks for at least {params['fit']['min_points']}: add exponents"
        )
    for family in params["models"]:
        n_configs = len(study.configs(params, family))
        if params["grid"]["sample"] is not None and params["grid"]["sample"] > n_configs:
            raise ScalelabError(
                f"{source}: grid.sample: {params['grid']['sample']} exceeds the {n_configs} configs of "
                f"models.{family}; lower it or set it to null for the full grid"
            )
    return params


def _check_data_suits_families(params: dict, source: str) -> None:
    """A trainer gets example indices, which only a manifest dataset gives; scalelab's own loop
    needs the examples themselves, which a manifest never loads."""
    on_disk = params["data"]["dataset"] == "manifest"
    for family in params["models"]:
        own = study.trainer_kind(params, family) is not None
        if own and not on_disk:
            raise ScalelabError(f"{source}: models.{family}: a trainer reads its own data, so the study needs "
                                f"data.dataset: manifest (a file of examples, or options: {{examples: N}}), not "
                                f"'{params['data']['dataset']}'; see docs/own-trainer.md")
        if on_disk and not own:
            raise ScalelabError(f"{source}: models.{family}: scalelab's own loop cannot train on data.dataset: manifest "
                                "(scalelab never loads those files); give the family trainer: or command:")


# Keys of the layout before stable splits (pool, validation and test were drawn together, so their
# size and seed decided every example): a study that still has them was measured on other data.
LEGACY_KEYS = (("data", "pool_size"), ("shards", "seed"))


def legacy_keys(params: dict) -> list[str]:
    return [f"{section}.{key}" for section, key in LEGACY_KEYS if isinstance(params.get(section), dict) and key in params[section]]


def _check_not_legacy(params: dict, source: str) -> None:
    """A study made before stable splits gets one line saying what changed and how to accept it,
    not a silent retraining of every trial on new examples."""
    found = legacy_keys(params)
    if found:
        raise ScalelabError(
            f"{source}: {' and '.join(found)}: this study was made before scalelab drew stable splits (the validation "
            f"and test sets and every shard no longer depend on how much data is drawn), so every trial would train "
            f"again on other examples; to accept, run `scalelab migrate` (it deletes those keys), then rerun the study")


def _check_pool_can_hold(params: dict, source: str, root: str | Path | None = None) -> None:
    """A built-in dataset of known size must hold the largest shard beside validation and test.
    The others are checked when the shard is drawn (shard.too_large): a plug-in is not imported
    here, and a dataset that holds data out its own way learns its size only by drawing."""
    if params["data"]["dataset"] not in registry.BUILTIN["dataset"]:
        return
    if params["data"]["dataset"] == "manifest":
        _check_manifest_can_hold(params, source, root)
        return
    module = registry.load("dataset", params["data"]["dataset"])
    available = getattr(module, "AVAILABLE", None)
    if available is None or hasattr(module, "make_splits"):
        return
    data = params["data"]
    pool = available - data["val_size"] - data["test_size"]
    _refuse_a_shard_too_large(params, source, pool, f"'{data['dataset']}' has: {available} in all, {pool} for the pool "
                              "after validation and test", "")


def _refuse_a_shard_too_large(params: dict, source: str, pool: int, has: str, more: str) -> None:
    """One line when the largest shard needs more examples than the pool holds, naming the
    exponent to drop (`has`: what the data holds; `more`: how else to fix it)."""
    from scalelab.steps.shard import largest_exponent

    base, k = params["shards"]["base"], max(params["shards"]["exponents"])
    if base**k > pool:
        fits = largest_exponent(base, pool)
        fix = f"drop exponents above {fits}" if fits is not None else "lower data.val_size and data.test_size"
        raise ScalelabError(f"{source}: shards.exponents: the largest shard ({base}^{k} = {base**k}) needs more examples than "
                            f"{has}; {fix}{more}")


def _check_manifest_can_hold(params: dict, source: str, root: str | Path | None = None) -> None:
    """The manifest dataset reads its file once here, through the split it draws by, so a missing
    file, a missing column or too few rows for the largest shard stops the study before any job.
    A relative path is the study's (`root`, default the working directory, where every job runs)."""
    from scalelab.datasets import manifest
    from scalelab.steps import prepare

    data = params["data"]
    options = data.get("options") or {}
    prepare.check_options(manifest.make_splits, "manifest", options)
    if root is not None and options.get("path") is not None:
        options = {**options, "path": str(Path(root) / options["path"])}  # an absolute path stays itself
    pool, where = manifest.pool_side(options, data["val_size"], data["test_size"], data["seed"])
    _refuse_a_shard_too_large(params, source, pool, f"{where} holds for the pool ({pool} after validation and test)", " or add rows")


def load(path: str | Path = "params.yaml", root: str | Path | None = None, check_data: bool = True) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScalelabError(f"{path}: not found; run from the study directory or pass --params PATH") from None
    try:
        params = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScalelabError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the indentation or quoting") from None
    return validate(params, str(path), root, check_data)
