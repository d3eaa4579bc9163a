"""Live previews (one per step, in each mode: approximate, tiny autoencoder,
full decode every N, off) and cancel (stops within one step, stores nothing)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from studio.core.jobs import Cancelled, CancelToken, NullReporter, PreviewPacer
from studio.engines.execute import execute_job
from studio.engines.image import engine
from studio.engines.image.previews import fit_latent_rgb, latent_rgb_for
from studio.engines.image.requests import ImageRequest
from tests.engines.image.conftest import Recorder, card_id, pixels


@pytest.fixture
def base(image_services) -> ImageRequest:
    return ImageRequest(prompt="a red cube on grass", steps=5, width=64, height=64, seed=3,
                        model_id=card_id(image_services, "tiny-sd15", "diffusers"))


def test_an_approximate_preview_every_step_at_latent_size(base):
    recorder = Recorder()
    artifact = engine.run(base, recorder, CancelToken())
    step_reports = [s for s in recorder.steps if s[2].startswith("image")]
    assert [done for done, _, _ in step_reports] == [1, 2, 3, 4, 5]
    assert len(recorder.previews) == 5
    assert all(p.shape == (8, 8, 3) and p.dtype == np.uint8 for p in recorder.previews)
    assert len({p.tobytes() for p in recorder.previews}) == 5  # each step shows the latents as they are then
    assert pixels(artifact).shape == (64, 64, 3)


def test_previews_are_made_no_faster_than_the_reporter_shows_them(base):
    """A reporter that shows pictures at most every ``preview_interval_s``
    gets no more than that, and always the last step's; the result is the same."""
    every_step = Recorder()
    reference = engine.run(replace(base, steps=8), every_step, CancelToken())
    paced = Recorder()
    paced.preview_interval_s = 3600.0  # only the first step's (at once) and the last step's are drawn
    result = engine.run(replace(base, steps=8), paced, CancelToken())
    assert len(every_step.previews) == 8 and len(paced.previews) == 2
    assert np.array_equal(paced.previews[0], every_step.previews[0])
    assert np.array_equal(paced.previews[-1], every_step.previews[-1])
    assert [done for done, _, _ in paced.steps if done] == [done for done, _, _ in every_step.steps if done]
    assert np.array_equal(pixels(result), pixels(reference))


def test_the_preview_pacer_waits_its_interval_and_always_lets_the_last_through():
    now = [0.0]
    pacer = PreviewPacer(SimpleNamespace(preview_interval_s=0.1), clock=lambda: now[0])
    shown = []
    for step in range(10):
        now[0] = step * 0.03
        shown.append(pacer.due(last=step == 9))
    assert shown == [True, False, False, False, True, False, False, False, True, True]


class LinearAutoencoder(torch.nn.Module):
    """An autoencoder whose decoder is exactly linear (per latent pixel), with a
    scaling and shift factor like SD3/Flux: the fit must recover its map."""

    def __init__(self, decode_map: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.config = SimpleNamespace(scaling_factor=1.5, shift_factor=0.1, latent_channels=4)
        self.down = torch.nn.Conv2d(3, 4, 8, stride=8)
        self.up = torch.nn.Conv2d(4, 3, 1)
        with torch.no_grad():
            self.up.weight.copy_(decode_map.T[:, :, None, None])
            self.up.bias.copy_(bias)

    def encode(self, pixels):
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=self.down(pixels)))

    def decode(self, latents):
        return SimpleNamespace(sample=torch.nn.functional.interpolate(self.up(latents), scale_factor=8))


def test_the_fit_recovers_a_decoder_that_is_linear():
    torch.manual_seed(0)
    decode_map, bias = torch.randn(4, 3) * 0.1, torch.tensor([0.1, -0.2, 0.05])  # small: no clipping
    vae = LinearAutoencoder(decode_map, bias)
    fitted = fit_latent_rgb(vae)
    # Pixels = (map @ (latent / scale + shift) + bias + 1) / 2, in terms of the scaled latent.
    expected = (decode_map / 1.5 / 2).numpy()
    assert np.allclose(fitted["factors"], expected, atol=2e-3)
    assert np.allclose(fitted["bias"], ((decode_map.T @ torch.full((4,), 0.1) + bias + 1) / 2).numpy(), atol=2e-3)
    assert fitted["fit_rmse"] < 0.01 < fitted["target_std"]


