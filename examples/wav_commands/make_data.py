"""Make a synthetic spoken-command dataset: short mono 16-bit .wav files and a manifest.csv.

Each of 8 "words" is a sequence of 2-3 tones or chirps with its own pitch contour. Every clip is
spoken by one of ~150 "speakers", each with a base pitch, a speed, a timbre (harmonic mix) and a
noise level of their own; every clip adds its own jitter, noise, gain, offset and sometimes a
stray background tone. The words differ in pitch *contour*, while speakers shift absolute pitch,
so a model has to learn relative patterns: learnable, but not from a handful of examples.

    python examples/wav_commands/make_data.py                    # 6000 clips in data/wav_commands/
    python examples/wav_commands/make_data.py --append 1000      # 1000 more rows, "bought later"

The output is seeded and byte-reproducible: the same arguments write the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import sys
import wave
from pathlib import Path

import numpy as np

RATE = 8000  # Hz
MAX_SAMPLES = RATE // 2  # clips are at most 0.5 s
# Word -> segments (start pitch, end pitch, share of the word's length); pitch relative to the speaker's base.
WORDS = {
    "go": [(1.0, 1.0, 0.5), (1.5, 1.5, 0.5)],
    "stop": [(1.5, 1.5, 0.5), (1.0, 1.0, 0.5)],
    "left": [(1.0, 1.5, 0.6), (1.25, 1.25, 0.4)],
    "right": [(1.5, 1.0, 0.6), (1.25, 1.25, 0.4)],
    "up": [(1.0, 1.0, 0.33), (1.25, 1.25, 0.33), (1.5, 1.5, 0.34)],
    "down": [(1.5, 1.5, 0.33), (1.25, 1.25, 0.33), (1.0, 1.0, 0.34)],
    "yes": [(1.2, 1.6, 0.5), (1.2, 1.6, 0.5)],
    "no": [(1.6, 1.2, 0.5), (1.6, 1.2, 0.5)],
}
FIELDS = ["id", "path", "label", "speaker"]
PITCH_RANGE = 0.1  # speakers' base pitch: +-0.1 octave around 420 Hz
SNR_DB = (-15.0, 20.0)  # each clip's signal-to-noise ratio (dB, broadband) is drawn uniformly from this range ...
SLOPPINESS = (0.02, 0.08)  # ... and how far (octaves, sd) its syllables stray from the word's contour from this:
# clean, careful clips are learnt from a few examples, noisy or slurred ones take many, and the
# worst are beyond recognition, so more data keeps helping gradually, down to a floor.


def speaker_voice(seed: int, speaker: int) -> dict:
    """The fixed voice of one speaker: the same for a given (seed, speaker), in any run or append."""
    rng = np.random.default_rng([seed, 1, speaker])
    harmonics = rng.uniform(0.1, 1.0, 3)
    return {"base": 420.0 * 2 ** rng.uniform(-PITCH_RANGE, PITCH_RANGE), "speed": rng.uniform(0.8, 1.25),
            "harmonics": harmonics / harmonics.sum(), "snr": rng.uniform(-4, 4)}


def synthesize(seed: int, clip: int, word: str, voice: dict) -> np.ndarray:
    """One clip as int16 samples: the word's segments in the speaker's voice, with this clip's jitter."""
    rng = np.random.default_rng([seed, 2, clip])
    length = 0.28 * voice["speed"] * rng.uniform(0.85, 1.15)  # seconds of speech
    pitch = voice["base"] * 2 ** rng.normal(0, 0.05)
    sloppiness = rng.uniform(*SLOPPINESS)
    parts = [np.zeros(int(RATE * rng.uniform(0.01, 0.1)))]  # leading silence
    for start, end, share in WORDS[word]:
        n = int(RATE * length * share * rng.uniform(0.8, 1.2))
        f0 = pitch * np.geomspace(start * 2 ** rng.normal(0, sloppiness), end * 2 ** rng.normal(0, sloppiness), n)
        phase = 2 * np.pi * np.cumsum(f0) / RATE
        tone = sum(a * np.sin((h + 1) * phase) for h, a in enumerate(voice["harmonics"]))
        ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.015 * RATE))
        parts += [tone * ramp, np.zeros(int(RATE * rng.uniform(0.0, 0.03)))]
    signal = np.concatenate(parts)[:MAX_SAMPLES]
    speech = signal[np.abs(signal) > 0]
    rms = np.sqrt(np.mean(speech**2)) if len(speech) else 1.0
    signal = np.pad(signal, (0, max(0, int(0.25 * RATE) - len(signal))))  # at least 0.25 s
    if rng.random() < 0.3:  # a stray background tone
        f = rng.uniform(200, 2000)
        signal += rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * f * np.arange(len(signal)) / RATE + rng.uniform(0, 6.3))
    snr = rng.uniform(*SNR_DB) + voice["snr"]
    signal += rng.normal(0, rms * 10 ** (-snr / 20), len(signal))
    signal *= rng.uniform(0.2, 0.9) / np.abs(signal).max()
    return np.round(signal * 32767).astype("<i2")


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(samples.tobytes())


def make_rows(seed: int, first_clip: int, speakers: np.ndarray, out: Path) -> list[dict]:
    """Clips numbered from first_clip, recorded speaker by speaker, returned in a seeded random order."""
    rng = np.random.default_rng([seed, 3, first_clip])
    words = rng.choice(sorted(WORDS), len(speakers))
    speakers = np.sort(speakers)  # ids follow the recording sessions
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (speaker, word) in enumerate(zip(speakers, words)):
        clip = first_clip + i
        name = f"c{clip:06d}"
        write_wav(out / "clips" / f"{name}.wav", synthesize(seed, clip, word, speaker_voice(seed, int(speaker))))
        rows.append({"id": name, "path": f"clips/{name}.wav", "label": word, "speaker": f"s{speaker:04d}"})
    return [rows[i] for i in rng.permutation(len(rows))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/wav_commands"), help="folder for manifest.csv and clips/")
    parser.add_argument("--examples", type=int, default=6000, help="number of clips (default 6000)")
    parser.add_argument("--speakers", type=int, default=150, help="number of speakers (default 150)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--append", type=int, metavar="N", help="add N rows to an existing manifest instead")
    args = parser.parse_args(argv)
    manifest = args.out / "manifest.csv"
    if args.append is None:
        rng = np.random.default_rng([args.seed, 0])
        rows = make_rows(args.seed, 0, rng.integers(0, args.speakers, args.examples), args.out)
        with open(manifest, "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {len(rows)} clips to {manifest}")
        return 0
    if not manifest.exists():
        sys.exit(f"error: no manifest to append to: {manifest}")
    with open(manifest, newline="") as f:
        old = list(csv.DictReader(f))
    next_clip = max(int(r["id"][1:]) for r in old) + 1
    known = sorted({int(r["speaker"][1:]) for r in old})
    newcomers = max(1, args.append // 40)  # new speakers, ~40 clips each, the rest from known speakers
    rng = np.random.default_rng([args.seed, 4, next_clip])
    pool = np.concatenate([np.array(known), max(known) + 1 + np.arange(newcomers)])
    chosen = np.where(rng.random(args.append) < 0.5, rng.choice(pool[:len(known)], args.append),
                      rng.choice(pool[len(known):], args.append))
    rows = make_rows(args.seed, next_clip, chosen, args.out)
    with open(manifest, "a", newline="") as f:
        csv.DictWriter(f, FIELDS, lineterminator="\n").writerows(rows)
    print(f"appended {len(rows)} clips to {manifest} ({len(old) + len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
