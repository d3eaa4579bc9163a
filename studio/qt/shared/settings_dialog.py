"""The Settings dialog: theme, model folders, the memory budget for loaded
models, the live-preview rate and the audio output device. It only edits the
settings file; the window applies what changed (``settings_changed``
carries the keys)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QListWidget, QPushButton,
    QSpinBox, QVBoxLayout, QWidget,
)

from studio.core.playback import output_devices
from studio.core.settings import Settings
from studio.qt import theme


AUDIO_OUTPUT_SETTING = "audio.output_device"


class SettingsDialog(QDialog):
    settings_changed = Signal(list)  # the keys whose value changed

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self.settings = settings

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(12)
        form = QFormLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)

        self.theme_combo = QComboBox()
        for name, spec in theme.THEMES.items():
            self.theme_combo.addItem(spec.title, name)
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(settings.get("ui.theme"))))
        form.addRow("Theme", self.theme_combo)

        self.folders = QListWidget()
        self.folders.setObjectName("modelFolders")
        self.folders.setMinimumHeight(110)
        for folder in settings.get("models.folders") or []:
            self.folders.addItem(str(folder))
        self.folders.itemSelectionChanged.connect(self._update_buttons)
        folder_buttons = QHBoxLayout()
        folder_buttons.setSpacing(6)
        self.add_button = QPushButton("Add…")
        theme.set_icon(self.add_button, "add")
        self.add_button.clicked.connect(self._choose_folder)
        self.remove_button = QPushButton("Remove")
        theme.set_icon(self.remove_button, "remove")
        self.remove_button.clicked.connect(self.remove_selected_folder)
        folder_buttons.addWidget(self.add_button)
        folder_buttons.addWidget(self.remove_button)
        folder_buttons.addStretch(1)
        folders_box = QVBoxLayout()
        folders_box.setSpacing(6)
        folders_box.addWidget(self.folders)
        folders_box.addLayout(folder_buttons)
        hint = QLabel("Studio also looks in its own models folder, installed starter packs and the "
                      "Hugging Face cache. A1111 and ComfyUI folders can be added as they are.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        folders_box.addWidget(hint)
        form.addRow("Model folders", folders_box)

        self.budget = QSpinBox()
        self.budget.setRange(256, 1024 * 1024)
        self.budget.setSingleStep(512)
        self.budget.setSuffix(" MB")
        self.budget.setValue(int(settings.get("models.memory_budget_mb")))
        self.budget.setToolTip("Loaded models beyond this are unloaded, least recently used first")
        form.addRow("Memory budget", self.budget)

        self.fps = QSpinBox()
        self.fps.setRange(1, 120)
        self.fps.setSuffix(" per second")
        self.fps.setValue(int(settings.get("preview.max_fps")))
        self.fps.setToolTip("How often live previews may redraw; lower it on a slow machine")
        form.addRow("Preview updates", self.fps)

        self.audio_output = self._audio_output_combo(str(settings.get(AUDIO_OUTPUT_SETTING) or ""))
        form.addRow("Audio output", self.audio_output)
        layout.addLayout(form)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._update_buttons()

    @staticmethod
    def _audio_output_combo(current: str) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName("audioOutput")
        devices = output_devices()
        if not devices:
            combo.addItem("No output device: playback is unavailable", current)
            combo.setEnabled(False)
            return combo
        combo.addItem("System default", "")
        for device in devices:
            combo.addItem(device.name, device.name)
        if current and combo.findData(current) < 0:  # remembered but not connected now: keep it
            combo.addItem(f"{current} (not connected)", current)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        combo.setToolTip("Where the Audio workspace plays; also chosen on its transport bar")
        return combo

    # --- folders -------------------------------------------------------------------
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        if folder not in self.folder_list():
            self.folders.addItem(folder)

    def remove_selected_folder(self) -> None:
        for item in self.folders.selectedItems():
            self.folders.takeItem(self.folders.row(item))
        self._update_buttons()

    def folder_list(self) -> list[str]:
        return [self.folders.item(i).text() for i in range(self.folders.count())]

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.folders.selectedItems()))

    # --- result ----------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {
            "ui.theme": self.theme_combo.currentData(),
            "models.folders": self.folder_list(),
            "models.memory_budget_mb": self.budget.value(),
            "preview.max_fps": self.fps.value(),
            AUDIO_OUTPUT_SETTING: self.audio_output.currentData(),
        }

    def set_theme(self, name: str) -> None:
        self.theme_combo.setCurrentIndex(self.theme_combo.findData(name))

    def accept(self) -> None:
        values = self.values()
        changed = [key for key, value in values.items() if self.settings.get(key) != value]
        self.settings.update(values)
        super().accept()
        if changed:
            self.settings_changed.emit(changed)

    def keyPressEvent(self, event) -> None:  # Esc closes the dialog, never the window's Cancel action
        if event.key() == Qt.Key.Key_Escape:
            self.reject()
            return
        super().keyPressEvent(event)
