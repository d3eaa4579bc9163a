"""Fixtures for the GUI tests: a real main window on real services in the
test's own studio home, closed (and checked closed) at the end."""

from __future__ import annotations

import gc

import pytest
from PySide6.QtWidgets import QApplication

from studio.engines.registry import open_studio_services
from studio.qt import theme
from studio.qt.app import create_application
from studio.qt.main_window import MainWindow


@pytest.fixture(autouse=True)
def collect_on_the_gui_thread():
    """As the studio does (studio.qt.gc_policy): no automatic collection during a GUI test,
    where it could destroy a QObject on a job's worker thread and deadlock with the GUI
    thread; the test's garbage is collected here, on the main thread, afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    yield
    gc.collect()
    if enabled:
        gc.enable()


@pytest.fixture
def open_window(qtbot, studio_home):
    """Open a main window (call again after closing one to "restart")."""
    create_application()
    windows: list[MainWindow] = []

    def _open(background: bool = True) -> MainWindow:
        services = open_studio_services()
        # The window tests drive the Image workspace with the model-free pattern
        # engine; a user's default is Diffusion. A test may choose otherwise.
        if services.settings.get("forms.image.kind") is None:
            services.settings.set("forms.image.kind", "pattern")
        window = MainWindow(services)
        if not background:
            window.background_started = True  # nothing started after show: for tests that need quiet
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield _open
    for window in windows:
        if not window.closed:
            window.close()
    theme.apply_theme(QApplication.instance(), theme.DEFAULT_THEME)


@pytest.fixture
def window(open_window):
    return open_window()


def make_active(qtbot, window: MainWindow) -> None:
    """Shortcuts only reach the active window."""
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
