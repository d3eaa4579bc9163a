"""GAN generators: the DCGAN faces starter and a generator described by its
own JSON model card render frames fast, sliders move along stable
directions, morphs go from one seed to the other, grids tile neighbouring
seeds, and a GAN job saves exactly the frame that was on screen."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.jobs import CancelToken, NullReporter, StudioError
from studio.core.models.discovery import discover_starters, scan_folder
from studio.engines.image import gan
from studio.engines.image.requests import GanRequest

NZ = 16


@pytest.fixture(scope="module")
def custom_gan(tmp_path_factory):
    """A small generator saved as safetensors with a model card naming its layers."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("gans")
    layers = [["ConvTranspose2d", {"in_channels": NZ, "out_channels": 32, "kernel_size": 4, "stride": 1,
                                   "padding": 0, "bias": False}],
              ["BatchNorm2d", {"num_features": 32}], ["ReLU", {}],
              ["ConvTranspose2d", {"in_channels": 32, "out_channels": 3, "kernel_size": 4, "stride": 2,
                                   "padding": 1, "bias": False}], ["Tanh", {}]]
    torch.manual_seed(0)
    module = torch.nn.Sequential(*[getattr(torch.nn, kind)(**options) for kind, options in layers])
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(folder / "swirls.safetensors"))
    card = {"name": "Swirls GAN", "format": "gan", "modality": "image", "licence": "CC0-1.0",
            "generator": {"class": "sequential", "nz": NZ, "layers": layers}}
    (folder / "swirls.model.json").write_text(json.dumps(card))
    return folder


def _starter():
    cards = [c for c in discover_starters() if c.id == "dcgan-faces-64"]
    if not cards:
        pytest.skip("the gan-face-generate starter package is not installed")
    return cards[0]


def test_the_dcgan_starter_renders_faces_in_well_under_50_ms():
    model = gan.gan_model(gan.load_generator(_starter()))
    assert model.nz == 100
    latents = np.stack([gan.frame_latent(model, 7, "principal", (0.5 * i, 0, 0)) for i in range(12)])
    model.render(latents[:1])  # first call sets up kernels
    times = []
    for latent in latents:
        started = time.perf_counter()
        frame = model.render(latent[None])[0]
        times.append(time.perf_counter() - started)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and frame.std() > 10
    assert sorted(times)[len(times) // 2] < 0.05


def test_a_card_with_a_layer_spec_is_discovered_and_built(custom_gan):
    (card,) = [c for c in scan_folder(custom_gan, "user folder") if c.name == "Swirls GAN"]
    assert card.format == "gan" and card.licence == "CC0-1.0"
    model = gan.gan_model(gan.load_generator(card))
    assert model.render(model.latent(1)[None]).shape == (1, 8, 8, 3)
    bad = dict(card.extra)
    bad["generator"] = {"class": "sequential", "nz": NZ, "layers": [["Eval", {}]]}
    card.extra = bad
    with pytest.raises(StudioError, match="unsupported generator layer"):
        gan.load_generator(card)


def test_directions_are_orthogonal_stable_and_principal_ones_matter_most():
    model = gan.gan_model(gan.load_generator(_starter()))
    random_dirs = model.directions("random")
    assert np.allclose(random_dirs @ random_dirs.T, np.eye(len(random_dirs)), atol=1e-5)
    principal = model.directions("principal")
    assert np.array_equal(principal, gan.principal_directions(model))  # the same every time
    base = model.latent(3)
    change = [np.abs(model.render((base + 3 * d)[None]).astype(int) - model.render(base[None]).astype(int)).mean()
              for d in (principal[0], random_dirs[-1])]
    assert change[0] > change[1]  # the first principal direction changes the picture more


def test_morph_goes_from_one_seed_to_the_other():
    model = gan.gan_model(gan.load_generator(_starter()))
    start = gan.frame_latent(model, 1, "random", (), morph_seed=2, morph=0.0)
    end = gan.frame_latent(model, 1, "random", (), morph_seed=2, morph=1.0)
    middle = gan.frame_latent(model, 1, "random", (), morph_seed=2, morph=0.5)
    assert np.allclose(start, model.latent(1)) and np.allclose(end, model.latent(2), atol=1e-5)
    assert abs(np.linalg.norm(middle) - np.linalg.norm(start)) < 0.15 * np.linalg.norm(start)  # stays on the shell


def test_a_gan_job_saves_the_frame_that_was_shown_and_grids_tile_seeds(services):
    card = _starter()
    services.models.refresh()
    request = GanRequest(model_id=card.id, seed=5, offsets=(1.5, -0.5), morph_seed=9, morph=0.3, scale=2)
    artifact = gan.run(request, NullReporter(), CancelToken())
    saved = np.asarray(Image.open(io.BytesIO(artifact.data)))
    model = gan.gan_model(gan.load_generator(card))
    shown = gan.enlarge(model.render(gan.frame_latent(model, 5, "principal", (1.5, -0.5), 9, 0.3)[None])[0], 2)
    assert saved.shape == (128, 128, 3) and np.array_equal(saved, shown)
    assert "non-commercial" in artifact.meta["recipe"]["model"]["licence"]
    grid = gan.run(GanRequest(model_id=card.id, seed=5, grid=3, scale=1), NullReporter(), CancelToken())
    sheet = np.asarray(Image.open(io.BytesIO(grid.data)))
    assert sheet.shape == (3 * 64 + 2 * 2, 3 * 64 + 2 * 2, 3)
    first_tile = model.render(model.latent(5)[None])[0]
    assert np.array_equal(sheet[:64, :64], first_tile)


def test_a_generator_loaded_by_another_engine_serves_the_gan_engine(services):
    from studio.engines.loaders import load_model

    card = _starter()
    services.models.refresh()
    module = services.models.get(card.id, load_model)  # as the video engine's GAN walk loads it
    assert isinstance(module, torch.nn.Module) and module(torch.zeros(1, 100, 1, 1)).shape == (1, 3, 64, 64)
    artifact = gan.run(GanRequest(model_id=card.id, seed=1, scale=1), NullReporter(), CancelToken())
    assert (artifact.width, artifact.height) == (64, 64)
    assert services.models.get(card.id, load_model) is module
