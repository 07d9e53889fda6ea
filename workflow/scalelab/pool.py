"""The prepared data on disk: data/pool/{pool,val,test}_{x,y}.npy, one .npy per array
(plain .npy, unlike .npz, has no timestamps, so the same data is the same bytes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .errors import ScalelabError

STORED_SETS = ("pool", "val", "test")  # what prepare stores: the pool shards are cut from, validation, test
RERUN_PREPARE = "rerun prepare (snakemake --forcerun prepare, or dvc repro -f prepare)"


def split_paths(pool_dir: str | Path) -> dict[str, Path]:
    pool_dir = Path(pool_dir)
    return {f"{s}_{a}": pool_dir / f"{s}_{a}.npy" for s in STORED_SETS for a in ("x", "y")}


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the arrays with their names, dtypes and shapes (prepare records it in pool.json)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def load_verified(pool_dir: str | Path, info: dict, info_path: str | Path) -> dict[str, np.ndarray]:
    """Every split's arrays, checked against the checksum prepare wrote in pool.json: a pool edited
    or half-replaced since is an error before any training, not a silently different study."""
    try:
        arrays = {name: np.load(path) for name, path in split_paths(pool_dir).items()}
    except (OSError, ValueError) as exc:
        raise ScalelabError(f"{pool_dir}: unreadable pool ({exc}); {RERUN_PREPARE}") from None
    if "sha256" in info and checksum(arrays) != info["sha256"]:
        raise ScalelabError(f"{pool_dir}: the pool's files no longer match the checksum in {info_path}; {RERUN_PREPARE}")
    return arrays
