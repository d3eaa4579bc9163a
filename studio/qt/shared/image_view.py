"""The image canvas: shows one image (a live preview or a finished result)
scaled to fit, centred on the theme's canvas colour, with a placeholder
message while there is nothing to show.

Previews arrive as QImage (made in the runner's worker); the QPixmap is made
here, on the GUI thread, and the scaled copy is cached per widget size so a
repaint never rescales."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.qt import theme

MARGIN = 16


class ImageView(QWidget):
    image_changed = Signal()

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._pixmap: QPixmap | None = None
        self._scaled: QPixmap | None = None
        self._placeholder = placeholder
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)

    # --- content ---------------------------------------------------------
    def set_image(self, image: QImage | None) -> None:
        if image is None or image.isNull():
            self.clear()
            return
        self._image = image
        self._pixmap = QPixmap.fromImage(image)
        self._scaled = None
        self.update()
        self.image_changed.emit()

    def clear(self) -> None:
        self._image = self._pixmap = self._scaled = None
        self.update()
        self.image_changed.emit()

    def image(self) -> QImage | None:
        return self._image

    def has_image(self) -> bool:
        return self._image is not None

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def placeholder(self) -> str:
        return self._placeholder

    # --- painting ----------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._scaled = None
        super().resizeEvent(event)

    def _target_rect(self) -> QRect:
        area = self.rect().adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
        assert self._pixmap is not None
        size = self._pixmap.size()
        # Fit the area; small images are enlarged too, but never past 4x so a
        # 64 px image does not turn into a blur.
        fitted = size.scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        if fitted.width() > size.width() * 4:
            fitted = size * 4
        top_left = QPoint(area.x() + (area.width() - fitted.width()) // 2,
                          area.y() + (area.height() - fitted.height()) // 2)
        return QRect(top_left, fitted)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), theme.color("canvas"))
        if self._pixmap is None:
            if self._placeholder:
                painter.setPen(theme.color("dim"))
                painter.drawText(self.rect().adjusted(24, 24, -24, -24),
                                 Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            painter.end()
            return
        target = self._target_rect()
        if target.width() <= 0 or target.height() <= 0:
            painter.end()
            return
        if self._scaled is None or self._scaled.size() != target.size() * self.devicePixelRatioF():
            dpr = self.devicePixelRatioF()
            self._scaled = self._pixmap.scaled(target.size() * dpr, Qt.AspectRatioMode.IgnoreAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation)
            self._scaled.setDevicePixelRatio(dpr)
        painter.drawPixmap(target.topLeft(), self._scaled)
        painter.end()
