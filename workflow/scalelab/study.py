"""Names derived from params.yaml, one definition for Snakemake, DVC and the steps: shard sizes,
the model families, the trials each family runs on each shard (with their folders), and what the
convergence audit re-trains.

Kept apart from config.py (which loads and validates) because the steps that train and select
run these functions: editing them reruns those steps, editing a validation message should not.
"""

from __future__ import annotations

import math


def shard_name(k: int) -> str:
    """Shard id used in paths, from its exponent (DVC can iterate exponents, not compute sizes)."""
    return f"k{k}"


# The train keys that set a run's patience and step budget: what the audit multiplies, and all a
# longer run may change to still follow the original step for step (stopping.continuable).
PATIENCE_AND_BUDGET = ("patience_epochs", "patience_min_steps", "epochs", "min_steps", "max_steps")


def audited_exponents(params: dict) -> list[int]:
    """The shards the convergence audit re-trains: the `audit.shards` largest."""
    n = params.get("audit", {}).get("shards", 0)
    return sorted(params["shards"]["exponents"])[-n:] if n else []


def shard_sizes(params: dict) -> dict[str, int]:
    """{shard name: size}, smallest first."""
    base = params["shards"]["base"]
    return {shard_name(k): base**k for k in sorted(params["shards"]["exponents"])}


# A family's keys that are not grid lists: how it trains and what its code is (config.py checks them).
FAMILY_SETTINGS = ("module", "trainer", "command", "code", "size", "patience")
# Short names in trial folders for the built-in grid (w32-lr0.01-s0, as every study before had).
SHORT = {"width": "w"}


def trial_name(config: dict, seed: int) -> str:
    """A trial's folder name from its configuration and seed: w32-lr0.01-s0, or for a trainer's own
    grid every key in params.yaml's order (w32-depth3-lr0.003-s0). str(value) matches how DVC
    renders a float, so both engines agree on paths."""
    return "-".join([*(f"{SHORT.get(key, key)}{value}" for key, value in config.items()), f"s{seed}"])


def families(params: dict) -> list[str]:
    """The model families to compare, in params.yaml's order; the first is the study's primary one."""
    return list(params["models"])


def trainer_kind(params: dict, family: str) -> str | None:
    """How a family trains: "trainer" (the user's Python function), "command" (the user's program),
    or None (scalelab's own loop on a model module)."""
    spec = params["models"][family]
    return next((kind for kind in ("trainer", "command") if kind in spec), None)


def family_module(params: dict, family: str) -> str | None:
    """What a train job imports for a family: its model `module:` (else its built-in name), or its
    trainer function's module (mypkg.train of mypkg.train:run); None for a command."""
    spec = params["models"][family]
    kind = trainer_kind(params, family)
    if kind == "command":
        return None
    if kind == "trainer":
        return spec["trainer"].partition(":")[0]
    return spec.get("module", family)


def grid_keys(params: dict, family: str) -> list[str]:
    """The family's hyperparameters, each a list in params.yaml: width and lr for scalelab's own
    loop, any of the trainer's own names (depth, weight_decay, ...) for a trainer, in file order."""
    if trainer_kind(params, family) is None:
        return ["width", "lr"]
    return [key for key in params["models"][family] if key not in FAMILY_SETTINGS]


def size_key(params: dict, family: str) -> str:
    """The grid key that sizes the model (models.<family>.size, default width): the size law and
    the "which model" answer are in its values; trials.csv shows it as `width`."""
    return params["models"][family].get("size", "width")


def configs(params: dict, family: str) -> list[dict]:
    """Every configuration of the family's grid (the product of its lists, the first key varying slowest)."""
    import itertools

    keys = grid_keys(params, family)
    return [dict(zip(keys, values)) for values in itertools.product(*(params["models"][family][key] for key in keys))]


def table_columns(params: dict, family: str, config: dict) -> dict:
    """A configuration as trials.csv holds it: `width` (the size knob's value), `lr` (None if the
    grid has none) and every other key as hp_<key>."""
    knob = size_key(params, family)
    return {"width": config.get(knob), "lr": config.get("lr"),
            **{f"hp_{key}": value for key, value in config.items() if key not in (knob, "lr")}}


def trials_for_shard(params: dict, k: int, family: str) -> list[dict]:
    """The trials of one family on shard k: its full grid, or a seeded sample of its configurations,
    each with every seed (selection needs the median over seeds)."""
    import random

    grid = configs(params, family)
    sample = params["grid"]["sample"]
    if sample is not None:
        rng = random.Random(f"{params['grid']['sample_seed']}-{k}-{family}")  # a string seed is hashed stably
        grid = sorted(rng.sample(grid, sample), key=grid.index)
    return [
        {"family": family, "config": config, **table_columns(params, family, config), "seed": s,
         "name": trial_name(config, s)}
        for config in grid
        for s in params["grid"]["seed"]
    ]


def grid_columns(columns) -> list[str]:
    """Of a table's columns, those that tell one configuration from another: width (the size
    knob's value), lr, and a trainer's other grid keys (hp_<key>, table_columns)."""
    return ["width", "lr", *sorted(c for c in columns if c.startswith("hp_"))]


def comparable(frame, columns: list[str]):
    """A table with NaN in `columns` (a grid key its family lacks) as "": NaN never equals itself,
    so a row's configuration could not be looked up by its values."""
    return frame.fillna({c: "" for c in columns if c in frame.columns})


def config_of_row(params: dict, family: str, row: dict) -> dict:
    """The grid configuration a table row (best.csv, read as text) stands for."""
    for config in configs(params, family):
        if all(_same(row.get(column), value) for column, value in table_columns(params, family, config).items()):
            return config
    raise KeyError(f"no configuration of models.{family} matches {row}")


def _same(cell, value) -> bool:
    if value is None:
        return cell in (None, "") or (isinstance(cell, float) and math.isnan(cell))
    try:
        return float(cell) == float(value)
    except (TypeError, ValueError):
        return str(cell) == str(value)


def all_trials(params: dict) -> list[dict]:
    """Every trial of the study, with its shard exponent `k` and folder `dir` under the trials folder."""
    return [
        {**t, "k": k, "dir": f"{shard_name(k)}/{family}/{t['name']}"}
        for k in sorted(params["shards"]["exponents"])
        for family in families(params)
        for t in trials_for_shard(params, k, family)
    ]


def bits(nats):
    """A loss (a number or a column) in bits: what every *_bits metric is, here and in select's tables."""
    return nats / math.log(2)


def metric_value(metrics: dict, name: str) -> float | None:
    """A trial's value of fit.metric; *_bits are the losses in bits."""
    if name.endswith("_bits"):
        loss = metrics.get(name[:-len("_bits")] + "_loss")
        return None if loss is None else bits(loss)
    return metrics.get(name)
