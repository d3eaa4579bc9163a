"""Loading diffusion models the ways users keep them: a diffusers folder and an
A1111-style single file give the same pictures for the same weights; single
files are recognised by family from their header; the shipped configs build
the real architectures; bad models give clear messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.core.jobs import CancelToken, NullReporter, StudioError
from studio.engines.image import engine
from studio.engines.image.requests import ImageRequest
from studio.engines.image.single_file import (
    bundle_for,
    checkpoint_shapes,
    detect_family,
    materialize,
    read_bundle,
    shipped_bundles,
)
from tests.engines.image.conftest import card_id, pixels


def _image(services, name: str, fmt: str, **options) -> np.ndarray:
    request = ImageRequest(prompt="a (red:1.2) cube on grass", steps=4, width=64, height=64, seed=11,
                           model_id=card_id(services, name, fmt), **options)
    return pixels(engine.run(request, NullReporter(), CancelToken()))


@pytest.mark.parametrize("name", ["tiny-sd15", "tiny-sdxl"])
def test_single_file_and_folder_give_the_same_image(image_services, name):
    folder = _image(image_services, name, "diffusers")
    single = _image(image_services, name + "-single", "safetensors")
    assert folder.shape == (64, 64, 3) and folder.std() > 1
    assert np.array_equal(folder, single)


def test_a_model_in_the_hugging_face_cache_generates_like_its_folder(image_services, model_root, tmp_path):
    from studio.core.models.discovery import discover_hf_cache
    from tests.engines.image.tiny_models import save_as_hf_cache

    save_as_hf_cache(model_root / "tiny-sd15", tmp_path / "hub", "someone/tiny-sd15")
    (card,) = discover_hf_cache(tmp_path / "hub")
    assert (card.name, card.format, card.modality) == ("someone/tiny-sd15", "diffusers", "image")
    image_services.models.add_card(card)
    folder = _image(image_services, "tiny-sd15", "diffusers")
    cached = _image(image_services, "someone/tiny-sd15", "diffusers")
    assert np.array_equal(folder, cached)


def test_the_family_is_read_from_the_header(model_root):
    assert detect_family(checkpoint_shapes(model_root / "checkpoints" / "tiny-sd15-single.safetensors")) == "sd15"
    assert detect_family(checkpoint_shapes(model_root / "checkpoints" / "tiny-sdxl-single.safetensors")) == "sdxl"
    fake = {"model.diffusion_model.input_blocks.0.0.weight": [320, 9, 3, 3],
            "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": [77, 768]}
    assert detect_family(fake) == "sd15-inpaint"
    assert detect_family({"model.diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale": [128]}) == "flux"
    assert detect_family({"cond_stage_model.model.token_embedding.weight": [49408, 1024]}) == "sd2"
    assert detect_family({"something.else": [1]}) == ""


@pytest.mark.parametrize("family, unet, text", [
    ("sd15", 859_520_964, 123_060_480), ("sd2", 865_910_724, 340_387_840), ("sdxl", 2_567_463_684, 123_060_480),
])
def test_shipped_configs_build_the_real_architectures(family, unet, text):
    """Parameter counts of the published models: the configs are the real ones."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    components = read_bundle(shipped_bundles()[family])["components"]
    with init_empty_weights():
        count = {name: sum(p.numel() for p in model.parameters()) for name, model in (
            ("unet", UNet2DConditionModel.from_config(components["unet"])),
            ("vae", AutoencoderKL.from_config(components["vae"])),
            ("text", CLIPTextModel(CLIPTextConfig(**components["text_encoder"]))))}
    assert count == {"unet": unet, "vae": 83_653_863, "text": text}


def test_a_bundle_becomes_a_config_folder_with_a_built_tokenizer(tmp_path):
    from transformers import CLIPTokenizer

    folder = materialize(read_bundle(shipped_bundles()["sdxl"]), tmp_path)
    assert json.loads((folder / "unet" / "config.json").read_text())["cross_attention_dim"] == 2048
    assert (folder / "scheduler" / "scheduler_config.json").exists()
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    tokenizer_2 = CLIPTokenizer.from_pretrained(str(folder / "tokenizer_2"))
    ids = tokenizer("a photo of a cat", padding="max_length", max_length=77).input_ids
    assert ids[:7] == [49406, 320, 1125, 539, 320, 2368, 49407]  # CLIP's own ids for this text
    assert ids[-1] == 49407 and tokenizer_2.pad_token == "!"
    assert materialize(read_bundle(shipped_bundles()["sdxl"]), tmp_path) == folder  # written once


def test_checkpoints_without_a_known_family_are_refused_clearly(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "mystery.safetensors"
    save_file({"weird.weight": torch.zeros(2)}, str(path))
    with pytest.raises(StudioError, match="not a Stable Diffusion checkpoint"):
        bundle_for(path, detect_family(checkpoint_shapes(path)))
    with pytest.raises(StudioError, match="Flux single files"):
        bundle_for(path, "flux")


def test_missing_and_damaged_models_give_a_clear_message(image_services, model_root, tmp_path):
    with pytest.raises(StudioError, match="choose a image model|choose an image model|--model"):
        engine.run(ImageRequest(prompt="x", width=64, height=64), NullReporter(), CancelToken())
    with pytest.raises(StudioError, match="not found"):
        engine.run(ImageRequest(prompt="x", model_id="no-such-model", width=64, height=64),
                   NullReporter(), CancelToken())
    broken = model_root / "checkpoints" / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    try:
        image_services.models.refresh()
        card = card_id(image_services, "broken")
        with pytest.raises(StudioError, match="cannot be used|unreadable"):
            engine.run(ImageRequest(prompt="x", model_id=card, width=64, height=64), NullReporter(), CancelToken())
    finally:
        broken.unlink()
