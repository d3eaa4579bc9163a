"""A LoRA run whose loss collapses stops with one clear line; a noisy healthy run never does."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.jobs import CancelToken, StudioError
from studio.training.lora.divergence import DivergenceWatch
from tests.training.test_lora_image import Recorder, _request


def _healthy(steps: int, seed: int = 0) -> np.ndarray:
    # A decaying loss with the heavy tail of a diffusion loss: most steps small, a few several times larger.
    rng = np.random.default_rng(seed)
    level = 0.05 * np.exp(-np.arange(steps) / 400) + 0.01
    return level * rng.lognormal(0.0, 0.9, steps) + (rng.random(steps) < 0.03) * rng.uniform(0.1, 0.4, steps)


def _first_alarm(losses, warmup: int = 60) -> tuple[int, str] | None:
    watch = DivergenceWatch(warmup=warmup)
    for step, loss in enumerate(losses):
        message = watch.update(step, float(loss))
        if message:
            return step, message
    return None


@pytest.mark.parametrize("seed", range(5))
def test_noisy_healthy_runs_and_short_bursts_raise_no_alarm(seed):
    losses = _healthy(2400, seed)
    assert _first_alarm(losses) is None
    burst = losses.copy()
    burst[700:712] = 1.0  # a dozen bad steps, then back to normal
    assert _first_alarm(burst) is None


def test_a_loss_that_rises_and_stays_is_called_diverged_soon_after():
    losses = _healthy(1200)
    losses[600:] = np.random.default_rng(1).uniform(0.3, 0.6, 600)  # blown up: far above its lowest, below 0.5
    step, message = _first_alarm(losses)
    assert 600 < step < 700
    assert "diverged at step" in message and "rose from" in message and "learning rate" in message


def test_a_loss_near_one_from_the_start_is_called_diverged_before_warm_up_ends():
    losses = np.full(300, 0.97)
    losses[:3] = 0.01
    step, message = _first_alarm(losses, warmup=100)
    assert step < 50
    assert "sat at 0.8" in message or "sat at 0.9" in message


def test_a_collapsing_training_job_fails_with_one_line_and_saves_nothing(services, tmp_path):
    from studio.core.paths import studio_paths
    from studio.engines.image.personalise import run
    from studio.training.lora.hexagons import write_training_set

    write_training_set(tmp_path / "set", count=5)
    # Far too high a learning rate at rank 64: the LoRA blows up and the loss sits near 1.
    request = _request(tmp_path / "set", name="blown", steps=120, sample_every=1000, learning_rate=0.05, rank=64,
                       prior_preservation=False)
    with pytest.raises(StudioError, match="training diverged at step .*: lower the learning rate"):
        run(request, Recorder(), CancelToken())
    assert not (studio_paths().models_dir / "Lora" / "blown.safetensors").exists()
    assert not list((studio_paths().cache / "lora-runs").glob("*/checkpoint/state.json"))
