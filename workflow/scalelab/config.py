"""Load params.yaml and check it, so a mistake is one line naming the key and the fix.

Every step loads the whole file through `load()` but reads only its own sections; the schema
(workflow/schemas/params.schema.yaml) holds the types, this module the checks across keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import registry
from .errors import ScalelabError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "params.schema.yaml"


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
        node = node.get("items", {}) if isinstance(part, int) else node.get("properties", {}).get(part, {})
        fix = node.get("description", fix)
    fix = fix or "see the comments in params.yaml"
    return f"{source}: {key}: {error.instance!r} is not valid; expected {fix}"


def validate(params: Any, source: str = "params.yaml") -> dict:
    """Check types with the schema, then the rules that span keys. Returns params unchanged."""
    import jsonschema

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    if not isinstance(params, dict):
        raise ScalelabError(f"{source}: expected a mapping of sections (data, shards, ...), got {type(params).__name__}")
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ScalelabError(_schema_error_message(errors[0], schema, source))

    registry.check("dataset", params["data"]["dataset"])
    registry.check("model", params["model"]["family"])

    largest = max(shard_sizes(params).values())
    if largest > params["data"]["pool_size"]:
        raise ScalelabError(
            f"{source}: shards.exponents: the largest shard ({params['shards']['base']}^"
            f"{max(params['shards']['exponents'])} = {largest}) is larger than data.pool_size "
            f"({params['data']['pool_size']}); raise data.pool_size or drop that exponent"
        )
    train = params["train"]
    if train["precision"] == "bf16" and train["device"] == "cpu":
        raise ScalelabError(f"{source}: train.precision: bf16 runs on CUDA GPUs only and train.device is cpu; "
                            "set train.precision: fp32 or train.device: auto")
    if train["max_steps"] < train["min_steps"]:
        raise ScalelabError(f"{source}: train.max_steps ({train['max_steps']}) is below train.min_steps ({train['min_steps']}); raise max_steps")
    n_shards = len(params["shards"]["exponents"])
    if n_shards < params["fit"]["min_points"]:
        raise ScalelabError(
            f"{source}: shards.exponents: {n_shards} shard sizes are too few to fit; "
            f"fit.min_points asks for at least {params['fit']['min_points']}: add exponents"
        )
    n_configs = len(params["grid"]["width"]) * len(params["grid"]["lr"])
    if params["grid"]["sample"] is not None and params["grid"]["sample"] > n_configs:
        raise ScalelabError(
            f"{source}: grid.sample: {params['grid']['sample']} exceeds the {n_configs} (width, lr) configs of the grid; "
            "lower it or set it to null for the full grid"
        )
    return params


def load(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScalelabError(f"{path}: not found; run from the study directory or pass --params PATH") from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScalelabError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the indentation or quoting") from None
    return validate(params, str(path))


# --- names derived from params: one definition for Snakemake, DVC and the steps -------------

def shard_name(k: int) -> str:
    """Shard id used in paths, from its exponent (DVC can iterate exponents, not compute sizes)."""
    return f"k{k}"


def shard_sizes(params: dict) -> dict[str, int]:
    """{shard name: size}, smallest first."""
    base = params["shards"]["base"]
    return {shard_name(k): base**k for k in sorted(params["shards"]["exponents"])}


def trial_name(width: int, lr: float, seed: int) -> str:
    # str(lr) matches how DVC renders ${item.lr}, so both engines agree on paths.
    return f"w{width}-lr{lr}-s{seed}"


def require_full_grid(params: dict, source: str = "params.yaml") -> None:
    """DVC's matrix trains every (width, lr, seed) of the grid; a seeded sample of it per shard
    cannot be written as a matrix, so an engine running the full grid refuses grid.sample."""
    if params["grid"]["sample"] is not None:
        raise ScalelabError(
            f"{source}: grid.sample: {params['grid']['sample']} is not supported by dvc repro, whose matrix trains "
            "the full grid; set grid.sample: null, or run the sampled study with snakemake"
        )


def trials_for_shard(params: dict, k: int) -> list[dict]:
    """The trials of shard k: the full grid, or a seeded sample of its (width, lr) configs,
    each with every seed (selection needs the median over seeds)."""
    import random

    grid = params["grid"]
    configs = [(w, lr) for w in grid["width"] for lr in grid["lr"]]
    if grid["sample"] is not None:
        rng = random.Random(f"{grid['sample_seed']}-{k}")  # a string seed is hashed stably
        configs = sorted(rng.sample(configs, grid["sample"]), key=configs.index)
    return [
        {"width": w, "lr": lr, "seed": s, "name": trial_name(w, lr, s)}
        for (w, lr) in configs
        for s in grid["seed"]
    ]
