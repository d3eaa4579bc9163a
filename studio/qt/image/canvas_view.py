"""The image canvas: one picture (a live preview, a finished result, or the
init image being masked) with zoom and pan, fit and 1:1, a before/after
split for image-to-image results, the inpainting mask painted on top, and
drops of image files or Library items.

Mouse: the wheel zooms about the cursor; the middle button (or the left
button with Space held, or when there is nothing to paint) pans; with a mask
layer active the left button paints (or erases) and a circle shows the
brush; in compare mode the left button drags the before/after divider.

Previews arrive small (the latents' size) and are drawn stretched over the
area the finished image will take, so the picture does not jump when the
result replaces them. QPixmaps are made here, on the GUI thread; a preview
with nothing drawn over it is shown by the preview layer (C++ widgets, see
`studio.qt.image.preview_layer`), not by this widget's Python paint code."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
    QStandardItemModel,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.qt import theme
from studio.qt.image.mask_painter import MaskLayer, brush_cursor_pen
from studio.qt.image.preview_layer import PreviewLayer

MARGIN = 16
MAX_FIT_ENLARGEMENT = 6.0  # a 64 px picture fits at most 6x: larger is just blur
ZOOM_LIMITS = (0.05, 32.0)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
LIBRARY_MIME = "application/x-qabstractitemmodeldatalist"
LIBRARY_ID_ROLE = Qt.ItemDataRole.UserRole


class CanvasView(QWidget):
    image_changed = Signal()
    zoom_changed = Signal(float)
    files_dropped = Signal(list)  # local image paths
    library_item_dropped = Signal(int)  # library item id
    mask_stroke_finished = Signal()

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageCanvas")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._placeholder = placeholder
        self._image: QImage | None = None
        self._pixmap: QPixmap | None = None
        self._display_size = QSize()  # the size the picture stands for (a preview's final size)
        self._before: QPixmap | None = None
        self._compare = False
        self._split = 0.5
        self._fit = True
        self._scale = 1.0
        self._offset = QPointF()  # the picture's top-left in widget coordinates (when not fitted)
        self._drag: str = ""  # "pan", "paint", "split"
        self._drag_origin = QPointF()
        self._space = False
        self._cursor: QPointF | None = None
        self.mask: MaskLayer | None = None
        self._overlay: QPixmap | None = None
        self._scaled: QPixmap | None = None
        self._scaled_key: tuple = ()
        self._progress = ""  # "12 / 40", painted over a preview
        self.is_preview = False
        self._layer = PreviewLayer(self)

    # --- content ------------------------------------------------------------------
    def set_image(self, image: QImage | None, keep_view: bool = False) -> None:
        """Show a finished picture (a result or an init image)."""
        if image is None or image.isNull():
            self.clear()
            return
        same_size = self._image is not None and self._display_size == image.size()
        self._image = image
        self._pixmap = QPixmap.fromImage(image)
        self._display_size = image.size()
        self.is_preview = False
        self._sync_layer()
        if not (keep_view and same_size):
            self.fit()
        self.update()
        self.image_changed.emit()

    def set_preview(self, image: QImage, final_size: QSize | None = None) -> None:
        """Show a preview stretched over the area a ``final_size`` picture will take."""
        target = final_size if final_size is not None and final_size.isValid() else image.size()
        resized = target != self._display_size
        self._image = image
        self._pixmap = QPixmap.fromImage(image)
        self._display_size = QSize(target)
        self.is_preview = True
        if resized:
            self.fit()
        if not self._sync_layer(new_picture=True):
            self.update()
        self.image_changed.emit()

    def set_progress(self, text: str) -> None:
        """Steps done, drawn on the preview itself: text in a label elsewhere would
        re-run the window's layout at every step (and repaint all of it)."""
        if text != self._progress:
            self._progress = text
            if self._layer.shown:
                self._layer.set_progress(text)
            elif self.is_preview:
                self.update(self._progress_rect().toAlignedRect().adjusted(-2, -2, 2, 2))

    def _progress_rect(self) -> QRectF:
        rect = self.image_rect()
        width = self.fontMetrics().horizontalAdvance(self._progress or "000 / 000") + 16
        height = self.fontMetrics().height() + 8
        return QRectF(rect.right() - width - 8, rect.bottom() - height - 8, width, height)

    def clear(self) -> None:
        self._image = self._pixmap = None
        self._display_size = QSize()
        self.is_preview = False
        self._sync_layer()
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

    # --- before / after -----------------------------------------------------------
    def set_before(self, image: QImage | None) -> None:
        self._before = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        if self._before is None:
            self._compare = False
        self.update()

    def has_before(self) -> bool:
        return self._before is not None

    def set_compare(self, on: bool) -> None:
        self._compare = bool(on) and self._before is not None
        self._sync_layer()
        self.update()

    @property
    def comparing(self) -> bool:
        return self._compare

    def set_split(self, fraction: float) -> None:
        self._split = min(1.0, max(0.0, fraction))
        self.update()

    # --- mask ------------------------------------------------------------------------
    def set_mask(self, mask: MaskLayer | None) -> None:
        if self.mask is not None:
            self.mask.changed.disconnect(self._on_mask_changed)
        self.mask = mask
        if mask is not None:
            mask.changed.connect(self._on_mask_changed)
        self._on_mask_changed()

    def _on_mask_changed(self) -> None:
        self._overlay = None
        if self.mask is not None and not self.mask.image.isNull():
            colour = QColor(theme.color("accent"))
            colour.setAlpha(150)
            self._overlay = QPixmap.fromImage(self.mask.overlay(colour))
        self._sync_layer()
        self.update()

    @property
    def painting(self) -> bool:
        return self.mask is not None and not self.mask.image.isNull() and self._image is not None

    # --- zoom ------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._scale

    def fit(self) -> None:
        self._fit = True
        self._layout_fit()
        self._sync_layer()
        self.update()

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, scale: float, anchor: QPointF | None = None) -> None:
        if self._display_size.isEmpty():
            return
        scale = min(ZOOM_LIMITS[1], max(ZOOM_LIMITS[0], scale))
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        # Keep the image point under the anchor where it is.
        image_point = (anchor - self._offset) / self._scale
        self._fit = False
        self._scale = scale
        self._offset = anchor - image_point * scale
        self.zoom_changed.emit(self._scale)
        self._sync_layer()
        self.update()

    def _layout_fit(self) -> None:
        if self._display_size.isEmpty():
            return
        area = QRectF(self.rect()).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
        size = self._display_size
        scale = min(area.width() / size.width(), area.height() / size.height(), MAX_FIT_ENLARGEMENT)
        scale = max(scale, 0.01)
        self._scale = scale
        self._offset = QPointF(area.x() + (area.width() - size.width() * scale) / 2,
                               area.y() + (area.height() - size.height() * scale) / 2)
        self.zoom_changed.emit(self._scale)

    def _sync_layer(self, new_picture: bool = False) -> bool:
        """Let the preview layer show the preview when nothing is drawn over it (no
        before/after split, no brush) and its scaled copy stays small; True if it does."""
        rect = self.image_rect().toAlignedRect()
        usable = (self.is_preview and self._pixmap is not None and not self._compare and not self.painting
                  and 0 < rect.width() * rect.height() <= 4 * max(1, self.width() * self.height()))
        if not usable:
            if self._layer.shown:
                self._layer.hide()
                self.update()
            return False
        if new_picture or not self._layer.shown:
            self._layer.show(self._pixmap, rect, self._progress)
        else:
            self._layer.place(rect)
        return self._layer.shown

    def image_rect(self) -> QRectF:
        return QRectF(self._offset, self._display_size.toSizeF() * self._scale)

    def map_to_image(self, point: QPointF) -> QPointF:
        """Widget coordinates to pixels of the shown picture (at its final size)."""
        return (point - self._offset) / self._scale

    # --- events --------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(720, 560)

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._fit:
            self._layout_fit()
        self._sync_layer()
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._display_size.isEmpty():
            return
        steps = event.angleDelta().y() / 120.0
        self.set_zoom(self._scale * (1.25 ** steps), event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.unsetCursor()
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        position = event.position()
        self._drag_origin = position
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space):
            self._drag = "pan"
        elif button == Qt.MouseButton.LeftButton and self._compare:
            self._drag = "split"
            self._set_split_from(position)
        elif button == Qt.MouseButton.LeftButton and self.painting:
            self._drag = "paint"
            self.mask.begin_stroke(self.map_to_image(position) * self._mask_scale())
        elif button == Qt.MouseButton.LeftButton:
            self._drag = "pan"
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        position = event.position()
        self._cursor = position
        if self._drag == "pan":
            self._fit = False
            self._offset += position - self._drag_origin
            self._drag_origin = position
            self._sync_layer()
        elif self._drag == "split":
            self._set_split_from(position)
        elif self._drag == "paint" and self.mask is not None:
            self.mask.continue_stroke(self.map_to_image(position) * self._mask_scale())
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag == "paint" and self.mask is not None:
            self.mask.end_stroke()
            self.mask_stroke_finished.emit()
        self._drag = ""
        event.accept()

    def leaveEvent(self, event) -> None:
        self._cursor = None
        self.update()
        super().leaveEvent(event)

    def _mask_scale(self) -> float:
        """Mask pixels per displayed-image pixel (the mask is made at the image's own size)."""
        if self.mask is None or self._display_size.isEmpty():
            return 1.0
        return self.mask.image.width() / self._display_size.width()

    def _set_split_from(self, position: QPointF) -> None:
        rect = self.image_rect()
        if rect.width() > 0:
            self.set_split((position.x() - rect.x()) / rect.width())

    # --- drag and drop -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_paths(event) or event.mimeData().hasFormat(LIBRARY_MIME):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = self._dropped_paths(event)
        if paths:
            self.files_dropped.emit(paths)
            event.acceptProposedAction()
            return
        item_id = _library_id(event.mimeData())
        if item_id is not None:
            self.library_item_dropped.emit(item_id)
            event.acceptProposedAction()

    @staticmethod
    def _dropped_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile().lower().endswith(IMAGE_SUFFIXES)]

    # --- painting ---------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.image_rect()
        # Skip the backdrop where an opaque picture will cover it.
        if self._pixmap is None or self._pixmap.hasAlphaChannel() or not rect.contains(QRectF(event.rect())):
            painter.fillRect(event.rect(), theme.color("canvas"))
        if self._layer.shown:  # the preview layer's labels draw the picture and its step count
            painter.end()
            return
        if self._pixmap is None:
            if self._placeholder:
                painter.setPen(theme.color("dim"))
                painter.drawText(QRectF(self.rect()).adjusted(24, 24, -24, -24),
                                 Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            painter.end()
            return
        # Enlarged pixels stay crisp at 2x and beyond (designers inspect detail); smooth when shrunk or a preview.
        smooth = self.is_preview or self._scale < 2.0
        scaled = self._scaled_pixmap(rect) if smooth else None
        if scaled is not None:
            painter.drawPixmap(rect.topLeft(), scaled)
        else:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            painter.drawPixmap(rect, self._pixmap, QRectF(self._pixmap.rect()))
        if self._compare and self._before is not None:
            split_x = rect.x() + rect.width() * self._split
            painter.save()
            painter.setClipRect(QRectF(rect.x(), rect.y(), split_x - rect.x(), rect.height()))
            painter.drawPixmap(rect, self._before, QRectF(self._before.rect()))
            painter.restore()
            self._draw_divider(painter, rect, split_x)
        if self._overlay is not None and not self.is_preview:
            painter.drawPixmap(rect, self._overlay, QRectF(self._overlay.rect()))
        if self.is_preview and self._progress:
            badge = self._progress_rect()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 150))
            painter.drawRoundedRect(badge, 6, 6)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, self._progress)
        if self.painting and self._cursor is not None and not self._compare:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            radius = self.mask.brush_size / 2 / self._mask_scale() * self._scale
            painter.setPen(brush_cursor_pen(QColor(255, 255, 255, 200)))
            painter.drawEllipse(self._cursor, radius, radius)
            painter.setPen(brush_cursor_pen(QColor(0, 0, 0, 160)))
            painter.drawEllipse(self._cursor, radius + 1.5, radius + 1.5)
        painter.end()

    def _scaled_pixmap(self, rect: QRectF) -> QPixmap | None:
        """The picture smoothly scaled to ``rect``, made once per picture and size: a
        preview arrives many times a second and other widgets' updates repaint the
        canvas too, and a cached copy only needs a blit. None when the scaled
        copy would be much larger than the view (deep zoom: draw clipped)."""
        dpr = self.devicePixelRatioF()
        size = QSize(round(rect.width() * dpr), round(rect.height() * dpr))
        if size.isEmpty() or size.width() * size.height() > 4 * self.width() * self.height() * dpr * dpr:
            return None
        key = (self._pixmap.cacheKey(), size.width(), size.height())
        if self._scaled_key != key:
            self._scaled = self._pixmap.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation)
            self._scaled.setDevicePixelRatio(dpr)
            self._scaled_key = key
        return self._scaled

    def _draw_divider(self, painter: QPainter, rect: QRectF, x: float) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(255, 255, 255, 230))
        pen.setWidthF(2)
        painter.setPen(pen)
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        handle = QRectF(x - 9, rect.center().y() - 9, 18, 18)
        painter.setBrush(theme.color("accent"))
        painter.drawEllipse(handle)
        painter.setPen(theme.color("text"))
        labels = QRectF(rect.x() + 8, rect.y() + 6, rect.width() - 16, 20)
        painter.drawText(labels, Qt.AlignmentFlag.AlignLeft, "Before")
        painter.drawText(labels, Qt.AlignmentFlag.AlignRight, "After")


def _library_id(mime) -> int | None:
    """The id a Library row carries in a drag (Qt's item-model drag format)."""
    if not mime.hasFormat(LIBRARY_MIME):
        return None
    model = QStandardItemModel()
    if not model.dropMimeData(mime, Qt.DropAction.CopyAction, 0, 0, model.index(0, 0).parent()):
        return None
    value = model.item(0, 0).data(LIBRARY_ID_ROLE) if model.rowCount() else None
    return int(value) if value is not None else None
