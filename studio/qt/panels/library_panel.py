"""The Library panel: every artifact the studio made, newest first, with a
thumbnail for images and a modality icon for the rest; a search box that
filters by prompt (and model); and Reuse settings, Show file and Delete.

Thumbnails are decoded at thumbnail size in a background task and cached
by path, so a long library scrolls without decoding on the GUI thread.
"Reuse settings" and opening an item are signals: the window knows which
workspace serves the item's modality."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget,
)

from studio.core.jobs import StudioError
from studio.core.library import Library, LibraryItem
from studio.qt import theme
from studio.qt.shared.error_dialog import confirm
from studio.qt.shared.qimage import pixels_to_qimage, thumbnail_pixels
from studio.qt.tasks import Tasks

if TYPE_CHECKING:
    import numpy as np

THUMB = 64
ID_ROLE = Qt.ItemDataRole.UserRole
SEARCH_DELAY_MS = 150


def read_thumbnail(path: Path, side: int = THUMB) -> tuple[str, np.ndarray | None]:
    """Pixels of ``path`` at most ``side`` on their longer edge (background task; the
    QImage is made on the GUI thread, see studio.qt.shared.qimage)."""
    return str(path), thumbnail_pixels(str(path), side)


def describe(item: LibraryItem) -> str:
    when = dt.datetime.fromtimestamp(item.created).strftime("%d %b %H:%M")
    parts = [item.modality]
    if item.width and item.height:
        parts.append(f"{item.width}×{item.height}")
    if item.duration_s:
        parts.append(f"{item.duration_s:.1f} s")
    parts += [f"seed {item.seed}", when]
    return " · ".join(parts)


def credentials_badge(item: LibraryItem) -> str:
    """The Content Credentials badge of a row: "CR" when the file was signed,
    "CR!" when signing failed (the reason is in Details)."""
    state = item.recipe.get("content_credentials") or {}
    if state.get("signed"):
        return "CR"
    return "CR!" if state.get("error") else ""


def credentials_details(item: LibraryItem) -> str:
    """What the file's Content Credentials say now (read from the file, so a
    change since signing shows as tampered), and its watermark."""
    from studio.core.credentials import read_credentials
    from studio.core.credentials.watermark import detect_file
    from studio.core.paths import studio_paths

    try:
        lines = read_credentials(item.path, studio_paths().config).lines()
    except StudioError as exc:
        lines = [str(exc)]
    problem = (item.recipe.get("content_credentials") or {}).get("error")
    if problem:
        lines.append(f"At signing: {problem}")
    if item.path.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"}:
        marked = detect_file(item.path)
        lines.append("Studio watermark: " + ("detected" if marked else "not found"))
    return "\n".join(lines)


class LibraryPanel(QWidget):
    reuse_requested = Signal(object)  # LibraryItem
    item_activated = Signal(object)  # LibraryItem: show it in its workspace
    items_changed = Signal()

    def __init__(self, library: Library, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.library = library
        self.tasks = tasks
        self._thumbs: dict[str, QIcon] = {}
        self._loading: set[str] = set()
        self._items: dict[int, LibraryItem] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        self.search = QLineEdit()
        self.search.setObjectName("librarySearch")
        self.search.setPlaceholderText("Search prompts…")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.reload)
        self.search.textChanged.connect(self._on_search_changed)
        layout.addWidget(self.search)

        self.list = QListWidget()
        self.list.setObjectName("libraryList")
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setSpacing(1)
        self.list.setDragEnabled(True)  # rows drag into the Image canvas (as its init image)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.list.itemDoubleClicked.connect(self._on_double_clicked)
        # Right click: "Copy as ComfyUI workflow" for images of the diffusion engine or a ComfyUI server.
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.copy_workflow_action = QAction("Copy as ComfyUI workflow", self.list)
        self.copy_workflow_action.setToolTip("The API-format JSON that makes this image again on a ComfyUI server")
        self.copy_workflow_action.triggered.connect(self.copy_comfy_workflow)
        self.list.addAction(self.copy_workflow_action)
        layout.addWidget(self.list, 1)

        self.empty_label = QLabel("Nothing here yet: what you generate is kept here.")
        self.empty_label.setObjectName("hint")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty_label)

        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.reuse_button = QPushButton("Reuse")
        self.reuse_button.setToolTip("Put this item's settings back into its workspace")
        theme.set_icon(self.reuse_button, "reuse")
        self.reuse_button.clicked.connect(self.reuse_selected)
        self.show_button = QPushButton("Show file")
        self.show_button.setToolTip("Open the folder that holds this file")
        theme.set_icon(self.show_button, "folder")
        self.show_button.clicked.connect(self.show_selected_file)
        self.delete_button = QPushButton()
        self.delete_button.setToolTip("Delete this item and its file")
        theme.set_icon(self.delete_button, "trash", "danger")
        self.delete_button.clicked.connect(self.delete_selected)
        buttons.addWidget(self.reuse_button, 1)
        buttons.addWidget(self.show_button, 1)
        self.credentials_button = QPushButton("CR")
        self.credentials_button.setToolTip("Content Credentials: who signed this file, how it was made, "
                                           "and whether it changed since")
        self.credentials_button.clicked.connect(self.show_credentials)
        buttons.addWidget(self.credentials_button)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)
        self.reload()

    # --- rows ----------------------------------------------------------------------------
    def _on_search_changed(self, _text: str) -> None:
        self._search_timer.start()

    def reload(self) -> None:
        self._search_timer.stop()
        selected = self.selected_item()
        items = self.library.items(search=self.search.text().strip())
        self._items = {item.id: item for item in items}
        self.list.clear()
        for item in items:
            badge = credentials_badge(item)
            row = QListWidgetItem(self._icon_for(item), f"{item.prompt or item.kind}\n{describe(item)}"
                                  + (f" · {badge}" if badge else ""))
            row.setData(ID_ROLE, item.id)
            row.setToolTip(f"{item.prompt}\n{item.path}" + (f"\n{badge}" if badge else ""))
            row.setSizeHint(QSize(0, THUMB + 12))
            self.list.addItem(row)
            if selected is not None and item.id == selected.id:
                row.setSelected(True)
        self.empty_label.setVisible(not items)
        self.empty_label.setText("No item matches the search." if self.search.text().strip()
                                 else "Nothing here yet: what you generate is kept here.")
        self._update_buttons()
        self.items_changed.emit()

    def _icon_for(self, item: LibraryItem) -> QIcon:
        key = str(item.path)
        if key in self._thumbs:
            return self._thumbs[key]
        if item.modality == "image" and key not in self._loading:
            self._loading.add(key)
            self.tasks.run(read_thumbnail, item.path, finished=self._on_thumbnail)
        return theme.icon(item.modality if item.modality in ("text", "image", "audio", "video") else "library")

    def _on_thumbnail(self, result: tuple[str, np.ndarray | None]) -> None:
        path, pixels = result
        image = pixels_to_qimage(pixels)
        self._loading.discard(path)
        if image.isNull():
            return
        icon = QIcon(QPixmap.fromImage(image))
        self._thumbs[path] = icon
        for index in range(self.list.count()):
            row = self.list.item(index)
            item = self._items.get(row.data(ID_ROLE))
            if item is not None and str(item.path) == path:
                row.setIcon(icon)

    def has_thumbnail(self, item_id: int) -> bool:
        item = self._items.get(item_id)
        return item is not None and str(item.path) in self._thumbs

    def item_ids(self) -> list[int]:
        return [int(self.list.item(i).data(ID_ROLE)) for i in range(self.list.count())]

    def select(self, item_id: int) -> None:
        for index in range(self.list.count()):
            row = self.list.item(index)
            if row.data(ID_ROLE) == item_id:
                self.list.setCurrentItem(row)

    def selected_item(self) -> LibraryItem | None:
        rows = self.list.selectedItems()
        return self._items.get(rows[0].data(ID_ROLE)) if rows else None

    def _update_buttons(self) -> None:
        has = self.selected_item() is not None
        for button in (self.reuse_button, self.show_button, self.delete_button, self.credentials_button):
            button.setEnabled(has)

    def show_credentials(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        item = self.selected_item()
        if item is not None:
            QMessageBox.information(self, "Content Credentials", credentials_details(item))

    # --- commands ------------------------------------------------------------------------------
    def copy_comfy_workflow(self) -> str:
        """Put the selected image's ComfyUI API-format workflow on the clipboard; the JSON, or ""."""
        import json

        from studio.engines.image.comfy.graph import workflow_for_recipe

        item = self.selected_item()
        if item is None:
            return ""
        try:
            text = json.dumps(workflow_for_recipe(item.recipe), indent=2)
        except (StudioError, KeyError, TypeError, ValueError) as exc:
            window = self.window()
            if hasattr(window, "statusBar"):
                window.statusBar().showMessage(f"No ComfyUI workflow: {exc}", 6000)
            return ""
        QGuiApplication.clipboard().setText(text)
        return text

    def reuse_selected(self) -> None:
        item = self.selected_item()
        if item is not None:
            self.reuse_requested.emit(item)

    def _on_double_clicked(self, row: QListWidgetItem) -> None:
        item = self._items.get(row.data(ID_ROLE))
        if item is not None:
            self.item_activated.emit(item)

    def show_selected_file(self) -> None:
        item = self.selected_item()
        if item is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(item.path.parent)))

    def delete_selected(self) -> None:
        item = self.selected_item()
        if item is None:
            return
        name = item.prompt or item.path.name
        if not confirm(self, "Delete item", f"Delete “{name[:80]}” and its file?\nThis cannot be undone.",
                       "Delete"):
            return
        try:
            self.library.delete(item.id)
        except StudioError:
            pass  # already gone: the reload below shows the truth
        self._thumbs.pop(str(item.path), None)
        self.reload()
