"""The live canvas's paint layer: a transparent colour layer the size of the
picture, painted with a round brush, erased, flood-filled, cleared, with
undo per stroke, and the toolbar that drives it.

Its picture (the layer over white, the way a designer's canvas shows
transparency) is what live image-to-image starts from; an empty layer means
text to image. The layer speaks the canvas's painting interface (the same
as the inpainting mask: ``begin_stroke`` / ``continue_stroke`` /
``end_stroke``, ``image``, ``brush_size``, ``overlay``), so ``CanvasView``
maps the mouse to it and draws it at once on the GUI thread, never waiting
for the model."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QButtonGroup, QColorDialog, QLabel, QSlider, QToolBar, QToolButton

from studio.qt.image.mask_painter import dab_points

if TYPE_CHECKING:  # numpy is imported on first use: the window shows without it
    import numpy as np

UNDO_LIMIT = 40
TOOLS = ("brush", "eraser", "fill")


class PaintLayer(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.brush_size = 6  # diameter, image pixels
        self.colour = QColor(220, 40, 40)
        self.tool = "brush"
        self.opacity = 0.45  # how strongly the strokes show over the live frame
        self._undo: list[QImage] = []
        self._last: QPointF | None = None

    # --- size and state ---------------------------------------------------------
    def resize_to(self, width: int, height: int) -> None:
        """Start over at this size, keeping the painting scaled when there was one."""
        if self.image.width() == width and self.image.height() == height:
            return
        old = self.image
        self.image = QImage(width, height, QImage.Format.Format_ARGB32)
        self.image.fill(Qt.GlobalColor.transparent)
        if not old.isNull():
            painter = QPainter(self.image)
            painter.drawImage(self.image.rect(), old)
            painter.end()
        self._undo.clear()
        self.changed.emit()

    def is_empty(self) -> bool:
        if self.image.isNull():
            return True
        return not bool(self._argb()[..., 3].any())

    def can_undo(self) -> bool:
        return bool(self._undo)

    def _argb(self) -> np.ndarray:
        """The layer's B, G, R, A bytes (a view: copy before keeping)."""
        import numpy as np

        rows = np.frombuffer(self.image.constBits(), np.uint8).reshape(self.image.height(), -1)
        return rows[:, : self.image.width() * 4].reshape(self.image.height(), self.image.width(), 4)

    def picture(self) -> np.ndarray | None:
        """RGB uint8 of the layer over white; None while the layer is empty."""
        if self.is_empty():
            return None
        import numpy as np

        bgra = self._argb().astype(np.float32)
        alpha = bgra[..., 3:4] / 255.0
        rgb = bgra[..., 2::-1] * alpha + 255.0 * (1.0 - alpha)
        return (rgb + 0.5).astype(np.uint8)

    # --- painting ---------------------------------------------------------------
    def begin_stroke(self, point: QPointF) -> None:
        if self.image.isNull():
            return
        self._push_undo()
        if self.tool == "fill":
            self.fill_at(int(point.x()), int(point.y()), push=False)
            return
        self._last = QPointF(point)
        self._dab(point)
        self.changed.emit()

    def continue_stroke(self, point: QPointF) -> None:
        if self.image.isNull() or self._last is None:
            return
        dabs = dab_points(self._last, point, max(0.5, self.brush_size / 4))
        for dab in dabs:
            self._dab(dab)
        if dabs:
            self._last = dabs[-1]
            self.changed.emit()

    def end_stroke(self) -> None:
        self._last = None

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """A whole stroke through image points (tests, scripted demos)."""
        self.begin_stroke(QPointF(*points[0]))
        for point in points[1:]:
            self.continue_stroke(QPointF(*point))
        self.end_stroke()

    def _dab(self, point: QPointF) -> None:
        radius = self.brush_size / 2
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        if self.tool == "eraser":
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
        painter.setBrush(self.colour)
        painter.drawEllipse(point, radius, radius)
        painter.end()

    def fill_at(self, x: int, y: int, push: bool = True) -> None:
        """Flood-fill the region of like colour around (x, y) with the brush colour."""
        if self.image.isNull() or not (0 <= x < self.image.width() and 0 <= y < self.image.height()):
            return
        if push:
            self._push_undo()
        import numpy as np

        pixels = self._argb().copy()
        target = pixels[y, x].copy()
        region = np.zeros(pixels.shape[:2], dtype=bool)
        same = np.all(np.abs(pixels.astype(int) - target.astype(int)) <= 8, axis=-1)
        queue = deque([(y, x)])
        region[y, x] = True
        height, width = region.shape
        while queue:
            row, column = queue.popleft()
            for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                ny, nx = row + dy, column + dx
                if 0 <= ny < height and 0 <= nx < width and same[ny, nx] and not region[ny, nx]:
                    region[ny, nx] = True
                    queue.append((ny, nx))
        colour = self.colour
        pixels[region] = (colour.blue(), colour.green(), colour.red(), 255)
        self._set_argb(pixels)
        self.changed.emit()

    def _set_argb(self, pixels: np.ndarray) -> None:
        image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.shape[1] * 4,
                       QImage.Format.Format_ARGB32)
        self.image = image.copy()

    # --- whole-layer commands ---------------------------------------------------------
    def undo(self) -> bool:
        if not self._undo:
            return False
        self.image = self._undo.pop()
        self.changed.emit()
        return True

    def clear(self) -> None:
        if self.image.isNull() or self.is_empty():
            return
        self._push_undo()
        self.image.fill(Qt.GlobalColor.transparent)
        self.changed.emit()

    def _push_undo(self) -> None:
        self._undo.append(self.image.copy())
        del self._undo[:-UNDO_LIMIT]

    def overlay(self, _colour: QColor | None = None) -> QImage:
        """The strokes as drawn over the live frame (at ``opacity``)."""
        layer = QImage(self.image.size(), QImage.Format.Format_ARGB32_Premultiplied)
        layer.fill(Qt.GlobalColor.transparent)
        painter = QPainter(layer)
        painter.setOpacity(self.opacity)
        painter.drawImage(0, 0, self.image)
        painter.end()
        return layer


