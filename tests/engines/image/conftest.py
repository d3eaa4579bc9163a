"""Tiny random diffusion models built once per test session and found by the
model manager the way a user's are: a model folder in the settings holding a
diffusers folder and an A1111-style single file of each shape, a LoRA in a
``Lora`` folder and a tiny autoencoder named ``taesd``."""

from __future__ import annotations

import json

import pytest

from tests.engines.image import tiny_models


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """Tiny models are all synchronisation and no work: on a shared 2-core machine a
    second intra-op thread makes each tiny layer wait milliseconds for the busy core."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("image-models")
    sd15 = tiny_models.build_sd15(root / "tiny-sd15")
    tiny_models.save_single_file(sd15, root / "checkpoints" / "tiny-sd15-single.safetensors")
    sdxl = tiny_models.build_sdxl(root / "tiny-sdxl")
    tiny_models.save_single_file(sdxl, root / "checkpoints" / "tiny-sdxl-single.safetensors")
    tiny_models.build_sd3(root / "tiny-sd3")
    tiny_models.build_taesd(root / "taesd")
    tiny_models.save_lora(sd15, root / "Lora" / "inkwash.safetensors")
    return root


@pytest.fixture
def image_services(model_root, studio_home):
    """Services whose model folders hold the tiny models (and the engine context uses them)."""
    from studio.engines.registry import open_studio_services

    config = studio_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps({"models.folders": [str(model_root)]}))
    services = open_studio_services()
    services.models.refresh()
    yield services
    services.close()


def card_id(services, name: str, fmt: str = "") -> str:
    for card in services.models.cards("image"):
        if card.name == name and (not fmt or card.format == fmt):
            return card.id
    raise AssertionError(f"no card {name} ({fmt}) in {[c.name for c in services.models.cards()]}")


class Recorder:
    """A Reporter that keeps everything, and can cancel at a given step."""

    def __init__(self, cancel_at: int | None = None, token=None) -> None:
        self.steps: list[tuple[int, int, str]] = []
        self.previews: list = []
        self.cancel_at, self.token = cancel_at, token

    def progress(self, done, total, message=""):
        self.steps.append((done, total, message))
        if self.cancel_at is not None and done == self.cancel_at:
            self.token.cancel()

    def preview(self, payload):
        self.previews.append(payload)


def pixels(artifact):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(artifact.data)).convert("RGB"))
