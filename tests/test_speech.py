"""Speech recognition: eSpeak NG utterances held out by speaker, log-mel features, your own WAV
recordings, the CTC family (speech_ds2) and the loss hook in train, and a tiny speech study run end
to end by the real Snakemake. Real eSpeak, real torch, small sizes.

The tests write their own .mo catalogs (the sentences) and WAV files (the recordings)."""

from __future__ import annotations

import csv
import json
import math
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import copy_project, drawn, snakemake, tiny_params
from scalelab.training import loop
from scalelab.datasets import PoolTooSmall, audio, speech
from scalelab.errors import ScalelabError
from scalelab.models import speech_ds2
from scalelab.pool import checksum
from test_translation import write_catalogs

WORDS = ["open", "file", "save", "close", "red", "blue", "green", "window", "print", "copy", "paste", "undo",
         "cat", "dog", "sun", "moon", "tree", "road", "book", "door"]
SIZES = {"pool": 48, "val": 12, "test": 12}
SMALL = {"frames": 120, "max_chars": 16, "rate": [200, 220], "n_mels": 20, "speakers": 6, "held_out_speakers": 2}


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory) -> str:
    """4 catalogs of two-word messages, and messages the dataset must not speak."""
    rng = np.random.default_rng(0)

    def messages(c: int) -> dict:
        made = {}
        for i in range(100):
            a, b = rng.choice(WORDS, 2, replace=False)
            made[f"{a.capitalize()} {b}" + rng.choice(["", ".", "?"])] = f"de {c} {i}"
        made.update({"URL not found": "x", "Version 42": "y", "Path: %s": "z", "Untranslated": ""})
        return made

    return write_catalogs(tmp_path_factory.mktemp("locale"), 4, messages)


def data_cfg(catalogs: str, **options) -> dict:
    return {"dataset": "speech", "options": {"catalogs": catalogs, **SMALL, **options},
            "val_size": SIZES["val"], "test_size": SIZES["test"], "seed": 0}


def texts(made: dict, split: str, vocab: list[str]) -> list[str]:
    return ["".join(vocab[t] for t in row if t != speech.IGNORE) for row in made[f"{split}_y"]]


@pytest.fixture(scope="module")
def made(catalogs):
    return drawn(data_cfg(catalogs), SIZES["pool"])


def test_held_out_speakers_never_reach_the_pool_or_a_shard(made):
    arrays, info = made
    extra = info["dataset_info"]
    voices = extra["voices"]
    assert len(voices["pool"]) == 6 and len(voices["val"]) == len(voices["test"]) == 2
    assert not set(voices["pool"]) & (set(voices["val"]) | set(voices["test"])) and not set(voices["val"]) & set(voices["test"])
    by = {**extra["utterance_speaker"], "pool": info["pool_info"]["utterance_speaker"]}
    assert [len(by[s]) for s in ("pool", "val", "test")] == [48, 12, 12]
    spoken = {s: {extra["speakers"][s][i]["voice"] for i in by[s]} for s in ("pool", "val", "test")}
    assert spoken["pool"] == set(voices["pool"]) and spoken["val"] == set(voices["val"])  # every speaker speaks
    in_shard = {extra["speakers"]["pool"][i]["voice"] for i in by["pool"][:32]}  # a shard is the pool's prefix
    assert not in_shard & (spoken["val"] | spoken["test"])
    # Each sentence is spoken once: no transcript is in two splits.
    vocab = extra["vocabulary"]
    every = [t for s in ("pool", "val", "test") for t in texts(arrays, s, vocab)]
    assert len(every) == len(set(every))


