"""The per-frame consistency graph under the timeline: for each frame of the
analysed clip, the warp error (bars: the previous frame warped onto this
one by optical flow, mean absolute error) and the luminance jump (line).
Spikes, frames that stand out of the clip's typical level, are marked;
clicking near one seeks there (anywhere else seeks to that frame).

After an operation the graph keeps the "before" curve as a faint outline
behind the new bars and its caption reports the mean warp error drop.

The graph shares the timeline's horizontal mapping (``x_of`` / zoom and
scroll), so frame N of the graph sits under frame N of the timeline.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.qt import theme

CAPTION_HEIGHT = 18
SPIKE_GRAB_PX = 6


class ConsistencyGraph(QWidget):
    frame_clicked = Signal(int)  # a timeline frame

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = None  # flow.ConsistencyReport of the analysed clip
        self.before = None  # the report before the last operation, if any
        self.offset = 0  # timeline frame of the report's frame 0
        self.scale = 1.0  # timeline frames per report frame (the clip's media may run at another rate)
        self.x_of: Callable[[float], float] = lambda frame: 40 + frame * 4.0
        self.left_margin = 40
        self.status = "Select a clip and press Analyse to measure its frame consistency"
        self.setMinimumHeight(84)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:
        return QSize(600, 110)

    # --- content -----------------------------------------------------------------------------
    def set_report(self, report, offset: int = 0, before=None, scale: float = 1.0) -> None:
        self.report, self.before, self.offset, self.scale = report, before, offset, scale
        self.status = ""
        self.update()

    def clear(self, status: str = "") -> None:
        self.report = self.before = None
        self.status = status
        self.update()

    def set_mapping(self, x_of: Callable[[float], float], left_margin: int) -> None:
        self.x_of = x_of
        self.left_margin = left_margin
        self.update()

    def caption(self) -> str:
        report = self.report
        if report is None:
            return self.status
        text = (f"mean warp error {report.mean_warp_error:.2f}  ·  mean luma jump {report.mean_luma_jump:.2f}"
                f"  ·  {len(report.spikes)} spike{'s' if len(report.spikes) != 1 else ''}")
        if self.before is not None and self.before.mean_warp_error > 0:
            drop = 1 - report.mean_warp_error / self.before.mean_warp_error
            text = (f"mean warp error {self.before.mean_warp_error:.2f} → {report.mean_warp_error:.2f} "
                    f"({-drop:+.0%})  ·  {len(self.before.spikes)} → {len(report.spikes)} spikes")
        return text

    # --- geometry -----------------------------------------------------------------------------
    def _plot(self) -> QRectF:
        return QRectF(self.left_margin, CAPTION_HEIGHT + 2, self.width() - self.left_margin - 4,
                      self.height() - CAPTION_HEIGHT - 6)

    def _scale(self) -> float:
        values = list(self.report.warp_error) + list(self.report.luma_jump) if self.report else [1.0]
        if self.before is not None:
            values += list(self.before.warp_error)
        return max(max(values), 1.0)

    def timeline_frame(self, index: float) -> float:
        return self.offset + index * self.scale

    def _bar(self, index: int, value: float, scale: float, plot: QRectF) -> QRectF:
        left = self.x_of(self.timeline_frame(index))
        width = max(1.0, self.x_of(self.timeline_frame(index + 1)) - left - 1)
        height = plot.height() * min(value / scale, 1.0)
        return QRectF(left, plot.bottom() - height, width, height)

    # --- painting -------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), theme.color("base"))
        painter.setPen(theme.color("dim"))
        painter.drawText(QRectF(8, 0, self.width() - 16, CAPTION_HEIGHT), Qt.AlignmentFlag.AlignVCenter,
                         self.caption())
        plot = self._plot()
        painter.fillRect(plot, theme.color("alternate"))
        if self.report is not None:
            painter.save()
            painter.setClipRect(plot)
            self._paint_series(painter, plot)
            painter.restore()
        painter.fillRect(QRectF(0, CAPTION_HEIGHT, self.left_margin, self.height()), theme.color("panel"))
        painter.setPen(theme.color("dim"))
        painter.drawText(QRectF(4, plot.top(), self.left_margin - 8, plot.height()),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, "warp\nerror")
        painter.end()

    def _paint_series(self, painter: QPainter, plot: QRectF) -> None:
        scale = self._scale()
        spikes = set(self.report.spikes)
        bar_colour = theme.color("accent")
        spike_colour = theme.color("danger")
        for index, value in enumerate(self.report.warp_error):
            rect = self._bar(index, value, scale, plot)
            if rect.right() < plot.left() or rect.left() > plot.right():
                continue
            painter.fillRect(rect, spike_colour if index in spikes else bar_colour)
        if self.before is not None:
            painter.setPen(QPen(QColor(255, 255, 255, 110), 1, Qt.PenStyle.DashLine))
            painter.drawPath(self._line(self.before.warp_error, scale, plot))
        painter.setPen(QPen(theme.color("warning"), 1.5))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.drawPath(self._line(self.report.luma_jump, scale, plot))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for index in spikes:
            x = self.x_of(self.timeline_frame(index + 0.5))
            painter.setBrush(spike_colour)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(QPointF(x, plot.top() + 5), 3.5, 3.5)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _line(self, values, scale: float, plot: QRectF) -> QPainterPath:
        path = QPainterPath()
        for index, value in enumerate(values):
            point = QPointF(self.x_of(self.timeline_frame(index + 0.5)),
                            plot.bottom() - plot.height() * min(value / scale, 1.0))
            path.moveTo(point) if index == 0 else path.lineTo(point)
        return path

    # --- clicks -----------------------------------------------------------------------------------
    def index_at(self, x: float) -> int | None:
        """The report frame under ``x``: a spike within reach wins."""
        if self.report is None or x < self.left_margin:
            return None
        for index in self.report.spikes:
            if abs(self.x_of(self.timeline_frame(index + 0.5)) - x) <= SPIKE_GRAB_PX:
                return index
        for index in range(self.report.frame_count):
            if self.x_of(self.timeline_frame(index)) <= x < self.x_of(self.timeline_frame(index + 1)):
                return index
        return None

    def frame_at(self, x: float) -> int | None:
        """The timeline frame to seek to for a click at ``x``."""
        index = self.index_at(x)
        return None if index is None else int(round(self.timeline_frame(index)))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        frame = self.frame_at(event.position().x())
        if frame is not None:
            self.frame_clicked.emit(frame)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(event.position().x())
        if index is None or self.report is None:
            self.setToolTip("")
            return
        spike = "  (spike)" if index in self.report.spikes else ""
        self.setToolTip(f"frame {index}: warp error {self.report.warp_error[index]:.2f}, "
                        f"luma jump {self.report.luma_jump[index]:.2f}{spike}")
