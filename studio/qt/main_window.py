"""The main window: the four workspace tabs, the Library, Queue and Models
panels as docks, the status bar (device, memory, running job), the menus
and shortcuts, and the window's life cycle.

Start-up order matters here. Everything the window needs to appear is
cheap: settings, the SQLite index, the widgets. What is slow (importing
torch to name the device, searching the disk for models) starts only once
the window is exposed on screen, in background tasks, and fills the status
bar and the Models panel when done. Closing saves the layout and every
form, stops the job runner (cancelling what runs and joining its thread),
waits for background tasks, then closes the services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import base64
import logging
import time

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QLabel, QMainWindow, QMessageBox, QProgressBar, QSizePolicy, QTabWidget, QWidget,
)

from studio import __version__
from studio.core.devices import DeviceInfo, memory_in_use
from studio.core.jobs import JobState, StudioError
from studio.core.library import Library, LibraryItem
from studio.core.models.cards import human_size
from studio.core.services import Services
from studio.engines import context as engine_context
from studio.qt import theme
from studio.qt.panels.library_panel import LibraryPanel
from studio.qt.panels.models_panel import ModelsBridge, ModelsPanel, apply_model_folders
from studio.qt.panels.queue_panel import QueuePanel
from studio.qt.runner import JobRunner
from studio.qt.shared.error_dialog import show_error
from studio.qt.shared.status_line import StatusLine
from studio.qt.shared.workspace import Workspace, WorkspaceContext
from studio.qt.tasks import Tasks
from studio.qt.workspace_tabs import WORKSPACES, WorkspaceTab, Workspaces

if TYPE_CHECKING:
    from studio.qt.shared.settings_dialog import SettingsDialog

log = logging.getLogger(__name__)

MEMORY_REFRESH_MS = 2000
IDLE_CHECK_TICKS = 15  # memory ticks between checks for models idle past their time (30 s)
# If the platform never reports the window exposed, start background work anyway.
BACKGROUND_FALLBACK_MS = 1500


def _encode(data: QByteArray) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _decode(text: object) -> QByteArray | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return QByteArray(base64.b64decode(text))
    except ValueError:
        return None



def fetch_server_results(library: Library, before: float) -> list[str]:
    """Results of ComfyUI prompts that an earlier Studio left on a server (run
    in the background: it imports the ComfyUI client and asks the servers)."""
    from studio.engines.image.comfy.engine import fetch_finished, pending

    return fetch_finished(library, before) if pending() else []

class MainWindow(QMainWindow):
    def __init__(self, services: Services, close_services: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.services = services
        self.settings = services.settings
        self.close_services = close_services
        self.device: DeviceInfo | None = None
        self.background_started = False
        self.closed = False
        self._opened_at = time.time()
        self._first_show = True

        app = QApplication.instance()
        if app is not None and app.property("studio_theme") != self.settings.get("ui.theme"):
            theme.apply_theme(app, self.settings.get("ui.theme"))
        self.setWindowTitle("Studio")
        self.setWindowIcon(theme.app_icon())
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.tasks = Tasks(self)
        self.runner = JobRunner(services.queue, services.library,
                                max_fps=float(self.settings.get("preview.max_fps")),
                                picture_fps=float(self.settings.get("preview.picture_fps")), parent=self)
        context = WorkspaceContext(services, self.runner, self.tasks)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("workspaceTabs")
        self.tabs.setDocumentMode(True)
        self._model_cards: list = []
        tabs = [WorkspaceTab(spec, context, self._on_workspace_built) for spec in WORKSPACES]
        for tab in tabs:
            self.tabs.addTab(tab, theme.icon(tab.spec.icon_name), tab.spec.title)
        self.workspaces = Workspaces(tabs)  # each is built when first shown or asked for
        self.setCentralWidget(self.tabs)

        self.library_panel = LibraryPanel(services.library, self.tasks)
        self.queue_panel = QueuePanel(services.queue, self.runner)
        self.models_panel = ModelsPanel(services.models, self.settings, self.tasks, services.paths.models_dir)
        self.library_dock = self._dock("Library", "libraryDock", self.library_panel)
        self.queue_dock = self._dock("Queue", "queueDock", self.queue_panel)
        self.models_dock = self._dock("Models", "modelsDock", self.models_panel)
        self._default_layout()

        self.models_bridge = ModelsBridge(services.models, self)
        self.models_bridge.models_changed.connect(self._on_models_changed)
        self.library_panel.reuse_requested.connect(self.reuse_settings)
        self.library_panel.item_activated.connect(self.show_library_item)

        self._build_status_bar()
        self._build_actions()
        self._connect_runner()
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(MEMORY_REFRESH_MS)
        self._memory_timer.timeout.connect(self._on_memory_tick)
        self._ticks = 0
        self._restore_state()
        self.tabs.currentChanged.connect(self._on_tab_changed)
        # The tab on screen is built right after the window's first frame
        # (start_background), not before it: the frame with the menus, tabs and
        # panels comes first. Anything that needs a workspace earlier builds it.

    # --- layout --------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        return dock

    def _default_layout(self) -> None:
        """Library over Queue on the right (full height), Models under the workspace."""
        for dock in (self.library_dock, self.queue_dock, self.models_dock):
            dock.setFloating(False)
            dock.show()
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.library_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.queue_dock)
        self.splitDockWidget(self.library_dock, self.queue_dock, Qt.Orientation.Vertical)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.models_dock)
        self.resizeDocks([self.library_dock], [380], Qt.Orientation.Horizontal)
        self.resizeDocks([self.library_dock, self.queue_dock], [520, 300], Qt.Orientation.Vertical)
        self.resizeDocks([self.models_dock], [250], Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        self._default_layout()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        self.job_label = QLabel("Idle")
        self.job_label.setObjectName("statusJob")
        self.job_progress = QProgressBar()
        self.job_progress.setObjectName("statusProgress")
        self.job_progress.setFixedWidth(180)
        self.job_progress.setTextVisible(True)
        self.job_progress.setVisible(False)
        self.message_label = QLabel("")
        self.device_label = QLabel("Device: detecting…")
        self.device_label.setObjectName("statusDevice")
        # Its text changes every two seconds: as a plain QLabel each change re-laid out the window.
        self.memory_label = StatusLine("statusMemory")
        self.memory_label.setFixedWidth(self.memory_label.label.fontMetrics().horizontalAdvance(
            "Memory: RAM 00000.0 MB · models 0000.0 MB") + 24)  # the theme pads status labels by 8 px
        self.memory_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.memory_label.setText("Memory: —")
        bar.addWidget(self.job_label)
        bar.addWidget(self.job_progress)
        bar.addWidget(self.message_label, 1)
        bar.addPermanentWidget(self.device_label)
        bar.addPermanentWidget(self.memory_label)
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.message_label.clear)

    def show_message(self, text: str, timeout_ms: int = 6000) -> None:
        self.message_label.setText(text)
        self._message_timer.start(timeout_ms)

    def _action(self, text: str, slot, shortcut: str | list[str] = "", icon_name: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut:
            keys = [shortcut] if isinstance(shortcut, str) else shortcut
            action.setShortcuts([QKeySequence(key) for key in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if icon_name:
            theme.set_icon(action, icon_name)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.settings_action = self._action("&Settings…", self.open_settings, "Ctrl+,", "settings")
        self.quit_action = self._action("&Quit", self.close, "Ctrl+Q")
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        gen_menu = menu.addMenu("&Generate")
        self.generate_action = self._action("&Generate", self.generate, ["Ctrl+Return", "Ctrl+Enter"], "play")
        self.cancel_action = self._action("&Cancel", self.cancel, "Esc", "stop")
        self.cancel_all_action = self._action("Cancel &all jobs", self.runner.cancel_all, "", "cancel-all")
        for action in (self.generate_action, self.cancel_action, self.cancel_all_action):
            gen_menu.addAction(action)

        view_menu = menu.addMenu("&View")
        self.tab_actions: list[QAction] = []
        for index, spec in enumerate(self.workspaces.specs()):
            action = self._action(f"{spec.title} workspace", self._switch_tab, f"Ctrl+{index + 1}",
                                  spec.icon_name)
            action.setData(index)
            view_menu.addAction(action)
            self.tab_actions.append(action)
        view_menu.addSeparator()
        for dock in (self.library_dock, self.queue_dock, self.models_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self._action("Reset layout", self.reset_layout))

        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self._action("&About Studio", self.about))

    def _switch_tab(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.tabs.setCurrentIndex(int(action.data()))

    # --- workspaces -----------------------------------------------------------------
    def current_workspace(self) -> Workspace:
        tab: WorkspaceTab = self.tabs.currentWidget()  # type: ignore[assignment]
        return tab.build()

    def workspace_for(self, modality: str) -> Workspace | None:
        name = self.workspaces.name_for(modality)
        return self.workspaces[name] if name else None

    def show_workspace(self, name: str) -> Workspace:
        """Bring workspace ``name`` to the front (building it if needed)."""
        self.tabs.setCurrentWidget(self.workspaces.tab(name))
        return self.workspaces[name]

    def _on_workspace_built(self, workspace: Workspace) -> None:
        workspace.generation_changed.connect(self._update_actions)
        if self._model_cards:
            workspace.set_model_cards(self._model_cards)

    def _on_tab_changed(self, _index: int) -> None:
        self.current_workspace()  # build it now that it is on screen
        self._update_actions()

    def _update_actions(self) -> None:
        workspace = self.current_workspace()
        if workspace is None:
            return
        self.generate_action.setEnabled(workspace.can_generate)

    def generate(self) -> None:
        self.current_workspace().generate()

    def cancel(self) -> None:
        """Esc: cancel the current workspace's jobs; with none, the running job."""
        workspace = self.current_workspace()
        if workspace.active_jobs:
            workspace.cancel()
        else:
            self.runner.cancel_running()

    def reuse_settings(self, item: LibraryItem) -> None:
        workspace = self.workspace_for(item.modality)
        try:
            if workspace is None:
                raise StudioError(f"there is no workspace for {item.modality or 'this kind of'} items")
            workspace.apply_request(item.request)
        except StudioError as exc:
            show_error(self, "Cannot reuse these settings", str(exc))
            return
        self.show_workspace(workspace.name)
        self.show_message(f"Settings of “{(item.prompt or item.path.name)[:60]}” restored")

    def show_library_item(self, item: LibraryItem) -> None:
        workspace = self.workspace_for(item.modality)
        if workspace is not None:
            self.show_workspace(workspace.name)
            workspace.show_item(item)

    # --- jobs -------------------------------------------------------------------------
    def _connect_runner(self) -> None:
        self.runner.job_started.connect(self._on_job_started)
        self.runner.job_progress.connect(self._on_job_progress)
        self.runner.job_finished.connect(self._on_job_finished)
        self.runner.job_failed.connect(self._on_job_failed)
        self.runner.job_cancelled.connect(self._on_job_cancelled)

    def _on_job_started(self, job_id: int) -> None:
        try:
            job = self.services.queue.get(job_id)
        except StudioError:
            return
        # A workspace follows the jobs of its modality, unless another one
        # submitted it (the Video editor's image job for a regenerated frame).
        followed = any(job_id in w.active_jobs for w in self.workspaces.built())
        workspace = None if followed else self.workspace_for(job.request.modality)
        if workspace is not None:
            workspace.watch_job(job)
        self.job_label.setText(f"Job {job_id}: {job.label[:48]}")
        self.job_progress.setRange(0, 0)  # busy until the first progress report
        self.job_progress.setVisible(True)

    def _on_job_progress(self, job_id: int, done: int, total: int, _message: str) -> None:
        if total > 0:
            # QProgressBar repaints synchronously on each change (the whole
            # status bar, several milliseconds on the GUI thread while the
            # sampler waits for the GIL): change it with updates held, and let
            # the one update they queue paint it with the next frame.
            bar = self.job_progress
            bar.setUpdatesEnabled(False)
            bar.setRange(0, total)
            bar.setValue(done)
            bar.setFormat(f"{done} / {total}")
            bar.setUpdatesEnabled(True)

    def _job_ended(self, text: str) -> None:
        self.job_progress.setVisible(False)
        self.job_progress.reset()
        self.job_label.setText("Idle")
        self.show_message(text)

    def _on_job_finished(self, job_id: int, item: LibraryItem) -> None:
        self.library_panel.reload()
        self._job_ended(f"Job {job_id} finished: {item.path.name}")

    def _on_job_failed(self, job_id: int, message: str, _details: str) -> None:
        self._job_ended(f"Job {job_id} failed: {message}")

    def _on_job_cancelled(self, job_id: int) -> None:
        self._job_ended(f"Job {job_id} cancelled")

    # --- background start-up work -------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._first_show:
            self._first_show = False
            handle = self.windowHandle()
            if handle is not None:
                handle.installEventFilter(self)
            QTimer.singleShot(BACKGROUND_FALLBACK_MS, self.start_background)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Expose and watched is self.windowHandle():
            watched.removeEventFilter(self)
            # After this expose has been painted, not during it.
            QTimer.singleShot(0, self.start_background)
        return super().eventFilter(watched, event)

    def start_background(self) -> None:
        """Work that must not delay the window: the workspace on screen, device,
        model discovery, memory."""
        if self.background_started or self.closed:
            return
        self.background_started = True
        self._on_tab_changed(self.tabs.currentIndex())
        # The engines' shared device: detected once here (pick_device imports torch), reused by every job.
        self.tasks.run(engine_context.device, finished=self._on_device, failed=self._on_device_failed)
        self.models_panel.refresh()
        self.update_memory()
        self._memory_timer.start()
        if self.services.queue.jobs(JobState.QUEUED):
            self.runner.start()  # resume jobs queued in an earlier session
        # Results a server finished after an earlier Studio was closed mid-job.
        self.tasks.run(fetch_server_results, self.services.library, self._opened_at,
                       finished=self._on_server_results)

    def _on_server_results(self, lines: list[str]) -> None:
        fetched = [line for line in lines if "fetched" in line]
        if fetched:
            self.library_panel.reload()
            self.statusBar().showMessage(f"Fetched from the server: {'; '.join(fetched)}", 15000)

    def _on_device(self, info: DeviceInfo) -> None:
        self.device = info
        self.device_label.setText(info.label)
        self.device_label.setToolTip(f"{info.label}\nPrecision: {info.dtype}\n"
                                     f"Memory: {human_size(info.total_memory_bytes)}")

    def _on_device_failed(self, message: str, _details: str) -> None:
        self.device_label.setText("Device: unknown")
        self.device_label.setToolTip(message)

    def _on_memory_tick(self) -> None:
        self.update_memory()
        self._ticks += 1
        if self._ticks % IDLE_CHECK_TICKS == 0 and self.services.models.memory_used():
            # Unloading collects garbage and may empty the GPU cache: not on the GUI thread.
            self.tasks.run(self.services.models.unload_idle)

    def update_memory(self) -> None:
        try:
            usage = memory_in_use()
        except AttributeError:
            # torch is half-imported by a background task (it checks sys.modules); next tick.
            return
        parts = [f"RAM {human_size(usage.get('process', 0))}"]
        if "gpu" in usage:
            parts.append(f"GPU {human_size(usage['gpu'])}")
        models = self.services.models.memory_used()
        if models:
            parts.append(f"models {human_size(models)}")
        self.memory_label.setText("Memory: " + " · ".join(parts))

    def _on_models_changed(self) -> None:
        if self.closed:
            return
        cards = self.services.models.cards()
        self._model_cards = cards
        for workspace in self.workspaces.built():
            workspace.set_model_cards(cards)
        self.models_panel.reload()
        self.update_memory()

    # --- settings ---------------------------------------------------------------------------
    def open_settings(self) -> SettingsDialog:
        from studio.qt.shared.settings_dialog import SettingsDialog  # numpy and PortAudio: not at start-up

        dialog = SettingsDialog(self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.settings_changed.connect(self.apply_settings)
        dialog.open()
        self.settings_dialog = dialog
        return dialog

    def apply_settings(self, keys: list[str]) -> None:
        if "ui.theme" in keys:
            theme.apply_theme(QApplication.instance(), self.settings.get("ui.theme"))
            self.queue_panel.reload()  # state colours are per theme
            self.models_panel.reload()
        if "models.memory_budget_mb" in keys:
            self.services.models.budget_bytes = int(self.settings.get("models.memory_budget_mb")) * 1024 * 1024
        if "models.folders" in keys:
            apply_model_folders(self.services.models, self.settings, self.services.paths.models_dir)
        if "models.folders" in keys or "servers.endpoints" in keys:  # a server's models are cards too
            self.models_panel.refresh()
        if "preview.max_fps" in keys:
            self.runner.set_max_fps(float(self.settings.get("preview.max_fps")))
        if "preview.picture_fps" in keys:
            self.runner.set_picture_fps(float(self.settings.get("preview.picture_fps")))
        for workspace in self.workspaces.built():  # what only a workspace knows (e.g. the audio output)
            workspace.apply_settings(keys)

    def about(self) -> None:
        QMessageBox.about(self, "About Studio",
                          f"<b>Studio {__version__}</b><p>Generate and edit text, images, audio and video "
                          "with local models, offline.</p>")

    # --- state ---------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = _decode(self.settings.get("ui.geometry"))
        if geometry is None or not self.restoreGeometry(geometry):
            screen = QApplication.primaryScreen()
            area = screen.availableGeometry() if screen else None
            if area is not None and area.width() > 0:
                width, height = min(1600, int(area.width() * 0.9)), min(1000, int(area.height() * 0.9))
                self.resize(width, height)
                self.move(area.center().x() - width // 2, area.center().y() - height // 2)
            else:
                self.resize(1440, 900)
        state = _decode(self.settings.get("ui.state"))
        if state is not None:
            self.restoreState(state)
        name = self.settings.get("ui.workspace")
        self.tabs.setCurrentWidget(self.workspaces.tab(name if name in self.workspaces else "image"))

    def save_state(self) -> None:
        for workspace in self.workspaces.built():
            workspace.save_form()
        self.settings.update({
            "ui.geometry": _encode(self.saveGeometry()),
            "ui.state": _encode(self.saveState()),
            "ui.workspace": self.current_workspace().name,
        })

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.closed:
            event.accept()
            return
        self.save_state()
        self.closed = True
        self._memory_timer.stop()
        self.runner.shutdown()
        self.tasks.shutdown()
        # Deliver what the worker and tasks posted before they stopped, while the
        # database is still open, so no slot runs against closed services later.
        QCoreApplication.sendPostedEvents()
        self.models_bridge.detach()
        if self.close_services:
            self.services.close()
        event.accept()
        super().closeEvent(event)
