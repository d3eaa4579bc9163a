"""Video diffusion pipelines from diffusers, loaded from disk: text-to-video
(AnimateDiff, ModelScope text-to-video, CogVideoX, LTX-Video, Wan, Mochi,
HunyuanVideo ...) and image-to-video (Stable Video Diffusion, and the
image-to-video variants of CogVideoX, LTX and Wan).

These pipelines differ in their arguments, so the call is built from what
each pipeline's ``__call__`` accepts: prompt and negative prompt when it
takes text, the init image when it takes an image, the frame count under
the name it uses. Frames come out together at the end of denoising; they
are previewed one by one as they are collected, and each denoising step
reports progress and checks cancel."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from studio.core.jobs import CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines.video.requests import VideoRequest

# Pipelines whose latent frame count must be 4k+1 (their VAEs compress time by 4).
FOUR_K_PLUS_ONE = ("CogVideoX", "LTX", "Wan", "Mochi", "Hunyuan")


def load_video_pipeline(card: ModelCard):
    from studio.engines import context
    from studio.engines.loaders import load_model

    pipe = context.model_manager().get(card.id, lambda c: load_model(c, context.device().name))
    pipe.set_progress_bar_config(disable=True)  # progress goes to the job, not to a terminal bar
    return pipe


def takes_image(pipe) -> bool:
    return "image" in inspect.signature(pipe.__call__).parameters


def call_arguments(pipe, request: VideoRequest, on_step) -> dict[str, Any]:
    """Keyword arguments for this pipeline's call, from the request."""
    import torch
    from PIL import Image

    accepted = inspect.signature(pipe.__call__).parameters
    keys = request.keyframe_list  # these pipelines take one prompt: the first keyframe's
    wanted: dict[str, Any] = {
        "prompt": keys[0][1] if keys else "",
        "negative_prompt": request.negative or None,
        "num_frames": request.frame_count,
        "num_inference_steps": request.steps,
        "guidance_scale": request.cfg,
        "height": request.height,
        "width": request.width,
        "generator": torch.Generator("cpu").manual_seed(request.seed),
        "output_type": "np",
        "fps": request.fps,
        "callback_on_step_end": on_step,
    }
    if "max_guidance_scale" in accepted:  # Stable Video Diffusion ramps guidance over the frames
        wanted.update(max_guidance_scale=max(request.cfg, 1.0), min_guidance_scale=1.0)
        wanted.pop("guidance_scale")
        wanted["fps"] = max(request.fps - 1, 1)  # SVD conditions on fps - 1, as it was trained
    if "image" in accepted:
        if not request.init_image:
            raise StudioError(f"{type(pipe).__name__} makes video from an image: choose an init image")
        wanted["image"] = Image.open(request.init_image).convert("RGB").resize((request.width, request.height))
    if any(name in type(pipe).__name__ for name in FOUR_K_PLUS_ONE) and (request.frame_count - 1) % 4:
        raise StudioError(f"{type(pipe).__name__} makes 4k+1 frames (e.g. 49): ask for "
                          f"{(request.frame_count - 1) // 4 * 4 + 1} or {(request.frame_count - 1) // 4 * 4 + 5}")
    return {name: value for name, value in wanted.items() if name in accepted and value is not None}


def to_frames(output) -> list[np.ndarray]:
    """A pipeline's ``frames`` (numpy, torch or PIL; batched) as uint8 RGB arrays."""
    frames = output.frames if hasattr(output, "frames") else output
    if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], (list, tuple)):
        frames = frames[0]  # a batch of PIL lists
    elif not isinstance(frames, (list, tuple)):
        if hasattr(frames, "detach"):
            frames = frames.detach().float().cpu().numpy()
        frames = np.asarray(frames)
        if frames.ndim == 5:
            frames = frames[0]
        if frames.ndim == 4 and frames.shape[1] in (1, 3) and frames.shape[-1] not in (1, 3):
            frames = frames.transpose(0, 2, 3, 1)  # F, C, H, W -> F, H, W, C
    out = []
    for frame in frames:
        pixels = np.asarray(frame)
        if pixels.dtype != np.uint8:
            pixels = (np.clip(pixels.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        out.append(np.ascontiguousarray(pixels[..., :3]))
    return out


def run_pipeline(card: ModelCard, request: VideoRequest, collector, cancel: CancelToken, report: Reporter) -> None:
    pipe = load_video_pipeline(card)
    steps = request.steps

    def on_step(_pipe, step, _timestep, kwargs):
        cancel.raise_if_cancelled()
        report.progress(step + 1, steps, f"denoising step {step + 1} of {steps}")
        return kwargs

    arguments = call_arguments(pipe, request, on_step)
    output = pipe(**arguments)
    for frame in to_frames(output):
        cancel.raise_if_cancelled()
        collector.add(frame)
