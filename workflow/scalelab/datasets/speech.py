"""Speech recognition, the paper's speech row (Deep Speech 2 on characters), offline by default.

Utterances, by default: short English sentences spoken by eSpeak NG (datasets/espeak.py; the
`espeakng-loader` wheel ships the library and its voices, so nothing is downloaded). The text is
the English side of the machine's gettext catalogs (translation.catalog_files / catalog_pairs,
language "de": the catalogs that have German translations), each message kept once if it is at
most `max_chars` characters of letters, spaces and simple punctuation (, . ' ? ! -), holds at
least two letters, and no run of capitals (eSpeak spells "URL" letter by letter, which its
transcript would not say). Digits are left out for the same reason: eSpeak reads "42" as "forty
two", and the transcript's two characters do not match the sound.

Speakers: a speaker is one eSpeak voice `voice+variant` (voices x variants, e.g. "en-us+f2", each
used by at most one speaker), with its own base pitch and rate (words per minute) drawn uniformly
from `pitch` and `rate`; all drawn with data.seed. Validation and test are held out by whole
speaker: `held_out_speakers` speakers each, whose voice never reaches the pool, so the curve
measures recognising new voices. Each sentence is spoken once (by one speaker), so no sentence is
in two splits either. Sentences are dealt in one seeded order, first to validation, then test;
every later sentence is the pool side, and the pool is its first sentences in that order (as many
as the shards need). Within a split the speakers take turns by attempt (a sentence too long for
the clip still uses its turn), eSpeak's breath noise (variants f2, f3, ...) is seeded per
utterance, and every clip gets white noise at an SNR drawn uniformly from `snr_db` (decibels, one
draw per utterance, seeded by the utterance's place in its split). None of it depends on the
pool's size, so the held-out sets never change and a pool is a prefix of any bigger one, speakers
and noise included. The same options give the same bytes on every run (each run synthesises
validation, test, then the pool, in a fresh process: in_fresh_process).

Your own recordings: `corpus` names a folder with 16-bit PCM mono WAV files and a transcript table,
either LJSpeech's metadata.csv (`id|text|normalized text`, audio in wavs/<id>.wav) or a Common
Voice style TSV with columns `path` and `sentence`, and `client_id` as the speaker if present
(audio at <folder>/<path> or <folder>/clips/<path>). Held out by whole speaker where the table
names one (speakers dealt in a seeded order, like the sentences above, the pool a prefix of the
pool side), otherwise by a seeded permutation of the utterances. Recordings are used as they are
(no noise added), resampled to `sample_rate` by linear interpolation.

Transcripts are lower-cased; letters, digits and apostrophes are kept, anything else becomes a
space, and spaces are collapsed. The vocabulary holds the characters of the transcripts of the
whole pool side (every sentence, or recording of a speaker, that validation and test did not take;
not just the pool drawn, so it does not change when the pool grows; never held-out text), most
frequent first, after the CTC blank (id 0) and <unk> (id 1, a held-out character the pool side
never had: it can only be scored wrong).

Examples: one utterance each (sizes count utterances). x float32 [n, frames, n_mels], log-mel
features (datasets/audio.py) of a clip of `frames` 10 ms frames: the speech at its start, silence
then, noise throughout. 200 frames (2 s) holds every sentence of at most 24 characters at the
slowest default rate (160 words per minute: 2.0 s); an utterance longer than the clip is dropped
and counted (too_long: in info for the held-out sets, in pool_info for the pool). y int64 [n,
max_chars], the transcript's character ids, padded with IGNORE (-100), which training does not
score.

Options (data.options in params.yaml), each with a default:
    voices             [en, en-us, en-gb-scotland, en-gb-x-rp, en-029]  eSpeak NG English voices
    variants           [m1..m7, f1..f4]   eSpeak voice variants: a speaker is voice+variant
    speakers           32        speakers in the pool
    held_out_speakers  6         speakers in validation, and as many others in test
    pitch              [30, 70]  base pitch range (eSpeak 0-100, 50 normal)
    rate               [160, 220]  speaking rate range, words per minute
    snr_db             [10, 30]  signal-to-noise ratio range of the added white noise
    max_chars          24        longest transcript kept, in characters
    frames             200       feature frames per clip (10 ms each)
    n_mels             40        mel bins
    sample_rate        16000     Hz the audio is resampled to before the features
    catalogs           null      a glob (or list) of .mo files for the sentences; null: the machine's
    corpus             null      your own recordings: a folder (above); the synthesis options are then unused
"""

