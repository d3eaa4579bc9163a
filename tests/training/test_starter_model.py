"""The bundled starter model: loads offline as a plain Stable Diffusion folder and generates."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from studio.training.starter import STARTER_MODEL_DIR, generate, hires_fix, load_pipeline

MAX_BYTES = 40 * 1024 * 1024


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline()


def test_folder_is_small_safetensors_with_cards():
    files = [p for p in STARTER_MODEL_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= MAX_BYTES
    weights = [p for p in files if p.suffix in {".safetensors", ".bin", ".pt", ".ckpt", ".pkl"}]
    assert len(weights) == 3 and all(p.suffix == ".safetensors" for p in weights)
    card = json.loads((STARTER_MODEL_DIR / "model.json").read_text())
    assert card["id"] == "starter-shapes" and card["format"] == "diffusers"
    assert card["modality"] == "image" and card["licence"] == "Apache-2.0"
    assert "Apache-2.0" in (STARTER_MODEL_DIR / "MODEL_CARD.md").read_text()
    latent_rgb = json.loads((STARTER_MODEL_DIR / "latent_rgb.json").read_text())
    assert np.asarray(latent_rgb["factors"]).shape == (4, 3) and len(latent_rgb["bias"]) == 3


def test_loads_offline_with_plain_diffusers_and_generates_64px():
    import torch
    from diffusers import StableDiffusionPipeline

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    plain = StableDiffusionPipeline.from_pretrained(str(STARTER_MODEL_DIR))
    assert plain.unet.dtype == torch.float32 and plain.text_encoder.dtype == torch.float32
    plain.set_progress_bar_config(disable=True)
    image = plain("a large red circle on a blue background", num_inference_steps=4, height=64, width=64,
                  generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)


def test_generation_is_reproducible_and_follows_the_background(pipe):
    first = generate(pipe, ["a large white square on a black background"], [7], steps=12)[0]
    again = generate(pipe, ["a large white square on a black background"], [7], steps=12)[0]
    assert np.array_equal(first, again)
    border = np.concatenate([first[:3].reshape(-1, 3), first[-3:].reshape(-1, 3)])
    assert np.median(border) < 90  # a black background, not noise or gray


def test_hires_fix_gives_128px(pipe):
    image = hires_fix(pipe, "a yellow star on a blue background", seed=3, steps=8, hires_steps=8)
    assert image.size == (128, 128)


def test_img2img_and_inpainting_run_on_the_same_components(pipe):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline
    from PIL import Image

    start = Image.new("RGB", (64, 64), (40, 80, 215))
    img2img = StableDiffusionImg2ImgPipeline.from_pipe(pipe)
    out = img2img("a red circle on a blue background", image=start, strength=0.6, num_inference_steps=6).images[0]
    assert out.size == (64, 64)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    inpaint = StableDiffusionInpaintPipeline.from_pipe(pipe)
    out = inpaint("a red circle on a blue background", image=start, mask_image=mask, height=64, width=64,
                  num_inference_steps=6).images[0]
    assert out.size == (64, 64)


def test_other_stable_diffusion_samplers_work_from_its_config(pipe):
    from diffusers import DDIMScheduler, EulerDiscreteScheduler

    default = pipe.scheduler
    try:
        for sampler in (DDIMScheduler, EulerDiscreteScheduler):
            pipe.scheduler = sampler.from_config(default.config)
            image = generate(pipe, ["a large white square on a black background"], [7], steps=12)[0]
            border = np.concatenate([image[:3].reshape(-1, 3), image[-3:].reshape(-1, 3)])
            assert np.median(border) < 90, sampler.__name__
    finally:
        pipe.scheduler = default
