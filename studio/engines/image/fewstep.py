"""Few-step diffusion: which models and LoRAs are distilled for one to eight
steps, and the settings they want.

Two families are known. *LCM* (latent consistency models and LCM-LoRAs)
sample with diffusers' ``LCMScheduler``, 2-8 steps and guidance 1-2.
*Turbo* (SD-Turbo, SDXL-Turbo, adversarially distilled) sample with Euler
on *trailing* timesteps (the first step starts from pure noise, t = 999),
1-4 steps and no guidance (0: the unconditional pass is skipped).

A model is recognised from its scheduler config (an ``LCMScheduler`` or
trailing spacing), its name, its card (name, description, an explicit
``extra["fewstep"]``), or the LoRAs merged into it. ``scheduler_for`` is the
hook the engine calls: a "Default" choice on a few-step model becomes the
family's sampler, so the form's defaults just work; an explicit choice is
kept. Light module (no torch): the GUI reads it too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LCM_WORDS = ("lcm", "latent-consistency", "latent_consistency")
TURBO_WORDS = ("turbo", "hyper-sd", "lightning")


@dataclass(frozen=True)
class FewStep:
    """A few-step family and the settings it samples best with."""

    family: str  # "lcm", "turbo" or "" (an ordinary model)
    scheduler: str  # the name in requests.SCHEDULERS
    steps: int
    cfg: float

    @property
    def fast(self) -> bool:
        return bool(self.family)


ORDINARY = FewStep("", "Default", 0, 0.0)
LCM = FewStep("lcm", "LCM", 4, 1.0)
TURBO = FewStep("turbo", "Turbo", 1, 0.0)


def _has(words: tuple[str, ...], *texts: str) -> bool:
    return any(word in text.lower() for text in texts if text for word in words)


def detect(names: tuple[str, ...] = (), scheduler_config: dict[str, Any] | None = None,
           card: Any = None, lora_names: tuple[str, ...] = ()) -> FewStep:
    """The few-step family of a model (and the LoRAs on it), or ``ORDINARY``."""
    config = scheduler_config or {}
    extra = dict(getattr(card, "extra", {}) or {})
    declared = str(extra.get("fewstep", "")).lower()
    if declared in ("lcm", "turbo"):
        return LCM if declared == "lcm" else TURBO
    if str(config.get("_class_name", "")) == "LCMScheduler" or _has(LCM_WORDS, *lora_names):
        return LCM
    texts = [*names]
    if card is not None:
        texts += [str(getattr(card, "name", "")), str(getattr(card, "id", "")), str(getattr(card, "path", "")),
                  str(getattr(card, "description", ""))]
    if _has(LCM_WORDS, *texts):
        return LCM
    if _has(TURBO_WORDS, *texts):
        return TURBO
    return ORDINARY


def scheduler_for(choice: str, card: Any, default_config: dict[str, Any], lora_names: tuple[str, ...]) -> str:
    """What "Default" means for this model: the few-step family's sampler where
    the model's own scheduler is not already it; any explicit choice is kept."""
    if choice != "Default":
        return choice
    found = detect(scheduler_config=default_config, card=card, lora_names=lora_names)
    if found.family == "lcm" and default_config.get("_class_name") != "LCMScheduler":
        return "LCM"
    if found.family == "turbo" and default_config.get("timestep_spacing") != "trailing":
        return "Turbo"
    return choice


def decode_with_taesd(pipe: Any, taesd: Any, latents: Any, height: int, width: int) -> Any:
    """Float (N, H, W, 3) 0..1 pixels from a pipeline's (scaled) latents, decoded
    by a tiny autoencoder (which takes unscaled latents and gives -1..1)."""
    import torch

    from studio.engines.image.previews import unpack_latents, vae_scale_shift

    latents = unpack_latents(pipe, latents, height, width)
    parameter = next(taesd.parameters())
    scale, shift = vae_scale_shift(pipe.vae)
    with torch.no_grad():
        pixels = taesd.decode(latents.to(parameter.device, parameter.dtype) / scale + shift).sample
    return ((pixels.float().clamp(-1, 1) + 1.0) / 2.0).permute(0, 2, 3, 1).cpu().numpy()