def test_transcripts_features_and_the_vocabulary_of_the_pool(made):
    arrays, info = made
    vocab = info["dataset_info"]["vocabulary"]
    assert info["unit"] == "utterances" and info["input_shape"] == [120, 20] and info["n_classes"] == len(vocab)
    x, y = arrays["pool_x"], arrays["pool_y"]
    assert x.shape == (48, 120, 20) and x.dtype == np.float32 and y.shape == (48, 16) and y.dtype == np.int64
    assert np.isfinite(x).all() and abs(float(x.mean())) < 1e-3  # normalised per clip
    assert vocab[:2] == speech.SPECIALS and speech.BLANK == speech_ds2.BLANK == 0
    assert not (y == speech.BLANK).any()  # the blank is never a target
    for row in y:  # the transcript, then padding only
        n = int((row != speech.IGNORE).sum())
        assert n and (row[n:] == speech.IGNORE).all()
    pool_text = texts(arrays, "pool", vocab)
    assert set(vocab[2:]) == set("".join(pool_text))  # the pool's characters, no other
    assert all(t == speech.transcript(t) and t.replace(" ", "").isalpha() for t in pool_text)
    assert not any("url" in t or "42" in t or "path" in t for t in pool_text)  # capitals, digits, ':' not spoken
    extra = info["dataset_info"]
    assert extra["espeak_version"].startswith("1.5") and extra["sample_rate"] == 16000
    assert extra["too_long"] == {"val": 0, "test": 0} and info["pool_info"]["too_long"] == 0


def test_the_same_options_give_the_same_bytes(catalogs):
    """Breathy variants (f2, f3) draw noise from a generator eSpeak seeds from the clock (seconds),
    and eSpeak carries state from one utterance to the next: both runs must give the same bytes
    regardless, one second apart."""
    cfg = data_cfg(catalogs, voices=["en", "en-us", "en-029", "en-gb-scotland"], variants=["f2", "f3", "m1"])
    first, _ = drawn(cfg, SIZES["pool"])
    time.sleep(1.1)
    again, _ = drawn(cfg, SIZES["pool"])
    assert checksum(again) == checksum(first)
    other, _ = drawn({**cfg, "seed": 1}, SIZES["pool"])
    assert checksum(other) != checksum(first)


def test_log_mel_frames_and_resampling():
    rate = 16000
    assert audio.frame_sizes(rate) == (400, 160, 512) and audio.samples_for(100, rate) == 99 * 160 + 400
    t = np.arange(audio.samples_for(50, rate)) / rate
    feats = audio.log_mel(np.sin(2 * np.pi * 1000 * t), rate, 40, 50)
    assert feats.shape == (50, 40)
    peak = int(np.argmax(feats.mean(0)))  # a 1 kHz tone lights the mel bin around 1 kHz
    centres = audio.mel_filters(40, 512, rate).argmax(0) * rate / 512
    assert abs(centres[peak] - 1000) < 150
    tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    up = audio.resample(tone, 8000, 16000)
    assert len(up) == 16000 and np.allclose(up[::2], tone, atol=1e-6)


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def tone(i: int, rate: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)


def test_your_own_recordings_held_out_by_speaker(tmp_path):
    """A Common Voice style TSV: 8 speakers of 4 utterances at 8 kHz (resampled to 16 kHz); one
    held-out speaker says a character ('z') no pool speaker does."""
    folder = tmp_path / "cv"
    rows = []
    for s in range(8):
        for u in range(4):
            name = f"s{s}_u{u}.wav"
            write_wav(folder / "clips" / name, tone(s * 4 + u, 8000), 8000)
            rows.append({"client_id": f"speaker{s}", "path": name, "sentence": f"Say {'z' if s == 0 else 'a'}{u}!"})
    with open(folder / "validated.tsv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["client_id", "path", "sentence"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    cfg = {"dataset": "speech", "options": {"corpus": str(folder), "frames": 60, "max_chars": 10},
           "val_size": 4, "test_size": 4, "seed": 0}
    arrays, info = drawn(cfg, 16)
    extra = info["dataset_info"]
    assert extra["held_out_by"] == "speaker" and extra["table"] == "validated.tsv"
    speakers = {**extra["speakers"], "pool": info["pool_info"]["speakers"]}
    assert len(speakers["val"]) == len(speakers["test"]) == 1 and len(speakers["pool"]) == 4
    assert not set(speakers["pool"]) & (set(speakers["val"]) | set(speakers["test"]))
    assert arrays["pool_x"].shape == (16, 60, 40) and arrays["pool_y"].shape == (16, 10)
    vocab = extra["vocabulary"]
    held = set(speakers["val"]) | set(speakers["test"])
    assert ("z" in vocab) == ("speaker0" not in held)  # the vocabulary is the pool's
    if "speaker0" in held:
        split = "val" if "speaker0" in speakers["val"] else "test"
        assert (arrays[f"{split}_y"] == speech.UNK).any()
    assert texts(arrays, "pool", vocab)[0] in {f"say {c}{u}" for c in "za" for u in range(4)}


