"""Python's cyclic garbage collector, run on the GUI thread only.

Automatic collection runs on whichever thread happens to allocate past the
threshold: in Studio often a job's worker thread. When the garbage holds a
QObject made from Python, the worker then destroys it: the wrapper releases
the GIL around the C++ destructor, ``~QObject`` takes one of Qt's
signal-slot mutexes, and a virtual call inside it waits for the GIL. If the
GUI thread, holding the GIL, meanwhile connects or disconnects anything (a
label's ``setText``, a widget's ``show``) guarded by the same mutex, both
wait forever: the window froze this way, now and then, right as a job ran.

So automatic collection is off, and a timer on the GUI thread collects each
generation whose count has passed its threshold, youngest first, as
CPython itself would (a full collection at most every ``FULL_EVERY_S``,
where CPython weighs it against the heap's size); every QObject then dies
on the thread that owns the GUI. Reference counting frees everything not in
a cycle at once, as before.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

CHECK_INTERVAL_MS = 200
FULL_EVERY_S = 30.0  # a full pass over a heap holding torch models takes a tenth of a second or more


class GuiThreadCollector(QObject):
    def __init__(self, parent: QObject, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self._last_full = time.monotonic()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        """Collect the generations CPython would have collected by now."""
        counts = gc.get_count()
        generation = -1
        for index, (count, threshold) in enumerate(zip(counts, self.thresholds)):
            if threshold and count > threshold:
                generation = index
            else:
                break
        if generation == 2:
            if time.monotonic() - self._last_full < FULL_EVERY_S:
                generation = 1
            else:
                self._last_full = time.monotonic()
        if generation >= 0:
            gc.collect(generation)

    def stop(self) -> None:
        """Hand collection back to CPython (after the GUI is gone)."""
        self.timer.stop()
        gc.enable()


def collect_on_gui_thread(app: QObject) -> GuiThreadCollector:
    """Turn automatic collection off and collect from a timer on ``app``'s (the GUI) thread."""
    existing = app.findChild(GuiThreadCollector)
    return existing if existing is not None else GuiThreadCollector(app)
