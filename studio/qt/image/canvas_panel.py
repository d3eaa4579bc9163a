"""The Image workspace's output side: the canvas with its toolbar (fit, 1:1,
zoom, before/after, copy, save as, use as init, variations, upscale), the
mask tools shown while inpainting (paint / erase, brush size and hardness,
undo, invert, clear), a caption saying what is shown, and a strip of the
other images of the batch.

It only lays out and relays: the workspace decides what each action does."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSizePolicy,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.qt import theme
from studio.qt.image.canvas_view import CanvasView
from studio.qt.image.mask_painter import MaskLayer

STRIP_THUMB = 72
ITEM_ROLE = Qt.ItemDataRole.UserRole


def _tool(text: str, tooltip: str, icon: str = "", checkable: bool = False) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tooltip)
    button.setCheckable(checkable)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon if icon
                              else Qt.ToolButtonStyle.ToolButtonTextOnly)
    if icon:
        theme.set_icon(button, icon)
    return button


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setContentsMargins(6, 0, 2, 0)
    return label


def _slider(low: int, high: int, value: int, tooltip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    slider.setFixedWidth(110)
    slider.setToolTip(tooltip)
    return slider


class CanvasPanel(QWidget):
    use_as_init_requested = Signal()
    variations_requested = Signal()
    upscale_requested = Signal(int)  # factor
    copy_requested = Signal()
    save_requested = Signal()
    batch_item_chosen = Signal(int)  # library item id

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.mask = MaskLayer(self)
        self.canvas = CanvasView(placeholder)
        layout.addWidget(self._build_toolbar())
        layout.addWidget(self._build_mask_tools())
        layout.addWidget(self.canvas, 1)
        self.caption = QLabel()
        self.caption.setObjectName("hint")
        self.caption.setContentsMargins(16, 6, 16, 6)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the view
        layout.addWidget(self.caption)
        self.strip = QListWidget()
        self.strip.setObjectName("batchStrip")
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(STRIP_THUMB, STRIP_THUMB))
        self.strip.setFixedHeight(STRIP_THUMB + 26)
        self.strip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.strip.setVisible(False)
        self.strip.itemClicked.connect(self._on_strip_clicked)
        layout.addWidget(self.strip)
        self.canvas.zoom_changed.connect(self._on_zoom)
        self.set_mask_mode(False)
        self.set_result_actions(False)

    # --- toolbar ---------------------------------------------------------------------
    def _build_toolbar(self) -> QWidget:
        # QToolBar, not a row of buttons: what does not fit a narrow window goes
        # behind its » button instead of forcing the window wider.
        bar = QToolBar()
        bar.setObjectName("canvasToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.fit_button = _tool("Fit", "Fit the picture in the view (F)", "fit")
        self.fit_button.clicked.connect(self.canvas.fit)
        self.actual_button = _tool("1:1", "Actual pixels (1)")
        self.actual_button.clicked.connect(self.canvas.actual_size)
        self.zoom_label = QLabel("100%")
        self.zoom_label.setProperty("dim", True)
        self.zoom_label.setMinimumWidth(44)
        self.compare_button = _tool("Before / after", "Compare with the image this one started from", "",
                                    checkable=True)
        self.compare_button.toggled.connect(self.canvas.set_compare)
        for widget in (self.fit_button, self.actual_button, self.zoom_label, self.compare_button):
            bar.addWidget(widget)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        self.copy_button = _tool("Copy", "Copy the picture to the clipboard (Ctrl+Shift+C)")
        self.copy_button.clicked.connect(self.copy_requested)
        self.save_button = _tool("Save as…", "Save a copy of this file (keeps its recipe)", "folder")
        self.save_button.clicked.connect(self.save_requested)
        self.init_button = _tool("Use as init", "Start image-to-image, inpainting or outpainting from this picture",
                                 "reuse")
        self.init_button.clicked.connect(self.use_as_init_requested)
        self.variations_button = _tool("Variations", "Four more of this recipe, seeds + 1 to + 4", "dice")
        self.variations_button.clicked.connect(self.variations_requested)
        self.upscale_button = _tool("Upscale", "Enlarge 2x or 4x (Lanczos and sharpening)", "up")
        self.upscale_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.upscale_button)
        for factor in (2, 4):
            action = menu.addAction(f"{factor}x")
            action.setData(factor)
        menu.triggered.connect(self._on_upscale_chosen)
        self.upscale_button.setMenu(menu)
        for widget in (self.copy_button, self.save_button, self.init_button, self.variations_button,
                       self.upscale_button):
            bar.addWidget(widget)
        QShortcut(QKeySequence("F"), self.canvas, self.canvas.fit)
        QShortcut(QKeySequence("1"), self.canvas, self.canvas.actual_size)
        QShortcut(QKeySequence("Ctrl+Shift+C"), self, self.copy_requested.emit)
        return bar

    def _build_mask_tools(self) -> QWidget:
        self.mask_bar = QToolBar()
        self.mask_bar.setObjectName("maskToolbar")
        self.mask_bar.setMovable(False)
        self.paint_button = _tool("Paint", "Paint the area to repaint (B)", checkable=True)
        self.erase_button = _tool("Erase", "Erase from the mask (E)", checkable=True)
        group = QButtonGroup(self)
        group.addButton(self.paint_button)
        group.addButton(self.erase_button)
        self.paint_button.setChecked(True)
        self.erase_button.toggled.connect(self._on_erase_toggled)
        self.size_slider = _slider(2, 512, self.mask.brush_size, "Brush size in image pixels ([ and ])")
        self.size_slider.valueChanged.connect(self._on_size)
        self.hardness_slider = _slider(0, 100, int(self.mask.hardness * 100), "Brush hardness: soft edge to hard")
        self.hardness_slider.valueChanged.connect(self._on_hardness)
        self.size_label = QLabel()
        self.size_label.setProperty("dim", True)
        self.size_label.setMinimumWidth(48)
        self.undo_button = _tool("Undo", "Undo the last stroke (Ctrl+Z)")
        self.undo_button.clicked.connect(self.mask.undo)
        self.invert_button = _tool("Invert", "Repaint everything except the mask")
        self.invert_button.clicked.connect(self.mask.invert)
        self.clear_button = _tool("Clear", "Clear the mask", "clear")
        self.clear_button.clicked.connect(self.mask.clear)
        for widget in (_label("Mask"), self.paint_button, self.erase_button, _label("Size"), self.size_slider,
                       self.size_label, _label("Hardness"), self.hardness_slider, self.undo_button,
                       self.invert_button, self.clear_button):
            self.mask_bar.addWidget(widget)
        QShortcut(QKeySequence("B"), self.canvas, self.paint_button.click)
        QShortcut(QKeySequence("E"), self.canvas, self.erase_button.click)
        QShortcut(QKeySequence("["), self.canvas, self.smaller_brush)
        QShortcut(QKeySequence("]"), self.canvas, self.larger_brush)
        QShortcut(QKeySequence.StandardKey.Undo, self.canvas, self.mask.undo)
        self._on_size(self.size_slider.value())
        return self.mask_bar

    def _on_upscale_chosen(self, action) -> None:
        self.upscale_requested.emit(int(action.data()))

    def smaller_brush(self) -> None:
        self.size_slider.setValue(int(self.size_slider.value() / 1.25))

    def larger_brush(self) -> None:
        self.size_slider.setValue(int(self.size_slider.value() * 1.25 + 1))

    def _on_erase_toggled(self, erasing: bool) -> None:
        self.mask.erasing = erasing

    def _on_size(self, value: int) -> None:
        self.mask.brush_size = value
        self.size_label.setText(f"{value} px")
        self.canvas.update()

    def _on_hardness(self, value: int) -> None:
        self.mask.hardness = value / 100.0

    def _on_zoom(self, scale: float) -> None:
        self.zoom_label.setText(f"{scale * 100:.0f}%")

    # --- states -------------------------------------------------------------------------
    def set_mask_mode(self, on: bool) -> None:
        """Show the mask tools and paint on the canvas (inpainting) or not."""
        self.mask_bar.setVisible(on)
        self.canvas.set_mask(self.mask if on else None)

    def set_result_actions(self, enabled: bool, can_compare: bool = False) -> None:
        for button in (self.copy_button, self.save_button, self.init_button, self.variations_button,
                       self.upscale_button):
            button.setEnabled(enabled)
        self.compare_button.setEnabled(can_compare)
        if not can_compare:
            self.compare_button.setChecked(False)

    # --- batch strip ------------------------------------------------------------------------
    def set_batch(self, items: list[tuple[int, str]]) -> None:
        """(library id, label) of each image of the shown batch; hidden for a single image."""
        self.strip.clear()
        for item_id, label in items:
            row = QListWidgetItem(theme.icon("image"), label)
            row.setData(ITEM_ROLE, item_id)
            row.setSizeHint(QSize(STRIP_THUMB + 16, STRIP_THUMB + 22))
            self.strip.addItem(row)
        self.strip.setVisible(len(items) > 1)

    def set_batch_thumbnail(self, item_id: int, image: QImage) -> None:
        for index in range(self.strip.count()):
            row = self.strip.item(index)
            if row.data(ITEM_ROLE) == item_id and not image.isNull():
                row.setIcon(QIcon(QPixmap.fromImage(image)))

    def select_batch_item(self, item_id: int) -> None:
        for index in range(self.strip.count()):
            row = self.strip.item(index)
            row.setSelected(row.data(ITEM_ROLE) == item_id)

    def batch_ids(self) -> list[int]:
        return [int(self.strip.item(i).data(ITEM_ROLE)) for i in range(self.strip.count())]

    def _on_strip_clicked(self, row: QListWidgetItem) -> None:
        self.batch_item_chosen.emit(int(row.data(ITEM_ROLE)))
