"""Generating clips: the ``video`` engine. The model decides how:

- a GAN (``format == "gan"``) walks its latent space: ``gan_walk``;
- an image diffusion model renders prompt keyframes: ``keyframes``;
- a video diffusion pipeline makes the frames itself: ``pipelines``.

Each frame is previewed as it is made. On cancel the frames made so far
are kept as a partial clip (the artifact is marked ``stopped``, its recipe
``partial``). Optional post-processing, in this order: deflicker, then
retiming to ``interpolate`` fps (by optical flow, or by the ``interpolator``
model, which is loaded before any frame is made so that a missing model
costs no generation); the consistency of the clip before and after is
measured and stored in the recipe."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from studio.core.jobs import Artifact, Cancelled, CancelToken, Reporter, StudioError
from studio.core.library import make_recipe
from studio.core.models.cards import ModelCard
from studio.engines.video.requests import VideoRequest

GAN_BATCH = 16  # frames generated per forward pass: real time on a CPU

FrameSink = Callable[[np.ndarray], None]


class FrameCollector:
    """Keeps the frames an engine makes and previews each as it arrives."""

    def __init__(self, report: Reporter, total: int) -> None:
        self.report = report
        self.total = total
        self.steps_per_frame = 1  # engines that report denoising steps set this, so progress stays one scale
        self.frames: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        self.frames.append(frame)
        self.report.preview(frame)
        done = len(self.frames)
        self.report.progress(done * self.steps_per_frame, self.total * self.steps_per_frame,
                             f"frame {done} of {self.total}")


def run(request: VideoRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines import context

    request.validate()
    card = context.find_card(request.model_id, "video")
    if card.is_interpolator:
        raise StudioError(f"{card.name} interpolates frames but makes no clip: use it as the interpolator "
                          "(--interpolator) with a GAN, an image diffusion model or a video model")
    interpolator = None
    if request.interpolate and request.interpolate != request.fps:
        from studio.engines.video.interpolate import interpolator_for

        interpolator = interpolator_for(request.interpolator)
    collector = FrameCollector(report, request.frame_count)
    stopped = False
    try:
        _generate(card, request, collector, cancel, report)
    except Cancelled:
        if not collector.frames:
            raise
        stopped = True  # keep what was made: a partial clip
    frames, fps, extra = collector.frames, request.fps, {}
    if not stopped:
        try:
            frames, fps, extra = postprocess(request, frames, report, cancel, interpolator)
        except Cancelled:
            stopped = True  # the raw frames are whole: keep them
    return encode_clip(request, frames, fps, report, extra, stopped)


def _generate(card: ModelCard, request: VideoRequest, collector: FrameCollector, cancel: CancelToken,
              report: Reporter) -> None:
    if card.format == "gan":
        gan_walk(card, request, collector.add, cancel)
    elif card.format == "diffusers" and card.modality == "video":
        from studio.engines.video.pipelines import run_pipeline

        run_pipeline(card, request, collector, cancel, report)
    elif card.format == "comfyui" and card.modality == "image":  # a checkpoint on a ComfyUI server
        from studio.engines.video.server_keyframes import render_keyframes_on_server

        render_keyframes_on_server(card, request, collector, cancel, report)
    elif card.format in ("diffusers", "safetensors", "checkpoint") and card.modality == "image":
        from studio.engines.video.keyframes import render_keyframes

        render_keyframes(card, request, collector, cancel, report)
    else:
        raise StudioError(f"{card.name} cannot make video: choose a GAN, an image diffusion model "
                          "or a video diffusion model")


def postprocess(request: VideoRequest, frames: list[np.ndarray], report: Reporter, cancel: CancelToken,
                interpolator=None) -> tuple[list[np.ndarray], int, dict]:
    """Deflicker, then retime (with ``interpolator``; optical flow when None),
    as the request asks; returns the frames, their frame rate and the
    consistency measured before and after."""
    fps = request.fps
    if not (request.deflicker or (request.interpolate and request.interpolate != fps)) or len(frames) < 2:
        return frames, fps, {}
    from studio.engines.video.flow import analyse

    before = analyse(frames, cancel)
    if request.deflicker:
        from studio.engines.video.deflicker import deflicker

        frames = deflicker(frames, request.deflicker, cancel=cancel,
                           progress=lambda d, t: report.progress(d, t, "deflickering"))
    if request.interpolate and request.interpolate != fps:
        from studio.engines.video.interpolate import retime

        frames = retime(frames, fps, request.interpolate, cancel=cancel, interpolator=interpolator,
                        progress=lambda d, t: report.progress(d, t, "interpolating"))
        fps = request.interpolate
    after = analyse(frames, cancel)
    return frames, fps, {"consistency": {"mean_warp_error_before": round(before.mean_warp_error, 4),
                                         "mean_warp_error_after": round(after.mean_warp_error, 4)}}


def encode_clip(request, frames: list[np.ndarray], fps: float, report: Reporter, extra: dict | None = None,
                stopped: bool = False) -> Artifact:
    """``frames`` as an MP4 artifact with the recipe in its metadata; a
    stopped (cancelled) clip is kept and marked partial."""
    from studio.engines.video import export

    extra = {**(extra or {}), "frames": len(frames), "fps": fps}
    if stopped:
        extra["partial"] = True
    recipe = make_recipe(request, Artifact(b"", ".mp4", meta={"recipe": extra}))
    data = export.encode_to_bytes(".mp4", lambda path: export.write_mp4(
        path, frames, fps, len(frames), recipe=recipe,
        progress=lambda d, t: report.progress(d, t, "encoding")))
    height, width = frames[0].shape[:2]
    meta: dict = {"recipe": extra}
    if stopped:
        meta["stopped"] = True
    return Artifact(data, ".mp4", width=width - width % 2, height=height - height % 2,
                    duration_s=len(frames) / fps, meta=meta)


def resize_frame(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    if pixels.shape[1] == width and pixels.shape[0] == height:
        return pixels
    enlarge = width > pixels.shape[1]
    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_CUBIC if enlarge else cv2.INTER_AREA)


# --- GAN latent walk ------------------------------------------------------------

# Three looping directions at incommensurate speeds make a path that never
# quite repeats within a clip, yet each point is still a standard normal draw.
WALK_FREQUENCIES = (1.0, 0.618, 0.382)


def walk_latents(seed: int, count: int, fps: float, speed: float, dim: int) -> np.ndarray:
    """``count`` latents along a smooth path: a sum of great circles, so
    every point has the N(0, I) distribution the GAN was trained on."""
    rng = np.random.default_rng(seed)
    bases = rng.standard_normal((len(WALK_FREQUENCIES), 2, dim))
    times = np.arange(count) / fps
    latents = np.zeros((count, dim))
    for (a, b), frequency in zip(bases, WALK_FREQUENCIES):
        angle = 2 * math.pi * speed * frequency * times
        latents += np.cos(angle)[:, None] * a + np.sin(angle)[:, None] * b
    return (latents / math.sqrt(len(WALK_FREQUENCIES))).astype(np.float32)


def load_gan(card: ModelCard):
    from studio.engines import context
    from studio.engines.loaders import load_model

    return context.model_manager().get(card.id, lambda c: load_model(c, "cpu"))


def gan_walk(card: ModelCard, request: VideoRequest, sink: FrameSink, cancel: CancelToken) -> None:
    import torch

    generator = load_gan(card)
    first = next(module for module in generator.modules() if isinstance(module, torch.nn.ConvTranspose2d))
    latents = walk_latents(request.seed, request.frame_count, request.fps, request.walk_speed, first.in_channels)
    with torch.inference_mode():
        for offset in range(0, len(latents), GAN_BATCH):
            cancel.raise_if_cancelled()
            batch = torch.from_numpy(latents[offset:offset + GAN_BATCH])[:, :, None, None]
            images = generator(batch).clamp(-1, 1)
            pixels = ((images.permute(0, 2, 3, 1).numpy() + 1) * 127.5 + 0.5).astype(np.uint8)
            for frame in pixels:
                cancel.raise_if_cancelled()
                sink(resize_frame(frame, request.width, request.height))