def test_an_ljspeech_folder_without_speakers_is_held_out_by_utterance(tmp_path):
    folder = tmp_path / "lj"
    lines = []
    for i in range(12):
        write_wav(folder / "wavs" / f"LJ{i:03d}.wav", tone(i, 16000, 0.3), 16000)
        lines.append(f"LJ{i:03d}|Number {i}.|number {'one two three'.split()[i % 3]}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    cfg = {"dataset": "speech", "options": {"corpus": str(folder), "frames": 40},
           "val_size": 2, "test_size": 2, "seed": 3}
    arrays, info = drawn(cfg, 8)
    assert info["dataset_info"]["held_out_by"] == "utterance" and arrays["pool_x"].shape == (8, 40, 40)
    assert set(texts(arrays, "pool", info["dataset_info"]["vocabulary"])) <= {"number one", "number two", "number three"}
    write_wav(folder / "wavs" / "LJ000.wav", np.zeros((800, 2)).ravel(), 16000, channels=2)
    with pytest.raises(ScalelabError, match=r"data\.options\.corpus: .*LJ000.wav' has 2 channel"):
        drawn({**cfg, "seed": 0}, 10)


@pytest.mark.parametrize("options, pattern", [
    ({"voices": ["en", "xx-nowhere"]}, r"data\.options\.voices: eSpeak NG 1\.\d+\.\d+ has no voice 'xx-nowhere\+m1'"),
    ({"variants": ["m1", "nobody"]}, r"data\.options\.variants: eSpeak NG .* has no voice 'en\+nobody'"),
    ({"voice": "en"}, r"data\.options\.voice: dataset 'speech' has no option 'voice'; use one of "),
    ({"corpus": "/nonexistent/corpus"}, r"data\.options\.corpus: '/nonexistent/corpus' is not a folder"),
    ({"speakers": 60}, r"data\.options\.speakers: 64 speakers"),
    ({"snr_db": [30, 10]}, r"data\.options\.snr_db: '\[30, 10\]' is not a range"),
])
def test_bad_options_are_one_line_errors(catalogs, options, pattern):
    with pytest.raises(ScalelabError, match=pattern) as error:
        drawn(data_cfg(catalogs, **options), SIZES["pool"])
    assert "\n" not in str(error.value) and str(error.value).startswith("params.yaml: data.")


def test_too_few_sentences_for_the_pool_says_how_many_there_are(catalogs):
    with pytest.raises(PoolTooSmall) as error:
        drawn(data_cfg(catalogs), 5000)
    assert 0 < error.value.available < 5000 and error.value.unit == "utterances"


def test_the_ctc_family_output_shape():
    model = speech_ds2.build(16, (120, 20), 30)
    assert model(torch.zeros(3, 120, 20)).shape == (3, 60, 30)
    assert speech_ds2.build(16, (121, 40), 30)(torch.zeros(2, 121, 40)).shape == (2, 61, 30)
    with pytest.raises(ScalelabError, match="speech_ds2 needs spectrograms"):
        speech_ds2.build(16, (3, 2, 41), 30)


