"""The Models panel: every model discovery found, with its card (modality,
format, size, licence, source, path), whether it is loaded and the memory it
holds, and Load / Unload / Refresh / Add folder.

Discovery, loading and unloading all run as background tasks: discovery
may import torch to vet pickle files and a load can take many seconds. A
failure is shown as the readable message the model manager produced.

The manager notifies its listeners from whichever thread changed it; the
:class:`ModelsBridge` turns that into a Qt signal, delivered on the GUI
thread."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QHeaderView, QLabel, QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
    QWidget,
)

from studio.core.models.cards import ModelCard, human_size
from studio.core.models.manager import ModelManager
from studio.core.settings import Settings
from studio.qt import theme
from studio.qt.shared.error_dialog import show_error
from studio.qt.tasks import Tasks

COLUMNS = ("Name", "Modality", "Format", "Size", "Licence", "Status", "Memory", "Source", "Path")
ID_ROLE = Qt.ItemDataRole.UserRole
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class _Row(QTreeWidgetItem):
    """Sorts the size and memory columns by bytes, not by their text."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        mine, theirs = self.data(column, SORT_ROLE), other.data(column, SORT_ROLE)
        if mine is not None and theirs is not None:
            return mine < theirs
        return self.text(column).lower() < other.text(column).lower()


