"""Step `prepare`: fix the validation and test sets, and describe the dataset.

Writes data/heldout/{val,test}_{x,y}.npy and data/pool.json (unit, classes, shapes, checksums).
Neither depends on how much training data the study draws: growing the study (a larger shard)
never reruns this step, so every trial measured before stays comparable.

How a dataset is cut (datasets/__init__.py has the contract):
- a plain dataset (`make`) is one seeded sequence, prefix-stable: validation is its first
  val_size examples, test the next test_size, and the pool everything after, in order;
- a dataset that holds data out its own way (text by file, CIFAR-10's test batch) returns the
  three sets itself from `make_splits`, with held-out sets that do not depend on the pool's size.
The `shard` step draws the pool through the same function (`draw`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np

from scalelab import io, registry
from scalelab.datasets import PoolTooSmall
from scalelab.errors import ScalelabError
from scalelab.pool import (
    HELDOUT_SETS,
    LAYOUT,
    checksum,
    heldout_paths,
    old_layout,
    save_arrays,
)

POOL_KEYS = ("dataset", "options", "seed", "val_size", "test_size")  # the data keys that decide the pool


def draw(data_cfg: dict, pool_units: int) -> dict:
    """Pure: the held-out sets and the pool's first `pool_units` units (examples; characters or
    words for text). Returns {"val": (x, y), "test": (x, y), "pool": (x, y), "n_classes",
    "tokens_per_example", "info", "pool_info"}."""
    module = registry.load("dataset", data_cfg["dataset"])
    options = data_cfg.get("options") or {}
    sizes = {"pool": pool_units, "val": data_cfg["val_size"], "test": data_cfg["test_size"]}
    own = hasattr(module, "make_splits")
    check_options(module.make_splits if own else module.make, data_cfg["dataset"], options)
    if own:
        made = module.make_splits(sizes, data_cfg["seed"], **options)
        return {"pool_info": {}, **made}
    held = sizes["val"] + sizes["test"]
    available = module.AVAILABLE
    if available is not None and held > available:
        raise ScalelabError(f"params.yaml: data.val_size: val + test = {held} exceeds the {available} examples of "
                            f"'{data_cfg['dataset']}'; lower data.val_size or data.test_size")
    if available is not None and held + pool_units > available:
        raise PoolTooSmall(available - held, "examples")
    x, y = module.make(held + pool_units, data_cfg["seed"], **options)
    cuts = {"val": (0, sizes["val"]), "test": (sizes["val"], held), "pool": (held, held + pool_units)}
    return {**{s: (x[a:b], y[a:b]) for s, (a, b) in cuts.items()}, "n_classes": int(module.N_CLASSES),
            "tokens_per_example": 1, "info": {}, "pool_info": {}}


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


def heldout_arrays(made: dict) -> dict[str, np.ndarray]:
    return {f"{s}_{a}": made[s][i] for s in HELDOUT_SETS for i, a in enumerate(("x", "y"))}


def pool_id(data_cfg: dict, heldout_sha: str) -> str:
    """Which pool a result was measured on: the data keys that decide it and the held-out bytes.
    The forecast ledger compares it, so a forecast is only ever checked on its own pool."""
    keys = {k: data_cfg.get(k) for k in POOL_KEYS}
    return hashlib.sha256(json.dumps([keys, heldout_sha, LAYOUT], sort_keys=True).encode()).hexdigest()[:16]


def describe(data_cfg: dict, module, made: dict) -> dict:
    """pool.json: what later steps need to know about the data. Sizes are in the dataset's unit
    (examples; characters or words for text), and an example holds `tokens_per_example` of them."""
    arrays = heldout_arrays(made)
    sha = checksum(arrays)
    available = getattr(module, "AVAILABLE", None)
    held = data_cfg["val_size"] + data_cfg["test_size"]
    return {
        "layout": LAYOUT,
        "dataset": data_cfg["dataset"],
        "unit": getattr(module, "UNIT", "examples"),
        "loss_per": getattr(module, "LOSS_PER", "example"),
        "n_classes": int(made["n_classes"]),
        "input_shape": list(made["val"][0].shape[1:]),
        "tokens_per_example": int(made["tokens_per_example"]),
        "sizes": {"val": data_cfg["val_size"], "test": data_cfg["test_size"]},
        "examples": {split: int(len(made[split][1])) for split in HELDOUT_SETS},
        # examples the pool can supply (plain finite datasets); null: unbounded, or known only on drawing
        "pool_available": None if available is None or hasattr(module, "make_splits") else int(available - held),
        "sha256": sha,
        "pool_id": pool_id(data_cfg, sha),
        "dataset_info": made.get("info", {}),
    }


def run(params: dict, heldout_dir: str, info_path: str) -> dict:
    # A study made before stable splits (its data/ restored by git, DVC or a copy): say so before
    # every trial silently trains again on other examples. Both engines delete pool.json before
    # this step runs, so the old layout's own files are what tell.
    data_dir = Path(heldout_dir).parent
    if old_layout(data_dir):
        raise ScalelabError(f"{data_dir}/pool: made before scalelab drew stable splits (the validation and test sets "
                            f"and every shard no longer depend on how much data is drawn), so every trial would train "
                            f"again on other examples; to accept, run `scalelab migrate` (it deletes the old layout's "
                            f"files), then rerun the study")
    made = draw(params["data"], 0)
    info = describe(params["data"], registry.load("dataset", params["data"]["dataset"]), made)
    save_arrays(heldout_paths(heldout_dir), heldout_arrays(made))
    io.write_json(info_path, info)  # last: its presence means the held-out sets are complete
    return info
