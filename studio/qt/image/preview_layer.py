"""The canvas's preview layer: a running job's preview and its step count,
drawn by Qt's own widgets instead of the canvas's Python paint code.

Previews arrive many times a second while the sampler runs on the worker
thread. A widget painted in Python holds the GIL for the whole paint
(scaling included), and the sampler waits for it at its next tensor
operation; a QLabel scales and paints its pixmap in C++ with the GIL free.
The picture label is opaque, so Qt does not repaint the canvas beneath it,
and both labels let every mouse and drop event through to the canvas.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QWidget

BADGE_MARGIN = 8
BADGE_STYLE = ("QLabel#previewBadge { background: rgba(0, 0, 0, 150); color: white;"
               " border-radius: 6px; padding: 4px 8px; }")


def _passive_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    label.hide()
    return label


class PreviewLayer:
    """Two child labels of the canvas: the stretched preview and the step-count badge."""

    def __init__(self, canvas: QWidget) -> None:
        self.picture = _passive_label(canvas, "previewPicture")
        self.picture.setScaledContents(True)  # smooth scaling, done by QLabel in C++
        self.picture.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.badge = _passive_label(canvas, "previewBadge")
        self.badge.setStyleSheet(BADGE_STYLE)
        self._rect = QRect()

    @property
    def shown(self) -> bool:
        return self.picture.isVisible()

    def show(self, pixmap: QPixmap, rect: QRect, progress: str) -> None:
        """Show ``pixmap`` stretched over ``rect`` (canvas coordinates), with ``progress`` in a corner."""
        if pixmap.hasAlphaChannel():  # a see-through preview needs the canvas's backdrop: draw it there
            self.hide()
            return
        self.picture.setPixmap(pixmap)
        self.place(rect)
        self.set_progress(progress)
        self.picture.show()

    def place(self, rect: QRect) -> None:
        if rect != self._rect:
            self._rect = QRect(rect)
            # A fixed size: a new pixmap then asks the canvas for no layout pass.
            self.picture.setFixedSize(rect.size())
            self.picture.move(rect.topLeft())
            self._place_badge()

    def set_progress(self, text: str) -> None:
        if text != self.badge.text():
            self.badge.setText(text)
            self.badge.adjustSize()
            self._place_badge()
        self.badge.setVisible(bool(text) and not self._rect.isEmpty())

    def _place_badge(self) -> None:
        size = self.badge.size()
        self.badge.move(self._rect.right() - size.width() - BADGE_MARGIN + 1,
                        self._rect.bottom() - size.height() - BADGE_MARGIN + 1)

    def hide(self) -> None:
        self.picture.hide()
        self.badge.hide()
        self.picture.clear()
        self._rect = QRect()
