"""`scalelab check`: validate params.yaml and say what the study will run."""

from __future__ import annotations

from scalelab import study


def describe(params: dict) -> str:
    sizes = study.shard_sizes(params)
    trials = study.all_trials(params)
    per_shard = [sum(t["k"] == k for t in trials) for k in sorted(params["shards"]["exponents"])]
    lines = [
        f"dataset {params['data']['dataset']}: validation {params['data']['val_size']}, test {params['data']['test_size']}, "
        f"a pool as large as the largest shard ({max(sizes.values())})",
        *(f"model family {family} ({_how(params, family)}): "
          + ", ".join(f"{key} {grid[key]}" for key in study.grid_keys(params, family))
          for family, grid in params["models"].items()),
        f"seeds {params['grid']['seed']}" + (f", {params['grid']['sample']} sampled configs per shard and family"
                                             if params["grid"]["sample"] is not None else ""),
        "shards: " + ", ".join(f"{name}={size}" for name, size in sizes.items()),
        f"trials: {len(trials)} ({', '.join(str(n) for n in per_shard)} per shard)",
    ]
    return "\n".join(lines)


def _how(params: dict, family: str) -> str:
    kind = study.trainer_kind(params, family)
    return {None: study.family_module(params, family), "trainer": f"trainer {params['models'][family].get('trainer')}",
            "command": "command"}[kind]


def run(params: dict, path: str = "params.yaml") -> None:
    print(f"{path} is valid")
    print(describe(params))
