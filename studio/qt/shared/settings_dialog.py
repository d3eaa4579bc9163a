"""The Settings dialog: theme, model folders, the memory budget for loaded
models, the live-preview rate, the audio output device and the remote text
servers. It only edits the settings file; the window applies what changed
(``settings_changed`` carries the keys).

Servers are saved as soon as they are added or removed (their API keys go
to the secrets store, never to the settings); Test asks a server for its
models on a background task and shows the count or the error line."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core import servers
from studio.core.jobs import StudioError
from studio.core.playback import output_devices
from studio.core.settings import Settings
from studio.qt import theme
from studio.qt.shared.fit import shrinkable
from studio.qt.tasks import Tasks

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
        body = QWidget()
        form = QFormLayout(body)
        form.setContentsMargins(0, 0, 8, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        self.theme_combo = QComboBox()
        for name, spec in theme.THEMES.items():
            self.theme_combo.addItem(spec.title, name)
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(settings.get("ui.theme"))))
        form.addRow("Theme", self.theme_combo)
        form.addRow("Model folders", self._folders_section())
        self._add_performance_rows(form)
        self.audio_output = self._audio_output_combo(str(settings.get(AUDIO_OUTPUT_SETTING) or ""))
        form.addRow("Audio output", self.audio_output)
        form.addRow("Servers", self._servers_section())
        self._add_comfy_rows(form)
        from studio.qt.shared.credentials_section import CredentialsSection

        self.credentials = CredentialsSection(settings)
        form.addRow("Content Credentials", self.credentials)
        scroll = shrinkable(body)  # a small screen scrolls the settings instead of cutting them
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(scroll, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._update_buttons()
        self._fit_to_screen(body, scroll)

    def _fit_to_screen(self, body: QWidget, scroll: QScrollArea) -> None:
        """As tall as the settings need, but never taller than the screen."""
        wanted = body.sizeHint()
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        extra = self.sizeHint().height() - scroll.sizeHint().height()  # margins and the buttons
        width = max(self.minimumWidth(), wanted.width() + scroll.verticalScrollBar().sizeHint().width() + 40)
        self.resize(min(width, screen.width() - 40), min(wanted.height() + extra + 8, screen.height() - 60))

    def _folders_section(self) -> QVBoxLayout:
        """The model folders list with Add and Remove."""
        self.folders = QListWidget()
        self.folders.setObjectName("modelFolders")
        self.folders.setMinimumHeight(110)
        for folder in self.settings.get("models.folders") or []:
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
        return folders_box

    def _add_performance_rows(self, form: QFormLayout) -> None:
        """Memory budget and preview rate."""
        self.budget = QSpinBox()
        self.budget.setRange(256, 1024 * 1024)
        self.budget.setSingleStep(512)
        self.budget.setSuffix(" MB")
        self.budget.setValue(int(self.settings.get("models.memory_budget_mb")))
        self.budget.setToolTip("Loaded models beyond this are unloaded, least recently used first")
        form.addRow("Memory budget", self.budget)
        self.fps = QSpinBox()
        self.fps.setRange(1, 120)
        self.fps.setSuffix(" per second")
        self.fps.setValue(int(self.settings.get("preview.max_fps")))
        self.fps.setToolTip("How often running work may update the window (text being written, progress)")
        form.addRow("Live updates", self.fps)
        self.picture_fps = QSpinBox()
        self.picture_fps.setObjectName("pictureFps")
        self.picture_fps.setRange(1, 60)
        self.picture_fps.setSuffix(" per second")
        self.picture_fps.setValue(int(self.settings.get("preview.picture_fps")))
        self.picture_fps.setToolTip("How often a picture being generated is redrawn; each redraw takes a "
                                    "little time from the model on a slow machine")
        form.addRow("Picture previews", self.picture_fps)

    def _add_comfy_rows(self, form: QFormLayout) -> None:
        self.comfy_timeout = QSpinBox()
        self.comfy_timeout.setObjectName("comfyTimeout")
        self.comfy_timeout.setRange(5, 24 * 3600)
        self.comfy_timeout.setSuffix(" s")
        self.comfy_timeout.setValue(int(self.settings.get("comfyui.result_timeout_s")))
        self.comfy_timeout.setToolTip("A job on a ComfyUI server with no result by then fails and is cancelled there")
        form.addRow("ComfyUI result timeout", self.comfy_timeout)

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

    # --- servers -------------------------------------------------------------------
    def _servers_section(self) -> QVBoxLayout:
        self.server_store = servers.ServerStore(self.settings)
        self.server_tasks = Tasks(self, max_threads=2, name="studio-server-test")
        self.finished.connect(lambda _result: self.server_tasks.shutdown(3000))
        self._servers_changed = False
        self._testing = False  # a Test runs; one at a time
        self.server_list = QListWidget()
        self.server_list.setObjectName("servers")
        self.server_list.setMinimumHeight(80)
        self.server_list.itemSelectionChanged.connect(self._update_buttons)
        self.add_server_button = QPushButton("Add…")
        theme.set_icon(self.add_server_button, "add")
        self.add_server_button.clicked.connect(self._ask_for_server)
        self.remove_server_button = QPushButton("Remove")
        theme.set_icon(self.remove_server_button, "remove")
        self.remove_server_button.clicked.connect(self.remove_selected_server)
        self.test_server_button = QPushButton("Test")
        self.test_server_button.setToolTip("Ask the server for its models")
        self.test_server_button.clicked.connect(self.test_selected_server)
        row = QHBoxLayout()
        row.setSpacing(6)
        for button in (self.add_server_button, self.remove_server_button, self.test_server_button):
            row.addWidget(button)
        row.addStretch(1)
        self.server_status = QLabel("")
        self.server_status.setObjectName("serverStatus")
        self.server_status.setWordWrap(True)
        self.server_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hint = QLabel("OpenAI-compatible servers whose models the Text workspace can use, e.g. a llama.cpp "
                      "server, Ollama, vLLM or LM Studio. API keys are kept in the system keyring "
                      "or a private file, never in the settings.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        box = QVBoxLayout()
        box.setSpacing(6)
        box.addWidget(self.server_list)
        box.addLayout(row)
        box.addWidget(self.server_status)
        box.addWidget(hint)
        self._fill_servers()
        return box

    def _fill_servers(self) -> None:
        selected = self.selected_server()
        self.server_list.clear()
        for endpoint in self.server_store.list():
            key = "API key set" if endpoint.has_key() else "no API key"
            item = QListWidgetItem(f"{endpoint.name}  —  {endpoint.api_url}  ({key})")
            item.setData(Qt.ItemDataRole.UserRole, endpoint.name)
            self.server_list.addItem(item)
            if endpoint.name == selected:
                item.setSelected(True)

    def server_names(self) -> list[str]:
        return [self.server_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.server_list.count())]

    def selected_server(self) -> str:
        items = self.server_list.selectedItems() if hasattr(self, "server_list") else []
        return items[0].data(Qt.ItemDataRole.UserRole) if items else ""

    def select_server(self, name: str) -> None:
        for i in range(self.server_list.count()):
            item = self.server_list.item(i)
            item.setSelected(item.data(Qt.ItemDataRole.UserRole) == name)

    def _ask_for_server(self) -> None:
        dialog = ServerDialog(self)
        while dialog.exec() == QDialog.DialogCode.Accepted:
            try:
                self.add_server(*dialog.values())
                return
            except StudioError as exc:
                dialog.show_error(str(exc))

    def add_server(self, name: str, base_url: str, kind: str = "openai", api_key: str = "") -> None:
        """Save a server now (its key to the secrets store); raises StudioError on a bad name or URL."""
        endpoint = self.server_store.add(name, base_url, kind, api_key or None)
        self._servers_changed = True
        self._fill_servers()
        self.select_server(endpoint.name)
        self.server_status.setText(f"Added {endpoint.name}; Test asks it for its models.")

    def remove_selected_server(self) -> None:
        name = self.selected_server()
        if name:
            self.server_store.remove(name)
            self._servers_changed = True
            self._fill_servers()
            self.server_status.setText(f"Removed {name}.")
        self._update_buttons()

    def test_selected_server(self) -> None:
        name = self.selected_server()
        if not name:
            return
        endpoint = self.server_store.get(name)
        self.server_status.setText(f"Asking {name} for its models…")
        self._testing = True
        self.test_server_button.setEnabled(False)

        def finished(models: list[str]) -> None:
            count = f"{len(models)} model{'s' if len(models) != 1 else ''}"
            shown = ", ".join(models[:5]) + ("…" if len(models) > 5 else "")
            self._show_test_result(f"{name}: {count}" + (f" ({shown})" if shown else ""))

        def failed(message: str, _traceback: str) -> None:
            self._show_test_result(message.splitlines()[0] if message else f"{name}: the test failed")

        self.server_tasks.run(_list_models, endpoint, finished=finished, failed=failed)

    def _show_test_result(self, text: str) -> None:
        self._testing = False
        self.server_status.setText(text)
        self._update_buttons()

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
        if hasattr(self, "server_list"):
            chosen = bool(self.selected_server())
            self.remove_server_button.setEnabled(chosen)
            self.test_server_button.setEnabled(chosen and not self._testing)

    # --- result ----------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {
            "ui.theme": self.theme_combo.currentData(),
            "models.folders": self.folder_list(),
            "models.memory_budget_mb": self.budget.value(),
            "preview.max_fps": self.fps.value(),
            "preview.picture_fps": self.picture_fps.value(),
            "comfyui.result_timeout_s": self.comfy_timeout.value(),
            AUDIO_OUTPUT_SETTING: self.audio_output.currentData(),
            **self.credentials.values(),
        }

    def set_theme(self, name: str) -> None:
        self.theme_combo.setCurrentIndex(self.theme_combo.findData(name))

    def accept(self) -> None:
        values = self.values()
        changed = [key for key, value in values.items() if self.settings.get(key) != value]
        if self._servers_changed:  # already saved when added or removed
            changed.append(servers.SETTING)
        self.settings.update(values)
        super().accept()
        if changed:
            self.settings_changed.emit(changed)

    def keyPressEvent(self, event) -> None:  # Esc closes the dialog, never the window's Cancel action
        if event.key() == Qt.Key.Key_Escape:
            self.reject()
            return
        super().keyPressEvent(event)


def _list_models(endpoint: servers.Endpoint) -> list[str]:
    if endpoint.kind == "comfyui":  # its checkpoints, from /object_info
        from studio.engines.image.comfy.client import ComfyClient
        from studio.engines.image.comfy.servers import object_info
        from studio.engines.image.comfy.graph import offered

        with ComfyClient(endpoint) as client:
            return [str(name) for name in offered(object_info(client, fresh=True), "CheckpointLoaderSimple",
                                                  "ckpt_name")]
    from studio.engines.text.remote import list_models  # httpx: only when a server is tested

    return list_models(endpoint)


class ServerDialog(QDialog):
    """Name, base URL, kind and optional API key of a new server."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("serverDialog")
        self.setWindowTitle("Add a server")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. desktop")
        self.url = QLineEdit()
        self.url.setPlaceholderText(servers.EXAMPLES["llama.cpp server"])
        self.url.setToolTip("\n".join(f"{name}: {url}" for name, url in servers.EXAMPLES.items()))
        self.kind = QComboBox()
        for kind, title in servers.KINDS.items():
            self.kind.addItem(title, kind)
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("optional")
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.url)
        form.addRow("Kind", self.kind)
        form.addRow("API key", self.key)
        layout.addLayout(form)
        examples = QLabel("Usual addresses: " + "; ".join(f"{n} {u}" for n, u in servers.EXAMPLES.items()))
        examples.setObjectName("hint")
        examples.setWordWrap(True)
        layout.addWidget(examples)
        self.error = QLabel("")
        self.error.setObjectName("serverError")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> tuple[str, str, str, str]:
        return self.name.text().strip(), self.url.text().strip(), self.kind.currentData(), self.key.text().strip()

    def show_error(self, message: str) -> None:
        self.error.setText(message)
