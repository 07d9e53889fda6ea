"""Step `prepare`: make the dataset once and split it into pool, validation and test sets.

Writes data/pool/{pool,val,test}_{x,y}.npy and data/pool.json (sizes, classes, checksum).
The three sets are disjoint by construction: one seeded permutation, cut in three.
"""

from __future__ import annotations

import hashlib

import numpy as np

from . import io, registry
from .errors import ScalelabError
from .pool import SPLITS, split_paths


def checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def make_splits(data_cfg: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Pure: generate, permute and cut. Returns the arrays and their description."""
    module = registry.load("dataset", data_cfg["dataset"])
    sizes = {"pool": data_cfg["pool_size"], "val": data_cfg["val_size"], "test": data_cfg["test_size"]}
    total = sum(sizes.values())
    if module.AVAILABLE is not None and total > module.AVAILABLE:
        raise ScalelabError(
            f"params.yaml: data.pool_size: pool + val + test = {total} exceeds the {module.AVAILABLE} "
            f"examples of '{data_cfg['dataset']}'; lower data.pool_size (or val_size, test_size)"
        )
    x, y = module.make(total, data_cfg["seed"])
    order = np.random.default_rng(data_cfg["seed"]).permutation(total)
    arrays, start = {}, 0
    for split in SPLITS:
        idx = order[start:start + sizes[split]]
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x[idx], y[idx]
        start += sizes[split]
    info = {
        "dataset": data_cfg["dataset"],
        "n_classes": int(module.N_CLASSES),
        "input_shape": list(x.shape[1:]),
        "sizes": sizes,
        "sha256": checksum(arrays),
    }
    return arrays, info


def run(params: dict, pool_dir: str, info_path: str) -> dict:
    arrays, info = make_splits(params["data"])
    for name, path in split_paths(pool_dir).items():
        with io.atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, arrays[name])
    io.write_json(info_path, info)  # last: its presence means the pool is complete
    return info
