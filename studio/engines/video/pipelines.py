"""Video diffusion pipelines from diffusers, loaded from disk: text-to-video
(AnimateDiff, ModelScope text-to-video, CogVideoX, LTX-Video, Wan, Mochi,
HunyuanVideo ...) and image-to-video (Stable Video Diffusion, and the
image-to-video variants of CogVideoX, LTX and Wan).

These pipelines differ in their arguments, so the call is built from what
each pipeline's ``__call__`` accepts: prompt and negative prompt when it
takes text, the init image when it takes an image, the frame count under
the name it uses. Frames come out together at the end of denoising; they
are previewed one by one as they are collected, and each denoising step
reports progress and checks cancel.

The transformer video models (CogVideoX, LTX-Video, Wan, Mochi, Hunyuan)
compress time in their VAE by a factor t and make exactly t*k + 1 frames
(CogVideoX 2t*k + 1: see ``frame_step``),
and their latent grid constrains width and height; other frame counts or
sizes would be rounded or refused deep inside the pipeline, so they are
checked first against the loaded pipeline's own factors, with the nearest
counts or sizes that work in the message."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from studio.core.jobs import CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines.video.requests import VideoRequest

# Pipeline families that make t*k + 1 frames (t: their VAE's time compression).
FRAME_STEP_FAMILIES = ("CogVideoX", "LTX", "Wan", "Mochi", "Hunyuan")
# Where pipelines keep their VAE's compression factors (names differ by family).
_TEMPORAL_FACTORS = ("vae_scale_factor_temporal", "vae_temporal_compression_ratio", "vae_temporal_scale_factor")
_SPATIAL_FACTORS = ("vae_scale_factor_spatial", "vae_spatial_compression_ratio", "vae_spatial_scale_factor")


def load_video_pipeline(card: ModelCard):
    from studio.engines import context
    from studio.engines.loaders import load_model

    pipe = context.model_manager().get(card.id, lambda c: load_model(c, context.device().name))
    pipe.set_progress_bar_config(disable=True)  # progress goes to the job, not to a terminal bar
    return pipe


def takes_image(pipe) -> bool:
    return "image" in inspect.signature(pipe.__call__).parameters


def _in_frame_step_family(pipe) -> bool:
    return any(name in type(pipe).__name__ for name in FRAME_STEP_FAMILIES)


def _factor(pipe, names: tuple[str, ...]) -> int:
    for name in names:
        value = getattr(pipe, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def frame_step(pipe) -> int:
    """t where the pipeline makes t*k + 1 frames (1: any count)."""
    if not _in_frame_step_family(pipe):
        return 1
    step = _factor(pipe, _TEMPORAL_FACTORS) or 4  # 4 is what these families use when a pipeline does not say
    if "CogVideoX" in type(pipe).__name__:
        # Its VAE decodes the latents two at a time after a first group of two
        # or three: an even latent count comes out as 4n frames, not 4n - 3,
        # so the count must be odd (49 and 81 frames are, 45 is not).
        step *= 2
    return step


def size_step(pipe) -> int:
    """The multiple width and height must be: the VAE's spatial compression
    times the transformer's patch size (1: no constraint known)."""
    spatial = _factor(pipe, _SPATIAL_FACTORS)
    transformer = getattr(pipe, "transformer", None)
    if not _in_frame_step_family(pipe) or not spatial or transformer is None:
        return 1
    patch = getattr(transformer.config, "patch_size", 1) or 1
    if isinstance(patch, (list, tuple)):  # (time, height, width)
        patch = max(patch[1:] or patch)
    return spatial * int(patch)


def check_shape(pipe, request: VideoRequest) -> None:
    """A clear StudioError when the pipeline cannot make exactly this clip."""
    name = type(pipe).__name__
    step = frame_step(pipe)
    frames = request.frame_count
    if (frames - 1) % step:
        below = (frames - 1) // step * step + 1
        raise StudioError(f"{name} makes {step}k+1 frames: ask for {below} or {below + step}, not {frames}")
    multiple = size_step(pipe)
    for side_name, side in (("width", request.width), ("height", request.height)):
        if side % multiple:
            below = side // multiple * multiple
            choices = f"{below} or {below + multiple}" if below else f"{multiple}"
            raise StudioError(f"{name} needs a {side_name} that is a multiple of {multiple}: ask for {choices}, "
                              f"not {side}")


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
        "frame_rate": request.fps,  # LTX-Video's name; it conditions the model's time positions
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
    check_shape(pipe, request)
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
