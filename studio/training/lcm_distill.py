"""The starter model's LCM-LoRA: latent consistency distillation, so the
starter draws in two to four steps without guidance (live mode's frames).

Latent consistency distillation (Luo et al. 2023, the LCM-LoRA recipe): a
LoRA on the UNet is trained so that, from a noisy latent at any step of a
50-step DDIM grid, the student's consistency function (boundary-scaled x0
prediction, as ``LCMScheduler`` samples it) equals its own prediction one
grid step further on, where that further latent is found by one DDIM step
of the frozen base model with classifier-free guidance at a random weight.
Guidance is thus distilled in: the student runs one pass per step, not two.

The data are the starter's own pictures (the shapes generator, training
seeds only), encoded once by its autoencoder, with their captions encoded
once by its frozen text encoder. The LoRA covers attention, feed-forward,
resnet convolutions, time embeddings and the up/down samplers, and is
written in kohya's layout with the name ``starter-shapes-lcm`` (the "lcm"
in the name is how ``fewstep`` recognises it).

    python -m studio.training.lcm_distill --minutes 30 --out /tmp/lcm
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

TARGETS = (r".*(to_q|to_k|to_v|to_out\.0|proj_in|proj_out|ff\.net\.0\.proj|ff\.net\.2|conv1|conv2|conv_shortcut"
           r"|time_emb_proj|samplers\.0\.conv)$")
LORA_NAME = "starter-shapes-lcm"
SIGMA_DATA = 0.5
TIMESTEP_SCALING = 10.0  # LCMScheduler's default: the boundary conditions must match it


@dataclass(frozen=True)
class DistillConfig:
    rank: int = 32
    learning_rate: float = 1e-3
    batch: int = 32
    pictures: int = 4096
    ddim_steps: int = 50
    guidance_min: float = 4.0  # the base model's guidance, sampled per picture (the starter's default: 5)
    guidance_max: float = 7.0
    huber_c: float = 0.001
    seed: int = 7
    first_seed: int = 600_000  # shapes generator seeds (training range)


def boundary_scalings(timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scaled = timesteps.float() * TIMESTEP_SCALING
    c_skip = SIGMA_DATA ** 2 / (scaled ** 2 + SIGMA_DATA ** 2)
    c_out = scaled / (scaled ** 2 + SIGMA_DATA ** 2) ** 0.5
    return c_skip[:, None, None, None], c_out[:, None, None, None]


def _expand(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return values[index][:, None, None, None]


def encode_data(pipe: Any, config: DistillConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Latents of the generator's pictures, their caption embeddings, and the empty caption's."""
    from studio.training.shapes import render_sample

    scale = float(pipe.vae.config.scaling_factor)
    latents, embeddings = [], []
    with torch.no_grad():
        for start in range(0, config.pictures, 64):
            samples = [render_sample(config.first_seed + i) for i in range(start, min(start + 64, config.pictures))]
            pixels = torch.stack([torch.from_numpy(s.image).permute(2, 0, 1) for s in samples]).float() / 127.5 - 1
            latents.append(pipe.vae.encode(pixels).latent_dist.mean * scale)
            embeddings.append(_encode_text(pipe, [s.caption for s in samples]))
        empty = _encode_text(pipe, [""])
    return torch.cat(latents), torch.cat(embeddings), empty


def _encode_text(pipe: Any, captions: list[str]) -> torch.Tensor:
    ids = pipe.tokenizer(captions, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids
    return pipe.text_encoder(ids)[0]


def add_lora(unet: Any, rank: int) -> list[torch.nn.Parameter]:
    from peft import LoraConfig, inject_adapter_in_model

    unet.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                       target_modules=TARGETS), unet)
    params = [p for n, p in unet.named_parameters() if "lora_" in n]
    for param in params:
        param.requires_grad_(True)
    return params


