"""Speech models in transformers format, loaded from the user's folders:
VITS (including Meta's MMS voices), SpeechT5 with a speaker embedding and
its HiFi-GAN vocoder, and Bark.

- VITS is Piper's architecture: rate and liveliness map onto its
  ``speaking_rate``, ``noise_scale`` and ``noise_scale_duration``; pitch uses
  the same slow-down-then-resample trick as Piper.
- SpeechT5 speaks with a 512-value speaker embedding: a ``.npy`` named in
  ``voice``, one shipped in the model folder, or, with the speaker's recorded
  consent, one computed from a reference clip by an x-vector model
  (``WavLMForXVector``) found among the user's models. That is the only
  voice cloning offered, because it is the only one these models support.
- Bark has its own speaker presets (``voice``); rate and pitch are DSP.

Models run on the shared compute device (a GPU when there is one), in
full precision: these models are small, and half precision costs quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.engines.audio.models import find_by_architecture, load_cached
from studio.engines.audio.requests import SpeechRequest
from studio.engines.audio.speech import effects
from studio.engines.audio.speech.presets import Expression, semitones_to_ratio

XVECTOR_RATE = 16_000


@dataclass
class SpeechModel:
    """A loaded speech model with what it needs beside its weights."""

    family: str  # "vits", "speecht5" or "bark"
    model: Any
    tokenizer: Any
    sample_rate: int
    vocoder: Any = None


def family_of(card: ModelCard) -> str:
    architecture = card.architecture
    if architecture.startswith("Vits"):
        return "vits"
    if architecture == "SpeechT5ForTextToSpeech":
        return "speecht5"
    if architecture.startswith("Bark"):
        return "bark"
    raise StudioError(f"{card.name} ({architecture or 'unknown architecture'}) is not a speech model Studio can run;"
                      " use a VITS/MMS, SpeechT5 or Bark folder")


def _device() -> str:
    from studio.engines import context

    return context.device().name


def _load(card: ModelCard) -> SpeechModel:
    import transformers

    family = family_of(card)
    path, device = str(card.path), _device()
    if family == "vits":
        model = transformers.VitsModel.from_pretrained(path, local_files_only=True).to(device).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        return SpeechModel(family, model, tokenizer, int(model.config.sampling_rate))
    if family == "speecht5":
        model = transformers.SpeechT5ForTextToSpeech.from_pretrained(path, local_files_only=True).to(device).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        vocoder = transformers.SpeechT5HifiGan.from_pretrained(_vocoder_path(card), local_files_only=True)
        return SpeechModel(family, model, tokenizer, int(vocoder.config.sampling_rate), vocoder.to(device).eval())
    model = transformers.BarkModel.from_pretrained(path, local_files_only=True).to(device).eval()
    processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
    return SpeechModel(family, model, processor, int(model.generation_config.sample_rate))


def _vocoder_path(card: ModelCard) -> str:
    inside = Path(card.path) / "vocoder"
    if (inside / "config.json").exists():
        return str(inside)
    found = find_by_architecture(("SpeechT5HifiGan",))
    if found is None:
        raise StudioError(f"{card.name} needs the SpeechT5 HiFi-GAN vocoder: put its folder (speecht5_hifigan)"
                          " in a model folder, or inside this model's folder as 'vocoder'")
    return str(found.path)


class TransformersBackend:
    name = "transformers"

    def __init__(self, card: ModelCard, request: SpeechRequest, preset: Expression) -> None:
        self.card = card
        self.speech: SpeechModel = load_cached(card, _load, lambda m: isinstance(m, SpeechModel))
        self.family = self.speech.family
        self.sample_rate = self.speech.sample_rate
        self.request = request
        self.preset = preset
        self.rate = request.rate * preset.rate
        self.pitch = request.pitch + preset.pitch
        self.cloned = False
        self.speaker: Any = None
        if self.family == "speecht5":
            self.speaker = self._speaker_embedding()
        elif request.reference_audio:
            raise StudioError(f"{card.name} cannot clone a voice from a clip; only SpeechT5 with an x-vector model can")

    @property
    def supports_cloning(self) -> bool:
        return self.family == "speecht5"

    # --- speaker embeddings (SpeechT5) ----------------------------------
    def _speaker_embedding(self) -> Any:
        import torch

        request = self.request
        if request.reference_audio:
            vector = self._clone_embedding(Path(request.reference_audio))
            self.cloned = True
        else:
            vector = self._stored_embedding()
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        expected = int(self.speech.model.config.speaker_embedding_dim)
        if vector.shape[1] != expected:
            raise StudioError(f"the speaker embedding has {vector.shape[1]} values; {self.card.name} needs {expected}")
        return torch.from_numpy(vector).to(self.speech.model.device)

    def _stored_embedding(self) -> np.ndarray:
        voice = self.request.voice
        folder = Path(self.card.path)
        candidates = [Path(voice)] if voice.endswith(".npy") else []
        if voice and not candidates:
            candidates = [folder / f"{voice}.npy", folder / "speaker_embeddings" / f"{voice}.npy"]
        if not voice:
            candidates = sorted(folder.glob("*.npy")) + sorted((folder / "speaker_embeddings").glob("*.npy"))
        for path in candidates:
            if path.is_file():
                return np.load(path, allow_pickle=False)
        raise StudioError(f"{self.card.name} needs a speaker embedding: name a .npy file (512 values) as the voice,"
                          " or give a reference clip to clone")

    def _clone_embedding(self, clip: Path) -> np.ndarray:
        import torch
        import torch.nn.functional as F
        import transformers

        from studio.engines.audio.common import decode_audio

        if not self.request.consent_to_clone:
            raise StudioError("cloning a voice needs the speaker's recorded consent")
        card = find_by_architecture(("ForXVector",))
        if card is None:
            raise StudioError("cloning a voice needs a speaker-verification model (WavLMForXVector, e.g."
                              " wavlm-base-plus-sv) in a model folder")
        try:
            samples, rate = decode_audio(clip.read_bytes())
        except OSError as exc:
            raise StudioError(f"cannot read the reference clip {clip}: {exc.strerror or exc}") from exc
        except RuntimeError as exc:
            raise StudioError(f"the reference clip {clip.name} is not a WAV or FLAC file") from exc
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        if len(samples) < rate // 2:
            raise StudioError("the reference clip is shorter than half a second; use 3 to 10 seconds of speech")
        samples = effects.resample(samples, rate / XVECTOR_RATE)  # to the 16 kHz the encoder expects

        def load_encoder(found: ModelCard) -> Any:
            model = transformers.WavLMForXVector.from_pretrained(str(found.path), local_files_only=True)
            return model.to(_device()).eval()

        encoder = load_cached(card, load_encoder, lambda m: type(m).__name__ == "WavLMForXVector")
        signal = torch.from_numpy(((samples - samples.mean()) / (samples.std() + 1e-7)).astype(np.float32))
        with torch.inference_mode():
            embedding = encoder(input_values=signal[None].to(encoder.device)).embeddings
        return F.normalize(embedding, dim=-1)[0].cpu().numpy()

    # --- synthesis --------------------------------------------------------
    def synthesize(self, sentence: str) -> np.ndarray:
        import torch

        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(self.request.seed)
            if self.family == "vits":
                audio = self._vits(sentence)
            elif self.family == "speecht5":
                audio = self._speecht5(sentence)
            else:
                audio = self._bark(sentence)
        if self.preset.whisper:
            audio = effects.whisper(audio, self.sample_rate, self.request.seed)
        return audio

    def _vits(self, sentence: str) -> np.ndarray:
        model, ratio = self.speech.model, semitones_to_ratio(self.pitch)
        inputs = self.speech.tokenizer(sentence, return_tensors="pt").to(model.device)
        if inputs["input_ids"].shape[1] == 0:
            return np.zeros(0, dtype=np.float32)
        model.speaking_rate = self.rate / ratio
        model.noise_scale = self.preset.noise_scale
        model.noise_scale_duration = self.preset.noise_w
        waveform = model(**inputs).waveform[0].cpu().numpy().astype(np.float32)
        return effects.resample(waveform, ratio)

    def _speecht5(self, sentence: str) -> np.ndarray:
        inputs = self.speech.tokenizer(sentence, return_tensors="pt").to(self.speech.model.device)
        speech = self.speech.model.generate_speech(inputs["input_ids"], self.speaker, vocoder=self.speech.vocoder)
        audio = speech.cpu().numpy().astype(np.float32).reshape(-1)
        return effects.shift_pitch(effects.stretch(audio, self.rate), self.pitch)

    def _bark(self, sentence: str) -> np.ndarray:
        inputs = self.speech.tokenizer(sentence, voice_preset=self.request.voice or None, return_tensors="pt")
        audio = self.speech.model.generate(**inputs.to(self.speech.model.device), do_sample=True)
        audio = audio.cpu().numpy().astype(np.float32).reshape(-1)
        return effects.shift_pitch(effects.stretch(audio, self.rate), self.pitch)

    def recipe(self) -> dict[str, Any]:
        recipe: dict[str, Any] = {"engine": f"transformers-{self.family}", "voice": self.card.name,
                                  "architecture": self.card.architecture,
                                  "rate": self.rate, "pitch_semitones": self.pitch}
        if self.family == "speecht5":
            recipe["voice_cloning"] = {"cloned_from_clip": self.cloned,
                                       "consent_recorded": bool(self.request.consent_to_clone)}
        return recipe
