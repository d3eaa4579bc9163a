"""eSpeak NG through ctypes: the library and voice data that the
``espeakng-loader`` package ships (100+ languages and accents), synthesised
in memory through the synchronous callback API.

eSpeak NG keeps global state, so one lock serialises every call into it.
This module imports nothing heavy and may be used by the window to list
voices (``list_voices``, ``list_variants``)."""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from studio.core.jobs import StudioError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}

_lock = threading.RLock()
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class EspeakVoice:
    name: str  # "English (America)"
    identifier: str  # "gmw/en-US"
    language: str  # "en-us"


class _Engine:
    """The loaded library, initialised once, with the buffer its callback fills."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise StudioError("eSpeak NG is not installed (the espeakng-loader package is missing)") from exc
        self.data_path = espeakng_loader.get_data_path()
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0)
        if self.sample_rate <= 0:
            raise StudioError("eSpeak NG failed to start (its voice data could not be read)")
        self._blocks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._receive)  # kept alive as long as the library may call it
        lib.espeak_SetSynthCallback(self._callback)

    def _receive(self, wav, count: int, _events) -> int:
        if wav and count > 0:
            self._blocks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0: carry on synthesising

    def voices(self) -> list[EspeakVoice]:
        found = []
        array = self.lib.espeak_ListVoices(None)
        index = 0
        while array[index]:
            voice = array[index].contents
            # ``languages`` is a priority byte, then a NUL-terminated language name.
            language = (voice.languages or b"\0\0")[1:].split(b"\0")[0].decode("utf-8", "replace")
            found.append(EspeakVoice(voice.name.decode("utf-8", "replace"),
                                     voice.identifier.decode("utf-8", "replace"), language))
            index += 1
        return found

    def synthesize(self, text: str, voice: str, settings: dict[str, int]) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.encode("utf-8")) != _EE_OK:
            raise StudioError(f"eSpeak NG could not select the voice {voice!r}")
        self.lib.espeak_SetParameter(_PARAM["rate"], settings["rate_wpm"], 0)
        self.lib.espeak_SetParameter(_PARAM["pitch"], settings["pitch"], 0)
        self.lib.espeak_SetParameter(_PARAM["range"], settings["range"], 0)
        self.lib.espeak_SetParameter(_PARAM["volume"], settings.get("volume", 100), 0)
        raw = text.encode("utf-8") + b"\0"
        self._blocks = []
        status = self.lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if status != _EE_OK:
            raise StudioError(f"eSpeak NG failed to speak (error {status})")
        blocks, self._blocks = self._blocks, []
        if not blocks:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(blocks).astype(np.float32) / 32768.0)


_engine: _Engine | None = None


def _get_engine() -> _Engine:
    global _engine
    with _lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


def sample_rate() -> int:
    return _get_engine().sample_rate


@lru_cache(maxsize=1)
def list_voices() -> tuple[EspeakVoice, ...]:
    """Every eSpeak NG voice (one per language or accent), sorted by name."""
    with _lock:
        return tuple(sorted(_get_engine().voices(), key=lambda v: v.name.lower()))


@lru_cache(maxsize=1)
def list_variants() -> tuple[str, ...]:
    """Voice variants (``f1``..``f5``, ``m1``.., ``whisper``, ``croak`` ...),
    usable as ``voice+variant``."""
    folder = os.path.join(_get_engine().data_path, "voices", "!v")
    return tuple(sorted(os.listdir(folder))) if os.path.isdir(folder) else ()


def resolve_voice(voice: str, language: str) -> str:
    """The eSpeak identifier (plus ``+variant``) for what a person typed: a
    voice name, an identifier, or a language code. Empty means US English."""
    wanted, _, variant = (voice or language or "en-us").strip().partition("+")
    key = wanted.lower()
    voices = list_voices()
    exact = [v for v in voices if key in {v.name.lower(), v.identifier.lower(), v.language.lower(),
                                          v.identifier.rsplit("/", 1)[-1].lower()}]
    regional = [v for v in voices if v.language.lower().startswith(key + "-")]  # "pt" finds "pt-br"
    if not exact and not regional:
        kind = "voice" if voice else "language"
        raise StudioError(f"eSpeak NG has no {kind} {wanted!r}; try en-us, en-gb, fr, de, es, hi or zh")
    chosen = (exact or regional)[0].identifier
    if variant and variant not in list_variants():
        raise StudioError(f"eSpeak NG has no voice variant {variant!r}; try f1, m3 or whisper")
    return f"{chosen}+{variant}" if variant else chosen


def synthesize(text: str, voice: str, settings: dict[str, int]) -> np.ndarray:
    """Mono float32 samples at ``sample_rate()`` for ``text``."""
    with _lock:
        return _get_engine().synthesize(text, voice, settings)