class ModelsBridge(QObject):
    """Carries the manager's change notifications (any thread) to the GUI thread."""

    models_changed = Signal()

    def __init__(self, manager: ModelManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        manager.listeners.append(self.models_changed.emit)

    def detach(self) -> None:
        if self.models_changed.emit in self.manager.listeners:
            self.manager.listeners.remove(self.models_changed.emit)


def load_card(manager: ModelManager, card_id: str) -> str:
    """Load one model through the same loader engines use (background task)."""
    from studio.engines.loaders import load_model

    manager.get(card_id, load_model)
    return card_id


def unload_card(manager: ModelManager, card_id: str) -> str:
    manager.unload(card_id)
    return card_id


class ModelsPanel(QWidget):
    discovery_finished = Signal(int)  # number of models found
    load_finished = Signal(str)  # card id (loaded, or failed to)

    def __init__(self, manager: ModelManager, settings: Settings, tasks: Tasks, own_folder: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.manager = manager
        self.own_folder = own_folder
        self.settings = settings
        self.tasks = tasks
        self._busy: dict[str, str] = {}  # card id -> "Loading…" / "Unloading…"
        self.discovering = False
        self.last_error = ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.refresh_button = self._tool("refresh", "Search the model folders again", self.refresh)
        self.add_folder_button = self._tool("folder", "Add a model folder…", self.add_folder)
        self.load_button = self._tool("load", "Load the selected model into memory", self.load_selected, "Load")
        self.unload_button = self._tool("unload", "Unload the selected model", self.unload_selected, "Unload")
        self.status_label = QLabel("")
        self.status_label.setObjectName("hint")
        for button in (self.refresh_button, self.add_folder_button):
            bar.addWidget(button)
        bar.addWidget(self.status_label, 1)
        bar.addWidget(self.load_button)
        bar.addWidget(self.unload_button)
        layout.addLayout(bar)

        self.tree = QTreeWidget()
        self.tree.setObjectName("modelsTree")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((210, 88, 90, 72, 140, 86, 72, 150)):
            self.tree.setColumnWidth(column, width)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.tree, 1)

        self.detail = QLabel()
        self.detail.setObjectName("hint")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail)
        self._update_buttons()

    def _tool(self, icon_name: str, tip: str, slot, text: str = "") -> QToolButton:
        button = QToolButton()
        theme.set_icon(button, icon_name)
        button.setToolTip(tip)
        if text:
            button.setText(text)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.clicked.connect(slot)
        return button

    # --- discovery ---------------------------------------------------------------
    def refresh(self) -> None:
        if self.discovering:
            return
        self.discovering = True
        self.status_label.setText("Searching for models…")
        self.refresh_button.setEnabled(False)
        self.tasks.run(self.manager.refresh, finished=self._on_discovered, failed=self._on_discovery_failed)

    def _on_discovered(self, cards: list[ModelCard]) -> None:
        self.discovering = False
        self.refresh_button.setEnabled(True)
        self.reload()
        self.discovery_finished.emit(len(cards))

    def _on_discovery_failed(self, message: str, details: str) -> None:
        self.discovering = False
        self.refresh_button.setEnabled(True)
        self.status_label.setText("Model search failed")
        show_error(self, "Model search failed", message, details)
        self.discovery_finished.emit(0)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if folder:
            self.add_model_folder(Path(folder))

    def add_model_folder(self, folder: Path) -> None:
        folders = list(self.settings.get("models.folders") or [])
        if str(folder) not in folders:
            folders.append(str(folder))
            self.settings.set("models.folders", folders)
        apply_model_folders(self.manager, self.settings, self.own_folder)
        self.refresh()

    # --- rows -----------------------------------------------------------------------
    def reload(self) -> None:
        """Rebuild the rows from the manager (cheap: no disk access)."""
        selected = self.selected_id()
        cards = self.manager.cards()
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        for card in cards:
            item = _Row(self._row(card))
            item.setData(0, ID_ROLE, card.id)
            item.setIcon(0, theme.icon(card.modality or "model"))
            tip = "\n".join(x for x in (card.name, card.description, card.architecture, card.error) if x)
            for column in range(len(COLUMNS)):
                item.setToolTip(column, tip)
            item.setData(3, SORT_ROLE, card.size_bytes)
            item.setData(6, SORT_ROLE, self.manager.memory_used(card.id))
            if card.error:
                item.setForeground(5, theme.color("danger"))
            elif self.manager.is_loaded(card.id):
                item.setForeground(5, theme.color("success"))
            self.tree.addTopLevelItem(item)
            if card.id == selected:
                item.setSelected(True)
        self.tree.setSortingEnabled(True)
        count = len(cards)
        if not self.discovering:
            loaded = sum(1 for c in cards if self.manager.is_loaded(c.id))
            self.status_label.setText(f"{count} model{'s' * (count != 1)}" + (f", {loaded} loaded" if loaded else ""))
        self._update_buttons()

    def _row(self, card: ModelCard) -> list[str]:
        loaded = self.manager.is_loaded(card.id)
        if card.id in self._busy:
            status = self._busy[card.id]
        elif card.error:
            status = "Unusable"
        else:
            status = "Loaded" if loaded else "Not loaded"
        memory = human_size(self.manager.memory_used(card.id)) if loaded else "—"
        return [card.name, card.modality or "?", card.format, human_size(card.size_bytes), card.licence,
                status, memory, card.source, str(card.path)]

    def row_count(self) -> int:
        return self.tree.topLevelItemCount()

    def row_texts(self, card_id: str) -> dict[str, str]:
        """The visible cells of one model's row, by column title (for checks and tests)."""
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item.data(0, ID_ROLE) == card_id:
                return {title: item.text(col) for col, title in enumerate(COLUMNS)}
        return {}

    def select(self, card_id: str) -> None:
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            item.setSelected(item.data(0, ID_ROLE) == card_id)

    def selected_id(self) -> str:
        items = self.tree.selectedItems()
        return str(items[0].data(0, ID_ROLE)) if items else ""

    def _update_buttons(self) -> None:
        card_id = self.selected_id()
        card = next((c for c in self.manager.cards() if c.id == card_id), None)
        busy = card_id in self._busy
        loaded = bool(card) and self.manager.is_loaded(card_id)
        self.load_button.setEnabled(bool(card) and not busy and not loaded and not card.error)
        self.unload_button.setEnabled(bool(card) and not busy and loaded)
        if card is None:
            self.detail.setText("Select a model to see its card.")
            return
        lines = [f"<b>{card.name}</b> — {card.description or card.architecture or card.format}",
                 f"Licence: {card.licence} · Source: {card.source}"]
        if card.error:
            lines.append(f"<span style='color:{theme.current().danger}'>{card.error}</span>")
        self.detail.setText("<br>".join(lines))

    # --- load / unload --------------------------------------------------------------------
    def load_selected(self) -> None:
        card_id = self.selected_id()
        if card_id:
            self.load(card_id)

    def load(self, card_id: str) -> None:
        if card_id in self._busy:
            return
        self._busy[card_id] = "Loading…"
        self.last_error = ""
        self.reload()
        self.tasks.run(load_card, self.manager, card_id, finished=self._on_loaded,
                       failed=partial(self._on_load_failed, card_id))

    def _on_loaded(self, card_id: str) -> None:
        self._busy.pop(card_id, None)
        self.reload()
        self.load_finished.emit(card_id)

    def _on_load_failed(self, card_id: str, message: str, details: str) -> None:
        self._busy.pop(card_id, None)
        self.last_error = message
        self.reload()
        self.error_dialog = show_error(self, "Could not load the model", message, details)
        self.load_finished.emit(card_id)

    def unload_selected(self) -> None:
        card_id = self.selected_id()
        if card_id and card_id not in self._busy:
            self._busy[card_id] = "Unloading…"
            self.reload()
            self.tasks.run(unload_card, self.manager, card_id, finished=self._on_unloaded)

    def _on_unloaded(self, card_id: str) -> None:
        self._busy.pop(card_id, None)
        self.reload()
        if self.manager.in_use(card_id):
            name = self.manager.card(card_id).name
            self.status_label.setText(f"{name} is in use by a running job: it stays loaded until the job ends")


def apply_model_folders(manager: ModelManager, settings: Settings, own_folder: Path) -> None:
    """Point the manager at the studio's own models folder plus the user's
    folders from the settings (the same list ``open_services`` starts with)."""
    manager.user_folders = [Path(own_folder), *(Path(p) for p in settings.get("models.folders") or [])]
