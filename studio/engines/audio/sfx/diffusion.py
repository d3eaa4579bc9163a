"""Sound from a text prompt with a diffusers audio pipeline the user has on
disk: AudioLDM, AudioLDM 2 or Stable Audio Open (loaded as a diffusers
folder, offline). Each step reports progress and checks cancel through the
pipelines' step callback; cancelling stops at the next step."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.jobs import Cancelled, CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines.audio.models import load_cached
from studio.engines.audio.requests import SfxRequest

PIPELINES = ("AudioLDMPipeline", "AudioLDM2Pipeline", "StableAudioPipeline")


def is_audio_pipeline(card: ModelCard) -> bool:
    return card.format == "diffusers" and card.architecture in PIPELINES


def _load(card: ModelCard) -> Any:
    from studio.engines import context
    from studio.engines.loaders import load_model

    return load_model(card, context.device().name)


def _sample_rate(pipe: Any) -> int:
    vocoder = getattr(pipe, "vocoder", None)
    if vocoder is not None:
        return int(vocoder.config.sampling_rate)
    return int(pipe.vae.sampling_rate)  # Stable Audio's Oobleck VAE decodes straight to audio


def generate(card: ModelCard, request: SfxRequest, report: Reporter, cancel: CancelToken) -> tuple[np.ndarray, int]:
    """Float32 audio ``(n,)`` or ``(n, channels)`` cut to the requested length, and its rate."""
    import torch

    if not is_audio_pipeline(card):
        raise StudioError(f"{card.name} is not an audio pipeline; use AudioLDM, AudioLDM 2 or Stable Audio")
    pipe = load_cached(card, _load, lambda value: type(value).__name__ == card.architecture)
    rate = _sample_rate(pipe)

    def on_step(step: int, _timestep: Any, _latents: Any) -> None:
        report.progress(step + 1, request.steps, "denoising")
        if cancel.cancelled:
            raise Cancelled()

    length = {"audio_end_in_s": request.duration_s} if card.architecture == "StableAudioPipeline" else \
        {"audio_length_in_s": request.duration_s}
    generator = torch.Generator("cpu").manual_seed(request.seed)
    try:
        output = pipe(prompt=request.prompt, num_inference_steps=request.steps, generator=generator,
                      callback=on_step, callback_steps=1, output_type="np", **length)
    except ValueError as exc:  # the pipelines refuse lengths their VAE cannot produce
        raise StudioError(f"{card.name}: {exc}") from exc
    audio = np.asarray(output.audios[0], dtype=np.float32)
    if audio.ndim == 2:  # (channels, n) -> (n, channels), mono as (n,)
        audio = audio[0] if audio.shape[0] == 1 else audio.T
    wanted = int(round(request.duration_s * rate))
    return audio[:wanted], rate
