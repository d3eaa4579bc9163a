"""Few-step sampling on the tiny SD-shaped model: the LCM scheduler (chosen,
or implied by an LCM-LoRA or an LCM model's name), Turbo's trailing
timesteps with no guidance, detection from the scheduler config, name and
card, the tiny-autoencoder decoder in a recipe, and live frames that equal
what ``engine.run`` makes from the same request."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from studio.core.jobs import Cancelled, CancelToken, NullReporter
from studio.engines.image import engine, fewstep, live
from studio.engines.image.requests import ImageRequest
from tests.engines.image.conftest import card_id, pixels


@pytest.fixture
def base(image_services) -> ImageRequest:
    return ImageRequest(prompt="a red cube on grass", steps=4, width=64, height=64, seed=21,
                        model_id=card_id(image_services, "tiny-sd15", "diffusers"), preview="off")


class Timesteps:
    """A Reporter-free spy on the timesteps each pipeline step runs at."""

    def __init__(self, monkeypatch) -> None:
        self.seen: list[int] = []
        original = engine._Progress.callback

        def callback(progress, pipe, step, timestep, tensors):
            self.seen.append(int(timestep))
            return original(progress, pipe, step, timestep, tensors)

        monkeypatch.setattr(engine._Progress, "callback", callback)


def test_lcm_runs_on_the_lcm_schedule(base, monkeypatch):
    spy = Timesteps(monkeypatch)
    artifact = engine.run(replace(base, scheduler="LCM", steps=4, cfg=1.0), NullReporter(), CancelToken())
    assert artifact.meta["recipe"]["sampler"] == "LCM"
    assert spy.seen == [999, 759, 499, 259]  # LCM's skipping schedule over 50 original steps
    assert pixels(artifact).shape == (64, 64, 3)


def test_turbo_starts_from_pure_noise_on_trailing_timesteps_without_guidance(base, monkeypatch):
    spy = Timesteps(monkeypatch)
    one = engine.run(replace(base, scheduler="Turbo", steps=1, cfg=0.0), NullReporter(), CancelToken())
    assert spy.seen == [999]
    assert one.meta["recipe"]["sampler"] == "Turbo"
    spy.seen.clear()
    engine.run(replace(base, scheduler="Turbo", steps=4, cfg=0.0), NullReporter(), CancelToken())
    assert spy.seen == [999, 749, 499, 249]


def test_default_on_a_few_step_model_or_lora_picks_its_sampler(image_services, base):
    lcm_card = SimpleNamespace(name="dreamshaper-lcm", id="x", path="/m/dreamshaper-lcm", description="", extra={})
    turbo_card = SimpleNamespace(name="sd-turbo", id="y", path="/m/sd-turbo", description="", extra={})
    plain_card = SimpleNamespace(name="sd15", id="z", path="/m/sd15", description="", extra={})
    leading = {"_class_name": "EulerDiscreteScheduler", "timestep_spacing": "leading"}
    assert fewstep.scheduler_for("Default", lcm_card, leading, ()) == "LCM"
    assert fewstep.scheduler_for("Default", turbo_card, leading, ()) == "Turbo"
    assert fewstep.scheduler_for("Default", plain_card, leading, ("lcm-lora-sdv1-5",)) == "LCM"
    assert fewstep.scheduler_for("Default", plain_card, leading, ()) == "Default"
    assert fewstep.scheduler_for("DDIM", lcm_card, leading, ()) == "DDIM"  # an explicit choice is kept
    assert fewstep.scheduler_for("Default", turbo_card, {**leading, "timestep_spacing": "trailing"}, ()) == "Default"
    assert fewstep.detect(scheduler_config={"_class_name": "LCMScheduler"}).family == "lcm"
    assert fewstep.detect(card=SimpleNamespace(name="m", extra={"fewstep": "turbo"})) == fewstep.TURBO
    assert fewstep.detect(card=plain_card) == fewstep.ORDINARY
    assert live.live_settings(turbo_card) == {"steps": 1, "cfg": 0.0, "scheduler": "Turbo"}
    assert live.live_settings(plain_card)["steps"] == live.LIVE_STEPS


def test_a_card_naming_its_live_lora_runs_live_with_it_only_when_installed():
    card = SimpleNamespace(name="starter", id="s", path="/m/starter", description="",
                           extra={"live_lora": "starter-shapes-lcm"})
    assert live.live_settings(card, None, (), ("other-lora",))["steps"] == live.LIVE_STEPS
    fast = live.live_settings(card, None, (), ("Starter-Shapes-LCM",))
    assert fast == {"steps": fewstep.LCM.steps, "cfg": 1.0, "scheduler": "LCM",
                    "loras": (("starter-shapes-lcm", 1.0),)}
    assert live.with_loras((("style", 0.5), ("starter-shapes-lcm", 0.7)), fast["loras"]) == \
        (("style", 0.5), ("starter-shapes-lcm", 0.7))  # a weight the person set is kept
    assert live.with_loras((("style", 0.5),), fast["loras"]) == (("style", 0.5), ("starter-shapes-lcm", 1.0))
    card.extra["live_steps"] = 2  # the fewest steps that follow the prompt with this LoRA, measured
    assert live.live_settings(card, None, (), ("starter-shapes-lcm",))["steps"] == 2


def test_an_lcm_lora_by_name_switches_the_default_sampler(image_services, base, monkeypatch, model_root):
    import shutil

    lora = model_root / "Lora" / "lcm-lora-tiny.safetensors"
    if not lora.exists():
        shutil.copyfile(model_root / "Lora" / "inkwash.safetensors", lora)
    image_services.models.refresh()
    spy = Timesteps(monkeypatch)
    artifact = engine.run(replace(base, scheduler="Default", loras=(("lcm-lora-tiny", 1.0),), cfg=1.0),
                          NullReporter(), CancelToken())
    assert artifact.meta["recipe"]["sampler"] == "LCM"
    assert spy.seen == [999, 759, 499, 259]


def test_the_tiny_autoencoder_decodes_when_the_recipe_says_so(base):
    vae = pixels(engine.run(base, NullReporter(), CancelToken()))
    tiny = engine.run(replace(base, decoder="taesd"), NullReporter(), CancelToken())
    assert tiny.request.decoder == "taesd"
    assert pixels(tiny).shape == vae.shape and not np.array_equal(pixels(tiny), vae)


def test_a_live_frame_is_what_engine_run_makes_and_keep_carries_that_recipe(base, tmp_path):
    frame = live.render(base, None, CancelToken(), prefer_taesd=False)
    made = pixels(engine.run(frame.request, NullReporter(), CancelToken()))
    assert np.array_equal(frame.pixels, made)
    layer = np.zeros((64, 64, 3), np.uint8)
    layer[:, :32] = (255, 0, 0)
    painted = live.render(replace(base, strength=0.8), layer, CancelToken(), prefer_taesd=False)
    assert painted.request.mode == "img2img"
    from PIL import Image

    Image.fromarray(layer).save(tmp_path / "layer.png")
    artifact = live.keep_artifact(painted, str(tmp_path / "layer.png"))
    assert np.array_equal(pixels(artifact), painted.pixels)
    again = pixels(engine.run(artifact.request, NullReporter(), CancelToken()))
    assert np.abs(again.astype(int) - painted.pixels.astype(int)).max() <= 1
    # With a tiny autoencoder installed, live frames decode with it and say so.
    fast = live.render(base, None, CancelToken())
    assert fast.request.decoder == "taesd"


def test_a_live_frame_stops_at_its_next_step_when_cancelled(base):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        live.render(replace(base, steps=30), None, token)


@pytest.mark.parametrize("strength", [0.05, 0.3, 0.5, 0.65, 0.75, 1.0])
@pytest.mark.parametrize("steps", [1, 2, 4, 8])
def test_a_painted_layer_frame_runs_the_live_step_count(steps, strength):
    from studio.engines.image.engine import _effective_steps

    total = live.steps_for_strength(steps, strength)
    assert _effective_steps(total, strength) >= steps
    assert total == steps or _effective_steps(total - 1, strength) < steps  # the fewest that do

