"""Sound effects: every procedural preset has the asked-for length, rate
and channels and is audible and reproducible; the parameters move the
sound the way they say; the sine test tone has the requested pitch; and an
AudioLDM pipeline (tiny, random) loads from a model folder and generates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from studio.core.jobs import Cancelled, CancelToken, NullReporter, StudioError
from studio.engines.audio.requests import SFX_PRESETS, SURFACES, SfxRequest
from studio.engines.audio.sfx.engine import SAMPLE_RATE, run, synthesize
from studio.engines.audio.sfx.presets import PRESETS
from tests.engines.audio import tiny_models
from tests.engines.audio.helpers import Recorder, dominant_frequency, rms, samples_of, spectral_centroid


def envelope(samples: np.ndarray, rate: int, seconds: float = 0.01) -> np.ndarray:
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)
    hop = int(rate * seconds)
    return np.sqrt(np.mean(mono[: len(mono) // hop * hop].reshape(-1, hop) ** 2, axis=1))


def onsets(samples: np.ndarray, rate: int, threshold: float = 0.25, min_gap_s: float = 0.15) -> int:
    """Rises of the 10 ms envelope through ``threshold`` of its peak, at
    least ``min_gap_s`` apart (a heel and its toe are one step)."""
    level = envelope(samples, rate)
    above = level > threshold * level.max()
    rises = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    if above[0]:
        rises = np.concatenate([[0], rises])
    count, last = 0, -np.inf
    for index in rises:
        if (index - last) * 0.01 >= min_gap_s:
            count, last = count + 1, index
    return count


@pytest.mark.parametrize("preset", SFX_PRESETS)
def test_every_preset_is_audible_exact_in_length_and_reproducible(preset):
    request = SfxRequest(preset=preset, duration_s=2.0, seed=4)
    recorder = Recorder()
    artifact = run(request, recorder, CancelToken())
    samples, rate = samples_of(artifact)
    assert rate == SAMPLE_RATE == artifact.meta["sample_rate"]
    assert samples.shape == (2 * SAMPLE_RATE, 2)
    assert np.max(np.abs(samples)) == pytest.approx(PRESETS[preset].level, abs=0.002)
    assert rms(samples) > 0.005
    assert np.max(np.abs(recorder.streamed() - samples)) <= 1.5 / 32768
    assert np.array_equal(synthesize(request), synthesize(request))
    assert not np.array_equal(synthesize(request), synthesize(replace(request, seed=5))) or preset == "tone"


@pytest.mark.parametrize("frequency", [110.0, 440.0, 1234.5])
def test_the_test_tone_has_the_requested_pitch(frequency):
    samples, rate = samples_of(run(SfxRequest(preset="tone", frequency_hz=frequency, duration_s=1.0, distance=0.0,
                                              stereo=False), NullReporter(), CancelToken()))
    assert samples.ndim == 1
    assert dominant_frequency(samples, rate) == pytest.approx(frequency, abs=0.5)


def test_mono_and_durations_are_honoured():
    for seconds in (0.05, 0.7, 4.25):
        samples, rate = samples_of(run(SfxRequest(preset="wind", duration_s=seconds, stereo=False), NullReporter(),
                                       CancelToken()))
        assert samples.ndim == 1 and len(samples) == round(seconds * rate)


def test_brightness_raises_the_spectral_centroid():
    dull = synthesize(SfxRequest(preset="rain", brightness=0.1, distance=0.0))
    bright = synthesize(SfxRequest(preset="rain", brightness=0.9, distance=0.0))
    assert spectral_centroid(bright, SAMPLE_RATE) > 1.5 * spectral_centroid(dull, SAMPLE_RATE)


def test_distance_darkens_and_lengthens_the_tail():
    near = synthesize(SfxRequest(preset="door", duration_s=4.0, distance=0.0))
    far = synthesize(SfxRequest(preset="door", duration_s=4.0, distance=0.9))
    assert spectral_centroid(far, SAMPLE_RATE) < spectral_centroid(near, SAMPLE_RATE)
    tail = slice(int(2.5 * SAMPLE_RATE), None)
    assert rms(far[tail]) / rms(far) > 3 * rms(near[tail]) / rms(near)


@pytest.mark.parametrize("surface", SURFACES)
def test_footstep_pace_sets_the_number_of_steps(surface):
    slow = synthesize(SfxRequest(preset="footsteps", surface=surface, pace=0.0, duration_s=5.0, distance=0.0))
    fast = synthesize(SfxRequest(preset="footsteps", surface=surface, pace=1.0, duration_s=5.0, distance=0.0))
    assert onsets(slow, SAMPLE_RATE) == pytest.approx(5 * 0.8, abs=1.5)
    assert onsets(fast, SAMPLE_RATE) == pytest.approx(5 * 3.2, abs=3)


def test_surfaces_sound_different():
    centroids = {surface: spectral_centroid(synthesize(SfxRequest(preset="footsteps", surface=surface,
                                                                  distance=0.0)), SAMPLE_RATE)
                 for surface in SURFACES}
    assert centroids["gravel"] > centroids["grass"] and centroids["metal"] > centroids["wood"]


def test_intensity_turns_separate_drops_into_a_steady_downpour():
    def unevenness(x):
        level = envelope(x, SAMPLE_RATE, 0.005)
        return level.std() / level.mean()

    light = synthesize(SfxRequest(preset="rain", intensity=0.05, distance=0.0, stereo=False))
    heavy = synthesize(SfxRequest(preset="rain", intensity=1.0, distance=0.0, stereo=False))
    assert unevenness(light) > 3 * unevenness(heavy)


def test_the_laser_sweeps_down_from_near_four_times_its_frequency():
    samples = synthesize(SfxRequest(preset="laser", frequency_hz=500.0, intensity=0.0, pace=0.0, distance=0.0,
                                    stereo=False))
    window = int(0.02 * SAMPLE_RATE)
    heard = [dominant_frequency(samples[at:at + window], SAMPLE_RATE)
             for at in (int(t * SAMPLE_RATE) for t in (0.0, 0.1, 0.2, 0.3, 0.4))]
    assert heard == sorted(heard, reverse=True)
    assert 1250 < heard[0] <= 2000 and 250 <= heard[-1] < 500


@pytest.mark.parametrize("fields, message", [
    ({"preset": "thunder"}, "preset must be one of"),
    ({"duration_s": 0.0}, "duration must be between"),
    ({"intensity": 1.5}, "intensity must be between"),
    ({"surface": "lava"}, "surface must be one of"),
    ({"duration_s": 400.0}, "at most 300 s"),
    ({"model_id": "some-model", "prompt": ""}, "prompt is empty"),
])
def test_bad_requests_are_refused(fields, message):
    with pytest.raises(StudioError, match=message):
        run(SfxRequest(**fields), NullReporter(), CancelToken())


def test_audioldm_pipeline_from_a_model_folder(services):
    tiny_models.audioldm(services.paths.models_dir)
    services.models.refresh()
    card = next(c for c in services.models.cards("audio") if c.path.name == "tiny-audioldm")
    assert card.architecture == "AudioLDMPipeline"
    recorder = Recorder()
    request = SfxRequest(model_id=card.id, prompt="rain on a tin roof", duration_s=0.5, steps=3, seed=2)
    artifact = run(request, recorder, CancelToken())
    samples, rate = samples_of(artifact)
    assert rate == 16000 and len(samples) == 8000 and rms(samples) > 0.01
    assert [call[:2] for call in recorder.progress_calls] == [(1, 3), (2, 3), (3, 3)]
    assert artifact.meta["recipe"]["pipeline"] == "AudioLDMPipeline"
    token = CancelToken()

    class CancelAtFirstStep(Recorder):
        def progress(self, done, total, message=""):
            super().progress(done, total, message)
            token.cancel()

    cancelling = CancelAtFirstStep()
    with pytest.raises(Cancelled):
        run(replace(request, steps=10), cancelling, token)
    assert len(cancelling.progress_calls) == 1
