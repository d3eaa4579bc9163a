"""Cheap previews of latents: a linear map from 4 latent channels to RGB.

While a picture is being denoised, the engine can show its latents without
running the decoder: each latent pixel is mapped to a colour by a 4x3 matrix
plus a bias, least-squares fitted here from (scaled) latents of generator
pictures to the same pictures area-averaged down to the latent size. The
factors are stored as `latent_rgb.json` beside the model.
"""

from __future__ import annotations

from typing import Any, Iterable

import cv2
import numpy as np
import torch

from studio.training.shapes import render_sample


@torch.no_grad()
def fit_latent_rgb(vae: torch.nn.Module, seeds: Iterable[int]) -> dict[str, Any]:
    """Fit RGB (0..1) = latents @ factors + bias, latents scaled by the VAE's scaling factor."""
    images = np.stack([render_sample(seed).image for seed in seeds])
    latents = encode_images(vae, images) * float(vae.config.scaling_factor)
    n, c, h, w = latents.shape
    small = np.stack([cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) for img in images])
    target = small.reshape(-1, 3).astype(np.float64) / 255.0
    inputs = latents.permute(0, 2, 3, 1).reshape(-1, c).cpu().double().numpy()
    design = np.concatenate([inputs, np.ones((inputs.shape[0], 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    fitted = design @ solution
    rmse = float(np.sqrt(np.mean((fitted - target) ** 2)))
    return {
        "factors": np.round(solution[:c], 6).tolist(),  # latent_channels x 3
        "bias": np.round(solution[c], 6).tolist(),  # 3
        "latents": "scaled (as the UNet sees them)",
        "rgb_range": [0.0, 1.0],
        "fit_rmse": round(rmse, 5),
        "fit_samples": int(n),
    }


@torch.no_grad()
def encode_images(vae: torch.nn.Module, images: np.ndarray, batch: int = 128) -> torch.Tensor:
    """Unscaled latent means of uint8 (N, H, W, 3) pictures, encoded a batch at a time."""
    device = next(vae.parameters()).device
    chunks = []
    for i in range(0, len(images), batch):
        pixels = torch.from_numpy(images[i:i + batch]).permute(0, 3, 1, 2).to(device).float() / 127.5 - 1.0
        chunks.append(vae.encode(pixels).latent_dist.mean)
    return torch.cat(chunks)


def latents_to_rgb(latents: torch.Tensor | np.ndarray, latent_rgb: dict[str, Any]) -> np.ndarray:
    """uint8 (H, W, 3) preview of one latent (C, H, W) or the first of a batch (N, C, H, W)."""
    arr = latents.detach().float().cpu().numpy() if isinstance(latents, torch.Tensor) else np.asarray(latents)
    if arr.ndim == 4:
        arr = arr[0]
    factors = np.asarray(latent_rgb["factors"], dtype=np.float32)
    bias = np.asarray(latent_rgb["bias"], dtype=np.float32)
    rgb = np.transpose(arr, (1, 2, 0)) @ factors + bias
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
