"""eSpeak NG through its C API (ctypes), for the speech dataset's offline utterances.

Why eSpeak: it is a formant synthesiser, small, deterministic (the same text, voice, pitch and rate
give the same samples on every run) and shipped as a wheel (`espeakng-loader`: libespeak-ng.so
1.52 and its espeak-ng-data), so a speech study needs no download and no audio corpus. A system
install (apt install espeak-ng) is used when the wheel is absent.

The library keeps global state (one voice, one callback), so one Synth object per process, made
on first use. Constants from espeak-ng's speak_lib.h (API revision 12).

Two things make its output vary, found by synthesising the same text twice: variants with breath
noise (f2, f3, ...) draw it from a generator eSpeak seeds from the clock, so each utterance first
reseeds it (espeak_ng_SetRandSeed, eSpeak NG >= 1.51) with a seed of its own; and some state
carries over from one utterance to the next (the same text comes out a few samples longer or
shorter the second time; espeak_Initialize does not reset it), so the dataset synthesises in a
fresh process that makes the same calls in the same order every time (speech.in_fresh_process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

import numpy as np

from scalelab.errors import ScalelabError

AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: samples through the callback, Synth returns when done
POS_CHARACTER = 1  # espeak_POSITION_TYPE
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE, ESPEAK_PITCH = 1, 3  # espeak_PARAMETER
EE_OK = 0
BUFFER_MS = 200  # the length of each buffer handed to the callback
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
FIX = "pip install espeakng-loader (or apt install espeak-ng)"


def _library() -> tuple[ctypes.CDLL, bytes | None]:
    """The library and its data folder: the wheel's first, else the system's."""
    try:
        import espeakng_loader

        return ctypes.CDLL(espeakng_loader.get_library_path()), espeakng_loader.get_data_path().encode()
    except (ImportError, OSError, RuntimeError):
        pass
    name = ctypes.util.find_library("espeak-ng")
    try:
        return ctypes.CDLL(name or "libespeak-ng.so.1"), None
    except OSError:
        raise ScalelabError(f"params.yaml: data.options: the speech dataset synthesises its utterances with eSpeak NG, "
                            f"which cannot be loaded; {FIX}, or give your own recordings in data.options.corpus") from None


class Synth:
    """Speak text with one eSpeak voice at a time; returns int16 samples at `rate` Hz."""

    def __init__(self):
        self.lib, data = _library()
        self.lib.espeak_Info.restype = ctypes.c_char_p
        self.lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, data, 0)
        if self.rate <= 0:
            raise ScalelabError(f"params.yaml: data.options: eSpeak NG loaded but found no espeak-ng-data "
                                f"(espeak_Initialize returned {self.rate}); reinstall it: {FIX}")
        where = ctypes.c_char_p()
        self.version = self.lib.espeak_Info(ctypes.byref(where)).decode()
        self.data_path = (where.value or b"").decode()
        self.chunks: list[np.ndarray] = []
        self.callback = CALLBACK(self._collect)  # kept on self: the C library holds only the pointer
        self.lib.espeak_SetSynthCallback(self.callback)
        self.reseed = getattr(self.lib, "espeak_ng_SetRandSeed", None)  # absent before eSpeak NG 1.51
        if self.reseed is None:
            raise ScalelabError(f"params.yaml: data.options: eSpeak NG {self.version} cannot be seeded (no "
                                f"espeak_ng_SetRandSeed; 1.51 or newer has it), so its utterances would differ from run "
                                f"to run; {FIX}")
        self.reseed.argtypes = [ctypes.c_long]

    def _collect(self, wav, n, _events) -> int:
        if wav and n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        return 0  # continue

    def has_voice(self, voice: str) -> bool:
        """Whether eSpeak knows the voice and its variant (it falls back to no variant silently)."""
        name, _, variant = voice.partition("+")
        if variant and not os.path.isfile(os.path.join(self.data_path, "voices", "!v", variant)):
            return False
        return self.lib.espeak_SetVoiceByName(name.encode()) == EE_OK

    def speak(self, text: str, voice: str, pitch: int, rate: int, seed: int = 0) -> np.ndarray:
        """int16 samples of `text`; `seed` seeds the breath noise of breathy variants."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise ScalelabError(f"params.yaml: data.options.voices: eSpeak NG {self.version} has no voice '{voice}'; "
                                f"use English voices such as en, en-us, en-gb-scotland with variants m1..m7, f1..f4")
        self.lib.espeak_SetParameter(ESPEAK_RATE, int(rate), 0)  # after the voice, which resets them
        self.lib.espeak_SetParameter(ESPEAK_PITCH, int(pitch), 0)
        self.reseed(seed)
        self.chunks = []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)


@functools.cache
def synth() -> Synth:
    return Synth()
