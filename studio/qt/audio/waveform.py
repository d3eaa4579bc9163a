"""The waveform: a shared timeline and the lane that draws one track on it.

``Timeline`` is the state every lane and the ruler share: which frames are
on screen (left edge and frames per pixel), the selection, the edit cursor
and the playhead. Zooming keeps the frame under the mouse where it is;
scrolling is clamped to the content.

``WaveformLane`` draws one clip. Its envelope comes from the clip's
:class:`~studio.core.waveform_pyramid.WaveformPyramid`, so the cost of a
paint depends on the lane's width, not on the clip's length; the columns
are rasterised with numpy into one image (min/max in the track colour, RMS
in a lighter band) instead of thousands of QPainter lines, and that image
is cached until the view or the clip changes, so the playhead moving during
playback only costs a blit and a line. Zoomed in past one frame per pixel
the samples themselves are drawn, with dots once they are far apart.

In spectrogram mode the lane draws the mel image the tracks view computed
in the background for what is on screen (``levels_to_image`` here turns
levels into colours, transparent past the end of the clip).

Mouse: click to put the cursor (and seek), drag to select, Shift+click to
extend the selection, wheel to zoom around the pointer, Shift+wheel (or a
horizontal wheel) to scroll. Keys are handled by the tracks view around
the lanes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.core.spectrogram import FLOOR_DB
from studio.qt import theme

if TYPE_CHECKING:
    from studio.core.audio_mix import Track
    from studio.core.waveform_pyramid import WaveformPyramid

MIN_FRAMES_PER_PIXEL = 1 / 64  # zoomed all the way in: 64 pixels per sample
ZOOM_STEP = 1.25  # per wheel notch or key press
DRAG_THRESHOLD_PX = 3
DOTS_BELOW_FPP = 1 / 6  # draw each sample as a dot when they are 6+ pixels apart


class Timeline(QObject):
    """What part of the session is on screen, and what is selected."""

    view_changed = Signal()
    selection_changed = Signal()
    cursor_changed = Signal()  # the edit cursor or the playhead moved

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sample_rate = 48000
        self.frames = 0  # content length (the longest track)
        self.start = 0.0  # frame at the left edge
        self.fpp = 1.0  # frames per pixel
        self.width = 1  # pixels of the lanes
        self.selection: tuple[int, int] | None = None
        self.cursor = 0
        self.playhead: int | None = None  # None while not playing
        self.follow = True  # keep the playhead on screen during playback
        self._fitted = True  # zoomed to fit: stays fitted as content grows or the widget resizes

    # --- geometry -----------------------------------------------------------------
    def x_of(self, frame: float) -> float:
        return (frame - self.start) / self.fpp

    def frame_at(self, x: float) -> float:
        return self.start + x * self.fpp

    @property
    def visible_frames(self) -> float:
        return self.fpp * self.width

    @property
    def max_fpp(self) -> float:
        return max(self.frames, 1) / max(self.width, 1)

    def seconds(self, frame: float) -> float:
        return frame / self.sample_rate

    # --- content and size ------------------------------------------------------------
    def set_content(self, frames: int, sample_rate: int | None = None) -> None:
        if sample_rate:
            self.sample_rate = int(sample_rate)
        self.frames = max(0, int(frames))
        if self.selection is not None:
            self.set_selection(*self.selection)
        self.cursor = min(self.cursor, self.frames)
        if self._fitted:
            self.zoom_fit()
        else:
            self._apply(self.start, self.fpp)

    def set_width(self, width: int) -> None:
        self.width = max(1, int(width))
        if self._fitted:
            self.zoom_fit()
        else:
            self._apply(self.start, self.fpp)

    # --- zoom and scroll ----------------------------------------------------------------
    def zoom(self, factor: float, anchor_x: float | None = None) -> None:
        """``factor`` > 1 zooms in; the frame under ``anchor_x`` (default: the
        cursor if on screen, else the centre) stays where it is."""
        if anchor_x is None:
            cursor_x = self.x_of(self.cursor)
            anchor_x = cursor_x if 0 <= cursor_x <= self.width else self.width / 2
        anchor = self.frame_at(anchor_x)
        fpp = min(max(self.fpp / factor, MIN_FRAMES_PER_PIXEL), self.max_fpp)
        self._fitted = fpp >= self.max_fpp
        self._apply(anchor - anchor_x * fpp, fpp)

    def zoom_fit(self) -> None:
        self._fitted = True
        self._apply(0.0, self.max_fpp)

    def zoom_to(self, first: int, last: int) -> None:
        if last - first < 1:
            return
        fpp = max((last - first) / max(self.width, 1), MIN_FRAMES_PER_PIXEL)
        self._fitted = fpp >= self.max_fpp
        self._apply(float(first), fpp)

    def scroll_to(self, start: float) -> None:
        self._apply(start, self.fpp)

    def scroll_by_pixels(self, pixels: float) -> None:
        self._apply(self.start + pixels * self.fpp, self.fpp)

    @property
    def max_start(self) -> float:
        return max(0.0, self.frames - self.visible_frames)

    def _apply(self, start: float, fpp: float) -> None:
        fpp = min(max(fpp, MIN_FRAMES_PER_PIXEL), self.max_fpp)
        start = min(max(start, 0.0), max(0.0, self.frames - fpp * self.width))
        if (start, fpp) != (self.start, self.fpp):
            self.start, self.fpp = start, fpp
            self.view_changed.emit()

    # --- selection, cursor, playhead ------------------------------------------------------
    def set_selection(self, first: int, last: int) -> None:
        first, last = sorted((max(0, min(int(first), self.frames)), max(0, min(int(last), self.frames))))
        selection = (first, last) if last > first else None
        if selection != self.selection:
            self.selection = selection
            self.selection_changed.emit()

    def clear_selection(self) -> None:
        if self.selection is not None:
            self.selection = None
            self.selection_changed.emit()

    def select_all(self) -> None:
        self.set_selection(0, self.frames)

    def set_cursor(self, frame: int) -> None:
        frame = max(0, min(int(frame), self.frames))
        if frame != self.cursor:
            self.cursor = frame
            self.cursor_changed.emit()

    def set_playhead(self, frame: int | None) -> None:
        if frame == self.playhead:
            return
        self.playhead = frame
        if frame is not None and self.follow and not self._fitted:
            x = self.x_of(frame)
            if x < 0 or x > self.width:  # page along, like a tape passing the head
                self.scroll_to(frame - self.visible_frames * 0.05)
        self.cursor_changed.emit()

    def edit_range(self) -> tuple[int, int]:
        """The selection, or the whole content when nothing is selected."""
        return self.selection if self.selection is not None else (0, self.frames)


def _argb(color: QColor) -> np.uint32:
    return np.uint32(color.rgba())


def rasterise(lo: np.ndarray, hi: np.ndarray, rms: np.ndarray, valid: np.ndarray, height: int,
              peak_color: QColor, rms_color: QColor) -> np.ndarray:
    """One channel band as ARGB32 pixels ``(height, columns)``: a vertical
    run from min to max in each column (at least one pixel), RMS inside it."""
    half = (height - 1) / 2
    top = np.floor(half - np.clip(hi, -1, 1) * half).astype(np.int32)
    bottom = np.ceil(half - np.clip(lo, -1, 1) * half).astype(np.int32)
    rms_half = np.clip(rms, 0, 1) * half
    rms_top = np.maximum(np.round(half - rms_half), top).astype(np.int32)
    rms_bottom = np.minimum(np.round(half + rms_half), bottom).astype(np.int32)
    rows = np.arange(height, dtype=np.int32)[:, None]
    peak = (rows >= top) & (rows <= bottom) & valid
    inner = (rows >= rms_top) & (rows <= rms_bottom) & peak
    pixels = np.where(inner, _argb(rms_color), np.where(peak, _argb(peak_color), np.uint32(0)))
    return np.ascontiguousarray(pixels, dtype=np.uint32)


# --- spectrogram pictures -----------------------------------------------------
# A perceptual dark-to-bright colour map (black, violet, magenta, orange, pale
# yellow, after the "magma" family) over FLOOR_DB .. 0 dB.
_ANCHORS = np.array([
    [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
    [252, 253, 191],
], np.float64)


def _colour_map(size: int = 256) -> np.ndarray:
    positions = np.linspace(0, 1, len(_ANCHORS))
    steps = np.linspace(0, 1, size)
    channels = [np.interp(steps, positions, _ANCHORS[:, c]) for c in range(3)]
    r, g, b = (np.round(c).astype(np.uint32) for c in channels)
    return (np.uint32(0xFF000000) | (r << 16) | (g << 8) | b).astype(np.uint32)


COLOUR_MAP = _colour_map()


def levels_to_image(levels: np.ndarray) -> QImage:
    """``(n_mels, columns)`` dB levels as an image, one pixel per mel band
    and column (the lane scales it to its height)."""
    missing = np.isnan(levels)
    scaled = np.clip((np.nan_to_num(levels, nan=FLOOR_DB) - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0)
    index = np.round(scaled * (len(COLOUR_MAP) - 1)).astype(np.intp)
    pixels = np.where(missing, np.uint32(0), COLOUR_MAP[index])[::-1]  # low frequencies at the bottom
    pixels = np.ascontiguousarray(pixels, dtype=np.uint32)
    height, width = pixels.shape
    return QImage(pixels.data, width, height, width * 4, QImage.Format.Format_ARGB32).copy()


class WaveformLane(QWidget):
    """One track's waveform (or spectrogram) on the shared timeline."""

    activated = Signal(object)  # the lane's track: it became the current one
    seek_requested = Signal(int)  # frame

    def __init__(self, track: Track, pyramid: WaveformPyramid, timeline: Timeline,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("waveformLane")
        self.track = track
        self.pyramid = pyramid
        self.timeline = timeline
        self.current = False
        self.mode = "waveform"  # or "spectrogram"
        self.spectrogram: QImage | None = None  # set by the tracks view when computed
        self._cache_key: tuple | None = None
        self._cache: QImage | None = None
        self._version = 0
        self._press_x: float | None = None
        self._anchor = 0
        self._dragging = False
        self.setMinimumHeight(72)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setMouseTracking(False)
        timeline.view_changed.connect(self.update)
        timeline.selection_changed.connect(self.update)
        timeline.cursor_changed.connect(self.update)

    def content_changed(self) -> None:
        """The clip (or its pyramid) changed: repaint from scratch."""
        self._version += 1
        self.update()

    def set_current(self, current: bool) -> None:
        if current != self.current:
            self.current = current
            self.update()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.update()

    # --- painting --------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.paint(painter, self.width(), self.height())
        painter.end()

    def paint(self, painter: QPainter, width: int, height: int) -> None:
        colors = theme.current()
        painter.fillRect(0, 0, width, height, QColor(colors.base if self.current else colors.alternate))
        timeline = self.timeline
        if self.mode == "spectrogram" and self.spectrogram is not None:
            painter.drawImage(QRectF(0, 0, width, height), self.spectrogram)
            self._paint_selection(painter, width, height)  # over the opaque spectrogram
        else:
            self._paint_selection(painter, width, height)  # under the waveform, as editors do
            self._paint_waveform(painter, width, height)
        x = timeline.x_of(timeline.cursor)
        if 0 <= x <= width:
            painter.setPen(QPen(QColor(colors.text), 1))
            painter.drawLine(QPointF(x, 0), QPointF(x, height))
        if timeline.playhead is not None:
            x = timeline.x_of(timeline.playhead)
            if 0 <= x <= width:
                painter.setPen(QPen(QColor(colors.warning), 2))
                painter.drawLine(QPointF(x, 0), QPointF(x, height))

    def _paint_selection(self, painter: QPainter, width: int, height: int) -> None:
        selection = self.timeline.selection
        if selection is None:
            return
        left = max(0.0, self.timeline.x_of(selection[0]))
        right = min(float(width), self.timeline.x_of(selection[1]))
        if right > left:
            fill = QColor(theme.current().accent)
            fill.setAlpha(70 if self.current else 40)
            painter.fillRect(QRectF(left, 0, max(right - left, 1.0), height), fill)

    def _colors(self) -> tuple[QColor, QColor, QColor]:
        colors = theme.current()
        peak = QColor(colors.accent)
        if self.track.mute:
            peak = QColor(colors.dim)
        rms = QColor(peak).lighter(125)
        line = QColor(colors.border)
        return peak, rms, line

    def _paint_waveform(self, painter: QPainter, width: int, height: int) -> None:
        timeline, pyramid = self.timeline, self.pyramid
        channels = max(pyramid.channels, 1)
        band = height / channels
        peak, rms, line = self._colors()
        painter.setPen(QPen(line, 1))
        for channel in range(channels):
            middle = band * channel + band / 2
            painter.drawLine(QPointF(0, middle), QPointF(width, middle))
        if pyramid.frames == 0:
            return
        if timeline.fpp < 1:
            self._paint_samples(painter, width, band, peak)
            return
        key = (timeline.start, timeline.fpp, width, height, self._version, peak.rgba(), rms.rgba())
        if key != self._cache_key or self._cache is None:
            self._cache = self.envelope_image(width, height, peak, rms)
            self._cache_key = key
        painter.drawImage(0, 0, self._cache)

    def envelope_image(self, width: int, height: int, peak: QColor, rms: QColor) -> QImage:
        """The min/max/RMS image of what is on screen (the cached part of a paint)."""
        pyramid, timeline = self.pyramid, self.timeline
        channels = max(pyramid.channels, 1)
        envelope = pyramid.envelope(timeline.start, timeline.fpp, width)
        bands = []
        edges = [round(height * c / channels) for c in range(channels + 1)]
        for channel in range(channels):
            bands.append(rasterise(envelope.lo[:, channel], envelope.hi[:, channel], envelope.rms[:, channel],
                                   envelope.valid, edges[channel + 1] - edges[channel], peak, rms))
        pixels = np.ascontiguousarray(np.vstack(bands))
        image = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_ARGB32)
        image.pixels = pixels  # the QImage borrows the array's memory: keep it alive with the image
        return image

    def _paint_samples(self, painter: QPainter, width: int, band: float, color: QColor) -> None:
        timeline, samples = self.timeline, self.pyramid.samples
        first = max(0, int(math.floor(timeline.start)))
        last = min(samples.shape[0], int(math.ceil(timeline.frame_at(width))) + 1)
        if last <= first:
            return
        xs = (np.arange(first, last) - timeline.start) / timeline.fpp
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(color, 1.5))
        half = band / 2 - 2
        for channel in range(samples.shape[1]):
            ys = band * channel + band / 2 - np.clip(samples[first:last, channel], -1, 1) * half
            points = [QPointF(x, y) for x, y in zip(xs.tolist(), ys.tolist())]
            painter.drawPolyline(QPolygonF(points))
            if timeline.fpp < DOTS_BELOW_FPP:
                painter.setBrush(color)
                for point in points:
                    painter.drawEllipse(point, 2.5, 2.5)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    # --- mouse --------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self.activated.emit(self.track)
        timeline = self.timeline
        frame = round(timeline.frame_at(event.position().x()))
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            anchor = timeline.selection[0] if timeline.selection else timeline.cursor
            if timeline.selection and abs(frame - timeline.selection[0]) < abs(frame - timeline.selection[1]):
                anchor = timeline.selection[1]
            self._anchor = anchor
            timeline.set_selection(anchor, frame)
            self._dragging = True
        else:
            self._anchor = frame
            self._dragging = False
        self._press_x = event.position().x()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press_x is None:
            return
        x = event.position().x()
        if not self._dragging and abs(x - self._press_x) < DRAG_THRESHOLD_PX:
            return
        self._dragging = True
        self.timeline.set_selection(self._anchor, round(self.timeline.frame_at(x)))
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press_x is None or event.button() != Qt.MouseButton.LeftButton:
            return
        if not self._dragging:  # a click: put the cursor there and seek
            self.timeline.clear_selection()
            self.timeline.set_cursor(self._anchor)
            self.seek_requested.emit(self.timeline.cursor)
        elif self.timeline.selection is not None:
            self.timeline.set_cursor(self.timeline.selection[0])
            self.seek_requested.emit(self.timeline.cursor)
        self._press_x = None
        self._dragging = False
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        horizontal = delta.x() != 0 or bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        notches = (delta.x() or delta.y()) / 120.0
        if horizontal:
            self.timeline.scroll_by_pixels(-notches * self.width() / 10)
        else:
            self.timeline.zoom(ZOOM_STEP ** notches, event.position().x())
        event.accept()
