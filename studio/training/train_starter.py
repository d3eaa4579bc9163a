"""Train the starter text-to-image model from nothing: `python -m studio.training.train_starter`.

Two stages, then an export:

1. the autoencoder learns to squeeze 64x64 pictures into 16x16x4 latents and
   back (L1 + L2 with object pixels weighted up, an edge loss, a tiny KL term);
2. the denoiser's pictures are drawn and encoded once into a latent cache
   (with their tokenised captions), which the text encoder and the UNet then
   learn from for several epochs, in a fresh order each epoch: drawing and
   encoding every batch anew cost a fifth of each step;
3. the text encoder and the UNet learn together to remove noise from those
   latents given the caption (epsilon prediction, min-SNR weighting, offset
   noise so flat background colours are learnable, 10% empty captions for
   classifier-free guidance, an exponential moving average of the weights,
   bfloat16 autocast where the processor computes it natively);
4. the moving averages are written as a diffusers Stable Diffusion folder
   (`OUT/model`), with the latent-to-RGB preview factors fitted beside it.

Every sample is drawn from the procedural shapes generator with seeds below
`TRAIN_SEED_LIMIT`, in a fixed order, so a run is reproducible and a resumed
run sees exactly the data it would have seen. Checkpoints (safetensors plus
JSON, no pickle) are written every few hundred steps; `--resume` picks up from
the last one. Losses go to `OUT/loss_log.jsonl`, timings to
`OUT/training_summary.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from studio.training import architecture
from studio.training.checkpoint import EMA, checkpoint_folder, load_checkpoint, read_state, save_checkpoint, write_json_atomic
from studio.training.clip_tokenizer import build_clip_tokenizer
from studio.training.latent_cache import CACHE_FILE, LatentCache, build_latent_cache, usable_size
from studio.training.latent_preview import encode_images, fit_latent_rgb
from studio.training.shapes import TRAIN_SEED_LIMIT, render_sample


@dataclass(frozen=True)
class Schedule:
    """Step counts and settings of a full run (the same on every device)."""

    vae_steps: int = 2500
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_warmup_steps: int = 50
    vae_kl_weight: float = 1e-6
    vae_object_weight: float = 4.0
    unet_steps: int = 6800
    unet_batch: int = 64
    unet_cache_size: int = 65536  # pictures encoded once for the denoiser (at most steps x batch are used)
    mixed_precision: bool = True  # bfloat16 autocast where the device computes it natively
    unet_lr: float = 4e-4
    unet_warmup_steps: int = 150
    caption_dropout: float = 0.1
    noise_offset: float = 0.1
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    checkpoint_every: int = 250
    log_every: int = 10
    stats_samples: int = 1024  # pictures for the latent scaling factor and the preview fit
    vae_first_seed: int = 0
    unet_first_seed: int = 200_000_000


class ShapesDataset(torch.utils.data.Dataset):
    """Consecutive generator seeds as a map-style data set: item i is seed first_seed + i."""

    def __init__(self, first_seed: int, length: int) -> None:
        if first_seed + length > TRAIN_SEED_LIMIT:
            raise ValueError("training seeds must stay below TRAIN_SEED_LIMIT (held out for evaluation)")
        self.first_seed = first_seed
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        sample = render_sample(self.first_seed + index)
        objects = np.zeros(sample.image.shape[:2], np.uint8)
        for obj in sample.objects:
            objects |= obj.mask
        # One pixel wider than the objects, so their anti-aliased edges count as object too.
        objects = cv2.dilate(objects, np.ones((3, 3), np.uint8))
        image = torch.from_numpy(sample.image).permute(2, 0, 1).contiguous()
        return image, torch.from_numpy(objects)[None], sample.caption


def _single_threaded_worker(_: int) -> None:
    # Many loader processes each drawing small pictures: threads would only contend.
    import cv2

    cv2.setNumThreads(1)


def batches(first_seed: int, start_step: int, end_step: int, batch: int, workers: int,
            device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    """Batches for steps start_step..end_step-1: pixels in [-1, 1], object masks (0/1), captions."""
    dataset = ShapesDataset(first_seed + start_step * batch, (end_step - start_step) * batch)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=False, num_workers=workers,
        pin_memory=device.type == "cuda", persistent_workers=False,
        prefetch_factor=4 if workers else None, worker_init_fn=_single_threaded_worker,
    )
    for images, objects, captions in loader:
        pixels = images.to(device, non_blocking=True).float() / 127.5 - 1.0
        yield pixels, objects.to(device, non_blocking=True).float(), list(captions)


def learning_rate(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


class RunLog:
    """The loss log (JSON lines) and the timing summary of one output folder."""

    def __init__(self, out: Path) -> None:
        self.loss_path = out / "loss_log.jsonl"
        self.summary_path = out / "training_summary.json"
        self.summary: dict[str, Any] = (
            json.loads(self.summary_path.read_text(encoding="utf-8")) if self.summary_path.is_file() else {}
        )

    def loss(self, stage: str, step: int, loss: float, lr: float, **extra: float) -> None:
        record = {"stage": stage, "step": step, "loss": round(loss, 6), "lr": lr, **extra}
        with self.loss_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def add_time(self, stage: str, steps: int, seconds: float, batch: int) -> None:
        entry = self.summary.setdefault("stages", {}).setdefault(stage, {"steps": 0, "seconds": 0.0})
        entry["steps"] += steps
        entry["seconds"] = round(entry["seconds"] + seconds, 2)
        entry["batch"] = batch
        entry["seconds_per_step"] = round(entry["seconds"] / max(1, entry["steps"]), 4)

    def save(self, **fields: Any) -> None:
        self.summary.update(fields)
        write_json_atomic(self.summary_path, self.summary)


@dataclass
class Run:
    out: Path
    device: torch.device
    schedule: Schedule
    workers: int
    stop_after: int | None  # steps this invocation may take in all (for tests of resuming)
    log: RunLog
    time_limit: float | None = None  # seconds; past it the denoiser stops early and is exported
    steps_taken: int = 0
    started: float = field(default_factory=time.perf_counter)

    def should_stop(self) -> bool:
        return self.stop_after is not None and self.steps_taken >= self.stop_after

    def out_of_time(self) -> bool:
        return self.time_limit is not None and time.perf_counter() - self.started > self.time_limit


def _seed_step(stage: str, step: int) -> None:
    # Noise, timesteps and caption dropout depend only on (stage, step): resumable exactly.
    torch.manual_seed((1 if stage == "vae" else 2) * 10_000_019 + step)


def edge_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical differences: penalises blurred edges."""
    loss_x = F.l1_loss(a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1])
    loss_y = F.l1_loss(a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :])
    return loss_x + loss_y


