"""The waveform editor widget: zoom (wheel and keys), scroll, click to seek,
drag and Shift+click to select, editing through its actions and keys with
undo across tracks, per-track gain/mute/solo in the mix, the spectrogram
computed off the GUI thread, the ruler, and the pixels it draws."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QWheelEvent
from PySide6.QtWidgets import QApplication

from studio.qt import theme
from studio.qt.audio import tracks_view as tracks_module
from studio.qt.audio.time_ruler import format_time, nice_step
from studio.qt.audio.tracks_view import TracksView
from studio.qt.audio.waveform import MIN_FRAMES_PER_PIXEL, ZOOM_STEP

RATE = 8000


def _sine(seconds: float = 2.0, freq: float = 200.0, amplitude: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


@pytest.fixture
def view(qtbot):
    widget = TracksView()
    qtbot.addWidget(widget)
    widget.resize(900, 360)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _lane(view, track=None):
    return view.lane(track or view.current)


def _wheel(widget, x: float, notches: float, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    position = QPointF(x, widget.height() / 2)
    event = QWheelEvent(position, widget.mapToGlobal(position), QPoint(), QPoint(0, int(120 * notches)),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_a_new_track_fits_the_view_and_the_lanes_report_their_width(qtbot, view):
    track = view.add_track("tone", _sine(2.0), RATE)
    lane = _lane(view)
    qtbot.waitUntil(lambda: view.timeline.width == lane.width())
    timeline = view.timeline
    assert timeline.frames == track.clip.frames == 2 * RATE
    assert timeline.start == 0 and timeline.fpp == pytest.approx(2 * RATE / lane.width())
    assert not view.empty_label.isVisible()


def test_wheel_zooms_around_the_pointer_and_keys_zoom_and_fit(qtbot, view):
    view.add_track("tone", _sine(4.0), RATE)
    lane = _lane(view)
    qtbot.waitUntil(lambda: view.timeline.width == lane.width())
    timeline = view.timeline
    fitted = timeline.fpp
    x = lane.width() * 0.3
    under_pointer = timeline.frame_at(x)
    _wheel(lane, x, 2)
    assert timeline.fpp == pytest.approx(fitted / ZOOM_STEP ** 2)
    assert timeline.frame_at(x) == pytest.approx(under_pointer, abs=timeline.fpp)
    _wheel(lane, x, 1, Qt.KeyboardModifier.ShiftModifier)  # Shift+wheel scrolls
    assert timeline.start < timeline.frame_at(0) + 1 and timeline.fpp == pytest.approx(fitted / ZOOM_STEP ** 2)
    lane.setFocus()
    qtbot.keyClick(lane, Qt.Key.Key_Equal)
    assert timeline.fpp == pytest.approx(fitted / ZOOM_STEP ** 3)
    qtbot.keyClick(lane, Qt.Key.Key_Minus)
    assert timeline.fpp == pytest.approx(fitted / ZOOM_STEP ** 2)
    qtbot.keyClick(lane, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert timeline.fpp == pytest.approx(fitted) and timeline.start == 0
    _wheel(lane, x, -3)  # cannot zoom out past the whole clip
    assert timeline.fpp == pytest.approx(fitted)
    for _ in range(80):
        _wheel(lane, x, 1)
    assert timeline.fpp == pytest.approx(MIN_FRAMES_PER_PIXEL)


def test_click_seeks_and_drag_selects_and_shift_click_extends(qtbot, view):
    view.add_track("tone", _sine(2.0), RATE)
    lane = _lane(view)
    qtbot.waitUntil(lambda: view.timeline.width == lane.width())
    timeline = view.timeline
    seeks: list[int] = []
    view.seek_requested.connect(seeks.append)
    y = lane.height() // 2
    qtbot.mouseClick(lane, Qt.MouseButton.LeftButton, pos=QPoint(300, y))
    assert timeline.selection is None
    assert timeline.cursor == round(timeline.frame_at(300)) and seeks == [timeline.cursor]
    qtbot.mousePress(lane, Qt.MouseButton.LeftButton, pos=QPoint(100, y))
    qtbot.mouseMove(lane, QPoint(180, y))
    qtbot.mouseMove(lane, QPoint(250, y))
    qtbot.mouseRelease(lane, Qt.MouseButton.LeftButton, pos=QPoint(250, y))
    first, last = round(timeline.frame_at(100)), round(timeline.frame_at(250))
    assert timeline.selection == (first, last)
    assert timeline.cursor == first
    qtbot.mouseClick(lane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, QPoint(400, y))
    assert timeline.selection == (first, round(timeline.frame_at(400)))
    qtbot.mouseClick(lane, Qt.MouseButton.LeftButton, pos=QPoint(50, y))
    assert timeline.selection is None


def test_the_selection_is_drawn_and_the_waveform_fills_its_envelope(qtbot, view):
    view.add_track("tone", _sine(1.0, amplitude=0.5), RATE)
    lane = _lane(view)
    qtbot.waitUntil(lambda: view.timeline.width == lane.width())
    image = QImage(lane.width(), lane.height(), QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    lane.paint(painter, image.width(), image.height())
    painter.end()
    middle, height = image.height() // 2, image.height()
    peak = QColor(theme.current().accent).rgb()
    background = QColor(theme.current().base).rgb()
    painted = {y for x in range(3, image.width(), 7) for y in range(height) if image.pixel(x, y) != background}
    # A half-scale sine spans the middle half of the lane (column 0 holds the cursor line).
    assert abs(min(painted) - height * 0.25) <= 3 and abs(max(painted) - height * 0.75) <= 3
    column = [image.pixel(200, y) for y in range(height)]
    assert peak in column and image.pixel(200, 2) == background
    assert middle in painted
    view.timeline.set_selection(0, 4000)
    painter = QPainter(image)
    lane.paint(painter, image.width(), image.height())
    painter.end()
    assert image.pixel(5, 2) != image.pixel(lane.width() - 5, 2)  # the selected half is tinted


def test_edits_act_on_the_current_track_and_undo_follows_their_order(qtbot, view):
    first = view.add_track("voice", _sine(1.0), RATE)
    second = view.add_track("music", _sine(1.0, freq=300), RATE)
    originals = {t.id: t.clip.samples.copy() for t in (first, second)}
    view.set_current(first)
    view.timeline.set_selection(1000, 3000)
    view.actions_by_name["cut"].trigger()
    assert first.clip.frames == 6000 and second.clip.frames == 8000
    np.testing.assert_array_equal(view.clipboard, originals[first.id][1000:3000])
    assert view.timeline.selection is None and view.timeline.cursor == 1000
    view.set_current(second)
    view.timeline.set_cursor(0)
    view.paste()
    assert second.clip.frames == 10000
    np.testing.assert_array_equal(second.clip.samples[:2000], originals[first.id][1000:3000])
    assert view.timeline.selection == (0, 2000)
    view.fade_out()
    assert second.clip.samples[1999, 0] == 0.0
    # Undo goes back through the edits in the order they were made, across tracks.
    view.undo()
    np.testing.assert_array_equal(second.clip.samples[:2000], originals[first.id][1000:3000])
    view.undo()
    np.testing.assert_array_equal(second.clip.samples, originals[second.id])
    view.undo()
    np.testing.assert_array_equal(first.clip.samples, originals[first.id])
    assert view.current is first
    view.redo()
    assert first.clip.frames == 6000
    assert view.actions_by_name["cut"].isEnabled()
    view.timeline.clear_selection()
    assert not view.actions_by_name["cut"].isEnabled()  # nothing selected


def test_edit_keys_work_when_the_waveform_has_the_focus(qtbot, view):
    track = view.add_track("tone", _sine(1.0), RATE)
    lane = _lane(view)
    qtbot.waitUntil(lambda: view.timeline.width == lane.width())
    lane.setFocus()
    qtbot.waitUntil(lane.hasFocus)
    view.timeline.set_selection(2000, 6000)
    qtbot.keyClick(lane, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)  # trim
    assert track.clip.frames == 4000
    qtbot.keyClick(lane, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert track.clip.frames == 8000
    qtbot.keyClick(lane, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert view.timeline.selection == (0, 8000)
    qtbot.keyClick(lane, Qt.Key.Key_Delete)
    assert track.clip.frames == 0
    qtbot.keyClick(lane, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # nothing to redo
    assert track.clip.frames == 0
    qtbot.keyClick(lane, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert track.clip.frames == 8000


def test_refused_edits_say_why_and_change_nothing(qtbot, view):
    messages: list[str] = []
    view.message.connect(messages.append)
    view.normalise()
    assert messages[-1] == "Add or generate a clip first"
    track = view.add_track("silence", np.zeros((800, 1), np.float32), RATE)
    view.normalise()
    assert "silent" in messages[-1]
    view.cut()
    assert "Select a part" in messages[-1]
    view.paste()
    assert "clipboard is empty" in messages[-1]
    assert not track.clip.can_undo


def test_gain_mute_and_solo_change_the_mix(qtbot, view):
    voice = view.add_track("voice", np.full((100, 1), 0.25, np.float32), RATE)
    music = view.add_track("music", np.full((100, 1), 0.125, np.float32), RATE)
    changes: list[int] = []
    view.mix_changed.connect(lambda: changes.append(1))
    view.header(music).gain_spin.setValue(6.0)
    louder = 0.125 * 10 ** (6 / 20)
    assert music.gain_db == 6.0
    np.testing.assert_allclose(view.session.mixdown()[:, 0], 0.25 + louder, rtol=1e-6)
    view.header(voice).mute_button.click()
    np.testing.assert_allclose(view.session.mixdown()[:, 0], louder, rtol=1e-6)
    view.header(voice).solo_button.click()
    np.testing.assert_allclose(view.session.mixdown()[:, 0], 0.25, rtol=1e-6)  # solo wins over mute
    view.header(music).remove_button.click()
    assert view.session.tracks == [voice] and view.current is voice
    assert len(changes) >= 4


def test_the_spectrogram_is_computed_off_the_gui_thread(qtbot, view, monkeypatch):
    threads: list[threading.Thread] = []
    real = tracks_module.mel_columns

    def recording_mel_columns(*args):
        threads.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(tracks_module, "mel_columns", recording_mel_columns)
    track = view.add_track("tone", _sine(1.0, freq=1000.0), RATE)
    lane = _lane(view)
    view.header(track).spectrum_button.click()
    assert lane.mode == "spectrogram"
    qtbot.waitUntil(lambda: lane.spectrogram is not None, timeout=20000)
    assert threads and all(t is not threading.main_thread() for t in threads)
    image = lane.spectrogram
    assert image.width() == view.timeline.width
    # The 1 kHz tone is one bright band: brightest rows far from the top (high) and bottom (low) edges.
    brightness = [QColor(image.pixel(image.width() // 2, y)).lightness() for y in range(image.height())]
    brightest = int(np.argmax(brightness))
    assert 0.2 * image.height() < brightest < 0.9 * image.height()
    qtbot.waitUntil(lambda: not view.spectrogram_pending(), timeout=20000)


def test_the_playhead_pages_the_view_along_when_zoomed_in(qtbot, view):
    view.add_track("tone", _sine(4.0), RATE)
    lane = _lane(view)
    qtbot.waitUntil(lambda: view.timeline.width == lane.width())
    timeline = view.timeline
    timeline.zoom_to(0, 4000)
    assert timeline.start == 0
    timeline.set_playhead(6000)  # off the right edge
    assert timeline.start <= 6000 <= timeline.start + timeline.visible_frames
    timeline.follow = False
    timeline.set_playhead(20000)
    assert not timeline.start <= 20000 <= timeline.start + timeline.visible_frames


def test_ruler_steps_and_labels():
    assert nice_step(1 / 1000) == pytest.approx(0.1)  # 1 ms per pixel: a label every 0.1 s
    assert nice_step(1.0) == 100
    assert nice_step(0.03) == 5
    assert format_time(0.0, 1) == "0:00"
    assert format_time(61.5, 0.1) == "1:01.5"
    assert format_time(59.9996, 0.001) == "1:00.000"
    assert format_time(3725.0, 5) == "1:02:05"