def _tool_button(text: str, tooltip: str, checkable: bool = False) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tooltip)
    button.setCheckable(checkable)
    return button


class PaintBar(QToolBar):
    """Brush, eraser, fill, colour, size, stroke opacity, undo and clear for a ``PaintLayer``."""

    def __init__(self, layer: PaintLayer, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("paintToolbar")
        self.setMovable(False)
        self.layer = layer
        self.tools = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for name, text, tip in (("brush", "Brush", "Paint on the live canvas (B)"),
                                ("eraser", "Eraser", "Erase strokes (E)"),
                                ("fill", "Fill", "Fill an area with the colour (G)")):
            button = _tool_button(text, tip, checkable=True)
            button.clicked.connect(lambda _checked=False, tool=name: self.set_tool(tool))
            self.tools.addButton(button)
            self.tool_buttons[name] = button
            self.addWidget(button)
        self.tool_buttons["brush"].setChecked(True)
        self.colour_button = _tool_button("Colour", "Brush and fill colour")
        self.colour_button.clicked.connect(self.choose_colour)
        self.addWidget(self.colour_button)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(1, 256)
        self.size_slider.setValue(layer.brush_size)
        self.size_slider.setFixedWidth(90)
        self.size_slider.setToolTip("Brush size in image pixels")
        self.size_slider.valueChanged.connect(self._on_size)
        self.addWidget(QLabel(" Size "))
        self.addWidget(self.size_slider)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(int(layer.opacity * 100))
        self.opacity_slider.setFixedWidth(70)
        self.opacity_slider.setToolTip("How strongly your strokes show over the live picture")
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        self.addWidget(QLabel(" Strokes "))
        self.addWidget(self.opacity_slider)
        self.undo_button = _tool_button("Undo", "Undo the last stroke")
        self.undo_button.clicked.connect(layer.undo)
        self.clear_button = _tool_button("Clear", "Clear the paint layer (back to text to image)")
        self.clear_button.clicked.connect(layer.clear)
        self.addWidget(self.undo_button)
        self.addWidget(self.clear_button)
        self._show_colour()

    def set_tool(self, tool: str) -> None:
        self.layer.tool = tool
        self.tool_buttons[tool].setChecked(True)

    def choose_colour(self) -> None:
        colour = QColorDialog.getColor(self.layer.colour, self, "Brush colour")
        if colour.isValid():
            self.set_colour(colour)

    def set_colour(self, colour: QColor) -> None:
        self.layer.colour = QColor(colour)
        self._show_colour()

    def _show_colour(self) -> None:
        name = self.layer.colour.name()
        self.colour_button.setStyleSheet(f"QToolButton {{ border-left: 14px solid {name}; padding-left: 4px; }}")

    def _on_size(self, value: int) -> None:
        self.layer.brush_size = value

    def _on_opacity(self, value: int) -> None:
        self.layer.opacity = value / 100.0
        self.layer.changed.emit()
