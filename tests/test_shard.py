"""Shards are nested, disjoint from validation and test, and stable when sizes are added."""

import numpy as np

from scalelab import pool, prepare, shard


def test_shards_are_nested_prefixes():
    sizes = [2**k for k in range(4, 11)]
    shards = [shard.shard_indices(2048, m, seed=3) for m in sizes]
    for small, large in zip(shards, shards[1:]):
        assert np.array_equal(large[: len(small)], small)
    assert all(len(np.unique(s)) == len(s) for s in shards)  # no example twice


def test_adding_a_larger_size_leaves_smaller_shards_unchanged():
    before = shard.shard_indices(4096, 256, seed=0)
    shard.shard_indices(4096, 4096, seed=0)  # the new, larger size
    assert np.array_equal(shard.shard_indices(4096, 256, seed=0), before)


def test_seed_changes_the_permutation():
    assert not np.array_equal(shard.shard_indices(1024, 64, seed=0), shard.shard_indices(1024, 64, seed=1))


def test_pool_validation_and_test_are_disjoint(params, tmp_path):
    info = prepare.run(params, tmp_path / "pool", tmp_path / "pool.json")
    assert info["sizes"] == {"pool": 2048, "val": 512, "test": 512}
    arrays = pool.load_verified(tmp_path / "pool", info, tmp_path / "pool.json")
    # MNIST-1D signals are continuous random draws: equal rows would mean shared examples.
    rows = {split: {arrays[f"{split}_x"][i].tobytes() for i in range(len(arrays[f"{split}_x"]))} for split in prepare.STORED_SETS}
    assert len(rows["pool"]) == 2048
    assert not rows["pool"] & rows["val"]
    assert not rows["pool"] & rows["test"]
    assert not rows["val"] & rows["test"]
    # The largest shard as the shard step writes it and train reads it: the whole pool, and none of
    # validation or test.
    shard.run(params, tmp_path / "pool.json", 11, tmp_path / "k11.npy")
    trained = {x.tobytes() for x in arrays["pool_x"][np.load(tmp_path / "k11.npy")]}
    assert trained == rows["pool"] and not trained & (rows["val"] | rows["test"])


def test_prepare_is_deterministic_and_checksummed(params):
    a, info_a = prepare.make_splits(params["data"])
    b, info_b = prepare.make_splits(params["data"])
    assert info_a["sha256"] == info_b["sha256"]
    params["data"]["seed"] = 1
    _, info_c = prepare.make_splits(params["data"])
    assert info_c["sha256"] != info_a["sha256"]
