"""What the screenshot scripts share: their command line, the real main
window on a temporary STUDIO_HOME, waiting for background work, and saving
the grab.

The scripts run on a display or under Xvfb, so the window has a real size:

    xvfb-run -a -s "-screen 0 1440x900x24" .venv/bin/python packaging/screenshot_video.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]


def parse_args(description: str, default_name: str,
               extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / default_name)
    parser.add_argument("--theme", default="dark", choices=("dark", "light"))
    parser.add_argument("--size", default="1440x900", help="window size, WIDTHxHEIGHT")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def open_window(args: argparse.Namespace, start_workspace: str | None = None,
                settings: dict[str, Any] | None = None) -> tuple[Any, Any, Any]:
    """(application, services, main window) on a fresh STUDIO_HOME, shown at
    ``args.size``, with ``settings`` stored before the window reads them."""
    os.environ["STUDIO_HOME"] = tempfile.mkdtemp(prefix="studio-screenshot-")
    sys.path.insert(0, str(REPO))

    from PySide6.QtTest import QTest

    from studio.engines.registry import open_studio_services
    from studio.qt.app import create_application
    from studio.qt.main_window import MainWindow

    width, height = (int(v) for v in args.size.lower().split("x"))
    app = create_application()
    services = open_studio_services()
    services.settings.set("ui.theme", args.theme)
    for key, value in (settings or {}).items():
        services.settings.set(key, value)
    if start_workspace:
        # Only the starting tab is built: a built page's minimum width counts
        # for the whole tab widget, and so for the window's.
        services.settings.set("ui.workspace", start_workspace)
    window = MainWindow(services)
    window.setGeometry(0, 0, width, height)
    window.show()
    QTest.qWaitForWindowExposed(window)
    return app, services, window


def wait_until(condition: Callable[[], bool], limit_ms: int = 180_000) -> bool:
    """Let the event loop run until ``condition()`` holds or the limit passes."""
    from PySide6.QtTest import QTest

    waited = 0
    while not condition() and waited < limit_ms:
        QTest.qWait(100)
        waited += 100
    return condition()


def save_and_quit(app: Any, window: Any, args: argparse.Namespace, detail: str = "") -> int:
    from PySide6.QtCore import QTimer

    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(f"saved {args.out} ({window.width()}x{window.height()}, theme {args.theme})"
          + (f"; {detail}" if detail else ""))
    QTimer.singleShot(0, window.close)
    app.exec()
    return 0
