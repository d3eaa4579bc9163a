"""Training an image LoRA on a Stable Diffusion 1.x/2.x pipeline with diffusers and peft.

LoRA layers (peft) wrap the UNet's attention projections (``to_q``,
``to_k``, ``to_v``, ``to_out.0``), the transformer blocks' ``proj_in``,
``proj_out`` and feed-forward layers (kohya's default set of layers for
SD 1.x) and, optionally, the CLIP text encoder's
(``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``); every other weight is
frozen. Pictures are encoded by the VAE once into a latent cache (kept in
the run folder, so a resumed run skips it); when the text encoder is frozen
its outputs are cached too. Each step draws its bucket, pictures, noise and
timesteps from the step number alone, so a run resumed from a checkpoint
takes exactly the steps it would have taken.

Prior preservation (``prior_weight`` above 0) mixes into every step as many
pictures of what the model already draws (see `studio.training.lora.prior`)
as pictures of the new subject, their loss weighted by ``prior_weight``:
without it a LoRA trained on a few pictures drags the whole model towards
them and the model forgets the rest. Prior pictures join the steps whose
bucket has their size.

A run whose loss collapses (`studio.training.lora.divergence`) stops with
one clear line and drops its checkpoint, instead of saving a LoRA that
draws nothing.

On a GPU the frozen weights are float16 and the LoRA float32 under
autocast, with gradient checkpointing: an SD 1.5 LoRA at 512 px, batch 1,
fits in 8 GB without 8-bit optimisers. On a CPU everything is float32.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.jobs import StudioError
from studio.training.lora import resume
from studio.training.lora.dataset import ImageSet
from studio.training.lora.divergence import DivergenceWatch

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


@dataclass(frozen=True)
class ImageLoraConfig:
    rank: int = 16
    alpha: float = 0.0  # 0: the rank (scale 1)
    learning_rate: float = 1e-4
    text_encoder_lr: float = 0.0  # 0: half the UNet's
    steps: int = 1500
    resolution: int = 512
    batch: int = 1
    train_text_encoder: bool = True
    seed: int = 0
    sample_prompt: str = ""
    sample_every: int = 100
    sample_steps: int = 20
    sample_guidance: float = 7.0
    checkpoint_every: int = 100
    gradient_checkpointing: bool = True  # used on a GPU only
    prior_weight: float = 0.0  # prior preservation: weight of the base model's own pictures' loss (0: off)
    prior_count: int = 200  # base-model pictures drawn once for prior preservation


def defaults_for(native_size: int) -> ImageLoraConfig:
    """Sensible settings by model size: the 64 px starter trains in minutes on a CPU.

    The starter's LoRA learns with prior preservation (each step 4 new pictures and 4 of its own
    training pictures, equally weighted), which keeps its other shapes where they were; without
    it a hexagon LoRA cost the model a third of them (benchmarks/personalise.py).
    """
    if native_size <= 128:
        return ImageLoraConfig(rank=16, learning_rate=2e-3, steps=1200, resolution=native_size, batch=4,
                               sample_every=50, sample_steps=20, sample_guidance=5.0, checkpoint_every=50,
                               prior_weight=1.0, prior_count=200)
    if native_size >= 768:
        return ImageLoraConfig(rank=16, learning_rate=1e-4, steps=1500, resolution=768, batch=1)
    return ImageLoraConfig(rank=16, learning_rate=1e-4, steps=1500, resolution=native_size, batch=1)


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    resumed_from: int = 0
    stopped: bool = False
    last_sample: np.ndarray | None = None


def check_family(pipe: Any) -> None:
    """One clear line unless ``pipe`` is an SD 1.x/2.x text-to-image pipeline."""
    name = type(pipe).__name__
    if getattr(pipe, "unet", None) is None or getattr(pipe, "text_encoder", None) is None:
        raise StudioError(f"LoRA training needs a Stable Diffusion 1.x/2.x model; this one is a {name}")
    if getattr(pipe, "text_encoder_2", None) is not None or getattr(pipe, "transformer", None) is not None:
        raise StudioError(f"LoRA training supports Stable Diffusion 1.x/2.x models; {name} (SDXL, SD3, Flux) "
                          "is not supported yet")
    if pipe.unet.config.in_channels != 4:
        raise StudioError("LoRA training needs a text-to-image model, not an inpainting one")


def _add_lora(pipe: Any, config: ImageLoraConfig) -> None:
    import torch
    from peft import LoraConfig, inject_adapter_in_model

    for module in (pipe.unet, pipe.text_encoder, pipe.vae):
        module.requires_grad_(False)
    alpha = config.alpha or config.rank
    inject_adapter_in_model(LoraConfig(r=config.rank, lora_alpha=alpha, init_lora_weights="gaussian",
                                       target_modules=UNET_TARGETS), pipe.unet)
    if config.train_text_encoder:
        inject_adapter_in_model(LoraConfig(r=config.rank, lora_alpha=alpha, init_lora_weights="gaussian",
                                           target_modules=TEXT_TARGETS), pipe.text_encoder)
    for module in (pipe.unet, pipe.text_encoder):
        for name, param in module.named_parameters():
            if "lora_" in name:
                param.requires_grad_(True)
                if param.dtype != torch.float32:
                    param.data = param.data.float()


def _token_ids(pipe: Any, captions: list[str]) -> Any:
    return pipe.tokenizer(captions, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                          truncation=True, return_tensors="pt").input_ids


def latent_cache(pipe: Any, images: ImageSet, folder: Path, device: Any) -> list[Any]:
    """One scaled latent per picture, encoded once and kept in ``folder``."""
    import torch
    from safetensors.torch import load_file, save_file

    path = folder / f"latents-{images.digest[:16]}-{images.images[0].pixels.shape[0]}.safetensors"
    if path.is_file():
        saved = load_file(str(path))
        if len(saved) == len(images):
            return [saved[str(i)] for i in range(len(images))]
    vae = pipe.vae
    factor = float(vae.config.scaling_factor)
    out = []
    with torch.no_grad():
        for image in images.images:
            pixels = torch.from_numpy(image.pixels).permute(2, 0, 1)[None].float() / 127.5 - 1.0
            dist = vae.encode(pixels.to(device, vae.dtype)).latent_dist
            out.append((dist.mean * factor).float().cpu()[0])
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file({str(i): t.contiguous() for i, t in enumerate(out)}, str(partial))
    partial.replace(path)
    return out


@dataclass
class PriorSet:
    """The base model's own pictures (as latents) and their captions, for prior preservation."""

    captions: list[str]
    latents: list[Any]


