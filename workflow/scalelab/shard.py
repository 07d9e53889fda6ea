"""Step `shard`: the training indices of one shard size.

Shards are nested: shard m is the first m entries of one seeded permutation of the pool, so a
larger shard contains every smaller one and adding a size never changes an existing shard.
Indices point into the pool only, so no shard can overlap the validation or test set. Sizes count
the dataset's unit: a text shard of m characters is m / context examples of `context` characters.
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


def examples_in(size: int, info: dict) -> int:
    """A shard of `size` units (examples; characters or words for text) holds this many examples."""
    tokens = info.get("tokens_per_example", 1)
    if size % tokens:
        raise ScalelabError(
            f"params.yaml: shards.exponents: shard {size} ({info['unit']}) is not a whole number of examples of "
            f"{tokens} {info['unit']}; use exponents k with base**k a multiple of {tokens}, or a smaller data.options.context"
        )
    return size // tokens


def run(params: dict, info_path: str, k: int, out: str) -> np.ndarray:
    info = io.read_json(info_path)
    n = examples_in(params["shards"]["base"] ** k, info)
    idx = shard_indices(info["examples"]["pool"], n, params["shards"]["seed"])
    with io.atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, idx)
    return idx
