"""Start-up time of the studio's main window against a bare PySide6 window.

Each measurement is a fresh Python process: the parent notes the wall-clock
time just before starting it, the child reports the time at which its main
window has been exposed and painted (an application event filter sees the
first Expose event; a zero timer queued there fires after the expose has
been handled), then exits at once. The studio child runs the real entry
point, ``studio.qt.app.main()``, on a temporary STUDIO_HOME; the baseline
child shows a QMainWindow holding a QTabWidget with four empty tabs.

Runs alternate between the two (after one unmeasured warm-up each, so both
find their files in the OS cache and their bytecode compiled) and the
medians are compared. The goal
is a ratio of at most 2.0 and a studio window in under 1.5 s.

Usage: python benchmarks/startup.py [--runs N]
The last line of output is a JSON object with window_s, bare_window_s and ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_RATIO = 2.0
GOAL_WINDOW_S = 1.5

CHILD = r"""
import os
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QWindow
from PySide6.QtWidgets import QApplication


def shown():
    sys.stdout.write(f"SHOWN {time.time():.6f}\n")
    sys.stdout.flush()
    os._exit(0)


class Probe(QObject):
    def eventFilter(self, watched, event):
        # isinstance first: converting every event's type to a Python enum would
        # slow the measured process down by itself.
        if isinstance(watched, QWindow) and event.type() == QEvent.Type.Expose and watched.isExposed():
            QTimer.singleShot(0, shown)  # runs once this expose has been painted
            QApplication.instance().removeEventFilter(self)
        return False


app = QApplication(sys.argv[:1])
probe = Probe()
app.installEventFilter(probe)
if sys.argv[1] == "studio":
    from studio.qt.app import main

    main()
else:
    from PySide6.QtWidgets import QMainWindow, QTabWidget, QWidget

    window = QMainWindow()
    window.setWindowTitle("bare")
    tabs = QTabWidget()
    for title in ("Text", "Image", "Audio", "Video"):
        tabs.addTab(QWidget(), title)
    window.setCentralWidget(tabs)
    window.resize(1280, 800)
    window.show()
    app.exec()
"""


def measure(mode: str, env: dict[str, str], timeout_s: float = 60.0) -> float:
    started = time.time()
    result = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=timeout_s)
    for line in result.stdout.splitlines():
        if line.startswith("SHOWN "):
            return float(line.split()[1]) - started
    raise RuntimeError(f"{mode} window never reported shown (exit {result.returncode}):\n{result.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each (default 5)")
    args = parser.parse_args()

    env = dict(os.environ)
    # An installed studio runs from compiled bytecode (pip and the first start
    # write it); let the warm-up write it here too, or every measured start
    # would compile the studio's modules while the baseline's are precompiled.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    platform = env.get("QT_QPA_PLATFORM") or ("wayland" if env.get("WAYLAND_DISPLAY") else "xcb")
    with tempfile.TemporaryDirectory(prefix="studio-startup-") as home:
        env["STUDIO_HOME"] = home
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
        measure("bare", env)  # warm-up: OS file cache, .pyc files, the new studio home
        measure("studio", env)
        bare: list[float] = []
        studio: list[float] = []
        for _ in range(args.runs):
            bare.append(measure("bare", env))
            studio.append(measure("studio", env))

    bare_s, studio_s = statistics.median(bare), statistics.median(studio)
    ratio = studio_s / bare_s
    print(f"Start-up to main window shown ({args.runs} runs each, Qt platform {platform}, "
          f"{os.cpu_count()} CPUs)")
    print(f"{'':<22}{'median':>9}{'min':>9}{'max':>9}   runs")
    for name, values in (("bare PySide6 window", bare), ("Studio main window", studio)):
        runs = " ".join(f"{v:.3f}" for v in values)
        print(f"{name:<22}{statistics.median(values):>8.3f}s{min(values):>8.3f}s{max(values):>8.3f}s   {runs}")
    verdict = "met" if ratio <= GOAL_RATIO and studio_s < GOAL_WINDOW_S else "MISSED"
    print(f"ratio {ratio:.2f} (goal <= {GOAL_RATIO}), window {studio_s:.3f} s (goal < {GOAL_WINDOW_S} s): {verdict}")
    print(json.dumps({"window_s": round(studio_s, 4), "bare_window_s": round(bare_s, 4), "ratio": round(ratio, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