def prior_cache(pipe: Any, captions: list[str], seeds: list[int], config: ImageLoraConfig, folder: Path,
                device: Any, size: tuple[int, int]) -> PriorSet:
    """The base model's latent for each caption (drawn before any LoRA is added), kept in ``folder``."""
    import hashlib
    import json

    import torch
    from safetensors.torch import load_file, save_file

    key = json.dumps([captions, seeds, config.sample_steps, config.sample_guidance, list(size)])
    path = folder / f"prior-{hashlib.sha256(key.encode()).hexdigest()[:16]}.safetensors"
    if path.is_file():
        saved = load_file(str(path))
        if len(saved) == len(captions):
            return PriorSet(list(captions), [saved[str(i)] for i in range(len(captions))])
    pipe.unet.eval()
    pipe.text_encoder.eval()
    out: list[Any] = []
    chunk = 25
    with torch.no_grad():
        for start in range(0, len(captions), chunk):
            part = captions[start:start + chunk]
            generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds[start:start + chunk]]
            result = pipe(part, width=size[0], height=size[1], num_inference_steps=config.sample_steps,
                          guidance_scale=config.sample_guidance, generator=generators, output_type="latent")
            out += [t.float().cpu() for t in result.images]
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file({str(i): t.contiguous() for i, t in enumerate(out)}, str(partial))
    partial.replace(path)
    return PriorSet(list(captions), out)


