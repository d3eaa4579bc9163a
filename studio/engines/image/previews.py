"""Live previews of the latents being denoised, built on the worker thread.

Modes (``ImageRequest.preview``):

- ``approx``: a linear latent-to-RGB map (C x 3 factors plus a bias) applied
  to the latents as the denoiser sees them. It works for any latent family
  (4-channel SD/SDXL, 16-channel SD3/Flux) because the factors belong to the
  model's own autoencoder: read from ``latent_rgb.json`` beside the model
  when it ships one (the starter model does), otherwise fitted once by least
  squares from the autoencoder itself (latents of synthetic colour fields and
  Gaussian latents, against what its decoder makes of them, downscaled) and
  cached on disk per autoencoder.
- ``taesd``: a tiny autoencoder (TAESD family, ``AutoencoderTiny``) found in
  the model folders, matched to the model's latent family; ``approx`` when
  none is found.
- ``full``: the model's own decoder every N steps (slow, exact).
- ``off``.

The preview image is a uint8 HxWx3 array; the job runner turns it into a
QImage on the worker and coalesces, so the GUI thread never waits on it."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.paths import studio_paths

log = logging.getLogger(__name__)

FIT_IMAGES = 24
FIT_SIZE = 64
# TAESD variants by latent family, the names their authors publish them under.
TAESD_NAMES = {"sd1": ("taesd",), "sdxl": ("taesdxl",), "sd3": ("taesd3",), "flux": ("taef1",)}


def latent_family(pipe: Any) -> str:
    name = type(pipe).__name__
    if "Flux" in name:
        return "flux"
    if "StableDiffusion3" in name:
        return "sd3"
    if "XL" in name:
        return "sdxl"
    return "sd1"


def vae_scale_shift(vae: Any) -> tuple[float, float]:
    config = vae.config
    return float(getattr(config, "scaling_factor", 1.0) or 1.0), float(getattr(config, "shift_factor", 0.0) or 0.0)


def unpack_latents(pipe: Any, latents: Any, height: int, width: int) -> Any:
    """Latents as (B, C, h, w): Flux-style pipelines pack them into token sequences."""
    if latents.ndim == 3 and hasattr(pipe, "_unpack_latents"):
        return pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
    return latents


# --- the linear approximation ------------------------------------------------------------

def _fit_images(channels_seed: int = 7) -> np.ndarray:
    """Deterministic synthetic pictures: smooth colour fields and flat colours, uint8 N x 64 x 64 x 3."""
    rng = np.random.default_rng(channels_seed)
    images = []
    for index in range(FIT_IMAGES):
        if index < 8:
            colour = np.array([(index >> bit) & 1 for bit in range(3)], dtype=np.float32)
            field = np.broadcast_to(colour * 0.9 + 0.05, (FIT_SIZE, FIT_SIZE, 3))
        else:
            coarse = rng.random((4, 4, 3)).astype(np.float32)
            field = np.kron(coarse, np.ones((FIT_SIZE // 4, FIT_SIZE // 4, 1), dtype=np.float32))
            # Soften the blocks so the autoencoder sees smooth colour, as in photographs.
            for _ in range(3):
                field = (field + np.roll(field, 4, 0) + np.roll(field, 4, 1) + np.roll(field, -4, 0)
                         + np.roll(field, -4, 1)) / 5
        images.append(np.clip(field * 255, 0, 255).astype(np.uint8))
    return np.stack(images)


def fit_latent_rgb(vae: Any) -> dict[str, Any]:
    """Least-squares factors mapping this autoencoder's (scaled) latents to the RGB (0..1)
    its decoder makes of them. The latents are those of synthetic pictures plus Gaussian
    ones (what the sampler starts from), so the map holds all along the denoising."""
    import torch

    images = _fit_images()
    parameter = next(vae.parameters())
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).to(parameter.device, parameter.dtype) / 127.5 - 1.0
    scale, shift = vae_scale_shift(vae)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        encoded = (vae.encode(pixels).latent_dist.mean - shift) * scale
        noise = torch.randn(encoded.shape, generator=generator).to(encoded.device, encoded.dtype)
        latents = torch.cat([encoded, noise])
        decoded = vae.decode(latents / scale + shift).sample.float().clamp(-1, 1)
    n, channels, h, w = latents.shape
    factor = decoded.shape[-1] // w
    small = ((decoded + 1) / 2).reshape(n, 3, h, factor, w, factor).mean(dim=(3, 5))
    target = small.permute(0, 2, 3, 1).reshape(-1, 3).cpu().double().numpy()
    inputs = latents.permute(0, 2, 3, 1).reshape(-1, channels).float().cpu().double().numpy()
    design = np.concatenate([inputs, np.ones((inputs.shape[0], 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    rmse = float(np.sqrt(np.mean((design @ solution - target) ** 2)))
    return {"factors": solution[:channels].round(6).tolist(), "bias": solution[channels].round(6).tolist(),
            "fit_rmse": round(rmse, 5), "target_std": round(float(target.std(axis=0).mean()), 5)}


def _vae_key(vae: Any) -> str:
    """Identity of an autoencoder's weights (config plus a sample of the decoder)."""
    digest = hashlib.sha1(json.dumps(dict(vae.config), sort_keys=True, default=str).encode())
    for name, tensor in list(vae.state_dict().items())[-4:]:
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes()[:65536])
    return digest.hexdigest()[:16]


