"""Shards are nested, disjoint from validation and test, and stable when sizes are added; the
held-out sets never depend on how much data the study draws (issue 27: a study grows in place)."""

import textwrap

import numpy as np
import pytest

from scalelab import config, io, pool
from scalelab.steps import prepare, shard
from scalelab.errors import ScalelabError


def write_shards(params, tmp_path, exponents):
    """prepare, then the shard step for each exponent, as the engines run them."""
    info = prepare.run(params, tmp_path / "heldout", tmp_path / "pool.json")
    for k in exponents:
        shard.run(params, tmp_path / "pool.json", k, tmp_path / f"k{k}")
    return info


def rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x}


def test_shards_are_nested_prefixes_and_disjoint_from_held_out_sets(params, tmp_path):
    """Catches a shard that is not the pool's prefix (a larger shard that reshuffles the smaller
    ones), and a pool that overlaps validation or test."""
    info = write_shards(params, tmp_path, [6, 8, 10])
    shards = {k: pool.load_shard(tmp_path / f"k{k}") for k in (6, 8, 10)}
    for small, large in ((6, 8), (8, 10)):
        n = len(shards[small][1])
        assert np.array_equal(shards[large][0][:n], shards[small][0]) and np.array_equal(shards[large][1][:n], shards[small][1])
    held = pool.load_heldout(tmp_path / "heldout", info, tmp_path / "pool.json")
    # MNIST-1D signals are continuous random draws: equal rows would mean shared examples.
    trained, val, test = rows(shards[10][0]), rows(held["val_x"]), rows(held["test_x"])
    assert len(trained) == 2**10 and len(val) == 512 and len(test) == 512
    assert not trained & val and not trained & test and not val & test


def test_a_shard_is_the_same_bytes_whatever_the_largest_shard(params, tmp_path):
    """The pool-size trap of issue 27: shard k must not change when the study grows, and
    prepare's outputs (the held-out sets, pool.json) must not depend on the shards at all."""
    small = write_shards(params, tmp_path / "a", [7])
    params["shards"]["exponents"] = [6, 7, 8, 9, 10, 11, 12]
    grown = write_shards(params, tmp_path / "b", [12, 7])
    assert small == grown
    for name in ("x.npy", "y.npy", "shard.json"):
        assert (tmp_path / "a/k7" / name).read_bytes() == (tmp_path / "b/k7" / name).read_bytes()
    for path in pool.heldout_paths(tmp_path / "a/heldout").values():
        assert path.read_bytes() == (tmp_path / "b/heldout" / path.name).read_bytes()


def test_prepare_is_deterministic_and_checksummed(params, tmp_path):
    a = prepare.run(params, tmp_path / "a", tmp_path / "a.json")
    b = prepare.run(params, tmp_path / "b", tmp_path / "b.json")
    assert a["sha256"] == b["sha256"] and a["pool_id"] == b["pool_id"]
    params["data"]["seed"] = 1
    c = prepare.run(params, tmp_path / "c", tmp_path / "c.json")
    assert c["sha256"] != a["sha256"] and c["pool_id"] != a["pool_id"]


def test_an_edited_shard_is_refused_before_training(params, tmp_path):
    """Catches train reading a shard whose files no longer match what the shard step recorded."""
    write_shards(params, tmp_path, [6])
    y = np.load(tmp_path / "k6/y.npy")
    np.save(tmp_path / "k6/y.npy", (y + 1) % 10)
    with pytest.raises(ScalelabError, match="no longer match the checksum"):
        pool.load_shard(tmp_path / "k6")


def test_a_dataset_that_is_not_prefix_stable_is_caught_when_a_shard_is_drawn(params, tmp_path, monkeypatch):
    """A plug-in whose make(n) depends on n (normalising over what it generated, as MNIST-1D's
    package does) would silently change the held-out sets with the pool: the shard step refuses."""
    (tmp_path / "unstable_data.py").write_text(textwrap.dedent("""
        import numpy as np
        N_CLASSES = 2
        AVAILABLE = None
        def make(n, seed):
            x = np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32)
            return (x - x.mean()) / x.std(), (np.arange(n) % 2).astype(np.int64)
    """))
    monkeypatch.chdir(tmp_path)
    params["data"]["dataset"] = "unstable_data"
    prepare.run(params, tmp_path / "heldout", tmp_path / "pool.json")
    with pytest.raises(ScalelabError, match="not prefix-stable"):
        shard.run(params, tmp_path / "pool.json", 8, tmp_path / "k8")
    assert not (tmp_path / "k8/shard.json").exists()


