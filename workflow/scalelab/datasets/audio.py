"""Audio for the speech dataset: reading WAV files, resampling, noise, log-mel features (numpy only).

Features are Deep Speech 2's input, a log spectrogram on the mel scale: 25 ms Hann windows every
10 ms (400 and 160 samples at 16 kHz), a 512-point FFT, `n_mels` triangular filters (HTK mel
formula) from 0 Hz to half the sample rate, log(power + 1e-6), then normalised per clip (mean 0,
standard deviation 1 over all its frames and bins) so that loudness does not matter. Every clip
is cut or padded to the same number of samples first, so features have a fixed shape.
"""

from __future__ import annotations

import wave

import numpy as np

from scalelab.errors import ScalelabError

WINDOW_S, HOP_S = 0.025, 0.010


def frame_sizes(rate: int) -> tuple[int, int, int]:
    """Window and hop in samples, and the FFT size (the next power of two)."""
    window, hop = round(WINDOW_S * rate), round(HOP_S * rate)
    return window, hop, 1 << (window - 1).bit_length()


def samples_for(frames: int, rate: int) -> int:
    """How many samples make exactly `frames` frames."""
    window, hop, _ = frame_sizes(rate)
    return (frames - 1) * hop + window


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Linear interpolation: plain and deterministic. No anti-aliasing filter: eSpeak's formants and
    speech corpora carry little energy above the new Nyquist frequency."""
    if rate_in == rate_out or len(x) == 0:
        return x.astype(np.float32)
    n = int(round(len(x) * rate_out / rate_in))
    t = np.arange(n) * (rate_in / rate_out)
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)


@np.errstate(divide="ignore")
def mel_filters(n_mels: int, n_fft: int, rate: int) -> np.ndarray:
    """[n_fft // 2 + 1, n_mels] triangular filters, evenly spaced on the HTK mel scale."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(0.0, mel(rate / 2), n_mels + 2))
    freqs = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    lower = (freqs[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])[None]
    upper = (edges[None, 2:] - freqs[:, None]) / (edges[2:] - edges[1:-1])[None]
    return np.maximum(0.0, np.minimum(lower, upper))


def log_mel(clip: np.ndarray, rate: int, n_mels: int, frames: int) -> np.ndarray:
    """float32 [frames, n_mels] of a clip of samples_for(frames, rate) samples."""
    window, hop, n_fft = frame_sizes(rate)
    starts = np.arange(frames) * hop
    framed = clip[starts[:, None] + np.arange(window)[None]] * np.hanning(window)[None]
    power = np.abs(np.fft.rfft(framed, n=n_fft, axis=1)) ** 2
    feats = np.log(power @ mel_filters(n_mels, n_fft, rate) + 1e-6)
    return ((feats - feats.mean()) / (feats.std() + 1e-6)).astype(np.float32)


def fit_clip(speech: np.ndarray, length: int) -> np.ndarray:
    """The speech at the start of a clip of `length` samples, silence after it (float, -1..1)."""
    clip = np.zeros(length, np.float64)
    clip[:len(speech)] = speech[:length]
    return clip


def add_noise(clip: np.ndarray, speech_samples: int, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise over the whole clip at `snr_db` below the speech's mean power."""
    power = float(np.mean(clip[:speech_samples] ** 2)) if speech_samples else 0.0
    sigma = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return clip + rng.normal(0.0, 1.0, len(clip)) * sigma


def read_wav(path: str, rate: int) -> np.ndarray:
    """A 16-bit PCM mono WAV file as float samples in -1..1 at `rate` Hz (resampled if need be)."""
    try:
        with wave.open(path, "rb") as f:
            channels, width, rate_in = f.getnchannels(), f.getsampwidth(), f.getframerate()
            raw = f.readframes(f.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ScalelabError(f"params.yaml: data.options.corpus: cannot read '{path}' as a WAV file ({exc}); "
                            f"give 16-bit PCM mono WAV files (ffmpeg -i in -ac 1 -c:a pcm_s16le out.wav)") from None
    if channels != 1 or width != 2:
        raise ScalelabError(f"params.yaml: data.options.corpus: '{path}' has {channels} channel(s) of {8 * width}-bit "
                            f"samples; convert it to 16-bit PCM mono (ffmpeg -i in -ac 1 -c:a pcm_s16le out.wav)")
    return resample(np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0, rate_in, rate)
