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


def trial_name(width: int, lr: float, seed: int) -> str:
    # str(lr) matches how DVC renders a float, so both engines agree on paths.
    return f"w{width}-lr{lr}-s{seed}"


def families(params: dict) -> list[str]:
    """The model families to compare, in params.yaml's order; the first is the study's primary one."""
    return list(params["models"])


def family_module(params: dict, family: str) -> str:
    """What to import for a family: its `module:` if given, else its name (a built-in)."""
    return params["models"][family].get("module", family)


def trials_for_shard(params: dict, k: int, family: str) -> list[dict]:
    """The trials of one family on shard k: its full (width, lr) grid, or a seeded sample of it,
    each with every seed (selection needs the median over seeds)."""
    import random

    grid = params["models"][family]
    configs = [(w, lr) for w in grid["width"] for lr in grid["lr"]]
    sample = params["grid"]["sample"]
    if sample is not None:
        rng = random.Random(f"{params['grid']['sample_seed']}-{k}-{family}")  # a string seed is hashed stably
        configs = sorted(rng.sample(configs, sample), key=configs.index)
    return [
        {"family": family, "width": w, "lr": lr, "seed": s, "name": trial_name(w, lr, s)}
        for (w, lr) in configs
        for s in params["grid"]["seed"]
    ]


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
