"""Sound effects: procedural foley from presets, or a diffusion model.

With no ``model_id`` the preset in :mod:`.presets` is synthesised at 48 kHz
from a generator seeded by the request, then shaped the same way for every
preset: spectral tilt (brightness), air absorption and reverb (distance),
mono or stereo, click-free edges, and a per-preset peak level. With a
diffusers audio pipeline card the prompt is generated instead
(:mod:`.diffusion`)."""

from __future__ import annotations

import zlib

import numpy as np

from studio.core.jobs import Artifact, CancelToken, Reporter, StudioError
from studio.engines.audio.common import ChunkStreamer, audio_artifact, normalise_peak, seconds_to_frames
from studio.engines.audio.requests import SfxRequest
from studio.engines.audio.sfx import dsp
from studio.engines.audio.sfx.presets import PRESETS

SAMPLE_RATE = 48_000
MAX_PROCEDURAL_S = 300.0  # longer beds are better looped in the editor than held in one FFT
PREVIEW_BLOCK_S = 0.5


def synthesize(request: SfxRequest, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The finished float32 buffer of a procedural preset."""
    if request.duration_s > MAX_PROCEDURAL_S:
        raise StudioError(f"procedural sounds are at most {MAX_PROCEDURAL_S:.0f} s; loop a shorter one")
    preset = PRESETS[request.preset]
    n = max(1, seconds_to_frames(request.duration_s, sample_rate))
    rng = np.random.default_rng([request.seed, zlib.crc32(request.preset.encode())])
    x = np.asarray(preset.make(request, n, sample_rate, rng), dtype=np.float64)
    channels = [x] if x.ndim == 1 else [x[:, 0], x[:, 1]]
    if not preset.tonal:
        channels = [dsp.tilt(c, sample_rate, request.brightness) for c in channels]
    if request.distance > 0:  # far sounds lose their highs to the air
        cutoff = 16000 * (1 - request.distance) + 1500 * request.distance
        channels = [dsp.band(c, sample_rate, 0, cutoff) for c in channels]
    x = channels[0] if len(channels) == 1 else np.stack(channels, axis=1)
    if request.stereo and x.ndim == 1:
        x = np.stack([x, x], axis=1)
    x = dsp.reverb(x, sample_rate, rng, 0.3 + 2.5 * request.distance, 0.6 * request.distance)
    if not request.stereo and x.ndim == 2:
        x = x.mean(axis=1)
    x = dsp.fades(x, sample_rate, 0.002 if preset.tonal or request.preset == "ui-click" else 0.02)
    return normalise_peak(x, preset.level)


def run(request: SfxRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    request.validate()
    if request.model_id:
        return _run_diffusion(request, report, cancel)
    report.progress(0, 2, "synthesising")
    samples = synthesize(request)
    cancel.raise_if_cancelled()
    _stream(report, samples, SAMPLE_RATE)
    report.progress(2, 2, "done")
    recipe = {"engine": "procedural", "preset": request.preset}
    return audio_artifact(samples, SAMPLE_RATE, request.format, recipe)


def _stream(report: Reporter, samples: np.ndarray, rate: int) -> None:
    stream = ChunkStreamer(report, rate, min_interval_s=0.05)
    block = int(PREVIEW_BLOCK_S * rate)
    for start in range(0, len(samples), block):
        stream.push(samples[start:start + block])
    stream.flush()


def _run_diffusion(request: SfxRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines.audio.models import audio_card
    from studio.engines.audio.sfx.diffusion import generate

    card = audio_card(request.model_id)
    samples, rate = generate(card, request, report, cancel)
    samples = normalise_peak(samples)
    _stream(report, samples, rate)
    return audio_artifact(samples, rate, request.format, {"engine": "diffusers", "model": card.name,
                                                         "pipeline": card.architecture})
