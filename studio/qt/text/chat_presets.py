"""The task preset picker of the Text workspace: a list of presets (writing,
email, summary, code, translation, image prompt …) and a menu to save the
current settings as a new preset, update the chosen one, or reset / delete
it.

Choosing a preset (by the person, not when the form is restored) emits
``preset_chosen``; the workspace then writes the preset's system prompt and
sampling defaults into its form. Saving reads the form's current values
through the ``current`` callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QInputDialog, QMenu, QToolButton, QWidget

from studio.core.jobs import StudioError
from studio.engines.text.presets import Preset, PresetStore, preset_id
from studio.qt import theme


class PresetBar(QWidget):
    preset_chosen = Signal(object)  # Preset
    presets_changed = Signal()

    def __init__(self, store: PresetStore, current: Callable[[], dict[str, Any]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.current = current
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.combo = QComboBox()
        self.combo.setToolTip("What the model is asked to do: a system prompt and sampling defaults")
        self.combo.activated.connect(self._on_activated)
        layout.addWidget(self.combo, 1)
        self.menu_button = QToolButton()
        self.menu_button.setToolTip("Save, update or reset presets")
        theme.set_icon(self.menu_button, "settings")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.menu_button)
        self.save_as_action = QAction("Save current settings as a new preset…", self)
        self.save_as_action.triggered.connect(self._ask_save_as)
        self.update_action = QAction("Update this preset with the current settings", self)
        self.update_action.triggered.connect(self.update_current)
        self.remove_action = QAction("Reset to built-in", self)
        self.remove_action.triggered.connect(self.remove_current)
        for action in (self.save_as_action, self.update_action, self.remove_action):
            menu.addAction(action)
        menu.aboutToShow.connect(self._update_actions)
        self.menu_button.setMenu(menu)
        layout.addWidget(self.menu_button)
        self.reload()

    # --- list ---------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        wanted = select if select is not None else self.combo.currentData()
        self.combo.blockSignals(True)
        self.combo.clear()
        for preset in self.store.all():
            suffix = " (edited)" if self.store.is_modified(preset.id) else ""
            self.combo.addItem(preset.title + suffix, preset.id)
            self.combo.setItemData(self.combo.count() - 1, preset.system, Qt.ItemDataRole.ToolTipRole)
        index = self.combo.findData(wanted) if wanted else -1
        self.combo.setCurrentIndex(max(index, 0))
        self.combo.blockSignals(False)
        # Form persistence listens to index changes: announce the (maybe new) choice once.
        self.combo.currentIndexChanged.emit(self.combo.currentIndex())

    def current_preset(self) -> Preset | None:
        preset_id_ = self.combo.currentData()
        try:
            return self.store.get(preset_id_) if preset_id_ else None
        except StudioError:
            return None

    def choose(self, preset_id_: str) -> None:
        """Select and apply a preset, as if the person had picked it."""
        index = self.combo.findData(preset_id_)
        if index >= 0:
            self.combo.setCurrentIndex(index)
            self._on_activated(index)

    def _on_activated(self, _index: int) -> None:
        preset = self.current_preset()
        if preset is not None:
            self.preset_chosen.emit(preset)

    # --- editing ---------------------------------------------------------------------
    def _preset_from_form(self, base: Preset, **overrides: Any) -> Preset:
        values = {**base.to_dict(), **self.current(), **overrides}
        return Preset.from_dict(values)

    def save_as(self, title: str) -> Preset:
        title = title.strip()
        if not title:
            raise StudioError("a preset needs a name")
        base = self.current_preset() or Preset("", "", "")
        new_id = preset_id(title)
        taken = {p.id for p in self.store.all()}
        suffix = 2
        while new_id in taken:
            new_id = f"{preset_id(title)}-{suffix}"
            suffix += 1
        preset = self._preset_from_form(base, id=new_id, title=title)
        self.store.save(preset)
        self.reload(select=preset.id)
        self.presets_changed.emit()
        return preset

    def update_current(self) -> Preset | None:
        base = self.current_preset()
        if base is None:
            return None
        preset = self._preset_from_form(base, id=base.id, title=base.title)
        self.store.save(preset)
        self.reload(select=preset.id)
        self.presets_changed.emit()
        return preset

    def remove_current(self) -> None:
        preset = self.current_preset()
        if preset is None:
            return
        builtin = self.store.is_builtin(preset.id)
        self.store.remove(preset.id)
        self.reload(select=preset.id if builtin else "")
        self.presets_changed.emit()
        restored = self.current_preset()
        if builtin and restored is not None:
            self.preset_chosen.emit(restored)

    def _update_actions(self) -> None:
        preset = self.current_preset()
        builtin = preset is not None and self.store.is_builtin(preset.id)
        self.remove_action.setText("Reset to built-in" if builtin else "Delete this preset")
        self.remove_action.setEnabled(preset is not None and (not builtin or self.store.is_modified(preset.id)))
        self.update_action.setEnabled(preset is not None)

    def _ask_save_as(self) -> None:
        title, ok = QInputDialog.getText(self, "Save preset", "Name of the new preset:")
        if ok and title.strip():
            self.save_as(title)