def test_fitted_factors_are_cached_per_autoencoder(image_services):
    from studio.engines.image.pipelines import load_pipeline

    card = image_services.models.card(card_id(image_services, "tiny-sd15", "diffusers"))
    pipe = load_pipeline(card, "cpu", "float32")
    fitted = latent_rgb_for(pipe, None)
    assert np.asarray(fitted["factors"]).shape == (4, 3) and len(fitted["bias"]) == 3
    cached = list((image_services.paths.cache / "latent-rgb").glob("*.json"))
    assert len(cached) == 1 and latent_rgb_for(pipe, None) == fitted


@pytest.mark.parametrize("name, options", [
    ("EulerDiscreteScheduler", {}), ("EulerAncestralDiscreteScheduler", {}), ("DDIMScheduler", {}),
    ("DPMSolverMultistepScheduler", {}), ("UniPCMultistepScheduler", {}), ("PNDMScheduler", {"skip_prk_steps": True}),
    ("DDIMScheduler", {"prediction_type": "v_prediction"}),
])
def test_the_preview_shows_the_denoised_estimate_of_every_scheduler(name, options):
    """When the model predicts the true noise, the tapped estimate is the true picture."""
    import diffusers

    from studio.engines.image.previews import DenoisedTap

    cls = getattr(diffusers, name)
    if name == "DDIMScheduler":
        options = {**options, "clip_sample": False}  # as Stable Diffusion configures it
    scheduler = cls(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", **options)
    scheduler.set_timesteps(10)
    tap = DenoisedTap(scheduler)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(1, 4, 8, 8, generator=generator)
    noise = torch.randn(1, 4, 8, 8, generator=generator)
    t = scheduler.timesteps[3]
    if hasattr(scheduler, "sigmas") and name.startswith("Euler"):
        scheduler._init_step_index(t)
        sigma = scheduler.sigmas[scheduler.step_index]
        sample, output = x0 + sigma * noise, noise
    else:
        alpha = scheduler.alphas_cumprod[int(t)]
        sample = alpha.sqrt() * x0 + (1 - alpha).sqrt() * noise
        output = alpha.sqrt() * noise - (1 - alpha).sqrt() * x0 if "v_prediction" in options.values() else noise
    scheduler.step(output, t, sample, return_dict=False)
    assert torch.allclose(tap.take(), x0, atol=1e-3)


def test_a_model_folder_may_ship_its_own_factors(image_services, tmp_path):
    from studio.engines.image.pipelines import load_pipeline

    card = image_services.models.card(card_id(image_services, "tiny-sd15", "diffusers"))
    pipe = load_pipeline(card, "cpu", "float32")
    (tmp_path / "latent_rgb.json").write_text('{"factors": [[1,0,0],[0,1,0],[0,0,1],[0,0,0]], "bias": [0,0,0]}')
    assert latent_rgb_for(pipe, tmp_path)["factors"][0] == [1, 0, 0]


def test_the_tiny_autoencoder_is_found_and_decodes_full_size(base):
    recorder = Recorder()
    engine.run(replace(base, preview="taesd"), recorder, CancelToken())
    assert len(recorder.previews) == 5
    assert recorder.previews[0].shape == (64, 64, 3)


def test_full_decode_every_n_steps_and_off(base):
    recorder = Recorder()
    artifact = engine.run(replace(base, preview="full", preview_every=2), recorder, CancelToken())
    assert len(recorder.previews) == 3  # steps 2 and 4, and the last
    assert np.array_equal(recorder.previews[-1], pixels(artifact))  # the last full decode is the result
    quiet = Recorder()
    engine.run(replace(base, preview="off"), quiet, CancelToken())
    assert quiet.previews == []


def test_cancel_stops_within_one_step_and_the_library_gets_nothing(image_services, base):
    token = CancelToken()
    recorder = Recorder(cancel_at=2, token=token)
    with pytest.raises(Cancelled):
        engine.run(replace(base, steps=30), recorder, token)
    assert max(done for done, _, message in recorder.steps if message.startswith("image")) == 2
    assert len(recorder.previews) == 2  # the last preview is only ever a preview
    queue, library = image_services.queue, image_services.library
    job = queue.start(queue.submit(replace(base, steps=30, batch_count=3)).id)
    token = CancelToken()
    state, item = execute_job(job, queue, library, Recorder(cancel_at=3, token=token), token)
    assert state.value == "cancelled" and item is None
    assert library.items() == []
    # The model still works after a cancel.
    assert pixels(engine.run(base, NullReporter(), CancelToken())).shape == (64, 64, 3)
