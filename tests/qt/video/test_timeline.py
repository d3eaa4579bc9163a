"""The timeline widget with real media, a real task pool and real playback
timers: mouse edits with snapping, keys, undo/redo, thumbnails and
waveforms from the media cache, and the consistency graph's clicks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from studio.engines.video import export
from studio.engines.video.timeline import Project, Timeline
from studio.qt.tasks import Tasks
from studio.qt.video.consistency_graph import ConsistencyGraph
from studio.qt.video.timeline import HEADER_WIDTH, RULER_HEIGHT, ROW_HEIGHT, ROW_GAP, TimelineWidget
from studio.qt.video.timeline_media import MediaCache
from studio.qt.video.timeline_playback import TimelinePlayback

PPF = 4.0  # pixels per frame in these tests


def _solid(path, colour, frames=24):
    pixels = np.zeros((48, 64, 3), dtype=np.uint8) + np.array(colour, dtype=np.uint8)
    export.write_mp4(path, [pixels] * frames, 24)
    return str(path)


def _tone(path, seconds=1.0):
    import soundfile

    t = np.arange(int(48000 * seconds)) / 48000
    soundfile.write(path, 0.8 * np.sin(2 * np.pi * 220 * t), 48000)
    return str(path)


@pytest.fixture
def editor(qtbot, tmp_path):
    """A timeline of two 24-frame clips on V1 (0..24 red, 40..64 blue) and a
    24-frame tone on A1, shown at 4 px per frame from frame 0."""
    timeline = Timeline(Project(fps=24, width=64, height=48))
    video, audio = timeline.add_track("video"), timeline.add_track("audio")
    red = timeline.add_clip(video, _solid(tmp_path / "red.mp4", (230, 30, 30)), "video", 0, 24, source_frames=24)
    blue = timeline.add_clip(video, _solid(tmp_path / "blue.mp4", (30, 30, 230)), "video", 40, 24,
                             source_frames=24)
    tone = timeline.add_clip(audio, _tone(tmp_path / "tone.wav"), "audio", 0, 24, source_frames=24)
    tasks = Tasks(max_threads=2)
    cache = MediaCache(tasks)
    playback = TimelinePlayback(24)
    playback.end_frame = lambda: timeline.project.duration
    widget = TimelineWidget(timeline, cache, playback)
    qtbot.addWidget(widget)
    widget.resize(800, 220)
    widget.show()
    qtbot.waitExposed(widget)
    widget.view.pixels_per_frame = PPF
    widget.view.set_first_frame(0)
    assert cache.wait([c.media for _t, c in timeline.project.clips()])
    qtbot.waitUntil(lambda: all(cache.info(c.media) for _t, c in timeline.project.clips()), timeout=5000)
    yield widget, {"red": red, "blue": blue, "tone": tone, "video": video, "audio": audio}
    playback.close()
    tasks.shutdown()


def _row_y(kind: str, index: int = 0) -> int:
    return RULER_HEIGHT + index * (ROW_HEIGHT["video"] + ROW_GAP) + ROW_HEIGHT[kind] // 2


def _x(frame: float) -> int:
    return int(HEADER_WIDTH + frame * PPF)


def _drag(view, start: QPoint, end: QPoint, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mousePress(view, Qt.MouseButton.LeftButton, modifier, start)
    steps = 6
    for k in range(1, steps + 1):
        point = start + (end - start) * (k / steps)
        QTest.mouseMove(view, point)
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, modifier, end)


def _clip(widget, clip_id):
    return widget.view.timeline.project.find(clip_id)[1]


def test_dragging_a_clip_moves_it_and_undo_redo_restore_exactly(editor):
    widget, ids = editor
    view = widget.view
    before = view.timeline.project.to_dict()
    _drag(view, QPoint(_x(50), _row_y("video")), QPoint(_x(80), _row_y("video")))  # +30 frames
    assert _clip(widget, ids["blue"]).start == 70
    moved = view.timeline.project.to_dict()
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert view.timeline.project.to_dict() == before
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert view.timeline.project.to_dict() == moved


def test_a_dragged_clip_snaps_to_the_neighbouring_edge(editor):
    widget, ids = editor
    view = widget.view
    # Drag the blue clip left by 14.5 frames: its start lands 1.5 frames from the red clip's end, and snaps.
    _drag(view, QPoint(_x(50), _row_y("video")), QPoint(int(_x(50) - 14.5 * PPF), _row_y("video")))
    assert _clip(widget, ids["blue"]).start == 24


def test_trimming_either_edge_with_the_mouse(editor):
    widget, ids = editor
    view = widget.view
    _drag(view, QPoint(_x(24) - 2, _row_y("video")), QPoint(_x(16), _row_y("video")))  # red's right edge
    red = _clip(widget, ids["red"])
    assert (red.start, red.duration) == (0, 16)
    _drag(view, QPoint(_x(40) + 2, _row_y("video")), QPoint(_x(46), _row_y("video")))  # blue's left edge
    blue = _clip(widget, ids["blue"])
    assert (blue.start, blue.source_in, blue.duration) == (46, 6, 18)
    # Past the media: the edit is refused with a message and nothing changes.
    messages = []
    view.message.connect(messages.append)
    _drag(view, QPoint(_x(64) - 2, _row_y("video")), QPoint(_x(90), _row_y("video")))
    assert _clip(widget, ids["blue"]).duration == 18 and messages and "past the end" in messages[-1]


def test_keys_split_delete_ripple_and_crossfade(editor):
    widget, ids = editor
    view = widget.view
    view.playback.seek(10)
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(_x(50), _row_y("video")))
    assert view.selected == {ids["blue"]}
    QTest.keyClick(view, Qt.Key.Key_X)
    assert _clip(widget, ids["blue"]).transition == "crossfade"
    view.select(set())
    QTest.keyClick(view, Qt.Key.Key_S)  # nothing selected: split every track under the playhead
    video, audio = view.timeline.project.tracks
    assert [(c.start, c.duration) for c in video.clips] == [(0, 10), (10, 14), (40, 24)]
    assert [(c.start, c.duration) for c in audio.clips] == [(0, 10), (10, 14)]
    view.select({video.clips[1].id})
    QTest.keyClick(view, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)  # ripple: blue moves left 14
    assert [(c.start, c.duration) for c in view.timeline.project.tracks[0].clips] == [(0, 10), (26, 24)]
    view.select({view.timeline.project.tracks[0].clips[0].id})
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert [c.start for c in view.timeline.project.tracks[0].clips] == [26]
    for _ in range(4):
        QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [(c.start, c.duration) for c in view.timeline.project.tracks[0].clips] == [(0, 24), (40, 24)]


def test_transport_keys_step_shuttle_and_play(qtbot, editor):
    widget, _ids = editor
    view = widget.view
    playback = view.playback
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Right)
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert playback.playhead == 11
    QTest.keyClick(view, Qt.Key.Key_Left)
    assert playback.playhead == 10
    QTest.keyClick(view, Qt.Key.Key_L)
    QTest.keyClick(view, Qt.Key.Key_L)
    assert playback.speed == 2.0
    QTest.keyClick(view, Qt.Key.Key_K)
    assert not playback.playing
    QTest.keyClick(view, Qt.Key.Key_J)
    assert playback.speed == -1.0
    QTest.keyClick(view, Qt.Key.Key_K)
    start = playback.playhead
    playback.audio_source = None  # the picture clock alone: no sound device in tests
    QTest.keyClick(view, Qt.Key.Key_Space)
    assert playback.playing
    qtbot.waitUntil(lambda: playback.playhead >= start + 4, timeout=3000)
    QTest.keyClick(view, Qt.Key.Key_Space)
    assert not playback.playing
    QTest.keyClick(view, Qt.Key.Key_End)
    assert playback.playhead == 64


def test_ruler_click_seeks_and_mute_button_toggles(editor):
    widget, ids = editor
    view = widget.view
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(_x(30), 10))
    assert view.playback.playhead == 30
    audio_row = view.track_rows()[1][1]
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view._mute_rect(audio_row).center())
    assert view.timeline.project.track(ids["audio"]).muted
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not view.timeline.project.track(ids["audio"]).muted


def test_zoom_and_scroll(editor):
    widget, _ids = editor
    view = widget.view
    QTest.keyClick(view, Qt.Key.Key_Plus)
    assert view.pixels_per_frame == pytest.approx(PPF * 1.5)
    QTest.keyClick(view, Qt.Key.Key_Minus)
    assert view.pixels_per_frame == pytest.approx(PPF)
    view.set_zoom(10.0)
    widget.scrollbar.setValue(20)
    assert view.first_frame == 20
    assert view.frame_at(HEADER_WIDTH + 5 * 10.0) == 25


def test_thumbnails_and_waveforms_are_painted_from_prepared_media(editor):
    widget, _ids = editor
    image = widget.view.grab().toImage()
    red = image.pixelColor(_x(6), _row_y("video") + 8)
    assert red.red() > 180 and red.blue() < 90  # the red clip's own frames, not the clip colour
    blue = image.pixelColor(_x(46), _row_y("video") + 8)
    assert blue.blue() > 180 and blue.red() < 90
    audio_top = RULER_HEIGHT + ROW_HEIGHT["video"] + ROW_GAP
    column = [image.pixelColor(_x(8), y) for y in range(audio_top + 14, audio_top + ROW_HEIGHT["audio"] - 4)]
    assert sum(1 for c in column if c.green() > 200 and c.red() > 140) >= 10  # the tone's waveform (clip: 46, 125, 91)


def test_consistency_graph_click_seeks_and_snaps_to_spikes(qtbot):
    from studio.engines.video.flow import ConsistencyReport

    graph = ConsistencyGraph()
    qtbot.addWidget(graph)
    graph.resize(600, 110)
    graph.show()
    errors = [0.0] + [1.0] * 19
    errors[12] = 9.0
    graph.set_report(ConsistencyReport(errors, [0.0] * 20, [12]), offset=100)
    graph.set_mapping(lambda frame: 40 + (frame - 100) * 20.0, 40)
    with qtbot.waitSignal(graph.frame_clicked) as clicked:
        QTest.mouseClick(graph, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(40 + 254, 60))
    assert clicked.args == [112]  # within reach of the spike at frame 12
    with qtbot.waitSignal(graph.frame_clicked) as clicked:
        QTest.mouseClick(graph, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(40 + 65, 60))
    assert clicked.args == [103]
    assert "1 spike" in graph.caption()
    graph.set_report(ConsistencyReport([0.0] + [0.5] * 19, [0.0] * 20, []), offset=100,
                     before=ConsistencyReport(errors, [0.0] * 20, [12]))
    assert "→" in graph.caption() and "1 → 0 spikes" in graph.caption()