def test_ctc_loss_and_greedy_decoding_by_hand():
    # Two steps, vocabulary {blank, a}, both equally likely at each step: the paths that read "a"
    # are "aa", "a-" and "-a", probability 3/4 in all.
    logits = torch.zeros(1, 2, 2)
    y = torch.tensor([[1, speech.IGNORE, speech.IGNORE]])
    loss, errors, count = speech_ds2.loss_terms(logits, y)
    assert loss.item() == pytest.approx(-math.log(0.75), abs=1e-5) and count == 1
    # Greedy: best ids a a - b b - - b  ->  a b b (repeats collapse, a blank separates the two b's).
    best = [1, 1, 0, 2, 2, 0, 0, 2]
    peaked = torch.nn.functional.one_hot(torch.tensor([best]), 3).float() * 10
    assert speech_ds2.greedy(peaked) == [[1, 2, 2]]
    _, errors, count = speech_ds2.loss_terms(peaked, torch.tensor([[1, 2, speech.IGNORE]]))
    assert (errors, count) == (1, 2)  # one insertion against "a b"
    assert speech_ds2.edit_distance([1, 2, 3], [1, 3]) == 1 and speech_ds2.edit_distance([], [4, 5]) == 2
    assert speech_ds2.edit_distance([1, 2], [2, 1]) == 2


def test_train_uses_the_familys_loss_terms():
    """evaluate sums the hook's terms over the set and divides each by the count; the batch
    loss is the hook's sum over its count; without the hook, cross-entropy as before."""
    torch.manual_seed(0)
    model = speech_ds2.build(8, (40, 20), 6)
    x = torch.randn(5, 40, 20)
    y = torch.tensor([[2, 3, 4, -100], [5, -100, -100, -100], [2, 2, -100, -100], [3, 4, 5, 2], [4, -100, -100, -100]])
    loss, error = loop.evaluate(model, x, y, "fp32", speech_ds2.loss_terms)
    total, wrong, count = speech_ds2.loss_terms(model(x), y)
    assert count == 11 and loss == pytest.approx(total.item() / 11, rel=1e-5) and error == wrong / 11
    assert loop.batch_loss(model, x, y, speech_ds2.loss_terms).item() == pytest.approx(total.item() / 11, rel=1e-5)
    logits = torch.randn(4, 7)
    plain = torch.nn.Linear(3, 7)
    xs, ys = torch.randn(4, 3), torch.tensor([1, 2, 3, 4])
    expected = torch.nn.functional.cross_entropy(plain(xs), ys)
    assert loop.batch_loss(plain, xs, ys).item() == pytest.approx(expected.item()) and logits.shape == (4, 7)


@pytest.mark.slow
def test_a_tiny_speech_study_end_to_end(tmp_path, catalogs):
    params = tiny_params()
    params["data"] = {**data_cfg(catalogs, frames=100, max_chars=14, n_mels=20), "val_size": 24, "test_size": 24}
    params["shards"]["exponents"] = [4, 5, 6, 7]
    params["models"] = {"speech_ds2": {"width": [16], "lr": [0.01]}}
    params["grid"]["seed"] = [0]
    params["train"].update({"batch_size": 16, "eval_min_steps": 10, "eval_max_steps": 20, "patience_min_steps": 30,
                            "min_steps": 60, "max_steps": 120, "epochs": 10})
    params["audit"]["shards"] = 1
    params["fit"].update({"metric": "test_bits", "min_points": 3, "bootstrap": 50})
    params["predict"]["target_errors"] = [1.0]
    study = copy_project(tmp_path / "study", params)
    snakemake(study)
    info = json.loads((study / "data/pool.json").read_text())
    assert info["unit"] == "utterances" and info["input_shape"] == [100, 20] and info["dataset"] == "speech"
    trial = json.loads((study / "results/trials/k7/speech_ds2/w16-lr0.01-s0/metrics.json").read_text())
    assert trial["size"] == 128 and trial["status"] == "ok" and 0 <= trial["test_error"]
    curve = [json.loads((study / f"results/trials/k{k}/speech_ds2/w16-lr0.01-s0/metrics.json").read_text())["test_loss"]
             for k in (4, 7)]
    assert curve[1] < curve[0]  # more utterances, a lower CTC loss per character
    fit = json.loads((study / "results/fit.json").read_text())
    assert fit["unit"] == "utterances" and set(fit["families"]) == {"speech_ds2"}
    assert "Sizes m count utterances" in (study / "results/summary.md").read_text()
