"""Step `shard`: the training examples of one shard size.

Shard k holds the first m = base**k units of the pool (examples; characters or words for text),
drawn by the same function as the held-out sets (prepare.draw). The pool is one fixed, seeded
order, so shards are nested and stable: a larger shard contains every smaller one, and shard k
holds the same bytes whatever other shards the study has. Adding a size writes one new folder;
every existing shard, and every trial trained on it, stays as it was. The pool never overlaps
the validation or test set, and the held-out sets drawn here are checked against the ones
prepare wrote, so a dataset that breaks the prefix contract is caught before any training.
"""

from __future__ import annotations

from scalelab import io
from scalelab.datasets import PoolTooSmall
from scalelab.errors import ScalelabError
from scalelab.pool import checksum, save_arrays, shard_paths
from scalelab.steps import prepare


def examples_in(size: int, info: dict) -> int:
    """A shard of `size` units (examples; characters or words for text) holds this many examples."""
    tokens = info.get("tokens_per_example", 1)
    if size % tokens:
        raise ScalelabError(
            f"params.yaml: shards.exponents: shard {size} ({info['unit']}) is not a whole number of examples of "
            f"{tokens} {info['unit']}; use exponents k with base**k a multiple of {tokens}, or a smaller data.options.context"
        )
    return size // tokens


def largest_exponent(base: int, available: int) -> int | None:
    """The largest k with base**k <= available units (None when not even one unit is available)."""
    if available < 1:
        return None
    k = 0
    while base ** (k + 1) <= available:
        k += 1
    return k


def too_large(k: int, base: int, size: int, available: int, unit: str, dataset: str) -> ScalelabError:
    """The one-line error for a shard the dataset cannot fill: it names how much exists."""
    largest = largest_exponent(base, available)
    fix = f"drop exponents above {largest}" if largest is not None else "use a larger dataset"
    return ScalelabError(f"params.yaml: shards.exponents: shard k={k} needs {size:,} {unit}, but the pool of "
                         f"'{dataset}' holds only {available:,} after validation and test; {fix}")


def run(params: dict, info_path: str, k: int, out_dir: str) -> dict:
    info = io.read_json(info_path)
    base = params["shards"]["base"]
    size = base**k
    n = examples_in(size, info)
    try:
        made = prepare.draw(params["data"], size)
    except PoolTooSmall as short:
        raise too_large(k, base, size, short.available, short.unit, info["dataset"]) from None
    if checksum(prepare.heldout_arrays(made)) != info["sha256"]:
        raise ScalelabError(f"data.dataset: '{info['dataset']}' gave other validation or test examples when asked for a "
                            f"pool of {size:,} than when {info_path} was written: it is not prefix-stable "
                            f"(datasets/__init__.py); fix the dataset, then rerun prepare")
    x, y = made["pool"]
    if len(y) != n:
        raise ScalelabError(f"data.dataset: '{info['dataset']}' returned {len(y)} pool examples for {size:,} {info['unit']}, "
                            f"not {n}; fix its make/make_splits")
    paths = shard_paths(out_dir)
    save_arrays(paths, {"x": x, "y": y})
    record = {"k": k, "size": size, "examples": n, "sha256": checksum({"x": x, "y": y}),
              "pool_id": info["pool_id"], "pool_info": made.get("pool_info", {})}
    io.write_json(paths["info"], record)  # last: its presence means the shard is complete
    return record
