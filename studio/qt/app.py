"""The GUI entry point: ``main()`` builds the application, opens the shared
services, shows the main window and runs the event loop.

Only what the window needs is imported here (Qt, the light core modules
and the GUI); torch and the engines' libraries are imported later, in
background tasks or when a job runs, so the window appears fast."""

from __future__ import annotations

import logging
import os
import signal
import sys

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

from studio import __version__

APP_ID = "io.studio.Studio"


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, made once (a test or a launcher may have made it already)."""
    app = QApplication.instance()
    if app is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv if argv is None else argv)
    app.setApplicationName("Studio")
    app.setApplicationDisplayName("Studio")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Studio")
    # Lets Wayland and desktop shells match windows to the installed .desktop entry.
    app.setDesktopFileName(APP_ID)
    return app


def _wake() -> None:
    """Nothing: the timer that calls it gives Python a moment to run signal handlers."""


def install_signal_handlers(app: QApplication) -> QObject:
    """Ctrl+C or SIGTERM quits like closing the window does (state saved, jobs
    cancelled, threads joined). Qt's loop is C++, so a timer hands control to
    Python a few times a second for the handler to run."""

    def quit_app(_signum: int, _frame: object) -> None:
        app.quit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, quit_app)
    timer = QTimer(app)
    timer.setInterval(250)
    timer.timeout.connect(_wake)
    timer.start()
    return timer


def main() -> int:
    """Run the studio; returns the process exit code."""
    logging.basicConfig(level=os.environ.get("STUDIO_LOG", "WARNING").upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    app = create_application()

    from studio.engines.registry import open_studio_services
    from studio.qt import theme
    from studio.qt.main_window import MainWindow

    app.setWindowIcon(theme.app_icon())
    try:
        services = open_studio_services()
    except Exception as exc:  # noqa: BLE001 - show why instead of dying silently
        from studio.qt.shared.error_dialog import show_error

        box = show_error(None, "Studio cannot start", f"The studio's files could not be opened: {exc}")
        box.finished.connect(app.quit)
        return app.exec()
    from studio.qt.gc_policy import collect_on_gui_thread

    collect_on_gui_thread(app)  # garbage QObjects must die on the GUI thread: see studio.qt.gc_policy
    window = MainWindow(services)
    window.show()
    install_signal_handlers(app)
    code = app.exec()
    if not window.closed:  # the loop ended another way (a signal, app.quit): still shut down cleanly
        window.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
