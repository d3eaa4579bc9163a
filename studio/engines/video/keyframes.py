"""Prompt keyframes rendered with an image diffusion model (Stable Diffusion
1.x/2.x, SDXL): prompt A at frame 0, prompt B at frame 48 ...

Between two keyframes each frame's text embedding is interpolated linearly
and its initial noise is slerped between the keyframes' noises (so every
frame's noise is still a proper Gaussian draw and the picture morphs
instead of jumping). With a chaining ``strength`` above 0 each frame after
the first is made image-to-image from the previous frame, moved by the
per-frame camera (zoom, pan, rotation about the centre), Deforum style, with
one fixed noise seed so the texture does not boil.

The pipeline is loaded by the image engine's loader through the model
manager (diffusers folders and single-file checkpoints), so a model open in
the Image workspace is the same object here; image-to-image shares its
components (no second copy in memory).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from studio.core.jobs import CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines import registry
from studio.engines.video.requests import VideoRequest


def slerp(a, b, t: float):
    """Spherical interpolation between two noise tensors (torch)."""
    import torch

    a_flat, b_flat = a.flatten().double(), b.flatten().double()
    cosine = torch.dot(a_flat, b_flat) / (a_flat.norm() * b_flat.norm())
    if float(cosine.abs()) > 0.9995:  # nearly parallel: plain interpolation is exact enough
        return (1 - t) * a + t * b
    theta = math.acos(float(cosine.clamp(-1, 1)))
    return (math.sin((1 - t) * theta) * a + math.sin(t * theta) * b) / math.sin(theta)


def segment(keys: list[tuple[int, Any]], frame: int) -> tuple[int, int, float]:
    """For ``frame``: the index of the keyframe before it, of the one after, and how far between (0..1)."""
    if frame <= keys[0][0] or len(keys) == 1:
        return 0, 0, 0.0
    for index in range(len(keys) - 1):
        lo, hi = keys[index][0], keys[index + 1][0]
        if lo <= frame < hi:
            return index, index + 1, (frame - lo) / (hi - lo)
    return len(keys) - 1, len(keys) - 1, 0.0


def camera_move(pixels: np.ndarray, zoom: float, pan_x: float, pan_y: float, rotate: float) -> np.ndarray:
    """One frame of 2D camera motion: zoom and rotate about the centre, then pan (pixels)."""
    import cv2

    if zoom == 1.0 and not (pan_x or pan_y or rotate):
        return pixels
    height, width = pixels.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rotate, zoom)
    matrix[:, 2] += (pan_x, pan_y)
    return cv2.warpAffine(pixels, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def load_pipeline(card: ModelCard):
    """The text-to-image pipeline for ``card``, loaded by the image engine's
    loader (diffusers folders and single-file checkpoints) and shared with
    the Image workspace through the model manager."""
    pipe = registry.image_pipeline(card)
    if not hasattr(pipe, "encode_prompt") or not hasattr(pipe, "unet"):
        raise StudioError(f"{card.name} ({type(pipe).__name__}) cannot render keyframes: "
                          "use a Stable Diffusion 1.x, 2.x or SDXL model")
    return pipe


def encode(pipe, prompt: str, negative: str, guidance: bool) -> dict[str, Any]:
    """The prompt's embeddings as keyword arguments of the pipeline's call."""
    device = pipe._execution_device
    if hasattr(pipe, "text_encoder_2"):  # SDXL: two encoders and pooled embeddings
        embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
            prompt=prompt, device=device, num_images_per_prompt=1, do_classifier_free_guidance=guidance,
            negative_prompt=negative or None)
        out = {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
        if guidance:
            out.update(negative_prompt_embeds=negative_embeds, negative_pooled_prompt_embeds=negative_pooled)
        return out
    embeds, negative_embeds = pipe.encode_prompt(prompt, device, 1, guidance, negative or None)
    out = {"prompt_embeds": embeds}
    if guidance:
        out["negative_prompt_embeds"] = negative_embeds
    return out


def blend_embeddings(a: dict[str, Any], b: dict[str, Any], t: float) -> dict[str, Any]:
    return {name: a[name] if t == 0 else (1 - t) * a[name] + t * b[name] for name in a}


def _to_frame(images) -> np.ndarray:
    return (np.clip(np.asarray(images[0]), 0, 1) * 255 + 0.5).astype(np.uint8)


def render_keyframes(card: ModelCard, request: VideoRequest, collector, cancel: CancelToken,
                     report: Reporter) -> None:
    import torch
    from PIL import Image

    keys = request.keyframe_list
    if not keys:
        raise StudioError("keyframe video needs a prompt or at least one keyframe (--keyframe \"0:a prompt\")")
    pipe = load_pipeline(card)
    guidance = request.cfg > 1.0
    total = request.frame_count
    embeddings = [encode(pipe, prompt, request.negative, guidance) for _frame, prompt in keys]
    scale = pipe.vae_scale_factor
    shape = (1, pipe.unet.config.in_channels, request.height // scale, request.width // scale)
    noises = [torch.randn(shape, generator=torch.Generator("cpu").manual_seed(request.seed + index))
              for index in range(len(keys))]
    chain = request.strength > 0.0
    image_pipe = registry.image_pipeline_for_mode(pipe, "img2img", card.name) if chain or request.init_image else None
    steps_per_frame = collector.steps_per_frame = request.steps
    previous: np.ndarray | None = None
    if request.init_image:
        previous = np.asarray(Image.open(request.init_image).convert("RGB").resize((request.width, request.height)))

    for frame in range(total):
        cancel.raise_if_cancelled()
        lo, hi, t = segment(keys, frame)
        conditioning = blend_embeddings(embeddings[lo], embeddings[hi], t)
        done_before = frame * steps_per_frame

        def on_step(_pipe, step, _timestep, kwargs, done_before=done_before):
            cancel.raise_if_cancelled()
            report.progress(min(done_before + step + 1, total * steps_per_frame), total * steps_per_frame,
                            f"frame {frame + 1} of {total}")
            return kwargs

        common = dict(num_inference_steps=request.steps, guidance_scale=request.cfg, output_type="np",
                      callback_on_step_end=on_step, **conditioning)
        if previous is not None and image_pipe is not None and (chain or frame == 0):
            moved = previous if frame == 0 else camera_move(previous, request.zoom, request.pan_x, request.pan_y,
                                                            request.rotate)
            strength = request.strength if chain and frame > 0 else max(request.strength, 0.6)
            result = image_pipe(image=Image.fromarray(moved), strength=strength,
                                generator=torch.Generator("cpu").manual_seed(request.seed), **common)
        else:
            latents = slerp(noises[lo], noises[hi], t)
            result = pipe(height=request.height, width=request.width, latents=latents, **common)
        previous = _to_frame(result.images)
        collector.add(previous)
