"""`scalelab check`: validate params.yaml and say what the study will run."""

from __future__ import annotations

from . import config


def describe(params: dict) -> str:
    sizes = config.shard_sizes(params)
    per_shard = {name: len(config.trials_for_shard(params, k)) for name, k in zip(sizes, sorted(params["shards"]["exponents"]))}
    lines = [
        f"dataset {params['data']['dataset']}: pool {params['data']['pool_size']}, "
        f"validation {params['data']['val_size']}, test {params['data']['test_size']}",
        f"model family {params['model']['family']}, widths {params['grid']['width']}, "
        f"learning rates {params['grid']['lr']}, seeds {params['grid']['seed']}",
        "shards: " + ", ".join(f"{name}={size}" for name, size in sizes.items()),
        f"trials: {sum(per_shard.values())} ({', '.join(str(n) for n in per_shard.values())} per shard)",
    ]
    if params["grid"]["sample"] is not None:
        lines.append("grid.sample is set: run this study with snakemake (dvc repro trains the full grid and refuses it)")
    return "\n".join(lines)


def run(params: dict, path: str = "params.yaml") -> None:
    print(f"{path} is valid")
    print(describe(params))