from __future__ import annotations

import collections
import re

import numpy as np

from scalelab.errors import ScalelabError

from . import IGNORE, PoolTooSmall, audio
from .text import HELD_OUT, SPLIT_ORDER, check_whole_number
from .translation import catalog_files, catalog_pairs

UNIT = "utterances"
LOSS_PER = "target character"  # sizes count utterances, the CTC loss is per character of the transcript
BLANK, UNK = 0, 1  # the CTC blank must be 0 (models/speech_ds2.py)
SPECIALS = ["<blank>", "<unk>"]
VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
SPOKEN = re.compile(r"[A-Za-z ,.'?!-]+")


def transcript(text: str) -> str:
    """What a listener can write down: lower case, letters, digits and apostrophes, single spaces."""
    return " ".join("".join(c if c.isalnum() or c == "'" else " " for c in text.lower()).split())


def catalog_sentences(catalogs, max_chars: int) -> list[str]:
    """The catalogs' English messages eSpeak reads as written, sorted, one per transcript ("Cancel",
    "cancel" and "Cancel." read the same: the first in sorted order stands for them), so no
    transcript is in two splits."""
    paths, _ = catalog_files("de", catalogs)
    found = set()
    for path in paths:
        for english, _ in catalog_pairs(path) or []:
            if (len(english) <= max_chars and SPOKEN.fullmatch(english) and sum(c.isalpha() for c in english) >= 2
                    and not re.search(r"[A-Z]{2}", english)):
                found.add(english)
    first: dict[str, str] = {}
    for english in sorted(found):
        first.setdefault(transcript(english), english)
    return sorted(first.values())


def check_range(key: str, value, low: float, high: float, example: str) -> tuple[float, float]:
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
          and low <= value[0] <= value[1] <= high)
    if not ok:
        raise ScalelabError(f"params.yaml: data.options.{key}: '{value}' is not a range [low, high] within "
                            f"[{low}, {high}]; use e.g. {example}")
    return value[0], value[1]