def train_vae(run: Run, vae: torch.nn.Module) -> bool:
    """Stage 1. Returns True when the stage is complete."""
    sch = run.schedule
    folder = run.out / "checkpoints" / "vae"
    optimizer = torch.optim.AdamW(vae.parameters(), lr=sch.vae_lr, betas=(0.9, 0.99), weight_decay=0.0)
    start = 0
    if checkpoint_folder(folder):
        state = load_checkpoint(folder, {"vae": vae}, {}, optimizer, run.device)
        if state.get("done"):
            vae.register_to_config(scaling_factor=state["scaling_factor"])
            return True
        start = state["step"]
    vae.train()
    began, first = time.perf_counter(), start
    bar = tqdm(total=sch.vae_steps, initial=start, desc="autoencoder", mininterval=5, file=sys.stdout)
    data = batches(sch.vae_first_seed, start, sch.vae_steps, sch.vae_batch, run.workers, run.device)
    for step, (pixels, objects, _) in zip(range(start, sch.vae_steps), data):
        _seed_step("vae", step)
        lr = learning_rate(step, sch.vae_steps, sch.vae_lr, sch.vae_warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        posterior = vae.encode(pixels).latent_dist
        recon = vae.decode(posterior.sample()).sample
        # Objects cover a small part of each picture but carry the caption: weigh them up.
        weight = 1.0 + sch.vae_object_weight * objects
        error = recon - pixels
        rec = (weight * (error.abs() + error.square())).mean() + 0.5 * edge_loss(recon, pixels)
        kl = posterior.kl().mean()
        loss = rec + sch.vae_kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        bar.update(1)
        run.steps_taken += 1
        if step % sch.log_every == 0 or step == sch.vae_steps - 1:
            value = loss.item()
            bar.set_postfix(loss=f"{value:.4f}")
            run.log.loss("vae", step, value, lr, kl=round(kl.item(), 3))
        done = step + 1 == sch.vae_steps
        if done or (step + 1) % sch.checkpoint_every == 0 or run.should_stop():
            state: dict[str, Any] = {"stage": "vae", "step": step + 1, "done": done}
            if done:
                state["scaling_factor"] = latent_scaling_factor(vae, run.device, sch.stats_samples)
                vae.register_to_config(scaling_factor=state["scaling_factor"])
            save_checkpoint(folder, {"vae": vae}, {}, optimizer, state)
            run.log.add_time("vae", step + 1 - first, time.perf_counter() - began, sch.vae_batch)
            began, first = time.perf_counter(), step + 1
            run.log.save()
            vae.train()
        if run.should_stop():
            break
    bar.close()
    return bool((read_state(folder) or {}).get("done"))


@torch.no_grad()
def latent_scaling_factor(vae: torch.nn.Module, device: torch.device, count: int) -> float:
    """1 / standard deviation of the latents, as Stable Diffusion's 0.18215 was found."""
    vae.eval()
    images = np.stack([render_sample(seed).image for seed in range(TRAIN_SEED_LIMIT - count, TRAIN_SEED_LIMIT)])
    return float(1.0 / encode_images(vae, images).std().item())


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bfloat16 where the device computes it natively (recent GPUs, CPUs with AVX-512 BF16 or AMX)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    native = [getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    # Elsewhere bfloat16 is emulated and slower than float32.
    return torch.bfloat16 if any(native) else None


def _token_ids(tokenizer, captions: list[str], device: torch.device) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids.to(device)


def latent_cache(run: Run, vae, tokenizer) -> LatentCache:
    """The denoiser's pictures as scaled latents and caption ids: loaded, or drawn and encoded now."""
    sch = run.schedule
    path = run.out / "checkpoints" / CACHE_FILE
    if path.is_file():
        return LatentCache.load(path)
    vae.eval().requires_grad_(False)
    scale = float(vae.config.scaling_factor)
    size = usable_size(sch.unet_cache_size, sch.unet_steps, sch.unet_batch)
    began = time.perf_counter()
    bar = tqdm(total=size, desc="latent cache", unit="pictures", mininterval=5, file=sys.stdout)
    data = ((pixels, captions) for pixels, _, captions in
            batches(sch.unet_first_seed, 0, size // sch.unet_batch, sch.unet_batch, run.workers, run.device))
    cache = build_latent_cache(
        data,
        encode=lambda pixels: vae.encode(pixels).latent_dist.mean * scale,
        tokenize=lambda captions: _token_ids(tokenizer, captions, run.device),
        on_batch=bar.update,
    )
    bar.close()
    cache.save(path)
    run.log.add_time("latents", len(cache) // sch.unet_batch, time.perf_counter() - began, sch.unet_batch)
    run.log.save(latent_cache_pictures=len(cache))
    return cache


def train_denoiser(run: Run, vae, text_encoder, tokenizer, unet) -> tuple[EMA, EMA] | None:
    """Stage 2. Returns the moving averages when the stage is complete, else None."""
    sch = run.schedule
    folder = run.out / "checkpoints" / "denoiser"
    scheduler = architecture.build_train_scheduler()
    params = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=sch.unet_lr, betas=(0.9, 0.99), weight_decay=0.01)
    ema_unet, ema_text = EMA(unet, sch.ema_decay), EMA(text_encoder, sch.ema_decay)
    modules = {"unet": unet, "text_encoder": text_encoder}
    emas = {"unet": ema_unet, "text_encoder": ema_text}
    start = 0
    if checkpoint_folder(folder):
        state = load_checkpoint(folder, modules, emas, optimizer, run.device)
        if state.get("done"):
            return ema_unet, ema_text
        start = state["step"]

    cache = latent_cache(run, vae, tokenizer)
    empty_ids = _token_ids(tokenizer, [""], run.device)[0]
    autocast = autocast_dtype(run.device) if sch.mixed_precision else None
    run.log.save(autocast=str(autocast).replace("torch.", "") if autocast else "off")
    alphas = scheduler.alphas_cumprod.to(run.device)
    snr_all = alphas / (1.0 - alphas)
    unet.train()
    text_encoder.train()
    began, first = time.perf_counter(), start
    bar = tqdm(total=sch.unet_steps, initial=start, desc="text encoder + unet", mininterval=5, file=sys.stdout)
    for step in range(start, sch.unet_steps):
        _seed_step("unet", step)
        lr = learning_rate(step, sch.unet_steps, sch.unet_lr, sch.unet_warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        latents, ids = cache.batch(step, sch.unet_batch)
        latents, ids = latents.to(run.device), ids.to(run.device)
        b = latents.shape[0]
        keep = (torch.rand(b) >= sch.caption_dropout).to(run.device)
        ids = torch.where(keep[:, None], ids, empty_ids[None])
        noise = torch.randn(latents.shape, device=run.device)
        noise = noise + sch.noise_offset * torch.randn((b, latents.shape[1], 1, 1), device=run.device)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (b,), device=run.device)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        with torch.autocast(run.device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            text = text_encoder(ids)[0]
            pred = unet(noisy, timesteps, text).sample.float()
        per_sample = F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))
        snr = snr_all[timesteps]
        weight = torch.clamp(snr, max=sch.min_snr_gamma) / snr
        loss = (weight * per_sample).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        ema_unet.update(unet, step)
        ema_text.update(text_encoder, step)
        bar.update(1)
        run.steps_taken += 1
        if step % sch.log_every == 0 or step == sch.unet_steps - 1:
            value = loss.item()
            bar.set_postfix(loss=f"{value:.4f}")
            run.log.loss("unet", step, value, lr, mse=round(per_sample.mean().item(), 5))
        done = step + 1 == sch.unet_steps
        out_of_time = run.out_of_time()
        if done or (step + 1) % sch.checkpoint_every == 0 or run.should_stop() or out_of_time:
            save_checkpoint(folder, modules, emas, optimizer, {"stage": "unet", "step": step + 1, "done": done})
            run.log.add_time("unet", step + 1 - first, time.perf_counter() - began, sch.unet_batch)
            began, first = time.perf_counter(), step + 1
            run.log.save()
        if out_of_time and not done:
            # A time-boxed run still leaves a usable (if less trained) model behind.
            bar.close()
            run.log.save(stopped_early_at_step=step + 1)
            return ema_unet, ema_text
        if run.should_stop():
            break
    bar.close()
    if (read_state(folder) or {}).get("done"):
        return ema_unet, ema_text
    return None


def export(run: Run, vae, text_encoder, tokenizer, unet, ema_unet: EMA, ema_text: EMA) -> Path:
    """Stage 3: write the moving-average weights as a Stable Diffusion folder."""
    ema_unet.copy_to(unet)
    ema_text.copy_to(text_encoder)
    for module in (vae, text_encoder, unet):
        module.eval().to("cpu")
    model_dir = run.out / "model"
    count = run.schedule.stats_samples
    latent_rgb = fit_latent_rgb(vae, range(TRAIN_SEED_LIMIT - 2 * count, TRAIN_SEED_LIMIT - count))
    architecture.save_pipeline_folder(model_dir, vae, text_encoder, tokenizer, unet, latent_rgb)
    return model_dir


def train(out: Path, device: torch.device, schedule: Schedule, resume: bool, workers: int,
          stop_after: int | None = None, time_limit: float | None = None) -> Path | None:
    """Run (or continue) a whole training; returns the model folder once it is written."""
    checkpoints = out / "checkpoints"
    if checkpoints.exists() and not resume:
        raise SystemExit(f"{checkpoints} exists: pass --resume to continue, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # initial weights
    vae = architecture.build_vae().to(device)
    text_encoder = architecture.build_text_encoder().to(device)
    unet = architecture.build_unet().to(device)
    tokenizer = build_clip_tokenizer(out / "tokenizer", model_max_length=architecture.TEXT_CONTEXT)
    log = RunLog(out)
    log.save(
        schedule=asdict(schedule), device=str(device), torch=torch.__version__,
        cpu_threads=torch.get_num_threads(), machine=platform.machine(),
        parameters={
            "vae": architecture.parameter_count(vae),
            "text_encoder": architecture.parameter_count(text_encoder),
            "unet": architecture.parameter_count(unet),
        },
    )
    run = Run(out=out, device=device, schedule=schedule, workers=workers, stop_after=stop_after, log=log,
              time_limit=time_limit)
    if not train_vae(run, vae):
        return None
    log.save(scaling_factor=float(vae.config.scaling_factor))
    if run.should_stop():
        return None
    emas = train_denoiser(run, vae, text_encoder, tokenizer, unet)
    if emas is None:
        return None
    model_dir = export(run, vae, text_encoder, tokenizer, unet, *emas)
    print(f"model written to {model_dir}")
    return model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (checkpoints, logs, model/)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    parser.add_argument("--vae-steps", type=int, help="override the autoencoder's step count")
    parser.add_argument("--unet-steps", type=int, help="override the denoiser's step count")
    parser.add_argument("--vae-batch", type=int, help="override the autoencoder's batch size")
    parser.add_argument("--unet-batch", type=int, help="override the denoiser's batch size")
    parser.add_argument("--cache-size", type=int, help="override the pictures encoded for the denoiser")
    parser.add_argument("--checkpoint-every", type=int, help="override the checkpoint interval")
    parser.add_argument("--stop-after", type=int, help="stop this invocation after N steps (resume later)")
    parser.add_argument("--workers", type=int, help="data loader processes (default: 0 on cpu, 8 on cuda)")
    parser.add_argument("--stats-samples", type=int, help="pictures used for the latent scale and preview fit")
    parser.add_argument("--time-limit", type=float, help="seconds; then stop the denoiser early and export it")
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in {
        "vae_steps": args.vae_steps, "unet_steps": args.unet_steps, "checkpoint_every": args.checkpoint_every,
        "vae_batch": args.vae_batch, "unet_batch": args.unet_batch, "unet_cache_size": args.cache_size, "stats_samples": args.stats_samples,
    }.items() if v is not None}
    schedule = replace(Schedule(), **overrides)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    workers = args.workers if args.workers is not None else (min(8, (os.cpu_count() or 2) - 1) if device.type == "cuda" else 0)
    model_dir = train(args.out, device, schedule, args.resume, workers, args.stop_after, args.time_limit)
    return 0 if model_dir is not None or args.stop_after else 1


if __name__ == "__main__":
    raise SystemExit(main())
