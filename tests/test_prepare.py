"""Every built-in dataset lets a study grow in place (issue 27): asked for a bigger pool, it gives
the same validation and test sets, the same classes and info (pool.json), and a pool whose first
examples are the smaller pool, byte for byte. A plain dataset's make is prefix-stable.

Each dataset runs at pool sizes 0, A and 4A on a small corpus written here (speech: a few short
utterances; CIFAR-10: test_cifar's fake archive), so the file runs in well under a minute."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from scalelab import registry
from scalelab.datasets import (PoolTooSmall, cifar10, digits, manifest, mnist1d, speech, text_chars, text_words,
                               translation)
from test_cifar import archive_bytes, cifar_members
from test_speech import tone, write_wav
from test_translation import shifted, write_catalogs

WORDS = ["open", "file", "save", "close", "red", "blue", "green", "window", "print", "copy", "cat", "dog"]
COVERED = {"mnist1d", "digits", "text_chars", "text_words", "translation", "speech", "cifar10", "manifest"}


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Byte for byte: dtype, shape and contents."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def grows_in_place(make_splits, small: int) -> dict[int, dict]:
    """make_splits(pool size) at 0, small and 4 * small: held-out sets, classes, tokens per example
    and info identical; the small pool is the first examples of the big one. Returns the runs."""
    runs = {n: make_splits(n) for n in (0, small, 4 * small)}
    first = runs[0]
    for n, made in runs.items():
        for split in ("val", "test"):
            assert all(same(a, b) for a, b in zip(made[split], first[split])), f"{split} changed at pool {n}"
        assert made["n_classes"] == first["n_classes"] and made["tokens_per_example"] == first["tokens_per_example"]
        assert made["info"] == first["info"], f"info changed at pool {n}"
        assert len(made["pool"][1]) == n // made["tokens_per_example"]
    k = small // first["tokens_per_example"]
    for a, b in zip(runs[small]["pool"], runs[4 * small]["pool"]):
        assert same(a, b[:k]), "the small pool is not a prefix of the big one"
    return runs


def test_every_built_in_dataset_is_checked_here():
    """Catches a built-in dataset added to the registry without a grow-in-place test below."""
    assert set(registry.BUILTIN["dataset"]) == COVERED


# -- plain datasets: make(n, seed) --------------------------------------------------------------

def test_mnist1d_is_prefix_stable():
    """Catches example i depending on n: make_dataset called once for all n examples drew them from
    one RNG stream (class by class, then one shuffle) and standardised by the statistics of the set
    it generated, so a bigger pool changed every example and both held-out sets."""
    x, y = mnist1d.make(2500, seed=0)
    assert x.shape == (2500, mnist1d.LENGTH) and x.dtype == np.float32 and y.dtype == np.int64
    for m in (0, 7, 1000, 1500):  # within, at and across a block boundary
        xm, ym = mnist1d.make(m, seed=0)
        assert same(xm, x[:m]) and same(ym, y[:m])
    assert not np.array_equal(mnist1d.make(7, seed=1)[0], x[:7])


def test_mnist1d_blocks_are_the_packages_examples_under_fixed_constants():
    """Catches a drift from the package's generator (a changed loop or transform, the np.interp
    patch no longer exact) and a normalisation that is not the fixed one: a block standardised by
    its own statistics is make_dataset's output for the block's seed, bit for bit; make is the raw
    signal standardised by MEAN and STD, which leave it near mean 0, std 1; each block holds every
    class equally, and numpy's global RNG (which the package seeds) is left as it was."""
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()
    raw, labels = mnist1d.raw_block(0, 1)
    assert np.array_equal(np.random.get_state()[1], state[1])
    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = mnist1d.BLOCK, 1.0, mnist1d.block_seed(0, 1)
    package = make_dataset(args)
    assert np.array_equal((raw - raw.mean()) / raw.std(), package["x"]) and np.array_equal(labels, package["y"])
    x, y = mnist1d.make(2 * mnist1d.BLOCK, seed=0)
    assert same(x[mnist1d.BLOCK:], ((raw - mnist1d.MEAN) / mnist1d.STD).astype(np.float32))
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05
    assert (np.bincount(y[:mnist1d.BLOCK], minlength=10) == mnist1d.BLOCK // 10).all()


def test_digits_is_prefix_stable():
    """Catches digits drawing n images other than as a prefix of one seeded order of all 1,797."""
    x, y = digits.make(digits.AVAILABLE, seed=0)
    for m in (0, 10, 900):
        xm, ym = digits.make(m, seed=0)
        assert same(xm, x[:m]) and same(ym, y[:m])
    assert sorted(y.tolist()) == sorted(digits.make(digits.AVAILABLE, seed=1)[1].tolist())  # all of them, reordered


# -- text: held out by whole file --------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for f in range(30):
        lines = [f"f{f:02d} line {i} " + " ".join(rng.choice(WORDS, 5)) for i in range(12)]
        (folder / f"doc{f:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(folder / "*.txt")


def test_text_chars_grows_in_place(corpus):
    """Catches held-out files or a pool that depend on the pool's size (files dealt in another
    order, a pool cut from somewhere other than the start of the pool side)."""
    runs = grows_in_place(lambda n: text_chars.make_splits({"pool": n, "val": 512, "test": 512}, seed=0,
                                                          files=corpus, context=64), 512)
    assert runs[512]["pool_info"]["files_used"] < runs[2048]["pool_info"]["files_used"]  # the pool's, not in info


def test_text_words_grows_in_place(corpus):
    """Catches a vocabulary built from the pool drawn: it changed with the pool's size, and with it
    n_classes, every token id of the held-out sets and the vocabulary's hash in pool.json."""
    runs = grows_in_place(lambda n: text_words.make_splits({"pool": n, "val": 256, "test": 256}, seed=0, files=corpus,
                                                          context=32, vocab_size=64, min_count=1), 256)
    assert runs[0]["n_classes"] > 1  # pool 0 still has the whole pool side's vocabulary


# -- translation: held out by whole catalog -----------------------------------------------------

@pytest.fixture(scope="module")
def mo_catalogs(tmp_path_factory) -> str:
    rng = np.random.default_rng(0)

    def messages(c: int) -> dict:
        made = {}
        for i in range(30):
            words = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxy"), rng.integers(2, 6))) for _ in range(3)]
            made[f"c{c} message {i} " + " ".join(words)] = f"k{c} {i} " + " ".join(shifted(w) for w in words)
        made["Cancel"] = "Abbrechen"  # in every catalog: kept once
        return made

    return write_catalogs(tmp_path_factory.mktemp("locale"), 10, messages)


def test_translation_grows_in_place(mo_catalogs):
    """Catches a character vocabulary built from the pool drawn (n_classes, the held-out ids and
    info's vocabulary changed with the pool) and pool catalogs recorded in pool.json's info."""
    runs = grows_in_place(lambda n: translation.make_splits({"pool": n, "val": 40, "test": 40}, seed=0,
                                                           catalogs=mo_catalogs), 40)
    small, big = runs[40]["pool_info"]["catalogs"], runs[160]["pool_info"]["catalogs"]
    assert small == big[:len(small)] and len(small) < len(big)  # the pool's catalogs: in pool_info, not info


def test_manifest_grows_in_place(tmp_path):
    """Catches a manifest split whose held-out sets or classes depend on the pool drawn (the rest of
    its appending guarantees are in test_manifest.py)."""
    path = tmp_path / "m.csv"
    path.write_text("id,label,g\n" + "".join(f"r{i},{'xyz'[i % 3]},{i // 4}\n" for i in range(400)))
    grows_in_place(lambda n: manifest.make_splits({"pool": n, "val": 30, "test": 30}, seed=0, path=str(path),
                                                  label="label", group="g"), 60)


# -- speech: held out by whole speaker ---------------------------------------------------------

@pytest.fixture(scope="module")
def speech_catalogs(tmp_path_factory) -> str:
    rng = np.random.default_rng(0)

    def messages(c: int) -> dict:
        return {f"{a.capitalize()} {b}": f"de {c} {i}" for i, (a, b) in
                enumerate(rng.choice(WORDS, 2, replace=False) for _ in range(60))}

    return write_catalogs(tmp_path_factory.mktemp("speech_locale"), 2, messages)


def test_speech_grows_in_place(speech_catalogs):
    """Catches speakers, noise or the vocabulary depending on the pool's size: the pool's speakers
    take turns by the utterance's place in the pool (so a pool of n is a prefix of a pool of 4n,
    speakers included), eSpeak's breath noise (variant f2) and the added white noise are seeded per
    utterance, and the vocabulary comes from every pool-side sentence; and eSpeak's carried-over
    state, which makes the same calls in the same order the only way to the same bytes."""
    options = {"catalogs": speech_catalogs, "frames": 100, "max_chars": 14, "n_mels": 16, "rate": [200, 220],
               "speakers": 3, "held_out_speakers": 1, "variants": ["m1", "f2"], "voices": ["en", "en-us", "en-029"]}
    runs = grows_in_place(lambda n: speech.make_splits({"pool": n, "val": 3, "test": 3}, seed=0, **options), 6)
    turns = runs[24]["pool_info"]["utterance_speaker"]
    assert runs[6]["pool_info"]["utterance_speaker"] == turns[:6] and set(turns) == {0, 1, 2}


def test_speech_recordings_grow_in_place(tmp_path):
    """Catches your own recordings' speakers, dropped clips or vocabulary depending on the pool's
    size: 8 speakers of 4 utterances, the pool dealt whole speakers after the held-out ones."""
    folder = tmp_path / "cv"
    rows = []
    for s in range(8):
        for u in range(4):
            write_wav(folder / "clips" / f"s{s}_u{u}.wav", tone(s * 4 + u, 8000, 0.3), 8000)
            rows.append({"client_id": f"speaker{s}", "path": f"s{s}_u{u}.wav", "sentence": f"Say {chr(97 + s)}{u}!"})
    with open(folder / "validated.tsv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["client_id", "path", "sentence"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    runs = grows_in_place(lambda n: speech.make_splits({"pool": n, "val": 4, "test": 4}, seed=0, corpus=str(folder),
                                                      frames=40, max_chars=10), 6)
    assert runs[6]["pool_info"]["speakers"] == runs[24]["pool_info"]["speakers"][:2]
    held = runs[0]["info"]["speakers"]["val"] + runs[0]["info"]["speakers"]["test"]
    pool_side = {chr(97 + s) for s in range(8) if f"speaker{s}" not in held}  # each speaker's own letter
    assert set(runs[0]["info"]["vocabulary"][2:]) == set("say 0123") | pool_side


# -- CIFAR-10: validation from the training batches, test from the test batch ---------------------

def test_cifar10_grows_in_place(tmp_path):
    """Catches validation or test images drawn after (or from a permutation sized by) the pool."""
    (tmp_path / cifar10.FILENAME).write_bytes(archive_bytes(cifar_members()))
    grows_in_place(lambda n: cifar10.make_splits({"pool": n, "val": 50, "test": 30}, 0, data_dir=str(tmp_path),
                                                 download=False, md5=None), 30)


# -- a finite corpus -------------------------------------------------------------------------

def test_a_pool_beyond_the_pool_side_is_pool_too_small(tmp_path):
    """Catches a wrong `available` (the largest pool the pool side can supply, which the shards
    must fit): 20 files of 100 characters; validation and test need 129 each (one more for the
    last target), so take two files each, and the 16 left hold 1,600 characters: a pool of 1,599
    (and its next character) at most."""
    for f in range(20):
        (tmp_path / f"f{f:02d}.txt").write_text(f"{f:02d}" * 50, encoding="utf-8")
    sizes = {"val": 128, "test": 128}
    options = {"files": str(Path(tmp_path) / "*.txt"), "context": 1}
    made = text_chars.make_splits({**sizes, "pool": 1599}, seed=0, **options)
    assert len(made["pool"][1]) == 1599 and made["pool_info"]["files_used"] == 16
    message = r"^the pool holds only 1599 characters after validation and test \(.*: 20 files\)$"
    with pytest.raises(PoolTooSmall, match=message) as e:
        text_chars.make_splits({**sizes, "pool": 1600}, seed=0, **options)
    assert e.value.available == 1599 and e.value.unit == text_chars.UNIT and "\n" not in str(e.value)
