"""Shapes and sizes of the starter model's networks, and writing it as a diffusers folder.

The starter model is a miniature Stable Diffusion 1.x: the same classes
(AutoencoderKL, CLIPTextModel, UNet2DConditionModel, a scaled-linear noise
schedule with 1000 steps), only narrower and shallower, so every Stable
Diffusion code path (schedulers, img2img, inpainting, previews, single-file
export) runs on it unchanged.

Sizes were chosen so a whole training run fits two hours on a 2-core CPU and
20 sampling steps at 64x64 take well under a second there:

- autoencoder: 64x64x3 <-> 16x16x4 (two 2x downsamplings), channels 32/64/64;
- text encoder: CLIP's 49,408-token vocabulary, width 128, 4 layers, and a
  32-token context (the tokenizer pads prompts to 32, not CLIP's 77: the
  longest caption is 23 tokens, and the shorter context makes every training
  step a sixth cheaper; the 77 position embeddings stay, as SD 1.x has them);
- UNet on 16x16x4 latents: channels 64/128/128, cross-attention at 16x16 and 8x8.

Weights are stored as float16 safetensors (half the bytes) while the configs
keep float32 as the compute type, so both diffusers and transformers load
them as float32 unless a caller asks for another dtype.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.training.clip_tokenizer import write_tokenizer_files

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

IMAGE_SIZE = 64
LATENT_SIZE = 16
LATENT_CHANNELS = 4
TEXT_WIDTH = 128
TEXT_CONTEXT = 32  # tokens a prompt is padded to, start and end tokens included

# Stable Diffusion 1.x's noise schedule, shared by training and every sampler.
NOISE_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
}

# Settings Stable Diffusion 1.x folders carry for samplers other than the
# default one: without them DDIM, for one, would clip its predictions to
# [-1, 1] and wreck pictures (latents are not pixels).
SAMPLER_COMPAT: dict[str, Any] = {"clip_sample": False, "set_alpha_to_one": False, "skip_prk_steps": True}

LATENT_RGB_FILE = "latent_rgb.json"


def build_vae() -> AutoencoderKL:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=16,
        sample_size=IMAGE_SIZE,
    )


def build_text_encoder() -> CLIPTextModel:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=TEXT_WIDTH,
        intermediate_size=TEXT_WIDTH * 4,
        num_hidden_layers=4,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        projection_dim=TEXT_WIDTH,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )
    return CLIPTextModel(config)


def build_unet() -> UNet2DConditionModel:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(64, 128, 128),
        layers_per_block=1,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=4,  # diffusers' legacy name: this is the number of heads
        norm_num_groups=16,
    )


def build_train_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**NOISE_SCHEDULE, clip_sample=False)


def build_sampling_scheduler():
    """The folder's default sampler: DPM-Solver++ (2M), good at 20 steps."""
    from diffusers import DPMSolverMultistepScheduler

    scheduler = DPMSolverMultistepScheduler(**NOISE_SCHEDULE, algorithm_type="dpmsolver++", solver_order=2)
    scheduler.register_to_config(**SAMPLER_COMPAT)  # kept in scheduler_config.json for from_config
    return scheduler


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _store_half(folder: Path) -> None:
    """Rewrite every safetensors file under `folder` with float16 tensors."""
    import torch
    from safetensors.torch import load_file, save_file

    for path in sorted(folder.rglob("*.safetensors")):
        tensors = load_file(str(path))
        half = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
        save_file(half, str(path), metadata={"format": "pt"})
        path.chmod(0o644)  # readable like every other file of the folder


def _set_compute_dtype_float32(config_path: Path) -> None:
    # transformers loads a checkpoint in the dtype its config names; naming
    # float32 makes the float16-stored text encoder load as float32 on CPUs.
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dtype"] = "float32"
    config.pop("torch_dtype", None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_pipeline_folder(
    out_dir: str | Path,
    vae: AutoencoderKL,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    unet: UNet2DConditionModel,
    latent_rgb: dict[str, Any] | None = None,
) -> Path:
    """Write a diffusers Stable Diffusion folder (float16 safetensors, no safety checker)."""
    from diffusers import StableDiffusionPipeline

    out = Path(out_dir)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=build_sampling_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(out), safe_serialization=True)
    # CLIP's classic vocab.json + merges.txt layout, which every transformers
    # version reads (and half the size of a tokenizer.json).
    shutil.rmtree(out / "tokenizer")
    write_tokenizer_files(out / "tokenizer", model_max_length=TEXT_CONTEXT)
    _store_half(out)
    _set_compute_dtype_float32(out / "text_encoder" / "config.json")
    if latent_rgb is not None:
        (out / LATENT_RGB_FILE).write_text(json.dumps(latent_rgb, indent=2) + "\n", encoding="utf-8")
    return out


def load_latent_rgb(model_dir: str | Path) -> dict[str, Any]:
    """The preview factors stored beside a model: {"factors": 4x3, "bias": 3, ...}."""
    return json.loads((Path(model_dir) / LATENT_RGB_FILE).read_text(encoding="utf-8"))
