"""Text to speech: Piper voices, eSpeak NG and transformers speech models
behind one streaming loop.

The text is split into sentences; each is synthesised, followed by the
requested pause, and sent to ``report.preview`` as an
:class:`~studio.engines.audio.common.AudioChunk` as soon as it exists, so the
waveform grows and playback can start before the whole text is spoken. The
chunks, in order, are exactly the final file's samples.

Every backend offers ``sample_rate``, ``synthesize(sentence) -> float32
mono`` and ``recipe()``; they are chosen from ``model_id`` (see
:mod:`studio.engines.audio.requests`)."""

from __future__ import annotations

import re
from typing import Any, Protocol

import numpy as np

from studio.core.jobs import Artifact, CancelToken, Reporter, StudioError
from studio.engines.audio.common import ChunkStreamer, audio_artifact, normalise_peak, seconds_to_frames, soft_limit
from studio.engines.audio.requests import ESPEAK_MODEL_ID, PIPER_STARTER_ID, SpeechRequest
from studio.engines.audio.speech import espeak
from studio.engines.audio.speech.presets import Expression, espeak_settings, expression

MAX_SENTENCE_CHARS = 400
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "no",
                  "fig", "mt"}
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+")


class Backend(Protocol):
    name: str
    sample_rate: int
    supports_cloning: bool

    def synthesize(self, sentence: str) -> np.ndarray: ...

    def recipe(self) -> dict[str, Any]: ...


def split_sentences(text: str) -> list[str]:
    """Sentences in reading order. Line breaks always split; a full stop does
    not after an abbreviation ("Dr.", "e.g."), an initial, or before a
    lower-case word. Overlong sentences are cut at a comma near their middle
    so no single chunk keeps the listener waiting."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n", text):
        start = 0
        for match in _SENTENCE_END.finditer(paragraph):
            before = paragraph[start:match.start()].rstrip(".!?;\"')]").split()
            last_word = before[-1].lower().rstrip(".") if before else ""
            following = paragraph[match.end():match.end() + 1]
            if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()) or following.islower():
                continue  # "Dr. Smith", "J. R. Jones", "5 p.m. on Monday" go on
            sentences.append(paragraph[start:match.start()].strip())
            start = match.end()
        sentences.append(paragraph[start:].strip())
    return [piece for sentence in sentences if sentence for piece in _cut_long(sentence)]


def _cut_long(sentence: str) -> list[str]:
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return [sentence]
    middle = len(sentence) // 2
    commas = [m.end() for m in re.finditer(r"[,:]\s", sentence)] or [sentence.rfind(" ", 0, middle) + 1 or middle]
    cut = min(commas, key=lambda position: abs(position - middle))
    return _cut_long(sentence[:cut].strip()) + _cut_long(sentence[cut:].strip())


class EspeakBackend:
    name = "espeak-ng"
    supports_cloning = False

    def __init__(self, request: SpeechRequest, preset: Expression) -> None:
        self.sample_rate = espeak.sample_rate()
        voice = espeak.resolve_voice(request.voice, request.language)
        if preset.espeak_variant and "+" not in voice:
            voice = f"{voice}+{preset.espeak_variant}"
        self.voice = voice
        self.settings = espeak_settings(request.rate, request.pitch, preset)

    def synthesize(self, sentence: str) -> np.ndarray:
        return espeak.synthesize(sentence, self.voice, self.settings)

    def recipe(self) -> dict[str, Any]:
        return {"engine": "espeak-ng", "voice": self.voice, "espeak": dict(self.settings)}


def open_backend(request: SpeechRequest, preset: Expression) -> Backend:
    """The backend for ``request.model_id`` (empty: the Piper starter voice,
    or eSpeak NG when that is not installed)."""
    from studio.engines.audio.models import audio_card, card_or_none

    if request.model_id == ESPEAK_MODEL_ID:
        return EspeakBackend(request, preset)
    card = audio_card(request.model_id) if request.model_id else card_or_none(PIPER_STARTER_ID)
    if card is None:
        return EspeakBackend(request, preset)
    if card.format == "onnx-voice":
        from studio.engines.audio.speech.piper_voice import PiperBackend

        return PiperBackend(card, request, preset)
    if card.format == "transformers":
        from studio.engines.audio.speech.transformers_tts import TransformersBackend

        return TransformersBackend(card, request, preset)
    raise StudioError(f"{card.name} is not a voice ({card.format}); choose a Piper voice, eSpeak NG or a speech model")


def run(request: SpeechRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    request.validate()
    preset = expression(request.preset)
    sentences = split_sentences(request.prompt)
    if not sentences:
        raise StudioError("there is no text to speak")
    report.progress(0, len(sentences), "loading the voice")
    backend = open_backend(request, preset)
    if request.reference_audio and not backend.supports_cloning:
        raise StudioError(f"{backend.recipe().get('voice', backend.name)} cannot clone a voice from a clip;"
                          " clear the reference clip or choose a SpeechT5 model")
    rate = backend.sample_rate
    pause = np.zeros(seconds_to_frames(request.sentence_pause_s, rate), dtype=np.float32)
    gain = request.volume * preset.volume
    stream = ChunkStreamer(report, rate)
    pieces: list[np.ndarray] = []
    for index, sentence in enumerate(sentences):
        cancel.raise_if_cancelled()
        voice = soft_limit(normalise_peak(backend.synthesize(sentence)) * gain)
        piece = np.concatenate([voice, pause]) if index < len(sentences) - 1 else voice
        pieces.append(piece)
        stream.push(piece)
        report.progress(index + 1, len(sentences), sentence[:40])
    samples = np.concatenate(pieces)
    recipe = {**backend.recipe(), "preset": request.preset, "expression": preset.to_dict(),
              "sentences": len(sentences)}
    return audio_artifact(samples, rate, request.format, recipe)