def test_a_shard_larger_than_a_finite_dataset_names_how_many_examples_exist(params):
    params["data"].update(dataset="digits", val_size=256, test_size=256)
    params["shards"]["exponents"] = [6, 11]
    with pytest.raises(ScalelabError) as error:
        config.validate(params)
    message = str(error.value)
    assert "shards.exponents" in message and "1797" in message and "1285" in message and "above 10" in message
    assert "\n" not in message


def test_a_shard_larger_than_a_corpus_is_a_one_line_error_naming_its_size(params, tmp_path):
    """A dataset that holds data out its own way learns its size only when drawing: the shard step
    turns its PoolTooSmall into one line naming the key and what the pool holds."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(8):  # validation and test take two files each (513 characters: a window's target needs one more)
        (corpus / f"f{i}.txt").write_text("abcdefgh" * 64)  # 512 characters each
    params["data"].update(dataset="text_chars", val_size=512, test_size=512,
                          options={"files": str(corpus / "*.txt"), "context": 16})
    prepare.run(params, tmp_path / "heldout", tmp_path / "pool.json")
    shard.run(params, tmp_path / "pool.json", 10, tmp_path / "k10")  # 1,024 of the 2,048 left: four files
    with pytest.raises(ScalelabError) as error:
        shard.run(params, tmp_path / "pool.json", 12, tmp_path / "k12")
    message = str(error.value)
    assert message.startswith("params.yaml: shards.exponents: shard k=12") and "\n" not in message
    assert "2,048" in message or "2,047" in message  # the last character has no next one to predict


def test_a_study_made_before_stable_splits_gets_one_line_and_migrate_accepts_it(tmp_path):
    """The old layout's keys (data.pool_size, shards.seed) would otherwise be a schema error, or
    worse, silently retrain everything on other examples."""
    from conftest import ROOT, cli

    text = (ROOT / "params.yaml").read_text()
    old = text.replace("  val_size: 2048", "  pool_size: 16384          # training pool\n  val_size: 2048")
    old = old.replace("  base: 2                   # shard size m = base ** k",
                      "  base: 2                   # shard size m = base ** k\n  seed: 0                   # permutation seed")
    (tmp_path / "params.yaml").write_text(old)
    with pytest.raises(ScalelabError) as error:
        config.load(tmp_path / "params.yaml")
    assert "data.pool_size and shards.seed" in str(error.value) and "scalelab migrate" in str(error.value)
    proc = cli("migrate", "--params", str(tmp_path / "params.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "params.yaml").read_text() == text  # the keys gone, every comment kept
    config.load(tmp_path / "params.yaml")


def test_shard_json_records_the_pool_it_was_drawn_from(params, tmp_path):
    info = write_shards(params, tmp_path, [6])
    record = io.read_json(tmp_path / "k6/shard.json")
    assert record["pool_id"] == info["pool_id"] and record["size"] == 64 and record["examples"] == 64


def test_old_layout_data_is_a_one_line_error_until_migrate_removes_it(params, tmp_path):
    """A study whose data/ comes from before stable splits (restored by git, a DVC cache or a
    copy) must not silently retrain every trial on other examples: prepare stops with one line,
    and `scalelab migrate` deletes the old files so the next run starts on the new layout."""
    from conftest import cli

    (tmp_path / "data/pool").mkdir(parents=True)
    (tmp_path / "data/shards").mkdir()
    np.save(tmp_path / "data/pool/pool_x.npy", np.zeros((4, 3), np.float32))
    np.save(tmp_path / "data/shards/k7.npy", np.arange(4))
    with pytest.raises(ScalelabError) as error:
        prepare.run(params, tmp_path / "data/heldout", tmp_path / "data/pool.json")
    assert "stable splits" in str(error.value) and "scalelab migrate" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "data/pool.json").exists()
    from conftest import write_params

    write_params(tmp_path, params)
    proc = cli("migrate", "--params", str(tmp_path / "params.yaml"), "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 0 and "deleted 2 file(s)" in proc.stdout, proc.stderr
    assert not (tmp_path / "data/pool/pool_x.npy").exists() and not (tmp_path / "data/shards/k7.npy").exists()
    prepare.run(params, tmp_path / "data/heldout", tmp_path / "data/pool.json")