def latent_rgb_for(pipe: Any, model_dir: Path | None) -> dict[str, Any]:
    """The model's shipped factors, else the cached fit for its autoencoder, else a new fit."""
    if model_dir is not None and (Path(model_dir) / "latent_rgb.json").is_file():
        try:
            return json.loads((Path(model_dir) / "latent_rgb.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("latent_rgb.json of %s unreadable (%s); fitting instead", model_dir, exc)
    vae = getattr(pipe, "vae", None)
    if vae is None or not hasattr(vae, "encode"):
        return {}
    cache = studio_paths().cache / "latent-rgb" / f"{_vae_key(vae)}.json"
    if cache.is_file():
        try:
            return json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    fitted = fit_latent_rgb(vae)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(fitted), encoding="utf-8")
    return fitted


def approximate_rgb(latent: Any, factors: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 3) from one latent (C, h, w)."""
    array = latent.detach().float().cpu().numpy() if hasattr(latent, "detach") else np.asarray(latent)
    rgb = np.tensordot(array, factors, axes=([0], [0])) + bias
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# --- the denoised estimate ---------------------------------------------------------------

class DenoisedTap:
    """The scheduler's estimate of the finished latents (x0) at the last step.

    Previews of the noisy latents show mostly noise until the last steps; the
    x0 estimate shows the picture taking shape from the first ones (A1111 and
    ComfyUI preview it too). Schedulers compute it inside ``step``; the tap
    wraps ``step`` of the job's own scheduler object and keeps it."""

    def __init__(self, scheduler: Any) -> None:
        import functools
        import inspect

        self.scheduler = scheduler
        self._last_step: tuple[Any, tuple, dict[str, Any]] | None = None  # (result, args, kwargs)
        step = scheduler.step
        self._signature = inspect.signature(step)

        # functools.wraps keeps the real signature visible (inspect follows
        # __wrapped__): pipelines pass ``generator`` and ``eta`` to ``step`` only
        # if its signature names them, and without the generator an ancestral
        # scheduler would draw from the global RNG and lose seed determinism.
        # The step's arguments are only kept: the estimate is worked out when a
        # preview asks for it (``take``, in the same step's callback, while the
        # scheduler is as the step left it), not on steps that show no preview.
        @functools.wraps(step)
        def on_step(*args: Any, **kwargs: Any) -> Any:
            result = step(*args, **kwargs)
            self._last_step = (result, args, kwargs)
            return result

        scheduler.step = on_step  # an instance attribute: only this job's scheduler

    def take(self) -> Any:
        """The estimate of the latest step (None if it cannot be had), once."""
        last, self._last_step = self._last_step, None
        if last is None:
            return None
        result, args, kwargs = last
        try:
            bound = self._signature.bind(*args, **kwargs).arguments
            return denoised(self.scheduler, result, bound["model_output"], bound["timestep"], bound["sample"])
        except Exception:  # noqa: BLE001 - a preview estimate must never break sampling
            return None

    def discard(self) -> None:
        self._last_step = None


def denoised(scheduler: Any, result: Any, model_output: Any, timestep: Any, sample: Any) -> Any:
    """x0 after one step, from what the scheduler returned or keeps, or from the model output."""
    values = result if isinstance(result, tuple) else (
        getattr(result, "prev_sample", None),
        getattr(result, "pred_original_sample", None) if getattr(result, "pred_original_sample", None) is not None
        else getattr(result, "denoised", None))
    if len(values) > 1 and values[1] is not None and getattr(values[1], "shape", None) == sample.shape:
        return values[1]  # Euler, Euler a, DDIM, LCM return it
    config = scheduler.config
    outputs = getattr(scheduler, "model_outputs", None)
    predicts_x0 = (getattr(config, "predict_x0", False) is True
                   or getattr(config, "algorithm_type", "") in ("dpmsolver++", "sde-dpmsolver++"))
    if predicts_x0 and outputs and outputs[-1] is not None and outputs[-1].shape == sample.shape:
        return outputs[-1]  # DPM++ and UniPC keep it as their model output
    if type(scheduler).__name__.startswith("FlowMatch") and getattr(scheduler, "step_index", None):
        sigma = scheduler.sigmas[scheduler.step_index - 1]
        return sample - sigma * model_output  # flow matching predicts the velocity noise - image
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is not None and model_output.shape == sample.shape:
        index = int(timestep)
        if 0 <= index < len(alphas):
            alpha = alphas[index].to(sample.device, sample.dtype)
            if getattr(config, "prediction_type", "epsilon") == "v_prediction":
                return alpha.sqrt() * sample - (1 - alpha).sqrt() * model_output
            return (sample - (1 - alpha).sqrt() * model_output) / alpha.sqrt()
    return None


# --- tiny autoencoders -----------------------------------------------------------------

def find_taesd(cards: list[Any], family: str, channels: int) -> Path | None:
    """A TAESD folder among the model cards for ``family`` (by its published name), else any
    tiny autoencoder with the right number of latent channels."""
    fallback = None
    for card in cards:
        path = Path(card.path)
        config_file = path / "config.json"
        if not config_file.is_file():
            continue
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if config.get("_class_name") != "AutoencoderTiny" or int(config.get("latent_channels", 4)) != channels:
            continue
        if path.name.lower() in TAESD_NAMES.get(family, ()) or card.name.lower() in TAESD_NAMES.get(family, ()):
            return path
        fallback = fallback or path
    return fallback


class Previewer:
    """Turns the latents of a step into a preview image, per the chosen mode."""

    def __init__(self, pipe: Any, mode: str, every: int, height: int, width: int,
                 latent_rgb: dict[str, Any], taesd: Any = None) -> None:
        self.pipe = pipe
        self.mode = mode
        self.every = max(1, every)
        self.height, self.width = height, width
        self.taesd = taesd
        self.factors = np.asarray(latent_rgb.get("factors", []), dtype=np.float32)
        self.bias = np.asarray(latent_rgb.get("bias", [0.0, 0.0, 0.0]), dtype=np.float32)
        if mode == "taesd" and taesd is None:
            self.mode = "approx"

    def image(self, latents: Any, step: int, last: bool) -> np.ndarray | None:
        """The preview for this step (``step`` counts from 1), or None when this step shows none."""
        if self.mode == "off":
            return None
        latents = unpack_latents(self.pipe, latents, self.height, self.width)
        if self.mode == "full":
            if step % self.every and not last:
                return None
            return self._decode(latents[:1])
        if self.mode == "taesd":
            return self._taesd(latents[:1])
        if self.factors.shape[:1] != (latents.shape[1],):
            return None
        return approximate_rgb(latents[0], self.factors, self.bias)

    def _taesd(self, latents: Any) -> np.ndarray:
        import torch

        parameter = next(self.taesd.parameters())
        scale, shift = vae_scale_shift(self.pipe.vae)
        with torch.no_grad():
            # TAESD decodes unscaled latents straight to -1..1 pixels.
            raw = latents.to(parameter.device, parameter.dtype) / scale + shift
            pixels = self.taesd.decode(raw).sample[0]
        return _to_uint8(pixels)

    def _decode(self, latents: Any) -> np.ndarray:
        import torch

        vae = self.pipe.vae
        parameter = next(vae.parameters())
        scale, shift = vae_scale_shift(vae)
        with torch.no_grad():
            pixels = vae.decode(latents.to(parameter.device, parameter.dtype) / scale + shift).sample[0]
        return _to_uint8(pixels)


def _to_uint8(pixels: Any) -> np.ndarray:
    array = pixels.detach().float().clamp(-1, 1).permute(1, 2, 0).cpu().numpy()
    return ((array + 1.0) * 127.5 + 0.5).astype(np.uint8)
