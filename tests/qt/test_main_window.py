"""The main window as a whole: tabs and panels, shortcuts, persistence of
layout, forms and theme across a restart, a clean close, and a start-up
path that leaves torch unimported until the window is up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QThread
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QDockWidget

from studio.core.jobs import JobState
from studio.qt import theme
from tests.helpers.null_audio import no_audio_device, null_audio_device  # noqa: F401 - fixtures
from tests.qt.conftest import make_active

REPO = Path(__file__).resolve().parents[2]


def test_window_has_four_workspaces_three_panels_and_a_status_bar(qtbot, window):
    tabs = window.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Text", "Image", "Audio", "Video"]
    docks = {d.windowTitle(): d for d in window.findChildren(QDockWidget)}
    assert set(docks) == {"Library", "Queue", "Models"}
    assert all(d.isVisible() and not d.isFloating() for d in docks.values())
    assert window.dockWidgetArea(docks["Library"]) == Qt.DockWidgetArea.RightDockWidgetArea
    assert window.dockWidgetArea(docks["Models"]) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert window.current_workspace().name == "image"  # the one that can generate today
    # Device and memory arrive from background work after the window is shown.
    qtbot.waitUntil(lambda: window.device is not None, timeout=30000)
    assert window.device_label.text() == window.device.label
    assert window.device.name in ("cpu", "cuda", "mps")
    qtbot.waitUntil(lambda: window.memory_label.text().startswith("Memory: RAM"), timeout=5000)


def test_ctrl_number_switches_workspaces(qtbot, window):
    make_active(qtbot, window)
    for key, name in ((Qt.Key.Key_1, "text"), (Qt.Key.Key_4, "video"), (Qt.Key.Key_3, "audio"),
                      (Qt.Key.Key_2, "image")):
        qtbot.keyClick(window.tabs, key, Qt.KeyboardModifier.ControlModifier)
        assert window.current_workspace().name == name


def test_ctrl_comma_opens_settings_and_ctrl_q_quits(qtbot, window):
    make_active(qtbot, window)
    qtbot.keyClick(window.tabs, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: getattr(window, "settings_dialog", None) is not None
                    and window.settings_dialog.isVisible(), timeout=3000)
    window.settings_dialog.reject()
    make_active(qtbot, window)
    qtbot.keyClick(window.tabs, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert window.closed and not window.isVisible()


def test_ctrl_enter_generates_and_esc_cancels(qtbot, window):
    make_active(qtbot, window)
    image = window.workspaces["image"]
    image.prompt_edit.setPlainText("keyboard only")
    image.steps.setValue(200)
    image.step_delay.setValue(0.05)
    image.width_spin.setValue(64)
    image.height_spin.setValue(64)
    image.prompt_edit.setFocus()
    with qtbot.waitSignal(window.runner.job_started, timeout=5000):
        qtbot.keyClick(image.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert image.prompt_edit.toPlainText() == "keyboard only"  # no newline typed into the prompt
    (job_id,) = image.active_jobs
    with qtbot.waitSignal(window.runner.job_cancelled, timeout=5000):
        qtbot.keyClick(image.prompt_edit, Qt.Key.Key_Escape)
    assert window.services.queue.get(job_id).state is JobState.CANCELLED
    assert image.active_jobs == []


def test_forms_layout_and_tab_persist_across_a_restart(qtbot, open_window, studio_home):
    first = open_window(background=False)
    image, text = first.workspaces["image"], first.workspaces["text"]
    image.prompt_edit.setPlainText("a lighthouse at dusk")
    image.steps.setValue(37)
    image.width_spin.setValue(320)
    image.seed_field.random_button.setChecked(False)
    image.seed_field.spin.setValue(4242)
    text.prompt_edit.setPlainText("a haiku about rain")
    text.temperature.setValue(1.25)
    first.resize(740, 580)  # within the offscreen screen (800x800)
    qtbot.waitUntil(lambda: first.height() == 580)
    size = first.size()
    first.models_dock.hide()
    first.show_workspace("text")
    first.close()
    assert first.closed

    saved = json.loads((studio_home / "config" / "settings.json").read_text())
    assert saved["forms.image.prompt"] == "a lighthouse at dusk"
    assert saved["forms.image.steps"] == 37 and saved["forms.image.seed_random"] is False
    assert saved["ui.geometry"] and saved["ui.state"]

    second = open_window(background=False)
    # Only the workspace on screen is built at start; the others wait until needed.
    assert [w.name for w in second.workspaces.built()] == ["text"]
    image, text = second.workspaces["image"], second.workspaces["text"]
    assert image.prompt_edit.toPlainText() == "a lighthouse at dusk"
    assert (image.steps.value(), image.width_spin.value()) == (37, 320)
    assert image.seed_field.spin.value() == 4242 and not image.seed_field.is_random()
    assert text.prompt_edit.toPlainText() == "a haiku about rain"
    assert text.temperature.value() == 1.25
    assert second.current_workspace() is text
    assert second.size() == size
    assert not second.models_dock.isVisible() and second.library_dock.isVisible()


def test_form_is_saved_shortly_after_an_edit(qtbot, window):
    window.workspaces["audio"].prompt_edit.setPlainText("rain on a tin roof")
    qtbot.waitUntil(lambda: window.settings.get("forms.audio.prompt") == "rain on a tin roof", timeout=3000)


def test_theme_switch_applies_and_persists(qtbot, open_window):
    first = open_window(background=False)
    app = QApplication.instance()
    dark_window = app.palette().color(QPalette.ColorRole.Window).name()
    assert theme.current().name == "dark"
    dialog = first.open_settings()
    dialog.set_theme("light")
    dialog.accept()
    assert first.settings.get("ui.theme") == "light"
    assert theme.current().name == "light"
    light_window = app.palette().color(QPalette.ColorRole.Window).name()
    assert light_window == theme.THEMES["light"].window != dark_window
    assert "light theme" in app.styleSheet()
    first.close()

    theme.apply_theme(app, "dark")  # the next start must get "light" from the settings, not from memory
    open_window(background=False)
    assert theme.current().name == "light"
    assert app.palette().color(QPalette.ColorRole.Window).name() == theme.THEMES["light"].window


def test_settings_dialog_edits_folders_budget_and_preview_rate(qtbot, window, tmp_path):
    folder = tmp_path / "more-models"
    folder.mkdir()
    dialog = window.open_settings()
    dialog.add_folder(str(folder))
    dialog.budget.setValue(2048)
    dialog.fps.setValue(12)
    dialog.picture_fps.setValue(3)
    dialog.accept()
    assert window.settings.get("models.folders") == [str(folder)]
    assert window.settings.get("preview.max_fps") == 12
    assert window.settings.get("preview.picture_fps") == 3
    assert window.runner.picture_interval_s == pytest.approx(1 / 3)
    assert window.services.models.budget_bytes == 2048 * 1024 * 1024
    assert Path(folder) in window.services.models.user_folders

    dialog = window.open_settings()
    dialog.folders.setCurrentRow(0)
    dialog.remove_selected_folder()
    dialog.accept()
    assert window.settings.get("models.folders") == []
    assert Path(folder) not in window.services.models.user_folders


def test_settings_dialog_chooses_the_audio_output_and_the_audio_transport_follows(
        qtbot, window, null_audio_device):
    transport = window.show_workspace("audio").transport
    qtbot.waitUntil(lambda: bool(transport.devices), timeout=10000)  # the background scan found it
    assert transport.player.device == ""
    dialog = window.open_settings()
    combo = dialog.audio_output
    assert combo.isEnabled() and combo.currentData() == ""
    combo.setCurrentIndex(combo.findData(null_audio_device.name))
    dialog.accept()
    assert window.settings.get("audio.output_device") == null_audio_device.name
    assert transport.player.device == null_audio_device.name
    assert transport.device_combo.currentData() == null_audio_device.name
    assert window.open_settings().audio_output.currentData() == null_audio_device.name


def test_settings_dialog_says_playback_is_unavailable_without_a_device(qtbot, window, no_audio_device):
    window.settings.set("audio.output_device", "USB headset")
    dialog = window.open_settings()
    assert not dialog.audio_output.isEnabled()
    assert "unavailable" in dialog.audio_output.currentText()
    dialog.accept()  # keeps the remembered device for when it is plugged in again
    assert window.settings.get("audio.output_device") == "USB headset"


def test_close_stops_the_worker_and_every_background_thread(qtbot, window):
    qtbot.waitUntil(lambda: window.background_started, timeout=5000)
    image = window.workspaces["image"]
    image.prompt_edit.setPlainText("closing mid-job")
    image.steps.setValue(500)
    image.step_delay.setValue(0.05)
    image.width_spin.setValue(64)
    image.height_spin.setValue(64)
    with qtbot.waitSignal(window.runner.job_started, timeout=5000):
        job = image.generate()
    queued = image.generate()  # stays queued for the next start
    worker: QThread = window.runner.worker_thread
    assert worker.isRunning()
    window.close()
    assert window.closed
    assert not worker.isRunning()
    assert window.tasks.active == 0
    from studio.engines.registry import open_studio_services

    reopened = open_studio_services()
    try:
        assert reopened.queue.get(job.id).state is JobState.CANCELLED
        assert reopened.queue.get(queued.id).state is JobState.QUEUED
    finally:
        reopened.close()


PROBE = textwrap.dedent("""
    import os
    import sys
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtGui import QWindow
    from PySide6.QtWidgets import QApplication

    HEAVY = ("torch", "diffusers", "transformers", "cv2", "accelerate", "numpy")

    class Probe(QObject):
        def eventFilter(self, watched, event):
            # Application filters see the expose before the window's own handling,
            # which is what starts the background work.
            if isinstance(watched, QWindow) and event.type() == QEvent.Type.Expose and watched.isExposed():
                print("HEAVY_AT_SHOW=" + ",".join(m for m in HEAVY if m in sys.modules))
                print("TITLE=" + watched.title(), flush=True)
                os._exit(0)
            return False

    app = QApplication(sys.argv)
    probe = Probe()
    app.installEventFilter(probe)
    from studio.qt.app import main
    sys.exit(main())
""")


def test_window_appears_before_torch_or_numpy_is_imported(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", STUDIO_HOME=str(tmp_path / "home"))
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert lines["HEAVY_AT_SHOW"] == "", f"imported before the window was shown: {lines['HEAVY_AT_SHOW']}"
    assert lines["TITLE"] == "Studio"