def _batch_indices(buckets: list[list[int]], step: int, batch: int, seed: int) -> list[int]:
    rng = np.random.default_rng([seed, step])
    sizes = np.array([len(b) for b in buckets], dtype=np.float64)
    bucket = buckets[int(rng.choice(len(buckets), p=sizes / sizes.sum()))]
    return [bucket[i] for i in rng.choice(len(bucket), size=batch, replace=len(bucket) < batch)]


def sample(pipe: Any, config: ImageLoraConfig, size: tuple[int, int]) -> np.ndarray:
    """The fixed prompt drawn with the LoRA as it is now (same seed every time)."""
    import torch

    pipe.unet.eval()
    pipe.text_encoder.eval()
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    with torch.no_grad():
        image = pipe(config.sample_prompt, width=size[0], height=size[1], num_inference_steps=config.sample_steps,
                     guidance_scale=config.sample_guidance, generator=generator, output_type="np").images[0]
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def train_image_lora(pipe: Any, images: ImageSet, config: ImageLoraConfig, run_folder: Path, device: Any,
                     on_step: Callable[[int, int, float, float], None] | None = None,
                     on_sample: Callable[[int, np.ndarray, list[float]], None] | None = None,
                     should_stop: Callable[[], bool] = lambda: False,
                     prior_captions: list[str] | None = None, prior_images: ImageSet | None = None) -> TrainResult:
    """Train; resumes from ``run_folder``'s checkpoint when there is one. ``on_step(step, total, loss, eta_s)``.

    Prior preservation, with ``config.prior_weight`` above 0: each step also learns ``batch``
    pictures of what the model already draws, their loss weighted by ``prior_weight``, so the
    LoRA learns the new subject without unlearning the rest. The pictures are ``prior_images``
    (captioned pictures of the model's own kind, such as the data it was trained on) or else
    the base model's own drawings of ``config.prior_count`` of ``prior_captions``, drawn once
    before training; either is cached in the run folder as latents.
    """
    import torch
    from diffusers import DDPMScheduler

    check_family(pipe)
    run_folder.mkdir(parents=True, exist_ok=True)
    latents = latent_cache(pipe, images, run_folder, device)
    ids = _token_ids(pipe, [image.caption for image in images.images]).to(device)
    prior = None
    if config.prior_weight > 0 and prior_images is not None and len(prior_images):
        prior = PriorSet([image.caption for image in prior_images.images],
                         latent_cache(pipe, prior_images, run_folder, device))
        prior_ids = _token_ids(pipe, prior.captions).to(device)
    elif config.prior_weight > 0 and prior_captions:
        chosen = [prior_captions[i % len(prior_captions)] for i in range(max(1, config.prior_count))]
        side = images.images[0].pixels.shape
        prior = prior_cache(pipe, chosen, [config.seed * 100_003 + i for i in range(len(chosen))], config,
                            run_folder, device, (side[1], side[0]))
        prior_ids = _token_ids(pipe, prior.captions).to(device)
    _add_lora(pipe, config)
    unet, text_encoder = pipe.unet, pipe.text_encoder
    on_gpu = torch.device(device).type == "cuda"
    if on_gpu and config.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        if config.train_text_encoder:
            text_encoder.gradient_checkpointing_enable()
    cached_text = None
    if not config.train_text_encoder:
        with torch.no_grad():
            cached_text = text_encoder(ids)[0].float()
            if prior is not None:
                cached_prior_text = text_encoder(prior_ids)[0].float()
    params = resume.trainable({"unet": unet, "text_encoder": text_encoder})
    unet_params = [p for k, p in params.items() if k.startswith("unet.")]
    text_params = [p for k, p in params.items() if k.startswith("text_encoder.")]
    groups = [{"params": unet_params, "lr": config.learning_rate}]
    if text_params:
        groups.append({"params": text_params, "lr": config.text_encoder_lr or config.learning_rate / 2})
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.999), weight_decay=1e-2)
    peaks = [g["lr"] for g in optimizer.param_groups]
    checkpoint = run_folder / "checkpoint"
    state = resume.load(checkpoint, params, optimizer, device) or {}
    start = int(state.get("step", 0))
    losses: list[float] = list(state.get("losses", []))
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    v_prediction = scheduler.config.get("prediction_type") == "v_prediction"
    buckets = list(images.buckets().values())
    warmup = max(1, config.steps // 20)
    result = TrainResult(losses=losses, resumed_from=start)
    watch = DivergenceWatch(warmup=max(warmup, 50))
    for earlier, value in enumerate(losses):  # a resumed run remembers how low its loss went
        watch.update(earlier, value)
    began, timed, training_s = time.perf_counter(), 0, 0.0
    reached = start
    for step in range(start, config.steps):
        if should_stop():
            result.stopped = True
            break
        unet.train()
        text_encoder.train(config.train_text_encoder)
        torch.manual_seed(config.seed * 1_000_003 + step)
        for group, peak in zip(optimizer.param_groups, peaks):
            group["lr"] = peak * min(1.0, (step + 1) / warmup)
        index = _batch_indices(buckets, step, config.batch, config.seed)
        x0 = torch.stack([latents[i] for i in index]).to(device)
        step_ids = ids[index]
        prior_index: list[int] = []
        if prior is not None:
            prior_rng = np.random.default_rng([config.seed, step, 1])
            prior_index = [int(i) for i in prior_rng.choice(len(prior.latents), size=config.batch)]
            prior_x0 = torch.stack([prior.latents[i] for i in prior_index]).to(device)
            if prior_x0.shape[-2:] == x0.shape[-2:]:
                x0 = torch.cat([x0, prior_x0])
                step_ids = torch.cat([step_ids, prior_ids[prior_index]])
            else:
                prior_index = []
        noise = torch.randn_like(x0)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), device=device)
        noisy = scheduler.add_noise(x0, noise, t)
        target = scheduler.get_velocity(x0, noise, t) if v_prediction else noise
        with torch.autocast("cuda", dtype=torch.float16, enabled=on_gpu):
            if cached_text is not None:
                text = cached_text[index]
                if prior_index:
                    text = torch.cat([text, cached_prior_text[prior_index]])
            else:
                text = text_encoder(step_ids)[0]
            pred = unet(noisy.to(unet.dtype), t, text.to(unet.dtype)).sample
        errors = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
        loss = errors[:len(index)].mean()
        if prior_index:
            loss = loss + config.prior_weight * errors[len(index):].mean()
        if not torch.isfinite(loss):
            raise StudioError(f"training diverged at step {step + 1} (loss is not a number): lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        optimizer.step()
        losses.append(round(float(loss.item()), 5))
        diverged = watch.update(step, losses[-1])
        if diverged:
            resume.clear(checkpoint)  # its weights have blown up too: a retry starts afresh
            raise StudioError(diverged)
        reached, timed = step + 1, timed + 1
        per_step = (time.perf_counter() - began) / timed
        if on_step:
            on_step(step + 1, config.steps, losses[-1], per_step * (config.steps - step - 1))
        done = step + 1 == config.steps
        if (step + 1) % config.checkpoint_every == 0 and not done:
            resume.save(checkpoint, params, optimizer, {"step": step + 1, "losses": losses,
                                                        "config": asdict(config)})
        if config.sample_prompt and on_sample and ((step + 1) % config.sample_every == 0 or done):
            training_s += time.perf_counter() - began
            scale = pipe.vae_scale_factor
            result.last_sample = sample(pipe, config, (x0.shape[-1] * scale, x0.shape[-2] * scale))
            on_sample(step + 1, result.last_sample, losses)
            began, timed = time.perf_counter(), 0  # sampling time is not training time
    result.steps = reached
    result.seconds = training_s + (time.perf_counter() - began if timed else 0.0)
    if result.stopped and reached > start:
        resume.save(checkpoint, params, optimizer, {"step": reached, "losses": losses, "config": asdict(config)})
    return result
