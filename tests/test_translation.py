"""Machine translation: the gettext-catalog corpus, your own pair files, the two encoder-decoder
families, and a tiny translation study run end to end by the real Snakemake.

The tests write their own .mo catalogs (the GNU format gettext reads). Every English message names
its catalog ("c07 message 3 ..."), so a prepared pair can be traced back to the catalog it came
from: held-out catalogs must never reach the pool."""

from __future__ import annotations

import glob
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import copy_project, snakemake, tiny_params
from scalelab.steps import prepare
from scalelab.training import loop
from scalelab import registry
from scalelab.datasets import PoolTooSmall, translation
from scalelab.errors import ScalelabError
from scalelab.models import seq2seq

N_CATALOGS = 12
SIZES = {"pool": 192, "val": 48, "test": 48}
WORDS = ["alpha", "beta", "gamma", "delta"]
GERMAN = {"alpha": "alfa", "beta": "bete", "gamma": "gamm", "delta": "delt"}


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo catalog (what msgfmt writes): header, then the original and translated string
    tables, then the NUL-terminated strings."""
    messages = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}
    keys = sorted(messages)
    ids, strs, table = b"", b"", []
    for key in keys:
        k, v = key.encode(), messages[key].encode()
        table.append((len(ids), len(k), len(strs), len(v)))
        ids, strs = ids + k + b"\0", strs + v + b"\0"
    n = len(keys)
    key_start = 28 + 16 * n
    value_start = key_start + len(ids)
    originals = b"".join(struct.pack("<2I", length, key_start + offset) for offset, length, _, _ in table)
    translated = b"".join(struct.pack("<2I", length, value_start + offset) for _, _, offset, length in table)
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + originals + translated + ids + strs)


def shifted(word: str) -> str:
    return "".join(chr(ord(ch) + 1) for ch in word)


def write_catalogs(root: Path, n: int, messages_of) -> str:
    """n German catalogs, root/cat<c>/de/LC_MESSAGES/cat<c>.mo holding messages_of(c) (called in
    order, so a seeded generator inside it gives the same catalogs every time); their glob."""
    for c in range(n):
        write_mo(root / f"cat{c}" / "de" / "LC_MESSAGES" / f"cat{c}.mo", messages_of(c))
    return str(root / "*" / "de" / "LC_MESSAGES" / "*.mo")


@pytest.fixture
def catalogs(tmp_path) -> str:
    """12 German catalogs of 43 messages; each translation holds a letter of its catalog's own
    (twice, so min_count 2 keeps it where the catalog is in the pool)."""
    rng = np.random.default_rng(0)
    own = [chr(0x3B1 + c) for c in range(N_CATALOGS)]  # Greek letters, one per catalog
    for c in range(N_CATALOGS):
        messages = {}
        for i in range(40):
            # Random words, "translated" by shifting each letter: a rule learnt from more pairs the more there are.
            words = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxy"), rng.integers(2, 6))) for _ in range(3)]
            messages[f"c{c:02d} message {i} " + " ".join(words)] = (f"k{c:02d} nachricht {i} " + " ".join(shifted(w) for w in words)
                                                                   + f" {own[c]}{own[c]}")
        messages["Cancel"] = "Abbrechen"  # in every catalog: kept once, and never in the pool
        messages["menu\x04Open"] = "Öffnen"  # a message context: the English is "Open"
        messages["one file\x00%d files"] = "eine Datei\x00%d Dateien"  # plural forms: the first is kept
        messages["Untranslated"] = ""
        write_mo(tmp_path / "locale" / f"cat{c:02d}" / "de" / "LC_MESSAGES" / f"cat{c:02d}.mo", messages)
    (tmp_path / "locale" / "broken" / "de" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "locale" / "broken" / "de" / "LC_MESSAGES" / "broken.mo").write_bytes(b"not a catalog")
    return str(tmp_path / "locale" / "*" / "de" / "LC_MESSAGES" / "*.mo")


def sources(made: dict, split: str) -> list[str]:
    vocab = made["info"]["vocabulary"]
    return ["".join(vocab[t] for t in row if t not in (translation.PAD, translation.EOS)) for row in made[split][0][:, 0]]


def catalogs_in(texts: list[str]) -> set[str]:
    return {m.group(1) for t in texts for m in [re.match(r"c(\d\d) message", t)] if m}


def test_catalog_pairs_drop_contexts_plurals_and_untranslated(catalogs):
    path = Path(sorted(glob.glob(catalogs))[1])  # cat00.mo (broken.mo sorts first)
    pairs = dict(translation.catalog_pairs(str(path)))
    assert pairs["Open"] == "Öffnen" and pairs["one file"] == "eine Datei" and pairs["Cancel"] == "Abbrechen"
    assert "Untranslated" not in pairs and "" not in pairs and len(pairs) == 43
    assert translation.catalog_pairs(str(path.parents[3] / "broken/de/LC_MESSAGES/broken.mo")) is None


def test_held_out_catalogs_never_reach_the_pool_or_a_shard(catalogs):
    made = translation.make_splits(SIZES, seed=0, catalogs=catalogs)
    info = made["info"]
    assert info["catalogs_found"] == N_CATALOGS + 1 and info["catalogs_unreadable"] == 1
    seen = {split: catalogs_in(sources(made, split)) for split in SIZES}
    assert seen["pool"] and seen["val"] and seen["test"]
    assert not seen["pool"] & seen["val"] and not seen["pool"] & seen["test"] and not seen["val"] & seen["test"]
    assert {f"cat{c}.mo" for c in seen["val"]} == set(info["catalogs"]["val"])
    # A message in every catalog is held out, so it is barred from the pool; each English sentence once.
    all_sources = [s for split in SIZES for s in sources(made, split)]
    assert "Cancel" not in sources(made, "pool") and all_sources.count("Cancel") <= 1
    assert len(all_sources) == len(set(all_sources))
    assert not catalogs_in(sources(made, "pool")[:128]) & (seen["val"] | seen["test"])  # a shard is the pool's prefix


def test_pairs_are_sources_then_eos_and_shifted_targets(catalogs):
    made = translation.make_splits(SIZES, seed=0, catalogs=catalogs, max_chars=40)
    x, y = made["pool"]
    assert x.shape == (192, 2, 41) and y.shape == (192, 41) and x.dtype == y.dtype == np.int64
    assert made["tokens_per_example"] == 1 and made["n_classes"] == len(made["info"]["vocabulary"])
    for row_x, row_y in zip(x, y):
        target = row_y[row_y != translation.IGNORE]
        assert target[-1] == translation.EOS and translation.EOS not in target[:-1]
        assert row_x[1, 0] == translation.BOS and np.array_equal(row_x[1, 1:len(target)], target[:-1])
        assert (row_x[1, len(target):] == translation.PAD).all()
        source = row_x[0][row_x[0] != translation.PAD]
        assert source[-1] == translation.EOS and (row_x[0, len(source):] == translation.PAD).all()


def test_the_vocabulary_comes_from_the_whole_pool_side_only(catalogs):
    made = translation.make_splits(SIZES, seed=0, catalogs=catalogs)
    vocab, info = made["info"]["vocabulary"], made["info"]
    assert vocab[:4] == translation.SPECIALS and translation.PAD == seq2seq.PAD
    pool_chars = {vocab[t] for t in np.unique(made["pool"][0]) if t > translation.UNK}
    assert pool_chars <= set(vocab[4:])
    letter = {f"cat{c:02d}.mo": chr(0x3B1 + c) for c in range(N_CATALOGS)}
    held_out = info["catalogs"]["val"] + info["catalogs"]["test"]
    undrawn = set(letter) - set(held_out) - set(made["pool_info"]["catalogs"])  # pool side, past the pool
    assert undrawn and {letter[c] for c in undrawn} <= set(vocab)  # the vocabulary does not grow with the pool
    assert not {letter[c] for c in held_out} & set(vocab)  # only held-out catalogs have them ...
    assert info["unk_rate"]["val"] > 0 and made["pool_info"]["unk_rate"] == 0  # ... so they are <unk> there


def test_splits_are_deterministic_and_held_out_sets_do_not_depend_on_pool_size(catalogs):
    a = translation.make_splits(SIZES, seed=0, catalogs=catalogs)
    b = translation.make_splits({**SIZES, "pool": 96}, seed=0, catalogs=catalogs)
    c = translation.make_splits(SIZES, seed=1, catalogs=catalogs)
    for split in ("val", "test"):
        assert sources(a, split) == sources(b, split)
    assert a["info"] == b["info"] and np.array_equal(a["pool"][0][:96], b["pool"][0])  # a smaller pool is a prefix
    assert np.array_equal(a["pool"][0], translation.make_splits(SIZES, seed=0, catalogs=catalogs)["pool"][0])
    assert sources(a, "val") != sources(c, "val")


def test_your_own_pairs_from_a_tsv_or_two_aligned_files(tmp_path):
    english = [f"sentence {i} " + WORDS[i % 4] for i in range(300)]
    german = [f"satz {i} " + GERMAN[WORDS[i % 4]] for i in range(300)]
    (tmp_path / "pairs.tsv").write_text("".join(f"{e}\t{g}\n" for e, g in zip(english, german)), encoding="utf-8")
    (tmp_path / "en.txt").write_text("\n".join(english) + "\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("\n".join(german) + "\n", encoding="utf-8")
    tsv = translation.make_splits(SIZES, seed=0, pairs=str(tmp_path / "pairs.tsv"))
    aligned = translation.make_splits(SIZES, seed=0, pairs=[str(tmp_path / "en.txt"), str(tmp_path / "de.txt")])
    for split in SIZES:
        assert np.array_equal(tsv[split][0], aligned[split][0]) and np.array_equal(tsv[split][1], aligned[split][1])
    assert not set(sources(tsv, "pool")) & (set(sources(tsv, "val")) | set(sources(tsv, "test")))
    assert tsv["info"]["corpus"] == "your pairs"


@pytest.mark.parametrize("options, message", [
    ({"language": "xx_nowhere"}, r"data.options.language: no 'xx_nowhere' message catalogs \(.mo\) found"),
    ({"catalogs": "/nonexistent/*.mo"}, r"data.options.language: no 'de' message catalogs .* data.options.catalogs"),
    ({"language": "../de"}, r"data.options.language: '../de' is not a language folder name"),
    ({"max_chars": 0}, r"data.options.max_chars"),
    ({"pairs": "missing.tsv"}, r"data.options.pairs: cannot read 'missing.tsv'"),
    ({"pairs": ["a.txt"]}, r"data.options.pairs: .* is neither a TSV file name nor a list of two"),
    ({"langauge": "de"}, r"data.options.langauge: dataset 'translation' has no option 'langauge'; use one of catalogs, language"),
])
def test_bad_options_are_one_line_errors_in_prepare(options, message):
    data = {"dataset": "translation", "options": options, "val_size": 16, "test_size": 16, "seed": 0}
    with pytest.raises(ScalelabError, match=message) as error:
        prepare.draw(data, 64)
    assert "\n" not in str(error.value)


def test_too_few_pairs_names_the_size_key(catalogs, tmp_path):
    with pytest.raises(PoolTooSmall, match=r"the pool holds only \d+ pairs after validation and test") as e:
        translation.make_splits({**SIZES, "pool": 10_000}, seed=0, catalogs=catalogs)
    held_out = translation.make_splits({**SIZES, "pool": 0}, seed=0, catalogs=catalogs)
    assert e.value.available == held_out["info"]["pool_side_pairs"] > SIZES["pool"] and e.value.unit == "pairs"
    with pytest.raises(ScalelabError, match=r"data.val_size: the 'de' catalogs \(12 readable\) holds too few pairs"):
        translation.make_splits({**SIZES, "val": 10_000}, seed=0, catalogs=catalogs)
    (tmp_path / "odd.tsv").write_text("one\ttwo\tthree\n", encoding="utf-8")
    with pytest.raises(ScalelabError, match=r"line 1 does not hold exactly two tab-separated fields"):
        translation.make_splits(SIZES, seed=0, pairs=str(tmp_path / "odd.tsv"))


@pytest.mark.parametrize("family", ["seq2seq_transformer", "seq2seq_lstm"])
def test_translators_are_causal_in_the_target_and_ignore_source_padding(family):
    module = registry.load("model", family)
    torch.manual_seed(0)
    model = module.build(32, (2, 12), 40).eval()
    pairs = torch.randint(4, 40, (3, 2, 12))
    pairs[:, 0, 8:] = seq2seq.PAD  # sources of 8 tokens, then padding
    changed = pairs.clone()
    changed[:, 1, 6] = (changed[:, 1, 6] + 1) % 36 + 4  # a later decoder input must not change earlier predictions
    other_source = pairs.clone()
    other_source[:, 0, 2] = (other_source[:, 0, 2] + 1) % 36 + 4
    with torch.no_grad():
        logits, after, source_changed = model(pairs), model(changed), model(other_source)
    assert logits.shape == (3, 12, 40)
    assert torch.allclose(after[:, :6], logits[:, :6], atol=1e-5)
    assert (after[:, 6:] - logits[:, 6:]).abs().max() > 1e-4
    assert (source_changed[:, 0] - logits[:, 0]).abs().max() > 1e-4  # the first target already reads the source
    longer = torch.cat([pairs, torch.full((3, 2, 4), seq2seq.PAD)], 2)  # more padding: the same translation
    if family == "seq2seq_lstm":  # (the Transformer's learned positions are sized to L)
        with torch.no_grad():
            assert torch.allclose(model(longer)[:, :12], logits, atol=1e-5)


def test_evaluation_scores_only_real_targets():
    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, x):
            return self.logits[x[:, 0, 0]]

    torch.manual_seed(0)
    logits = torch.randn(4, 6, 10)
    y = torch.randint(0, 10, (4, 6))
    y[:, 4:] = loop.IGNORE
    y[0, 2:] = loop.IGNORE
    x = torch.arange(4).reshape(4, 1, 1).expand(4, 2, 6).contiguous()
    loss, error = loop.evaluate(Fixed(logits), x, y)
    kept = y != loop.IGNORE
    assert loss == pytest.approx(F.cross_entropy(logits[kept], y[kept]).item(), rel=1e-6)
    assert error == pytest.approx((logits.argmax(-1)[kept] != y[kept]).float().mean().item())


def test_a_tiny_translation_study_end_to_end(tmp_path, catalogs):
    params = tiny_params()
    params["data"] = {"dataset": "translation", "options": {"catalogs": catalogs, "max_chars": 40},
                      "val_size": 48, "test_size": 48, "seed": 0}
    params["shards"]["exponents"] = [5, 6, 7, 8]
    params["models"] = {"seq2seq_transformer": {"width": [16], "lr": [0.01]}, "seq2seq_lstm": {"width": [16], "lr": [0.01]}}
    params["grid"]["seed"] = [0]
    params["train"].update({"batch_size": 16, "eval_min_steps": 10, "eval_max_steps": 20, "patience_min_steps": 40,
                            "min_steps": 60, "max_steps": 400, "epochs": 25})
    params["fit"].update({"metric": "test_bits", "min_points": 3, "bootstrap": 50})
    params["predict"]["target_errors"] = [1.0]
    study = copy_project(tmp_path / "study", params)
    snakemake(study)
    info = json.loads((study / "data/pool.json").read_text())
    assert info["unit"] == "pairs" and info["input_shape"] == [2, 41] and info["dataset_info"]["catalogs_unreadable"] == 1
    trial = json.loads((study / "results/trials/k8/seq2seq_lstm/w16-lr0.01-s0/metrics.json").read_text())
    assert trial["size"] == 256 and trial["status"] == "ok" and 0 <= trial["test_bleu"] <= 100
    curve = [json.loads((study / f"results/trials/k{k}/seq2seq_transformer/w16-lr0.01-s0/metrics.json").read_text())["test_loss"]
             for k in (5, 8)]
    assert curve[1] < curve[0]  # more pairs, a better translator
    fit = json.loads((study / "results/fit.json").read_text())
    assert fit["unit"] == "pairs" and set(fit["families"]) == {"seq2seq_transformer", "seq2seq_lstm"}
    summary = (study / "results/summary.md").read_text()
    assert "Sizes m count pairs" in summary and "test_bleu" in summary
    assert "test_bleu" in (study / "results/tables/best.csv").read_text().splitlines()[0]


def test_greedy_decoding_and_bleu_of_a_model_that_copies_the_reference():
    class Oracle(torch.nn.Module):
        """Predicts the reference's next token at each position, whatever it was fed."""

        def __init__(self, y, vocab):
            super().__init__()
            self.y, self.vocab = y, vocab

        def forward(self, x):
            logits = torch.zeros(len(x), x.shape[2], self.vocab)
            target = self.y[x[:, 0, 0] - 4].clamp(min=0)  # the source's first token names its pair
            return logits.scatter(2, target[..., None], 1.0)

    vocab = translation.SPECIALS + list("abcdefgh ")
    words = ["abc de fg ha bed", "fgh ab cd ef", "bad cafe dead beef", "he had a face"]  # 4-grams for BLEU
    y = torch.full((4, 24), translation.IGNORE)
    for i, w in enumerate(words):
        ids = [vocab.index(c) for c in w] + [translation.EOS]
        y[i, :len(ids)] = torch.tensor(ids)
    x = torch.zeros(4, 2, 24, dtype=torch.long)
    x[:, 0, 0] = torch.arange(4) + 4
    model = Oracle(y, len(vocab))
    decoded = seq2seq.greedy(model, x[:, 0])
    assert ["".join(vocab[t] for t in d) for d in decoded] == words
    info = {"dataset_info": {"vocabulary": vocab}}
    assert seq2seq.extra_metrics(model, x, y, info)["bleu"] == pytest.approx(100.0)
    y_wrong = y.clone()
    y_wrong[:, 0] = vocab.index("h")  # every reference now starts with another word: BLEU drops
    assert seq2seq.extra_metrics(model, x, y_wrong, info)["bleu"] < 100.0