def distill(pipe: Any, config: DistillConfig, minutes: float, max_steps: int, log: Any = print) -> dict[str, Any]:
    """Train the LoRA into ``pipe.unet`` for ``minutes`` (or ``max_steps``); returns the run's figures."""
    torch.manual_seed(config.seed)
    began = time.perf_counter()
    latents, embeddings, empty = encode_data(pipe, config)
    log(f"encoded {len(latents)} pictures in {time.perf_counter() - began:.0f}s")
    teacher = copy.deepcopy(pipe.unet).eval().requires_grad_(False)
    params = add_lora(pipe.unet, config.rank)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    alphas = pipe.scheduler.alphas_cumprod.float() if hasattr(pipe.scheduler, "alphas_cumprod") else None
    if alphas is None:
        from diffusers import DDPMScheduler

        alphas = DDPMScheduler.from_config(pipe.scheduler.config).alphas_cumprod.float()
    alpha_sqrt, sigma_sqrt = alphas.sqrt(), (1 - alphas).sqrt()
    spacing = len(alphas) // config.ddim_steps
    grid = torch.arange(1, config.ddim_steps + 1) * spacing - 1  # 19, 39, ... 999
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    step = 0
    deadline = began + minutes * 60
    while step < max_steps and time.perf_counter() < deadline:
        index = torch.randint(0, len(latents), (config.batch,), generator=generator)
        x0, text = latents[index], embeddings[index]
        t = grid[torch.randint(0, config.ddim_steps, (config.batch,), generator=generator)]
        t_prev = (t - spacing).clamp(min=0)
        noise = torch.randn(x0.shape, generator=generator)
        noisy = _expand(alpha_sqrt, t) * x0 + _expand(sigma_sqrt, t) * noise
        w = config.guidance_min + (config.guidance_max - config.guidance_min) * torch.rand(
            (config.batch,), generator=generator)
        with torch.no_grad():
            both = teacher(torch.cat([noisy, noisy]), torch.cat([t, t]),
                           torch.cat([text, empty.expand_as(text)])).sample
            cond, uncond = both.chunk(2)
            eps = uncond + w[:, None, None, None] * (cond - uncond)
            teacher_x0 = (noisy - _expand(sigma_sqrt, t) * eps) / _expand(alpha_sqrt, t)
            x_prev = _expand(alpha_sqrt, t_prev) * teacher_x0 + _expand(sigma_sqrt, t_prev) * eps
            target_eps = pipe.unet(x_prev, t_prev, text).sample
            target_x0 = (x_prev - _expand(sigma_sqrt, t_prev) * target_eps) / _expand(alpha_sqrt, t_prev)
            skip_prev, out_prev = boundary_scalings(t_prev)
            target = skip_prev * x_prev + out_prev * target_x0
        student_eps = pipe.unet(noisy, t, text).sample
        student_x0 = (noisy - _expand(sigma_sqrt, t) * student_eps) / _expand(alpha_sqrt, t)
        skip, out = boundary_scalings(t)
        prediction = skip * noisy + out * student_x0
        c = config.huber_c
        loss = (torch.sqrt((prediction.float() - target.float()) ** 2 + c * c) - c).mean()
        warmup = min(1.0, (step + 1) / 50)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * warmup
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 25 == 0:
            recent = sum(losses[-25:]) / 25
            log(f"step {step}: loss {recent:.5f} ({(time.perf_counter() - began) / 60:.1f} min)")
    pipe.unet.eval()
    return {"steps": step, "minutes": round((time.perf_counter() - began) / 60, 2),
            "final_loss": round(sum(losses[-50:]) / max(1, len(losses[-50:])), 6), "config": asdict(config)}


def evaluate_lcm(pipe: Any, step_counts: list[int], count: int) -> dict[int, float]:
    """Shape accuracy of held-out captions with LCMScheduler at each step count, guidance 1 (none)."""
    from diffusers import LCMScheduler

    from studio.training.evaluate import evaluate_pipeline

    original = pipe.scheduler
    pipe.scheduler = LCMScheduler.from_config(original.config)
    scores = {}
    for steps in step_counts:
        report, _images = evaluate_pipeline(pipe, count=count, steps=steps, guidance_scale=1.0)
        scores[steps] = report.shape_acc
    pipe.scheduler = original
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the LoRA and its run summary")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--max-steps", type=int, default=10**9)
    parser.add_argument("--rank", type=int, default=DistillConfig.rank)
    parser.add_argument("--lr", type=float, default=DistillConfig.learning_rate)
    parser.add_argument("--batch", type=int, default=DistillConfig.batch)
    parser.add_argument("--eval-count", type=int, default=64)
    parser.add_argument("--pictures", type=int, default=DistillConfig.pictures)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from safetensors.torch import save_file

    from studio.training.lora.kohya import kohya_state
    from studio.training.starter import load_pipeline

    config = DistillConfig(rank=args.rank, learning_rate=args.lr, batch=args.batch, pictures=args.pictures)
    pipe = load_pipeline()
    pipe.set_progress_bar_config(disable=True)
    summary = distill(pipe, config, args.minutes, args.max_steps, log=lambda m: print(m, flush=True))
    args.out.mkdir(parents=True, exist_ok=True)
    metadata = {"ss_network_module": "networks.lora", "ss_network_dim": str(config.rank),
                "ss_network_alpha": str(config.rank), "studio_base_model": "starter-shapes",
                "studio_fewstep": "lcm", "studio_distillation": json.dumps(summary)}
    save_file(kohya_state(pipe.unet, None), str(args.out / f"{LORA_NAME}.safetensors"), metadata=metadata)
    summary["shape_acc"] = {str(k): v for k, v in evaluate_lcm(pipe, [2, 3, 4, 6], args.eval_count).items()}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary["shape_acc"]), flush=True)
    return 0 if math.isfinite(summary["final_loss"]) else 1


if __name__ == "__main__":
    sys.exit(main())
