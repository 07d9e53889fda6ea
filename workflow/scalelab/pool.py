"""The prepared data on disk: data/pool/{pool,val,test}_{x,y}.npy, one .npy per array
(plain .npy, unlike .npz, has no timestamps, so the same data is the same bytes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPLITS = ("pool", "val", "test")


def split_paths(pool_dir: str | Path) -> dict[str, Path]:
    pool_dir = Path(pool_dir)
    return {f"{s}_{a}": pool_dir / f"{s}_{a}.npy" for s in SPLITS for a in ("x", "y")}


def load_split(pool_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    paths = split_paths(pool_dir)
    return np.load(paths[f"{split}_x"]), np.load(paths[f"{split}_y"])
