"""The transport bar on a real PortAudio stream (a silent null ALSA device):
Space plays and pauses, Shift+Space stops, the playhead follows, a loop
keeps playing, the device choice is remembered; and with no device at all
the bar says playback is unavailable while editing goes on."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from studio.core.settings import Settings
from studio.qt.audio.tracks_view import TracksView
from studio.qt.audio.transport import DEVICE_SETTING, NO_DEVICE_TEXT, Transport
from studio.qt.tasks import Tasks
from tests.helpers.null_audio import no_audio_device, null_audio_device  # noqa: F401 - fixtures

RATE = 16000


@pytest.fixture
def bench(qtbot, tmp_path):
    """A tracks view with its transport, as the Audio workspace lays them out.
    (Tests name the device fixture before this one, so the player is closed
    before PortAudio is re-initialised for the next test.)"""
    tasks = Tasks()
    settings = Settings(tmp_path / "settings.json")
    area = QWidget()
    view = TracksView(tasks)
    transport = Transport(view, settings, tasks)
    layout = QVBoxLayout(area)
    layout.addWidget(view, 1)
    layout.addWidget(transport)
    area.addActions(transport.shortcut_actions())
    qtbot.addWidget(area)
    area.resize(800, 360)
    area.show()
    qtbot.waitExposed(area)
    area.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is area, timeout=3000)
    yield view, transport, settings
    transport.close_player()
    tasks.shutdown()


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]


def test_space_plays_to_the_end_and_the_playhead_returns(qtbot, null_audio_device, bench):
    view, transport, _ = bench
    transport.scan_devices()
    qtbot.waitUntil(lambda: transport.devices is not None, timeout=5000)
    assert transport.device_combo.isEnabled() and transport.device_combo.itemText(0) == "System default"
    view.add_track("tone", _tone(3.0), RATE)
    view.timeline.set_cursor(RATE)  # play from 1 s
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    qtbot.keyClick(view, Qt.Key.Key_Space)
    player = transport.player
    assert player.cue == RATE
    # The null device is not paced: the clip plays out at once; the bar notices on its timer.
    qtbot.waitUntil(lambda: player.state == "stopped", timeout=5000)
    assert player.callbacks >= 2 * RATE // player.block_frames
    assert player.first_callback_s is not None
    assert view.timeline.playhead is None
    assert player.position == RATE and transport.play_action.text() == "Play"


def test_a_looped_selection_keeps_playing_and_space_pauses_and_shift_space_stops(qtbot, null_audio_device, bench):
    view, transport, _ = bench
    view.add_track("tone", _tone(2.0), RATE)
    view.timeline.set_selection(4000, 12000)
    transport.loop_action.trigger()
    assert transport.player.program.loop == (4000, 12000)
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    qtbot.keyClick(view, Qt.Key.Key_Space)
    player = transport.player
    qtbot.waitUntil(lambda: player.callbacks > 100, timeout=5000)
    qtbot.waitUntil(lambda: view.timeline.playhead is not None, timeout=2000)
    assert 4000 <= view.timeline.playhead <= 12000
    assert player.state == "playing" and transport.play_action.text() == "Pause"
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert player.state == "paused"
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert player.state == "playing"
    # Muting while playing swaps the program the callback reads, without stopping it.
    view.header(view.current).mute_button.click()
    assert player.program.sources == () and player.state == "playing"
    qtbot.keyClick(view, Qt.Key.Key_Space, Qt.KeyboardModifier.ShiftModifier)
    assert player.state == "stopped" and view.timeline.playhead is None


def test_the_chosen_output_device_is_remembered(qtbot, null_audio_device, bench):
    view, transport, settings = bench
    transport.scan_devices()
    qtbot.waitUntil(lambda: transport.devices is not None, timeout=5000)
    index = transport.device_combo.findData(null_audio_device.name)
    assert index > 0
    transport.device_combo.setCurrentIndex(index)
    transport.device_combo.activated.emit(index)
    assert settings.get(DEVICE_SETTING) == null_audio_device.name
    assert transport.player.device == null_audio_device.name
    again = Transport(view, settings, transport.tasks)
    qtbot.addWidget(again)
    again.scan_devices()
    qtbot.waitUntil(lambda: again.devices is not None, timeout=5000)
    assert again.device_combo.currentData() == null_audio_device.name
    again.close_player()


def test_without_a_device_playback_is_unavailable_and_editing_still_works(qtbot, no_audio_device, bench):
    view, transport, _ = bench
    transport.scan_devices()
    qtbot.waitUntil(lambda: transport.devices is not None, timeout=5000)
    assert transport.status_label.text() == NO_DEVICE_TEXT
    assert not transport.device_combo.isEnabled()
    track = view.add_track("tone", _tone(1.0), RATE)
    assert not transport.play_action.isEnabled()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert transport.player.state == "stopped"
    view.timeline.set_selection(0, 8000)
    view.delete()
    assert track.clip.frames == 8000


def test_a_play_that_fails_says_why(qtbot, no_audio_device, bench):
    view, transport, _ = bench
    view.add_track("tone", _tone(1.0), RATE)
    messages: list[str] = []
    transport.message.connect(messages.append)
    transport.play()  # before any scan: the stream itself finds no device
    assert messages and "no audio output device" in messages[-1]
    assert not transport.play_action.isEnabled()
    assert "unavailable" in transport.status_label.text()
