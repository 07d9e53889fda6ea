"""Step `prepare`: make the dataset once and split it into pool, validation and test sets.

Writes data/pool/{pool,val,test}_{x,y}.npy and data/pool.json (sizes, classes, unit, checksum).
A plain dataset (`make`) is cut in three by one seeded permutation, so the sets are disjoint by
construction. A dataset that must hold data out its own way (text by file, CIFAR-10's own test
batch) defines `make_splits` and returns the three sets itself.
"""

from __future__ import annotations

import inspect

import numpy as np

from . import io, registry
from .errors import ScalelabError
from .pool import STORED_SETS, checksum, split_paths


def make_splits(data_cfg: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Pure: generate, permute and cut (or let the dataset split). Returns the arrays and their
    description."""
    module = registry.load("dataset", data_cfg["dataset"])
    sizes = {"pool": data_cfg["pool_size"], "val": data_cfg["val_size"], "test": data_cfg["test_size"]}
    options = data_cfg.get("options") or {}
    own = hasattr(module, "make_splits")
    check_options(module.make_splits if own else module.make, data_cfg["dataset"], options)
    if own:
        return _own_splits(module, data_cfg, sizes, options)
    total = sum(sizes.values())
    if module.AVAILABLE is not None and total > module.AVAILABLE:
        raise ScalelabError(
            f"params.yaml: data.pool_size: pool + val + test = {total} exceeds the {module.AVAILABLE} "
            f"examples of '{data_cfg['dataset']}'; lower data.pool_size (or val_size, test_size)"
        )
    x, y = module.make(total, data_cfg["seed"], **options)
    order = np.random.default_rng(data_cfg["seed"]).permutation(total)
    arrays, start = {}, 0
    for split in STORED_SETS:
        idx = order[start:start + sizes[split]]
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x[idx], y[idx]
        start += sizes[split]
    return arrays, describe(data_cfg, module, arrays, sizes, int(module.N_CLASSES), 1, {})


def check_options(make, dataset: str, options: dict) -> None:
    """A one-line error for a data.options key the dataset does not take (a typo would otherwise
    be a TypeError deep in the call)."""
    parameters = inspect.signature(make).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    known = list(parameters)[2:]  # after (n or sizes, seed)
    for key in options:
        if key not in known:
            hint = f"use one of {', '.join(sorted(known))}" if known else "it takes none: leave data.options empty"
            raise ScalelabError(f"params.yaml: data.options.{key}: dataset '{dataset}' has no option '{key}'; {hint}")


def _own_splits(module, data_cfg: dict, sizes: dict, options: dict) -> tuple[dict[str, np.ndarray], dict]:
    made = module.make_splits(sizes, data_cfg["seed"], **options)
    arrays = {}
    for split in STORED_SETS:
        arrays[f"{split}_x"], arrays[f"{split}_y"] = made[split]
    return arrays, describe(data_cfg, module, arrays, sizes, int(made["n_classes"]),
                            int(made["tokens_per_example"]), made.get("info", {}))


def describe(data_cfg: dict, module, arrays: dict, sizes: dict, n_classes: int, tokens: int, extra: dict) -> dict:
    """pool.json: what later steps need to know about the data. Sizes are in the dataset's unit
    (examples; characters or words for text), and an example holds `tokens_per_example` of them."""
    return {
        "dataset": data_cfg["dataset"],
        "unit": getattr(module, "UNIT", "examples"),
        "loss_per": getattr(module, "LOSS_PER", "example"),
        "n_classes": n_classes,
        "input_shape": list(arrays["pool_x"].shape[1:]),
        "tokens_per_example": tokens,
        "sizes": sizes,
        "examples": {split: int(len(arrays[f"{split}_y"])) for split in STORED_SETS},
        "sha256": checksum(arrays),
        "dataset_info": extra,
    }


def run(params: dict, pool_dir: str, info_path: str) -> dict:
    arrays, info = make_splits(params["data"])
    for name, path in split_paths(pool_dir).items():
        with io.atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, arrays[name])
    io.write_json(info_path, info)  # last: its presence means the pool is complete
    return info
