"""The text datasets (characters and words) on a small corpus written here, the two language-model
families, and a tiny character-LM study run end to end by the real Snakemake.

Every line of the corpus names its file ("f07 line 3 ..."), so a prepared window can be traced back
to the file it came from: held-out files must never reach the pool."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import copy_project, drawn, snakemake, tiny_params
from scalelab.steps import prepare, shard
from scalelab import registry
from scalelab.datasets import text, text_chars, text_words
from scalelab.errors import ScalelabError
from scalelab.models import count_params, lstm, transformer

SIZES = {"pool": 2048, "val": 512, "test": 512}
N_FILES = 30


@pytest.fixture
def corpus(tmp_path) -> str:
    folder = tmp_path / "corpus"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for f in range(N_FILES):
        lines = [f"f{f:02d} line {i} " + " ".join(rng.choice(["alpha", "beta", "gamma", "delta"], 5))
                 for i in range(12)]
        if f == 3:
            lines.append("onlyinfilethree")  # a word in one file only: <unk> unless the pool has it
        (folder / f"doc{f:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(folder / "*.txt")


def decode(x: np.ndarray) -> str:
    return bytes(x.reshape(-1).astype(np.uint8).tolist()).decode("utf-8", errors="replace")


def files_in(s: str) -> set[str]:
    return set(re.findall(r"\bf(\d\d) line", s))


def test_char_splits_have_exact_sizes_and_next_character_targets(corpus):
    made = text_chars.make_splits(SIZES, seed=0, files=corpus, context=64)
    assert made["n_classes"] == 256 and made["tokens_per_example"] == 64
    for split, size in SIZES.items():
        x, y = made[split]
        assert x.shape == y.shape == (size // 64, 64) and x.dtype == y.dtype == np.int64
        stream = np.concatenate([x.reshape(-1), y[-1:, -1]])  # windows are consecutive text
        assert np.array_equal(y.reshape(-1), stream[1:])


def test_files_that_are_not_utf8_are_skipped_and_counted(tmp_path):
    for i in range(3):
        (tmp_path / f"good{i}.txt").write_text(f"{i}" * 100)
    for i in range(5):
        (tmp_path / f"bad{i}.txt").write_bytes("caf\xe9 ".encode("latin-1") * 20)
    made = text_chars.make_splits({"pool": 64, "val": 64, "test": 64}, seed=0, files=str(tmp_path / "*.txt"), context=64)
    skipped = sum(made["info"]["files_skipped_not_utf8"].values()) + made["pool_info"]["files_skipped_not_utf8"]
    assert skipped >= 1  # every good file is needed, so some bad one was met
    assert all(0xE9 not in made[s][0] for s in ("pool", "val", "test"))


def test_held_out_files_never_appear_in_the_pool(corpus):
    made = text_chars.make_splits(SIZES, seed=0, files=corpus, context=64)
    seen = {split: files_in(decode(made[split][0])) for split in SIZES}
    assert seen["pool"] and seen["val"] and seen["test"]
    assert not seen["pool"] & seen["val"] and not seen["pool"] & seen["test"] and not seen["val"] & seen["test"]
    # ... nor in any shard, which is the pool's prefix
    info = {"tokens_per_example": 64, "unit": "characters"}
    assert not files_in(decode(made["pool"][0][:shard.examples_in(1024, info)])) & (seen["val"] | seen["test"])


def test_splits_are_deterministic_and_held_out_text_does_not_depend_on_pool_size(corpus):
    a = text_chars.make_splits(SIZES, seed=0, files=corpus, context=64)
    b = text_chars.make_splits({**SIZES, "pool": 1024}, seed=0, files=corpus, context=64)
    c = text_chars.make_splits(SIZES, seed=1, files=corpus, context=64)
    for split in ("val", "test"):
        assert np.array_equal(a[split][0], b[split][0])
    assert np.array_equal(a["pool"][0][:16], b["pool"][0]) and a["info"] == b["info"]  # the smaller pool is a prefix
    assert not np.array_equal(a["val"][0], c["val"][0])


def test_prepare_writes_units_and_tokens_per_example(corpus):
    data = {"dataset": "text_chars", "options": {"files": corpus, "context": 64}, "val_size": 512, "test_size": 512, "seed": 0}
    arrays, info = drawn(data, 2048)
    assert info["unit"] == "characters" and info["tokens_per_example"] == 64
    assert info["examples"] == {"val": 8, "test": 8} and info["input_shape"] == [64] and len(arrays["pool_y"]) == 32
    assert info["dataset_info"]["source"] == corpus


@pytest.mark.parametrize("sizes, options, key", [
    ({"pool": 10 ** 6, "val": 512, "test": 512}, {}, "the pool holds only"),  # PoolTooSmall: the caller names the key
    ({"pool": 2048, "val": 10 ** 6, "test": 512}, {}, "data.val_size"),
    ({"pool": 2048, "val": 512, "test": 10 ** 6}, {}, "data.test_size"),
    ({"pool": 2048, "val": 500, "test": 512}, {}, "data.val_size"),
    (SIZES, {"context": 0}, "data.options.context"),
])
def test_bad_sizes_name_the_key(corpus, sizes, options, key):
    with pytest.raises(ScalelabError, match=re.escape(key)):
        text_chars.make_splits(sizes, seed=0, files=corpus, **{"context": 64, **options})


def test_a_glob_matching_nothing_is_one_line(tmp_path):
    with pytest.raises(ScalelabError, match="data.options.files: .* matches no files"):
        text_chars.make_splits(SIZES, seed=0, files=str(tmp_path / "nothing" / "*.txt"))


def test_default_corpus_is_the_standard_library():
    files = text.stdlib_files()
    assert any(f.endswith(("/os.py", "\\os.py")) for f in files)
    assert not any("site-packages" in f for f in files)
    made = text_chars.make_splits({"pool": 4096, "val": 1024, "test": 1024}, seed=0)
    assert "standard library" in made["info"]["source"] and made["pool"][0].shape == (32, 128)


def test_word_vocabulary_comes_from_the_whole_pool_side_only(corpus):
    sizes = {"pool": 1024, "val": 256, "test": 256}
    made = text_words.make_splits(sizes, seed=0, files=corpus, context=32, vocab_size=64, min_count=1)
    info = made["info"]
    assert made["n_classes"] == info["vocab_size"] <= 64
    assert made["pool"][0].shape == (32, 32)
    dealt, _, _ = text.deal_files(sizes, 0, corpus, text_words.tokenize, "words", whole_pool=True)
    assert len(dealt.side) > sizes["pool"] + 1 == len(dealt.items["pool"])  # every file the held-out sets left
    vocab = text_words.vocabulary(dealt.side, 64, 1)
    assert vocab[0] == "<unk>" and len(vocab) == made["n_classes"] and info["pool_side_words"] == len(dealt.side)
    # The file names ("f07") in held-out files are words the pool side never saw: <unk> there, so
    # the unknown rate is higher off the pool; in the pool, with min_count 1, nothing is unknown.
    assert made["pool_info"]["unk_rate"] == 0.0 and info["unk_rate"]["val"] > 0
    # It covers the pool side's files the pool did not draw (so it does not change as the pool
    # grows), and no held-out file's name.
    held_out = {f"f{i:02d}" for i in dealt.groups["val"] + dealt.groups["test"]}
    undrawn = {f"f{i:02d}" for i in range(N_FILES)} - held_out - {f"f{i:02d}" for i in dealt.groups["pool"]}
    assert undrawn and undrawn <= set(vocab) and not held_out & set(vocab)


def test_word_vocab_cap_and_min_count(corpus):
    words = text_words.tokenize("a a a b b c d_1 = (x)")
    assert words == ["a", "a", "a", "b", "b", "c", "d_1", "=", "(", "x", ")"]
    assert text_words.vocabulary(words, 3, 1) == ["<unk>", "a", "b"]
    assert text_words.vocabulary(words, 100, 2) == ["<unk>", "a", "b"]
    with pytest.raises(ScalelabError, match="data.options.vocab_size"):
        text_words.make_splits(SIZES, 0, files=corpus, context=32, vocab_size=1)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_language_models_give_a_prediction_per_position_and_are_causal(family):
    module = registry.load("model", family)
    torch.manual_seed(0)
    model = module.build(32, (16,), 50).eval()
    tokens = torch.randint(0, 50, (3, 16))
    changed = tokens.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 50  # a later token must not change earlier predictions
    with torch.no_grad():
        logits, after = model(tokens), model(changed)
    assert logits.shape == (3, 16, 50)
    assert torch.allclose(after[:, :10], logits[:, :10], atol=1e-6)
    assert (after[:, 10:] - logits[:, 10:]).abs().max() > 1e-3


def test_width_sets_model_size():
    assert count_params(lstm.build(64, (16,), 256)) > 2 * count_params(lstm.build(32, (16,), 256))
    assert count_params(transformer.build(64, (16,), 256)) > 2 * count_params(transformer.build(32, (16,), 256))
    assert transformer.heads_for(32) == 1 and transformer.heads_for(128) == 4 and transformer.heads_for(96) == 3


def test_a_tiny_character_lm_study_end_to_end(tmp_path, corpus):
    params = tiny_params()
    params["data"] = {"dataset": "text_chars", "options": {"files": corpus, "context": 32},
                      "val_size": 512, "test_size": 512, "seed": 0}
    params["shards"]["exponents"] = [8, 9, 10, 11, 12]
    params["models"] = {"lstm": {"width": [16], "lr": [0.01]}, "transformer": {"width": [16], "lr": [0.01]}}
    params["grid"]["seed"] = [0]
    params["train"].update({"batch_size": 16, "eval_min_steps": 10, "eval_max_steps": 10, "patience_min_steps": 10,
                            "min_steps": 20, "max_steps": 200, "epochs": 20})  # a budget that grows with the shard: the curve falls
    params["fit"].update({"metric": "test_bits", "min_points": 3, "bootstrap": 50})
    params["predict"]["target_errors"] = [2.0]
    study = copy_project(tmp_path / "study", params)
    snakemake(study)
    info = json.loads((study / "data/pool.json").read_text())
    assert info["unit"] == "characters" and info["tokens_per_example"] == 32
    trial = json.loads((study / "results/trials/k12/transformer/w16-lr0.01-s0/metrics.json").read_text())
    assert trial["size"] == 4096 and trial["family"] == "transformer"
    fit = json.loads((study / "results/fit.json").read_text())
    assert fit["unit"] == "characters" and set(fit["families"]) == {"lstm", "transformer"}
    best = (study / "results/tables/best.csv").read_text()
    assert "test_bits" in best.splitlines()[0]
    assert "Sizes m count characters" in (study / "results/summary.md").read_text()
    # More characters, fewer bits per character: each family's curve falls, and so does its fit.
    for family, rows in pd.read_csv(study / "results/tables/best.csv").groupby("family"):
        bits = rows.sort_values("size")["test_bits"].to_numpy()
        assert bits[-1] < bits[0], f"{family}: {bits}"
        assert fit["families"][family]["beta_g"] < 0


@pytest.mark.parametrize("dataset, hint", [("text_words", "use one of context, files, min_count, vocab_size"),
                                           ("digits", "it takes none")])
def test_an_unknown_data_option_is_one_line_naming_it(dataset, hint):
    data = {"dataset": dataset, "options": {"contxt": 64}, "val_size": 256, "test_size": 256, "seed": 0}
    with pytest.raises(ScalelabError, match=rf"data.options.contxt: dataset '{dataset}' has no option 'contxt'; {hint}"):
        prepare.draw(data, 1024)
