"""The prepared data on disk, in a layout that lets a study grow in place:

    data/heldout/{val,test}_{x,y}.npy   validation and test, written once by `prepare`
    data/pool.json                      what the dataset is (unit, classes, shapes, checksums)
    data/shards/k<k>/{x,y}.npy          one shard's own examples, written by `shard`
    data/shards/k<k>/shard.json         its size, checksum and what the dataset says of it

Nothing here depends on how large the study is: the held-out sets are fixed by the dataset and
data.seed, and shard k holds the first m examples of the pool whatever larger shards exist, so
adding a shard writes one new folder and touches no file an earlier job read. Plain .npy (unlike
.npz) has no timestamps, so the same data is the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from scalelab import io
from scalelab.errors import ScalelabError

HELDOUT_SETS = ("val", "test")  # what prepare stores: validation (selection, stopping) and test (the curve)
LAYOUT = 2  # pool.json's layout: 2 = stable splits (held-out sets fixed, shards are prefixes of one pool)
SHARD_INFO = "shard.json"
# What the layout before stable splits left in data/: the pool drawn with validation and test, and
# each shard as indices into it. Their presence means the trials beside them were measured on
# other examples than this version draws.
OLD_LAYOUT = ("pool/pool_x.npy", "pool/pool_y.npy", "pool/val_x.npy", "pool/val_y.npy", "pool/test_x.npy", "pool/test_y.npy")
OLD_SHARDS = "shards/k*.npy"
RERUN_PREPARE = "rerun prepare (snakemake --forcerun prepare, or dvc repro -f prepare)"
RERUN_SHARD = "rerun its shard step (snakemake --forcerun shard, or dvc repro -f shard)"


def heldout_paths(heldout_dir: str | Path) -> dict[str, Path]:
    heldout_dir = Path(heldout_dir)
    return {f"{s}_{a}": heldout_dir / f"{s}_{a}.npy" for s in HELDOUT_SETS for a in ("x", "y")}


def shard_paths(shard_dir: str | Path) -> dict[str, Path]:
    shard_dir = Path(shard_dir)
    return {"x": shard_dir / "x.npy", "y": shard_dir / "y.npy", "info": shard_dir / SHARD_INFO}


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the arrays with their names, dtypes and shapes (pool.json and shard.json record it)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def save_arrays(paths: dict[str, Path], arrays: dict[str, np.ndarray]) -> None:
    """Each array to its own .npy, atomically (a killed job leaves no half-written file)."""
    for name, array in arrays.items():
        with io.atomic_path(paths[name]) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, array)


def _load(paths: dict[str, Path], names, where: str, expected: str | None, record: str, fix: str) -> dict[str, np.ndarray]:
    try:
        arrays = {name: np.load(paths[name]) for name in names}
    except (OSError, ValueError) as exc:
        raise ScalelabError(f"{where}: unreadable ({exc}); {fix}") from None
    if expected is not None and checksum(arrays) != expected:
        raise ScalelabError(f"{where}: the files no longer match the checksum in {record}; {fix}")
    return arrays


def load_heldout(heldout_dir: str | Path, info: dict, info_path: str | Path) -> dict[str, np.ndarray]:
    """Validation and test, checked against the checksum prepare wrote in pool.json: a set edited
    or half-replaced since is an error before any training, not a silently different study."""
    paths = heldout_paths(heldout_dir)
    return _load(paths, paths, str(heldout_dir), info.get("sha256"), str(info_path), RERUN_PREPARE)


def load_shard(shard_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One shard's examples (x, y), checked against its shard.json."""
    paths = shard_paths(shard_dir)
    record = io.read_json(paths["info"])
    arrays = _load(paths, ("x", "y"), str(shard_dir), record["sha256"], str(paths["info"]), RERUN_SHARD)
    return arrays["x"], arrays["y"]


def old_layout(data_dir: str | Path) -> list[Path]:
    """The files of the layout before stable splits still in `data_dir` (see OLD_LAYOUT)."""
    data_dir = Path(data_dir)
    return [p for p in (*(data_dir / f for f in OLD_LAYOUT), *sorted(data_dir.glob(OLD_SHARDS))) if p.is_file()]
