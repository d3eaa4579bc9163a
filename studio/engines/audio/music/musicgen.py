"""MusicGen through transformers, when the user has its weights in a model
folder (``MusicgenForConditionalGeneration`` or the melody variant's text
path). The prompt describes the music; ``duration_s`` (or the length of
``bars`` at ``tempo``) sets how many audio frames are generated.

The model runs on the shared compute device (a GPU when there is one).
Progress and cancel go through a ``StoppingCriteria`` called after every
generated frame; the finished audio is streamed in one-second chunks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.core.jobs import CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines.audio.common import ChunkStreamer, normalise_peak
from studio.engines.audio.models import load_cached
from studio.engines.audio.music.composer import planned_bars
from studio.engines.audio.music.theory import parse_meter
from studio.engines.audio.requests import MusicRequest

GUIDANCE_SCALE = 3.0


@dataclass
class MusicgenModel:
    model: Any
    tokenizer: Any
    sample_rate: int
    frame_rate: float


def is_musicgen(card: ModelCard) -> bool:
    return card.format == "transformers" and card.architecture.lower().startswith("musicgen")


def _load(card: ModelCard) -> MusicgenModel:
    import transformers

    from studio.engines import context

    path = str(card.path)
    model = transformers.MusicgenForConditionalGeneration.from_pretrained(path, local_files_only=True)
    model = model.to(context.device().name).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = model.config.audio_encoder
    return MusicgenModel(model, tokenizer, int(encoder.sampling_rate), float(encoder.frame_rate))


def requested_seconds(request: MusicRequest) -> float:
    if request.duration_s > 0:
        return request.duration_s
    meter = parse_meter(request.time_signature)
    return planned_bars(request) * meter.bar_length * 60.0 / request.tempo


def generate(card: ModelCard, request: MusicRequest, report: Reporter, cancel: CancelToken) -> tuple[np.ndarray, int]:
    """Mono or stereo float32 audio and its sample rate."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    if not request.prompt.strip():
        raise StudioError("MusicGen needs a prompt describing the music")
    loaded: MusicgenModel = load_cached(card, _load, lambda m: isinstance(m, MusicgenModel))
    seconds = requested_seconds(request)
    # MusicGen's delay pattern staggers its codebooks: the last one ends num_codebooks - 1 frames late.
    frames = max(1, int(math.ceil(seconds * loaded.frame_rate))) + loaded.model.config.decoder.num_codebooks - 1

    class Progress(StoppingCriteria):
        def __init__(self) -> None:
            self.start_length: int | None = None

        def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001 - transformers' signature
            if self.start_length is None:
                self.start_length = input_ids.shape[-1] - 1
            done = input_ids.shape[-1] - self.start_length
            report.progress(min(done, frames), frames, "generating")
            return torch.full((input_ids.shape[0],), cancel.cancelled, dtype=torch.bool)

    inputs = loaded.tokenizer([request.prompt], padding=True, return_tensors="pt").to(loaded.model.device)
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(request.seed)
        audio = loaded.model.generate(**inputs, max_new_tokens=frames, do_sample=True,
                                      guidance_scale=GUIDANCE_SCALE,
                                      stopping_criteria=StoppingCriteriaList([Progress()]))
    cancel.raise_if_cancelled()
    samples = audio[0].float().cpu().numpy()  # (channels, n)
    samples = samples[0] if samples.shape[0] == 1 else samples.T
    wanted = int(round(seconds * loaded.sample_rate))
    samples = normalise_peak(samples[:wanted])
    stream = ChunkStreamer(report, loaded.sample_rate)
    for start in range(0, len(samples), loaded.sample_rate):
        stream.push(samples[start:start + loaded.sample_rate])
    return samples, loaded.sample_rate
