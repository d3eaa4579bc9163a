"""The time ruler above the waveform lanes: ticks at a "nice" step (1, 2 or
5 times a power of ten seconds) chosen so labels never crowd, labelled
m:ss.mmm as precise as the zoom needs; the selection and the playhead are
marked on it, and clicking it moves the cursor like clicking a lane."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.qt import theme
from studio.qt.audio.waveform import Timeline

MIN_LABEL_SPACING_PX = 90
HEIGHT = 26


def nice_step(seconds_per_pixel: float, min_pixels: float = MIN_LABEL_SPACING_PX) -> float:
    """The smallest step in {1, 2, 5} x 10^k seconds at least ``min_pixels`` wide."""
    wanted = max(seconds_per_pixel * min_pixels, 1e-6)
    power = 10.0 ** math.floor(math.log10(wanted))
    for multiple in (1, 2, 5, 10):
        if multiple * power >= wanted * (1 - 1e-9):
            return multiple * power
    return 10 * power


def format_time(seconds: float, step: float) -> str:
    """m:ss with as many decimals as ``step`` needs (h:mm:ss past an hour)."""
    decimals = 0 if step >= 1 else min(6, max(0, -math.floor(math.log10(step) + 1e-9)))
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    minutes, rest = divmod(seconds, 60.0)
    # Round the seconds part first so 59.9999 does not print as "0:60".
    rest = round(rest, decimals)
    if rest >= 60:
        minutes, rest = minutes + 1, rest - 60
    whole = f"{rest:0{3 + decimals if decimals else 2}.{decimals}f}"
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{whole}"
    return f"{sign}{minutes}:{whole}"


class TimeRuler(QWidget):
    seek_requested = Signal(int)

    def __init__(self, timeline: Timeline, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeRuler")
        self.timeline = timeline
        self.setFixedHeight(HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        timeline.view_changed.connect(self.update)
        timeline.selection_changed.connect(self.update)
        timeline.cursor_changed.connect(self.update)

    def ticks(self) -> tuple[float, list[float]]:
        """The step and the tick times (seconds) that fall on screen."""
        timeline = self.timeline
        seconds_per_pixel = timeline.fpp / timeline.sample_rate
        step = nice_step(seconds_per_pixel)
        first = timeline.seconds(timeline.start)
        last = timeline.seconds(timeline.frame_at(self.width()))
        start = math.floor(first / step) * step
        count = int(math.ceil((last - start) / step)) + 1
        return step, [start + i * step for i in range(max(count, 0))]

    def paintEvent(self, event: QPaintEvent) -> None:
        colors = theme.current()
        timeline = self.timeline
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(colors.panel))
        selection = timeline.selection
        if selection is not None:
            left, right = timeline.x_of(selection[0]), timeline.x_of(selection[1])
            fill = QColor(colors.accent)
            fill.setAlpha(90)
            painter.fillRect(QRectF(left, 0, max(right - left, 1.0), self.height()), fill)
        step, ticks = self.ticks()
        minor = step / 5
        painter.setPen(QPen(QColor(colors.dim), 1))
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        painter.setFont(font)
        height = self.height()
        for tick in ticks:
            x = timeline.x_of(tick * timeline.sample_rate)
            painter.drawLine(QPointF(x, height - 10), QPointF(x, height))
            painter.drawText(QPointF(x + 3, height - 12), format_time(tick, step))
            for i in range(1, 5):
                minor_x = timeline.x_of((tick + i * minor) * timeline.sample_rate)
                painter.drawLine(QPointF(minor_x, height - 4), QPointF(minor_x, height))
        painter.setPen(QPen(QColor(colors.border), 1))
        painter.drawLine(0, height - 1, self.width(), height - 1)
        if timeline.playhead is not None:
            x = timeline.x_of(timeline.playhead)
            painter.setPen(QPen(QColor(colors.warning), 2))
            painter.drawLine(QPointF(x, 0), QPointF(x, height))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            frame = round(self.timeline.frame_at(event.position().x()))
            self.timeline.set_cursor(frame)
            self.seek_requested.emit(self.timeline.cursor)
            event.accept()
