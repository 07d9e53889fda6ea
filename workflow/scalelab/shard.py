"""Step `shard`: the training indices of one shard size.

Shards are nested: shard m is the first m entries of one seeded permutation of the pool, so a
larger shard contains every smaller one and adding a size never changes an existing shard.
Indices point into the pool only, so no shard can overlap the validation or test set.
"""

from __future__ import annotations

import numpy as np

from . import io
from .errors import ScalelabError


def shard_indices(pool_size: int, size: int, seed: int) -> np.ndarray:
    """Pure: the first `size` entries of the pool permutation for `seed`."""
    if size > pool_size:
        raise ScalelabError(f"params.yaml: shards.exponents: shard of {size} exceeds data.pool_size ({pool_size}); raise pool_size")
    return np.random.default_rng(seed).permutation(pool_size)[:size].astype(np.int64)


def run(params: dict, info_path: str, k: int, out: str) -> np.ndarray:
    pool_size = io.read_json(info_path)["sizes"]["pool"]
    idx = shard_indices(pool_size, params["shards"]["base"] ** k, params["shards"]["seed"])
    with io.atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, idx)
    return idx
