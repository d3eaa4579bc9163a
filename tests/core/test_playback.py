"""The player: its mix is exact (gains, mono under stereo, loops, seeks),
it plays through a real PortAudio callback stream (a null ALSA device),
and with no device it says playback is unavailable instead of failing."""

from __future__ import annotations

import time

import numpy as np
import pytest

from studio.core.playback import PlaybackUnavailable, Player, output_devices
from tests.helpers.null_audio import no_audio_device, null_audio_device  # noqa: F401 - fixtures


def _frames(values, channels: int = 1) -> np.ndarray:
    return np.repeat(np.asarray(values, np.float32)[:, None], channels, axis=1)


def _wait(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.002)


def test_render_mixes_sources_with_gains_and_spreads_mono():
    player = Player()
    mono = _frames(np.arange(1, 7) / 8)
    stereo = _frames(np.full(4, 0.5), channels=2)
    player.set_sources([(mono, 1.0), (stereo, 0.5)], 8000)
    out = np.empty((4, 2), np.float32)
    assert player.render(out)
    expected = np.arange(1, 5)[:, None] / 8 + 0.25
    np.testing.assert_array_equal(out, np.repeat(expected, 2, axis=1).astype(np.float32))
    assert player.position == 4
    assert not player.render(out)  # two frames left, then the end
    np.testing.assert_array_equal(out[:, 0], [5 / 8, 6 / 8, 0, 0])
    assert player.position == 6


def test_render_loops_the_selection_and_takes_seeks():
    player = Player()
    player.set_sources([(_frames(np.arange(10)), 1.0)], 8000)
    player.set_loop((2, 5))
    out = np.empty((8, 1), np.float32)
    assert player.render(out)  # starts before the loop: jumps into it
    np.testing.assert_array_equal(out[:, 0], [2, 3, 4, 2, 3, 4, 2, 3])
    player.state = "playing"
    player.seek(3)
    player.set_loop(None)
    assert player.render(out[:3])
    np.testing.assert_array_equal(out[:3, 0], [3, 4, 5])
    player.set_loop((8, 30))  # past the end of the clip: loops what exists
    player.render(out[:4])
    np.testing.assert_array_equal(out[:4, 0], [8, 9, 8, 9])


def test_plays_through_a_real_callback_stream(null_audio_device):
    player = Player()
    rate = 48000
    player.set_sources([(_frames(np.zeros(rate // 2), 2), 1.0)], rate)
    player.seek(1000)
    try:
        player.play()
        assert player.state == "playing"
        _wait(lambda: player.callbacks > 0)
        assert player.first_callback_s is not None and player.first_callback_s < 1.0
        # The null device is not paced: the clip plays out at once and the player notices.
        _wait(lambda: player.poll() is not None and player.state == "stopped")
        assert player.position == 1000  # back to where Play started
        assert player.callbacks >= (rate // 2 - 1000) // player.block_frames
        player.set_loop((0, 4096))
        player.play()
        _wait(lambda: player.callbacks > 200)
        player.poll()
        assert player.state == "playing"  # a loop never ends by itself
        player.pause()
        assert player.state == "paused"
        paused_at = player.position
        assert 0 <= paused_at <= 4096
        player.play()
        assert player.state == "playing"
        player.stop()
        assert player.state == "stopped" and player.position == player.cue
    finally:
        player.close()


def test_an_unknown_device_name_falls_back_to_the_default(null_audio_device):
    assert null_audio_device.name in [d.name for d in output_devices()]
    player = Player(device="Speakers that were unplugged")
    player.set_sources([(_frames(np.zeros(100)), 1.0)], 8000)
    try:
        player.play()
        assert "not connected" in player.device_note
        _wait(lambda: player.callbacks > 0)
    finally:
        player.close()


def test_without_a_device_playback_is_unavailable_with_a_clear_message(no_audio_device):
    assert output_devices() == []
    player = Player()
    player.set_sources([(_frames(np.zeros(100)), 1.0)], 8000)
    with pytest.raises(PlaybackUnavailable, match="no audio output device"):
        player.play()
    assert player.state == "stopped"
    player.close()
    with pytest.raises(PlaybackUnavailable, match="nothing to play"):
        Player().play()
