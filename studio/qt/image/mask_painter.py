"""The inpainting mask: a greyscale layer the size of the image, painted with
a round brush (size in image pixels, hardness from a soft airbrush to a hard
disc), erased, inverted, cleared, with undo per stroke.

White is repainted, black is kept (the A1111 convention the engine reads).
The layer knows nothing of the screen: the canvas maps mouse positions to
image pixels and draws the layer as a tinted overlay."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QRadialGradient

UNDO_LIMIT = 40


class MaskLayer(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.brush_size = 48  # diameter, image pixels
        self.hardness = 0.7  # 0: soft edge all the way in, 1: a hard disc
        self.erasing = False
        self._undo: list[QImage] = []
        self._last: QPointF | None = None

    # --- size and state ---------------------------------------------------------
    def resize_to(self, width: int, height: int) -> None:
        """Start over at this size (a new image on the canvas), keeping nothing."""
        if self.image.width() == width and self.image.height() == height:
            return
        self.image = QImage(width, height, QImage.Format.Format_Grayscale8)
        self.image.fill(0)
        self._undo.clear()
        self.changed.emit()

    def is_empty(self) -> bool:
        return self.coverage() == 0.0

    def coverage(self) -> float:
        """The painted fraction of the image (0..1), counting soft edges by their strength."""
        if self.image.isNull():
            return 0.0
        import numpy as np

        rows = np.frombuffer(self.image.constBits(), np.uint8).reshape(self.image.height(), -1)
        return float(rows[:, : self.image.width()].mean()) / 255.0

    def can_undo(self) -> bool:
        return bool(self._undo)

    # --- painting ---------------------------------------------------------------
    def begin_stroke(self, point: QPointF) -> None:
        if self.image.isNull():
            return
        self._push_undo()
        self._last = QPointF(point)
        self._dab(point)
        self.changed.emit()

    def continue_stroke(self, point: QPointF) -> None:
        if self.image.isNull() or self._last is None:
            return
        dabs = dab_points(self._last, point, max(1.0, self.brush_size / 4))
        for dab in dabs:
            self._dab(dab)
        if dabs:
            self._last = dabs[-1]
        self.changed.emit()

    def end_stroke(self) -> None:
        self._last = None

    def _dab(self, point: QPointF) -> None:
        radius = self.brush_size / 2
        value = 0 if self.erasing else 255
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        if self.hardness >= 0.99:
            painter.setBrush(QColor(value, value, value))
        else:
            gradient = QRadialGradient(point, radius)
            colour = QColor(value, value, value)
            clear = QColor(value, value, value, 0)
            gradient.setColorAt(0.0, colour)
            gradient.setColorAt(max(0.0, min(self.hardness, 0.98)), colour)
            gradient.setColorAt(1.0, clear)
            painter.setBrush(QBrush(gradient))
        painter.drawEllipse(point, radius, radius)
        painter.end()

    # --- whole-layer commands ---------------------------------------------------------
    def undo(self) -> bool:
        if not self._undo:
            return False
        self.image = self._undo.pop()
        self.changed.emit()
        return True

    def clear(self) -> None:
        if self.image.isNull():
            return
        self._push_undo()
        self.image.fill(0)
        self.changed.emit()

    def invert(self) -> None:
        if self.image.isNull():
            return
        self._push_undo()
        self.image.invertPixels()
        self.changed.emit()

    def _push_undo(self) -> None:
        self._undo.append(self.image.copy())
        del self._undo[:-UNDO_LIMIT]

    # --- output -------------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.image.save(str(path), "PNG"):
            raise OSError(f"could not write the mask to {path}")
        return path

    def overlay(self, colour: QColor) -> QImage:
        """The mask as a translucent colour layer for drawing over the image."""
        layer = QImage(self.image.size(), QImage.Format.Format_ARGB32_Premultiplied)
        layer.fill(colour)
        # The grey levels read as opacities: the same bytes seen as an alpha-only image.
        alpha = QImage(self.image.constBits(), self.image.width(), self.image.height(),
                       self.image.bytesPerLine(), QImage.Format.Format_Alpha8).copy()
        painter = QPainter(layer)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
        painter.drawImage(0, 0, alpha)
        painter.end()
        return layer


def dab_points(last: QPointF, point: QPointF, spacing: float) -> list[QPointF]:
    """Where a brush moving from ``last`` towards ``point`` sets down, ``spacing``
    apart (the last one at most ``spacing`` short of ``point``): dabs a quarter of
    a brush apart make a smooth line at any mouse speed."""
    delta = point - last
    distance = (delta.x() ** 2 + delta.y() ** 2) ** 0.5
    steps = int(distance // spacing)
    return [last + delta * (index * spacing / distance) for index in range(1, steps + 1)]


def brush_cursor_pen(colour: QColor) -> QPen:
    pen = QPen(colour)
    pen.setWidthF(1.5)
    pen.setCosmetic(True)
    return pen