def check_names(key: str, value, example: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise ScalelabError(f"params.yaml: data.options.{key}: '{value}' is not a non-empty list of names; use e.g. {example}")
    return list(value)


def draw_speakers(voices: list[str], variants: list[str], counts: dict, pitch, rate, rng) -> dict[str, list[dict]]:
    """Each split's speakers: distinct voice+variant names, each with a pitch and a rate."""
    names = [f"{v}+{var}" for v in voices for var in variants]
    total = sum(counts.values())
    if total > len(names):
        raise ScalelabError(f"params.yaml: data.options.speakers: {total} speakers (pool and held out) need as many "
                            f"voice+variant names but voices x variants gives {len(names)}; lower speakers or "
                            f"held_out_speakers, or list more data.options.voices or variants")
    order = rng.permutation(len(names))[:total]
    speakers, start = {}, 0
    for split in SPLIT_ORDER:
        speakers[split] = [{"voice": names[i], "pitch": int(rng.integers(int(pitch[0]), int(pitch[1]) + 1)),
                            "rate": int(rng.integers(int(rate[0]), int(rate[1]) + 1))}
                           for i in order[start:start + counts[split]]]
        start += counts[split]
    return speakers


def synthesise(sizes: dict, seed: int, voices, variants, speakers: int, held_out_speakers: int, pitch, rate,
               snr_db, max_chars: int, frames: int, n_mels: int, sample_rate: int, catalogs) -> tuple[dict, dict, dict, list]:
    """Each split's (features, transcripts) from eSpeak's utterances, info and pool_info, and the
    transcripts of the whole pool side (every sentence validation and test did not take)."""
    from .espeak import synth

    voices, variants = check_names("voices", voices, "[en, en-us]"), check_names("variants", variants, "[m1, f2]")
    check_whole_number("speakers", speakers, 1, 32)
    check_whole_number("held_out_speakers", held_out_speakers, 1, 4)
    pitch, rate = check_range("pitch", pitch, 0, 100, "[30, 70]"), check_range("rate", rate, 80, 450, "[160, 220]")
    snr = check_range("snr_db", snr_db, -20, 100, "[10, 30]")
    engine = synth()
    for name in [f"{v}+{var}" for v in voices for var in variants]:
        if not engine.has_voice(name):
            key = "variants" if engine.has_voice(name.split("+")[0]) else "voices"
            raise ScalelabError(f"params.yaml: data.options.{key}: eSpeak NG {engine.version} has no voice '{name}'; "
                                f"use English voices such as en, en-us, en-gb-scotland and variants m1..m7, f1..f4")
    rng = np.random.default_rng(seed)
    cast = draw_speakers(voices, variants, {"val": held_out_speakers, "test": held_out_speakers, "pool": speakers},
                         pitch, rate, rng)
    sentences = catalog_sentences(catalogs, max_chars)
    order = [int(i) for i in rng.permutation(len(sentences))]
    length = audio.samples_for(frames, sample_rate)
    made, too_long, seconds, spoken_by, position = {}, {}, {}, {}, 0
    for split in SPLIT_ORDER:
        feats, texts, tried, spoken_by[split], too_long[split], seconds[split] = [], [], 0, [], 0, []
        if split == "pool":
            side = [transcript(sentences[i]) for i in order[position:]]  # the pool side, for the vocabulary
        while len(texts) < sizes[split]:
            if position == len(order):
                detail = (f"the catalogs hold {len(sentences)} speakable sentences of at most {max_chars} characters, "
                          f"{too_long[split]} of the {split}'s too long for {frames} frames")
                if split == "pool":
                    raise PoolTooSmall(len(texts), UNIT, detail)
                raise ScalelabError(f"params.yaml: data.{split}_size: {split} got {len(texts)} of {sizes[split]} "
                                    f"utterances: {detail}; lower data.{split}_size, raise "
                                    f"data.options.max_chars or frames, or add data.options.catalogs")
            i, position = order[position], position + 1
            # Speakers take turns by attempt, and the noise is seeded by the attempt's place in its
            # split: neither depends on how far the split goes, so a pool is a prefix of a bigger one.
            who = tried % len(cast[split])
            speaker = cast[split][who]
            tried += 1
            utterance = np.random.SeedSequence([seed, SPLIT_ORDER.index(split), tried])
            samples = engine.speak(sentences[i], speaker["voice"], speaker["pitch"], speaker["rate"],
                                   seed=int(utterance.generate_state(1)[0] >> 1))  # eSpeak's breath noise
            speech = audio.resample(samples.astype(np.float32) / 32768.0, engine.rate, sample_rate)
            noise_rng = np.random.default_rng(utterance)
            snr_draw = float(noise_rng.uniform(*snr))
            if len(speech) > length or not len(speech):
                too_long[split] += 1
                continue
            seconds[split].append(len(speech) / sample_rate)
            clip = audio.add_noise(audio.fit_clip(speech, length), len(speech), snr_draw, noise_rng)
            feats.append(audio.log_mel(clip, sample_rate, n_mels, frames))
            texts.append(transcript(sentences[i]))
            spoken_by[split].append(who)
        made[split] = (feats, texts)
    mean_s = {s: round(float(np.mean(seconds[s])), 3) if seconds[s] else 0.0 for s in SPLIT_ORDER}
    info = {"corpus": "eSpeak NG", "espeak_version": engine.version, "synth_rate": engine.rate,
            "text": "English messages of the gettext catalogs ('de' catalogs)", "sentences_available": len(sentences),
            "pool_side_sentences": len(side), "speakers": cast,
            "voices": {s: [c["voice"] for c in cast[s]] for s in SPLIT_ORDER},
            "utterance_speaker": {s: spoken_by[s] for s in HELD_OUT},  # an index into speakers[split] each
            "pitch": list(pitch), "rate_wpm": list(rate), "snr_db": list(snr),
            "too_long": {s: too_long[s] for s in HELD_OUT}, "speech_seconds_mean": {s: mean_s[s] for s in HELD_OUT}}
    pool_info = {"utterance_speaker": spoken_by["pool"], "too_long": too_long["pool"],
                 "speech_seconds_mean": mean_s["pool"]}
    return made, info, pool_info, side


def in_fresh_process(function, *args):
    """function(*args) in a new Python process. eSpeak NG keeps state from one utterance to the next
    that no API call resets (the same text and voice give other samples the second time, even after
    espeak_Terminate and espeak_Initialize, or espeak_ng_SetRandSeed), but a new process that makes
    the same calls in the same order gives the same bytes: so each `prepare` synthesises in one."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def read_table(folder: str) -> tuple[str, list[dict]]:
    """The transcript table's rows as {wav, text, speaker}: metadata.csv (LJSpeech) or one .tsv."""
    import csv
    import glob
    import os

    if not os.path.isdir(folder):
        raise ScalelabError(f"params.yaml: data.options.corpus: '{folder}' is not a folder; name the folder holding "
                            f"your WAV files and metadata.csv (LJSpeech) or a .tsv with path and sentence columns")
    lj = os.path.join(folder, "metadata.csv")
    tsvs = sorted(glob.glob(os.path.join(folder, "*.tsv")))
    rows = []
    if os.path.isfile(lj):
        with open(lj, encoding="utf-8", newline="") as f:
            for line in f.read().splitlines():
                if not line.strip():
                    continue
                parts = line.split("|")
                if len(parts) < 2:
                    raise ScalelabError(f"params.yaml: data.options.corpus: '{lj}' line '{line[:40]}' is not "
                                        f"'id|text|normalized text'; write LJSpeech's format")
                wav = os.path.join(folder, "wavs", parts[0] + ".wav")
                wav = wav if os.path.isfile(wav) else os.path.join(folder, parts[0] + ".wav")
                text = parts[2] if len(parts) > 2 and parts[2].strip() else parts[1]
                rows.append({"wav": wav, "text": text, "speaker": None})
        return "metadata.csv", rows
    if len(tsvs) != 1:
        raise ScalelabError(f"params.yaml: data.options.corpus: '{folder}' holds no metadata.csv and {len(tsvs)} .tsv "
                            f"files; put exactly one transcript table there (LJSpeech's metadata.csv, or one .tsv "
                            f"with path and sentence columns)")
    with open(tsvs[0], encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not {"path", "sentence"} <= set(reader.fieldnames or []):
            raise ScalelabError(f"params.yaml: data.options.corpus: '{tsvs[0]}' has columns {reader.fieldnames}; "
                                f"it needs path and sentence (and client_id for the speaker)")
        for r in reader:
            wav = os.path.join(folder, r["path"])
            wav = wav if os.path.isfile(wav) else os.path.join(folder, "clips", r["path"])
            rows.append({"wav": wav, "text": r["sentence"], "speaker": r.get("client_id") or None})
    return os.path.basename(tsvs[0]), rows


def recorded(sizes: dict, seed: int, corpus: str, max_chars: int, frames: int, n_mels: int,
             sample_rate: int) -> tuple[dict, dict, dict, list]:
    """Each split's (features, transcripts) from your own recordings, held out by speaker if known
    (groups of utterances dealt in one seeded order: validation, then test, then the pool), info
    and pool_info, and the transcripts of the whole pool side (every group the held-out sets left)."""
    table, rows = read_table(corpus)
    by_speaker = bool(rows) and all(r["speaker"] for r in rows)
    if by_speaker:
        names = sorted({r["speaker"] for r in rows})
        groups = [[r for r in rows if r["speaker"] == name] for name in names]
    else:
        names, groups = [None] * len(rows), [[r] for r in rows]
    order = [int(g) for g in np.random.default_rng(seed).permutation(len(groups))]
    length = audio.samples_for(frames, sample_rate)
    made = {s: ([], []) for s in SPLIT_ORDER}
    speakers: dict[str, list] = {s: [] for s in SPLIT_ORDER}
    spoken_by: dict[str, list[int]] = {s: [] for s in SPLIT_ORDER}
    dropped = dict.fromkeys(SPLIT_ORDER, 0)
    position = 0
    for split in SPLIT_ORDER:
        if split == "pool":
            side = [t for g in order[position:] for r in groups[g] if 0 < len(t := transcript(r["text"])) <= max_chars]
        feats, texts = made[split]
        while len(texts) < sizes[split] and position < len(order):
            g, position = order[position], position + 1
            if by_speaker:
                speakers[split].append(names[g])
            for row in groups[g]:
                if len(texts) >= sizes[split]:
                    break  # the speaker's other utterances are not used anywhere
                text = transcript(row["text"])
                speech = audio.read_wav(row["wav"], sample_rate) if text and len(text) <= max_chars else np.zeros(0)
                if not len(speech) or len(speech) > length:
                    dropped[split] += 1
                    continue
                feats.append(audio.log_mel(audio.fit_clip(speech, length), sample_rate, n_mels, frames))
                texts.append(text)
                if by_speaker:
                    spoken_by[split].append(len(speakers[split]) - 1)
        detail = (f"the corpus '{corpus}' holds {len(rows)} utterances; {dropped[split]} of the {split}'s had an empty "
                  f"or too long (> {max_chars} characters) transcript, or a clip longer than {frames} frames")
        if len(texts) < sizes[split] and split == "pool":
            raise PoolTooSmall(len(texts), UNIT, detail)
        if len(texts) < sizes[split]:
            raise ScalelabError(f"params.yaml: data.{split}_size: {split} got {len(texts)} of {sizes[split]} utterances "
                                f"({detail}); lower data.{split}_size or raise data.options.max_chars or frames")
    info = {"corpus": corpus, "table": table, "held_out_by": "speaker" if by_speaker else "utterance",
            "utterances_in_table": len(rows), "pool_side_utterances": len(side),
            "dropped": {s: dropped[s] for s in HELD_OUT}}
    pool_info = {"dropped": dropped["pool"]}
    if by_speaker:
        info["speakers"] = {s: speakers[s] for s in HELD_OUT}
        info["utterance_speaker"] = {s: spoken_by[s] for s in HELD_OUT}
        pool_info["speakers"], pool_info["utterance_speaker"] = speakers["pool"], spoken_by["pool"]
    return made, info, pool_info, side


def vocabulary(texts: list[str]) -> list[str]:
    """The specials, then the characters of `texts` (the pool side's transcripts), most frequent first."""
    counts = collections.Counter(c for t in texts for c in t)
    return SPECIALS + sorted(counts, key=lambda c: (-counts[c], c))


def encode(texts: list[str], ids: dict[str, int], length: int) -> np.ndarray:
    y = np.full((len(texts), length), IGNORE, dtype=np.int64)
    for i, t in enumerate(texts):
        y[i, :len(t)] = [ids.get(c, UNK) for c in t]
    return y


def make_splits(sizes: dict, seed: int, voices=VOICES, variants=VARIANTS, speakers: int = 32,
                held_out_speakers: int = 6, pitch=(30, 70), rate=(160, 220), snr_db=(10, 30), max_chars: int = 24,
                frames: int = 200, n_mels: int = 40, sample_rate: int = 16000, catalogs=None, corpus=None) -> dict:
    check_whole_number("max_chars", max_chars, 1, 24)
    check_whole_number("frames", frames, 8, 200)
    check_whole_number("n_mels", n_mels, 1, 40)
    check_whole_number("sample_rate", sample_rate, 4000, 16000)
    if corpus is None:
        made, source, pool_source, side = in_fresh_process(synthesise, sizes, seed, voices, variants, speakers,
                                                           held_out_speakers, pitch, rate, snr_db, max_chars, frames,
                                                           n_mels, sample_rate, catalogs)
    else:
        made, source, pool_source, side = recorded(sizes, seed, str(corpus), max_chars, frames, n_mels, sample_rate)
    vocab = vocabulary(side)
    ids = {c: i for i, c in enumerate(vocab)}
    arrays = {}
    for split in SPLIT_ORDER:
        feats, texts = made[split]
        x = np.stack(feats) if feats else np.zeros((0, frames, n_mels), np.float32)
        arrays[split] = (x, encode(texts, ids, max_chars))
    chars = {s: round(float((arrays[s][1] != IGNORE).sum() / max(1, len(arrays[s][1]))), 2) for s in SPLIT_ORDER}
    unk = {s: round(float((arrays[s][1] == UNK).sum() / max(1, (arrays[s][1] != IGNORE).sum())), 6) for s in SPLIT_ORDER}
    info = {**source, "sample_rate": sample_rate, "frames": frames, "frame_ms": [1000 * audio.WINDOW_S, 1000 * audio.HOP_S],
            "n_mels": n_mels, "max_chars": max_chars, "chars_per_utterance": {s: chars[s] for s in HELD_OUT},
            "unk_rate": {s: unk[s] for s in HELD_OUT},
            "vocab_size": len(vocab), "vocabulary": vocab}  # id -> character; 0 is the CTC blank
    pool_info = {**pool_source, "chars_per_utterance": chars["pool"], "unk_rate": unk["pool"]}
    return {**arrays, "n_classes": len(vocab), "tokens_per_example": 1, "info": info, "pool_info": pool_info}
