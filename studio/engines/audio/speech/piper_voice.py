"""Piper voices (``.onnx`` + ``.onnx.json``) through ``piper-tts``.

Rate maps to Piper's ``length_scale``; the preset's liveliness to
``noise_scale`` and ``noise_w``. Piper has no pitch control, so pitch is
shifted by asking for slower speech (``length_scale`` times the pitch ratio)
and playing it back faster by the same ratio: the words keep their pace and
the voice moves up (or down) with almost no artefacts."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.engines.audio.models import load_cached
from studio.engines.audio.requests import SpeechRequest
from studio.engines.audio.speech import effects
from studio.engines.audio.speech.presets import Expression, semitones_to_ratio


def _load_voice(card: ModelCard) -> Any:
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    config_path = card.path.with_name(card.path.name + ".json")
    if not config_path.exists():
        raise StudioError(f"{card.name}: the voice config {config_path.name} is missing next to the .onnx file")
    try:
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    except (ValueError, KeyError) as exc:
        raise StudioError(f"{card.name}: the voice config {config_path.name} is not a Piper config ({exc})") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = min(4, os.cpu_count() or 1)
    # Spinning worker threads wait for work by burning CPU; on a busy machine (the GUI, other jobs)
    # that halves synthesis speed, so idle threads sleep instead.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(card.path), sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)


def _is_voice(model: Any) -> bool:
    return type(model).__name__ == "PiperVoice"


class PiperBackend:
    name = "piper"
    supports_cloning = False

    def __init__(self, card: ModelCard, request: SpeechRequest, preset: Expression) -> None:
        from piper import SynthesisConfig

        self.card = card
        self.voice = load_cached(card, _load_voice, _is_voice)
        self.sample_rate = int(self.voice.config.sample_rate)
        self.pitch = request.pitch + preset.pitch
        self.pitch_ratio = semitones_to_ratio(self.pitch)
        self.whisper = preset.whisper
        self.seed = request.seed
        base = self.voice.config
        self.settings = {
            "length_scale": base.length_scale / (request.rate * preset.rate) * self.pitch_ratio,
            "noise_scale": preset.noise_scale,
            "noise_w_scale": preset.noise_w,
            "speaker_id": self._speaker_id(request.voice),
        }
        self.config = SynthesisConfig(normalize_audio=True, **self.settings)

    def _speaker_id(self, voice: str) -> int | None:
        speakers = self.voice.config.speaker_id_map or {}
        if not voice:
            return None
        if voice in speakers:
            return int(speakers[voice])
        if voice.isdigit() and int(voice) < max(self.voice.config.num_speakers, 1):
            return int(voice)
        if self.voice.config.num_speakers <= 1:
            raise StudioError(f"{self.card.name} has a single speaker; leave the voice empty")
        names = ", ".join(list(speakers)[:6])
        raise StudioError(f"{self.card.name} has no speaker {voice!r}; try {names}")

    def synthesize(self, sentence: str) -> np.ndarray:
        chunks = list(self.voice.synthesize(sentence, self.config))
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
        audio = effects.resample(audio, self.pitch_ratio)
        if self.whisper:
            audio = effects.whisper(audio, self.sample_rate, self.seed)
        return audio

    def recipe(self) -> dict[str, Any]:
        return {"engine": "piper", "voice": self.card.name, "voice_file": self.card.path.name,
                "piper": {**self.settings, "pitch_semitones": self.pitch, "dsp_whisper": self.whisper}}
