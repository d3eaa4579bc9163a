"""The timeline widget: video and audio tracks with their clips, the ruler
and the playhead, edited with the mouse and the keys editors expect.

Mouse: drag a clip to move it (to another track of its kind too), drag
either edge to trim it; clip edges and the playhead attract what is dragged
(snap); click the ruler or empty space to move the playhead; click a
track's "M" to mute it; Ctrl+wheel zooms around the pointer, the wheel
scrolls. Keys: Space play/pause, Left/Right one frame (Shift: ten), Home/End,
J/K/L shuttle, S split at the playhead, Delete delete, Shift+Delete ripple
delete, X crossfade into the selected clip, I/O mark the range operations
work on (Shift+I/O clear), Ctrl+Z / Ctrl+Shift+Z undo/redo, +/- zoom.

Every edit is one call on the Qt-free :class:`Timeline` model, so it is one
undo step; a drag shows a ghost while it moves and edits the model once on
release. Thumbnails and waveforms come from :class:`MediaCache`, prepared
off the GUI thread.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF, QResizeEvent, QWheelEvent,
)
from PySide6.QtWidgets import QScrollBar, QVBoxLayout, QWidget

from studio.core.jobs import StudioError
from studio.engines.video.timeline import Clip, Timeline, Track
from studio.qt import theme
from studio.qt.video.timeline_media import MediaCache
from studio.qt.video.timeline_playback import TimelinePlayback

HEADER_WIDTH = 84
RULER_HEIGHT = 22
ROW_HEIGHT = {"video": 58, "audio": 44}
ROW_GAP = 2
EDGE_GRAB_PX = 6
SNAP_PX = 8
MIN_PPF, MAX_PPF = 0.05, 40.0  # zoom range: pixels per frame
DEFAULT_CROSSFADE = 12
CLIP_COLOURS = {"video": "#3f5199", "image": "#6a4c93", "audio": "#2e7d5b"}


class TimelineView(QWidget):
    """The painted tracks; ``TimelineWidget`` adds the scroll bar."""

    selection_changed = Signal()
    view_changed = Signal()  # zoom or scroll: the consistency graph follows
    message = Signal(str)

    def __init__(self, timeline: Timeline, cache: MediaCache, playback: TimelinePlayback,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.timeline = timeline
        self.cache = cache
        self.playback = playback
        self.pixels_per_frame = 4.0
        self.first_frame = 0.0  # the frame at the left edge of the clip area
        self.selected: set[int] = set()
        self.mark_in: int | None = None  # the range operations work on (I and O keys)
        self.mark_out: int | None = None
        self._drag: dict | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumHeight(RULER_HEIGHT + 2 * ROW_HEIGHT["video"])
        timeline.listeners.append(self._on_model_changed)
        cache.media_ready.connect(self._on_media_ready)
        playback.playhead_changed.connect(self._on_playhead)

    # --- geometry ----------------------------------------------------------------------
    def set_timeline(self, timeline: Timeline) -> None:
        if self._on_model_changed in self.timeline.listeners:
            self.timeline.listeners.remove(self._on_model_changed)
        self.timeline = timeline
        timeline.listeners.append(self._on_model_changed)
        self.selected.clear()
        self._on_model_changed()

    def x_of(self, frame: float) -> float:
        return HEADER_WIDTH + (frame - self.first_frame) * self.pixels_per_frame

    def frame_at(self, x: float) -> int:
        return max(0, int(math.floor((x - HEADER_WIDTH) / self.pixels_per_frame + self.first_frame + 0.5)))

    def track_rows(self) -> list[tuple[Track, QRect]]:
        rows, y = [], RULER_HEIGHT
        for track in self.timeline.project.tracks:
            height = ROW_HEIGHT[track.kind]
            rows.append((track, QRect(0, y, self.width(), height)))
            y += height + ROW_GAP
        return rows

    def clip_rect(self, clip: Clip, row: QRect, start: int | None = None) -> QRectF:
        start = clip.start if start is None else start
        return QRectF(self.x_of(start), row.y() + 3, clip.duration * self.pixels_per_frame, row.height() - 6)

    def hit(self, pos: QPointF) -> tuple[Track | None, Clip | None, str]:
        """What is under ``pos``: track, clip and "start"/"end"/"body" (or "")."""
        for track, row in self.track_rows():
            if not row.top() <= pos.y() <= row.bottom():
                continue
            for clip in track.clips:
                rect = self.clip_rect(clip, row)
                if rect.left() - 2 <= pos.x() <= rect.right() + 2 and pos.x() >= HEADER_WIDTH:
                    near = min(EDGE_GRAB_PX, rect.width() / 3)
                    if pos.x() - rect.left() <= near:
                        return track, clip, "start"
                    if rect.right() - pos.x() <= near:
                        return track, clip, "end"
                    return track, clip, "body"
            return track, None, ""
        return None, None, ""

    def content_height(self) -> int:
        rows = self.track_rows()
        return rows[-1][1].bottom() + 1 if rows else RULER_HEIGHT

    def visible_frames(self) -> float:
        return max(1.0, (self.width() - HEADER_WIDTH) / self.pixels_per_frame)

    # --- zoom and scroll -------------------------------------------------------------------
    def set_zoom(self, pixels_per_frame: float, anchor_x: float | None = None) -> None:
        anchor_x = self.width() / 2 if anchor_x is None else anchor_x
        anchor_frame = (anchor_x - HEADER_WIDTH) / self.pixels_per_frame + self.first_frame
        self.pixels_per_frame = min(MAX_PPF, max(MIN_PPF, pixels_per_frame))
        self.set_first_frame(anchor_frame - (anchor_x - HEADER_WIDTH) / self.pixels_per_frame)

    def zoom_to_fit(self) -> None:
        frames = max(self.timeline.project.duration, int(self.timeline.project.fps * 5))
        self.pixels_per_frame = min(MAX_PPF, max(MIN_PPF, (self.width() - HEADER_WIDTH - 16) / frames))
        self.set_first_frame(0)

    def set_first_frame(self, frame: float) -> None:
        self.first_frame = max(0.0, frame)
        self.update()
        self.view_changed.emit()

    def ensure_visible(self, frame: int) -> None:
        if frame < self.first_frame or frame > self.first_frame + self.visible_frames() - 2:
            self.set_first_frame(frame - self.visible_frames() * 0.1)

    # --- model events -------------------------------------------------------------------------
    def _on_model_changed(self) -> None:
        existing = {clip.id for _track, clip in self.timeline.project.clips()}
        if self.selected - existing:
            self.selected &= existing
            self.selection_changed.emit()
        self.setMinimumHeight(max(RULER_HEIGHT + 2 * ROW_HEIGHT["video"], self.content_height()))
        self.update()
        self.view_changed.emit()

    def _on_media_ready(self, _path: str) -> None:
        self.update()

    def _on_playhead(self, frame: int) -> None:
        if self.playback.playing:
            self.ensure_visible(frame)
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.view_changed.emit()

    # --- selection -----------------------------------------------------------------------------
    def select(self, clip_ids: set[int]) -> None:
        if clip_ids != self.selected:
            self.selected = set(clip_ids)
            self.selection_changed.emit()
            self.update()

    def selected_clips(self) -> list[Clip]:
        return [clip for _track, clip in self.timeline.project.clips() if clip.id in self.selected]

    def set_marks(self, mark_in: int | None, mark_out: int | None) -> None:
        self.mark_in, self.mark_out = mark_in, mark_out
        self.update()

    # --- edits ----------------------------------------------------------------------------------
    def run_edit(self, edit, *args) -> bool:
        try:
            edit(*args)
        except StudioError as exc:
            self.message.emit(str(exc))
            return False
        return True

    def split_at_playhead(self) -> None:
        frame = self.playback.playhead
        if self.selected:
            for clip in self.selected_clips():
                if clip.start < frame < clip.end:
                    self.run_edit(self.timeline.split, clip.id, frame)
        else:
            if not self.timeline.split_at(frame):
                self.message.emit("No clip under the playhead to split")

    def delete_selected(self, ripple: bool = False) -> None:
        if not self.selected:
            return
        ids = set(self.selected)
        self.run_edit(self.timeline.ripple_delete if ripple else self.timeline.delete, ids)

    def crossfade_selected(self, frames: int = DEFAULT_CROSSFADE) -> None:
        for clip in self.selected_clips():
            kind = "cut" if clip.transition == "crossfade" else "crossfade"
            self.run_edit(self.timeline.set_transition, clip.id, kind, min(frames, clip.duration - 1))

    # --- painting ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.fillRect(self.rect(), theme.color("base"))
        for track, row in self.track_rows():
            self._paint_row(painter, track, row)
        self._paint_drag_ghost(painter)
        self._paint_ruler(painter)
        self._paint_playhead(painter)
        if not self.timeline.project.tracks:
            painter.setPen(theme.color("dim"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Generate a clip or import media")
        painter.end()

    def _paint_ruler(self, painter: QPainter) -> None:
        bar = QRect(0, 0, self.width(), RULER_HEIGHT)
        painter.fillRect(bar, theme.color("panel"))
        fps = self.timeline.project.fps
        seconds_per_label = _nice_step(80 / (self.pixels_per_frame * fps))
        painter.setPen(theme.color("dim"))
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        painter.setFont(font)
        first_second = math.floor(self.first_frame / fps / seconds_per_label) * seconds_per_label
        second = first_second
        while True:
            x = self.x_of(second * fps)
            if x > self.width():
                break
            if x >= HEADER_WIDTH:
                painter.drawLine(int(x), RULER_HEIGHT - 8, int(x), RULER_HEIGHT)
                painter.drawText(int(x) + 3, RULER_HEIGHT - 8, _clock(second))
            minor = self.x_of((second + seconds_per_label / 2) * fps)
            if HEADER_WIDTH <= minor <= self.width():
                painter.drawLine(int(minor), RULER_HEIGHT - 4, int(minor), RULER_HEIGHT)
            second += seconds_per_label
        if self.mark_in is not None or self.mark_out is not None:
            lo = self.x_of(self.mark_in if self.mark_in is not None else 0)
            hi = self.x_of(self.mark_out if self.mark_out is not None else self.timeline.project.duration)
            range_colour = QColor(theme.color("accent"))
            range_colour.setAlpha(90)
            painter.fillRect(QRectF(lo, RULER_HEIGHT - 6, max(hi - lo, 2), 6), range_colour)
        painter.setPen(theme.color("border"))
        painter.drawLine(0, RULER_HEIGHT - 1, self.width(), RULER_HEIGHT - 1)
        painter.fillRect(QRect(0, 0, HEADER_WIDTH, RULER_HEIGHT), theme.color("panel"))

    def _paint_row(self, painter: QPainter, track: Track, row: QRect) -> None:
        painter.fillRect(row, theme.color("alternate"))
        painter.save()
        painter.setClipRect(QRect(HEADER_WIDTH, row.y(), self.width() - HEADER_WIDTH, row.height()))
        dragged = self._drag["clip"] if self._drag and self._drag["mode"] == "move" else None
        for clip in track.clips:
            if clip.id == dragged:
                continue
            start, duration = clip.start, clip.duration
            if self._drag and self._drag["clip"] == clip.id:  # a trim in progress
                start, duration = self._drag["start"], self._drag["duration"]
            self._paint_clip(painter, clip, row, start, duration, ghost=False)
        painter.restore()
        header = QRect(0, row.y(), HEADER_WIDTH, row.height())
        painter.fillRect(header, theme.color("panel"))
        painter.setPen(theme.color("dim") if track.muted else theme.color("text"))
        painter.drawText(header.adjusted(8, 0, -28, 0), Qt.AlignmentFlag.AlignVCenter, track.name)
        mute = self._mute_rect(row)
        painter.setPen(theme.color("border"))
        painter.setBrush(theme.color("warning") if track.muted else Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(mute, 3, 3)
        painter.setPen(theme.color("on_accent") if track.muted else theme.color("dim"))
        painter.drawText(mute, Qt.AlignmentFlag.AlignCenter, "M")
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _mute_rect(self, row: QRect) -> QRect:
        return QRect(HEADER_WIDTH - 26, row.y() + (row.height() - 18) // 2, 20, 18)

    def _paint_clip(self, painter: QPainter, clip: Clip, row: QRect, start: int, duration: int,
                    ghost: bool) -> None:
        rect = QRectF(self.x_of(start), row.y() + 3, duration * self.pixels_per_frame, row.height() - 6)
        if rect.right() < HEADER_WIDTH or rect.left() > self.width():
            return
        colour = QColor(CLIP_COLOURS.get(clip.media_kind, "#555555"))
        if ghost:
            colour.setAlpha(140)
        painter.fillRect(rect, colour)
        inner = rect.adjusted(1, 12, -1, -1)
        painter.save()
        painter.setClipRect(inner.intersected(QRectF(HEADER_WIDTH, row.y(), self.width(), row.height())))
        if clip.media_kind == "audio":
            self._paint_waveform(painter, clip, inner, start)
        else:
            self._paint_thumbnails(painter, clip, inner, start)
        painter.restore()
        if clip.transition == "crossfade" and clip.transition_frames:
            fade = clip.transition_frames * self.pixels_per_frame
            triangle = QPolygonF([rect.topLeft(), QPointF(rect.left() + fade, rect.top()), rect.bottomLeft()])
            painter.setBrush(QColor(255, 255, 255, 70))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawPolygon(triangle)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        selected = clip.id in self.selected
        painter.setPen(QPen(theme.color("accent") if selected else colour.darker(160), 2 if selected else 1))
        painter.drawRect(rect.adjusted(0.5, 0.5, -0.5, -0.5))
        painter.setPen(QColor("#ffffff"))
        label = clip.name + (f"  ⨯ {clip.transition_frames}f" if clip.transition == "crossfade" else "")
        painter.drawText(rect.adjusted(5, 0, -4, 0).toRect(), Qt.AlignmentFlag.AlignTop, label)

    def _paint_thumbnails(self, painter: QPainter, clip: Clip, rect: QRectF, start: int) -> None:
        fps = self.timeline.project.fps
        first = self.cache.thumbnail(clip.media, clip.source_in / fps)
        if first is None:
            return
        step = max(first.width(), 8)
        left = max(rect.left(), HEADER_WIDTH - step)
        x = rect.left() + math.floor((left - rect.left()) / step) * step
        while x < min(rect.right(), self.width()):
            frame = clip.source_in + (x - rect.left()) / self.pixels_per_frame
            image = self.cache.thumbnail(clip.media, frame / fps)
            if image is not None:
                painter.drawImage(QPointF(x, rect.top()), image)
            x += step

    def _paint_waveform(self, painter: QPainter, clip: Clip, rect: QRectF, start: int) -> None:
        from studio.qt.video.timeline_media import PEAKS_PER_SECOND

        peaks = self.cache.peaks(clip.media)
        if peaks is None or not len(peaks):
            return
        fps = self.timeline.project.fps
        middle, half = rect.center().y(), rect.height() / 2 * 0.9
        scale = half * clip.gain  # the waveform shows the gain, clipped to the lane
        painter.setPen(QColor(200, 255, 225, 200))
        lo, hi = max(int(rect.left()), HEADER_WIDTH), min(int(rect.right()), self.width())
        for x in range(lo, hi):
            t0 = (clip.source_in + (x - rect.left()) / self.pixels_per_frame) / fps
            t1 = (clip.source_in + (x + 1 - rect.left()) / self.pixels_per_frame) / fps
            a, b = int(t0 * PEAKS_PER_SECOND), max(int(t1 * PEAKS_PER_SECOND), int(t0 * PEAKS_PER_SECOND) + 1)
            if a >= len(peaks):
                break
            chunk = peaks[a:b]
            top = min(float(chunk[:, 1].max()) * scale, half)
            bottom = max(float(chunk[:, 0].min()) * scale, -half)
            painter.drawLine(QPointF(x, middle - top), QPointF(x, middle - bottom))

    def _paint_drag_ghost(self, painter: QPainter) -> None:
        drag = self._drag
        if not drag or drag["mode"] != "move":
            return
        for track, row in self.track_rows():
            if track.id == drag["track"]:
                _track, clip = self.timeline.project.find(drag["clip"])
                painter.save()
                painter.setClipRect(QRect(HEADER_WIDTH, 0, self.width() - HEADER_WIDTH, self.height()))
                self._paint_clip(painter, clip, row, drag["start"], clip.duration, ghost=True)
                painter.restore()
        if drag.get("snapped") is not None:
            painter.setPen(QPen(theme.color("warning"), 1, Qt.PenStyle.DashLine))
            x = int(self.x_of(drag["snapped"]))
            painter.drawLine(x, RULER_HEIGHT, x, self.height())

    def _paint_playhead(self, painter: QPainter) -> None:
        x = self.x_of(self.playback.playhead)
        if x < HEADER_WIDTH or x > self.width():
            return
        colour = theme.color("danger")
        painter.setPen(QPen(colour, 1))
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.setBrush(colour)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon(QPolygonF([QPointF(x - 5, 0), QPointF(x + 5, 0), QPointF(x, 8)]))
        painter.setBrush(Qt.BrushStyle.NoBrush)

    # --- mouse --------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        pos = event.position()
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if pos.y() < RULER_HEIGHT:
            self._drag = {"mode": "scrub", "clip": None}
            self.playback.seek(self.frame_at(pos.x()))
            return
        track, clip, part = self.hit(pos)
        if track is not None and pos.x() < HEADER_WIDTH:
            for row_track, row in self.track_rows():
                if row_track.id == track.id and self._mute_rect(row).contains(pos.toPoint()):
                    self.run_edit(self.timeline.set_muted, track.id, not track.muted)
            return
        if clip is None:
            self.select(set())
            self.playback.seek(self.frame_at(pos.x()))
            self._drag = {"mode": "scrub", "clip": None}
            return
        if event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
            self.select(self.selected ^ {clip.id})
        elif clip.id not in self.selected:
            self.select({clip.id})
        mode = "move" if part == "body" else "trim-" + part
        self._drag = {"mode": mode, "clip": clip.id, "track": track.id, "origin": pos.x(),
                      "start": clip.start, "duration": clip.duration, "initial": (clip.start, clip.duration),
                      "snapped": None, "moved": False}

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        drag = self._drag
        if drag is None:
            _track, clip, part = self.hit(pos)
            edge = clip is not None and part in ("start", "end")
            self.setCursor(Qt.CursorShape.SizeHorCursor if edge else Qt.CursorShape.ArrowCursor)
            return
        if drag["mode"] == "scrub":
            self.playback.seek(self.frame_at(pos.x()))
            return
        delta = int(round((pos.x() - drag["origin"]) / self.pixels_per_frame))
        if delta or drag["moved"]:
            drag["moved"] = True
        threshold = max(1, int(math.ceil(SNAP_PX / self.pixels_per_frame)))
        start, duration = drag["initial"]
        playhead = self.playback.playhead
        drag["snapped"] = None
        if drag["mode"] == "move":
            wanted = max(0, start + delta)
            drag["start"] = self.timeline.snap_move(drag["clip"], wanted, threshold, playhead)
            if drag["start"] != wanted:
                _t, clip = self.timeline.project.find(drag["clip"])
                snapped_start = drag["start"] in self.timeline.snap_points(drag["clip"], playhead)
                drag["snapped"] = drag["start"] if snapped_start else drag["start"] + clip.duration
            track, _clip, _part = self.hit(QPointF(HEADER_WIDTH + 1, pos.y()))
            source_track = self.timeline.project.find(drag["clip"])[0]
            if track is not None and track.kind == source_track.kind:
                drag["track"] = track.id
        elif drag["mode"] == "trim-start":
            edge = min(start + delta, start + duration - 1)
            snapped = self.timeline.snap(edge, threshold, drag["clip"], playhead)
            drag["snapped"] = snapped if snapped != edge else None
            drag["start"], drag["duration"] = snapped, start + duration - snapped
        else:
            edge = max(start + duration + delta, start + 1)
            snapped = self.timeline.snap(edge, threshold, drag["clip"], playhead)
            drag["snapped"] = snapped if snapped != edge else None
            drag["duration"] = snapped - start
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is None or drag["mode"] == "scrub" or not drag["moved"]:
            self.update()
            return
        clip_id = drag["clip"]
        if drag["mode"] == "move":
            self.run_edit(self.timeline.move_clip, clip_id, drag["start"], drag["track"])
        elif drag["mode"] == "trim-start":
            self.run_edit(self.timeline.trim_start, clip_id, drag["start"])
        else:
            self.run_edit(self.timeline.trim_end, clip_id, drag["start"] + drag["duration"])
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_zoom(self.pixels_per_frame * (1.25 if delta > 0 else 0.8), event.position().x())
        else:
            self.set_first_frame(self.first_frame - delta / 120 * 40 / self.pixels_per_frame)
        event.accept()

    # --- keys ----------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        playback = self.playback
        actions = {
            Qt.Key.Key_Space: playback.toggle,
            Qt.Key.Key_Left: lambda: playback.step(-10 if shift else -1),
            Qt.Key.Key_Right: lambda: playback.step(10 if shift else 1),
            Qt.Key.Key_Home: lambda: playback.step(-playback.playhead),
            Qt.Key.Key_End: lambda: playback.step(self.timeline.project.duration - playback.playhead),
            Qt.Key.Key_J: playback.shuttle_backward,
            Qt.Key.Key_K: playback.pause,
            Qt.Key.Key_L: playback.shuttle_forward,
            Qt.Key.Key_S: self.split_at_playhead,
            Qt.Key.Key_X: self.crossfade_selected,
            Qt.Key.Key_I: lambda: self.set_marks(None if shift else playback.playhead, self.mark_out),
            Qt.Key.Key_O: lambda: self.set_marks(self.mark_in, None if shift else playback.playhead + 1),
            Qt.Key.Key_Delete: lambda: self.delete_selected(ripple=shift),
            Qt.Key.Key_Backspace: lambda: self.delete_selected(ripple=shift),
            Qt.Key.Key_Plus: lambda: self.set_zoom(self.pixels_per_frame * 1.5),
            Qt.Key.Key_Equal: lambda: self.set_zoom(self.pixels_per_frame * 1.5),
            Qt.Key.Key_Minus: lambda: self.set_zoom(self.pixels_per_frame / 1.5),
        }
        if ctrl and key == Qt.Key.Key_Z:
            self.timeline.redo() if shift else self.timeline.undo()
        elif ctrl and key == Qt.Key.Key_Y:
            self.timeline.redo()
        elif not ctrl and key in actions:
            actions[key]()
        else:
            super().keyPressEvent(event)
            return
        event.accept()


class TimelineWidget(QWidget):
    """The timeline view with its horizontal scroll bar."""

    def __init__(self, timeline: Timeline, cache: MediaCache, playback: TimelinePlayback,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = TimelineView(timeline, cache, playback, self)
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.scrollbar)
        self.view.view_changed.connect(self._sync_scrollbar)
        self.scrollbar.valueChanged.connect(self._on_scrolled)
        self._syncing = False

    def _sync_scrollbar(self) -> None:
        view = self.view
        total = max(view.timeline.project.duration + view.visible_frames() * 0.5, view.visible_frames())
        self._syncing = True
        self.scrollbar.setRange(0, int(max(0, total - view.visible_frames())))
        self.scrollbar.setPageStep(int(view.visible_frames()))
        self.scrollbar.setValue(int(view.first_frame))
        self._syncing = False

    def _on_scrolled(self, value: int) -> None:
        if not self._syncing:
            self.view.set_first_frame(value)


def _nice_step(seconds: float) -> float:
    for step in (1 / 24, 1 / 12, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if step >= seconds:
            return step
    return 1200.0


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    if rest == int(rest):
        return f"{int(minutes)}:{int(rest):02d}"
    return f"{int(minutes)}:{rest:05.2f}"
