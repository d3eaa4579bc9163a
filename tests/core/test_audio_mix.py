"""Tracks and their mixdown: gains, mute and solo, mono under stereo,
resampling to the session's rate, and an export that embeds its recipe."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from studio.core import provenance
from studio.core.audio_mix import Session, decode, encode, export_mix
from studio.core.jobs import StudioError


def _tone(frames: int, value: float, channels: int = 1) -> np.ndarray:
    return np.full((frames, channels), value, np.float32)


def test_mixdown_sums_audible_tracks_with_their_gains():
    session = Session()
    voice = session.add("voice", _tone(100, 0.25), 8000)
    music = session.add("music", _tone(50, 0.125, channels=2), 8000)
    music.gain_db = 20 * np.log10(2.0)  # x2
    mix = session.mixdown()
    assert mix.shape == (100, 2)  # longest track, widest channels
    np.testing.assert_allclose(mix[:50], 0.25 + 0.25, rtol=1e-6)
    np.testing.assert_array_equal(mix[50:], 0.25)  # the mono voice on both sides
    voice.mute = True
    np.testing.assert_allclose(session.mixdown()[:50], 0.25, rtol=1e-6)
    np.testing.assert_array_equal(session.mixdown()[50:], 0.0)
    voice.mute = False
    voice.solo = True
    np.testing.assert_array_equal(session.mixdown(), _tone(100, 0.25, channels=2))
    np.testing.assert_array_equal(session.mixdown(10, 20), _tone(10, 0.25, channels=2))


def test_a_clip_at_another_rate_is_resampled_to_the_session_rate():
    session = Session()
    session.add("first", _tone(16000, 0.0), 16000)
    rate = 8000
    t = np.arange(rate) / rate
    sine = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    track = session.add("second", sine, rate)
    assert session.sample_rate == 16000
    assert track.clip.frames == 16000
    resampled = track.clip.samples[:, 0]
    spectrum = np.abs(np.fft.rfft(resampled))
    assert np.argmax(spectrum) * 16000 / len(resampled) == pytest.approx(440, abs=2)
    assert np.max(np.abs(resampled)) == pytest.approx(0.5, abs=0.02)


def test_export_writes_the_mix_with_its_recipe_and_scales_down_overloads(tmp_path):
    session = Session()
    session.add("a", _tone(4000, 0.75), 8000, recipe={"request": {"kind": "speech", "text": "hi"}})
    session.add("b", _tone(4000, 0.75), 8000, source="/library/b.wav")
    for suffix in (".wav", ".flac"):
        path = tmp_path / f"mix{suffix}"
        summary = export_mix(session, path)
        assert summary["scaled_down"] and summary["peak"] == pytest.approx(1.5)
        samples, rate = decode(path)
        assert rate == 8000 and samples.shape == (4000, 1)
        assert np.max(np.abs(samples)) == pytest.approx(1.0, abs=1e-3)
        recipe = provenance.read_recipe(path)
        assert recipe["ai_generated"] is True
        assert [t["name"] for t in recipe["mixdown"]] == ["a", "b"]
        assert recipe["mixdown"][0]["recipe"]["request"]["text"] == "hi"
        assert soundfile.info(str(path)).format == suffix[1:].upper()


def test_export_refuses_what_cannot_be_exported(tmp_path):
    empty = Session()
    with pytest.raises(StudioError, match="nothing to export"):
        export_mix(empty, tmp_path / "x.wav")
    session = Session()
    track = session.add("a", _tone(10, 0.1), 8000)
    with pytest.raises(StudioError, match="choose .wav or .flac"):
        export_mix(session, tmp_path / "x.mp3")
    track.mute = True
    with pytest.raises(StudioError, match="muted"):
        export_mix(session, tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()
    with pytest.raises(StudioError, match="cannot read"):
        (tmp_path / "bad.wav").write_bytes(b"not audio")
        decode(tmp_path / "bad.wav")
    assert encode(_tone(8, 0.5), 8000, ".wav")[:4] == b"RIFF"
