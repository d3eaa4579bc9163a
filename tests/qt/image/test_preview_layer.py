"""The canvas hands a running job's previews to its preview layer (Qt's own
labels), so a new preview never runs the canvas's Python paint code; the
layer follows zoom and pan, shows the step count, and steps aside for
whatever must be drawn over the picture (a before/after split, a deep zoom,
a finished result)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QColor, QImage

from studio.qt.image.canvas_view import CanvasView


class CountingCanvas(CanvasView):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.paints += 1
        super().paintEvent(event)


def _solid(colour: str, side: int = 16) -> QImage:
    image = QImage(side, side, QImage.Format.Format_RGB888)
    image.fill(QColor(colour))
    return image


def _canvas(qtbot) -> CountingCanvas:
    canvas = CountingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(480, 360)
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def test_previews_are_painted_by_the_layer_not_the_canvas(qtbot):
    canvas = _canvas(qtbot)
    canvas.set_preview(_solid("red"), QSize(64, 64))
    qtbot.wait(50)
    layer = canvas._layer
    assert layer.shown and layer.picture.geometry() == canvas.image_rect().toAlignedRect()
    canvas.paints = 0
    for colour in ("green", "blue", "yellow", "cyan", "magenta"):
        canvas.set_preview(_solid(colour), QSize(64, 64))
        canvas.set_progress("3 / 20")
        qtbot.wait(30)
    assert canvas.paints == 0
    centre = canvas.image_rect().center().toPoint()
    assert canvas.grab().toImage().pixelColor(centre) == QColor("magenta")
    # The step count sits in the picture's bottom-right corner.
    assert layer.badge.isVisible() and layer.badge.text() == "3 / 20"
    assert canvas.image_rect().toAlignedRect().contains(layer.badge.geometry())


def test_a_split_view_or_a_deep_zoom_is_painted_by_the_canvas(qtbot):
    canvas = _canvas(qtbot)
    canvas.set_before(_solid("white", 64))
    canvas.set_preview(_solid("red"), QSize(64, 64))
    canvas.set_compare(True)  # the divider is drawn over the picture: the canvas paints it all
    assert not canvas._layer.shown
    qtbot.wait(50)
    canvas.paints = 0
    canvas.set_preview(_solid("blue"), QSize(64, 64))
    qtbot.wait(50)
    assert canvas.paints > 0
    canvas.set_compare(False)
    assert canvas._layer.shown
    canvas.set_zoom(32.0)  # a 2048 px label would be scaled whole: the canvas draws the visible part
    assert not canvas._layer.shown
    canvas.set_zoom(2.0)
    assert canvas._layer.shown and canvas._layer.picture.geometry() == canvas.image_rect().toAlignedRect()


def test_the_layer_follows_a_pan_and_leaves_for_the_result(qtbot):
    canvas = _canvas(qtbot)
    canvas.set_preview(_solid("red"), QSize(64, 64))
    before = canvas._layer.picture.geometry()
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(130, 110))
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(130, 110))
    assert canvas._layer.picture.geometry() == before.translated(30, 10)
    canvas.set_image(_solid("green", 64))
    assert not canvas._layer.shown and not canvas._layer.badge.isVisible()
    qtbot.wait(50)
    centre = canvas.image_rect().center().toPoint()
    assert canvas.grab().toImage().pixelColor(centre) == QColor("green")
