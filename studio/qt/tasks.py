"""Short background tasks for the GUI: device detection, model discovery,
loading and unloading a model, decoding thumbnails.

Each task runs a plain function on a small thread pool owned by the window
and reports back through signals, which Qt delivers on the GUI thread. The
pool is the only place such work runs, so closing the window can wait for
all of it (``Tasks.shutdown``) and leave no thread behind.

Generation jobs do not go through here: they have the job runner's own
worker thread and the persistent queue.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from studio.core.jobs import StudioError

log = logging.getLogger(__name__)


class TaskSignals(QObject):
    finished = Signal(object)  # the function's return value
    failed = Signal(str, str)  # readable message, traceback
    done = Signal()  # after either of the above


class Task(QRunnable):
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__()
        self.fn = fn
        self.args = args
        self.signals = TaskSignals()
        # The pool must not delete the C++ side while Python still owns it.
        self.setAutoDelete(False)

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except StudioError as exc:
            self.signals.failed.emit(str(exc), traceback.format_exc())
        except Exception as exc:  # noqa: BLE001 - a failing task must never take the pool down
            log.exception("background task %s failed", getattr(self.fn, "__name__", self.fn))
            first = (str(exc).strip().splitlines() or [""])[0]
            self.signals.failed.emit(f"{type(exc).__name__}: {first}" if first else type(exc).__name__,
                                     traceback.format_exc())
        else:
            self.signals.finished.emit(result)
        self.signals.done.emit()


class Tasks(QObject):
    """A thread pool plus the bookkeeping that keeps running tasks alive."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 3) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._live: set[Task] = set()
        self._closed = False

    def run(self, fn: Callable[..., Any], *args: Any,
            finished: Callable[[Any], None] | None = None,
            failed: Callable[[str, str], None] | None = None) -> Task | None:
        """Run ``fn(*args)`` in the pool; ``finished(result)`` or ``failed(message,
        traceback)`` is then called on the GUI thread. None once shut down."""
        if self._closed:
            return None
        task = Task(fn, args)
        if finished is not None:
            task.signals.finished.connect(finished)
        if failed is not None:
            task.signals.failed.connect(failed)
        task.signals.done.connect(self._forget)
        self._live.add(task)
        self.pool.start(task)
        return task

    def _forget(self) -> None:
        signals = self.sender()
        for task in list(self._live):
            if task.signals is signals:
                self._live.discard(task)

    @property
    def active(self) -> int:
        return self.pool.activeThreadCount()

    def wait(self, timeout_ms: int = -1) -> bool:
        return self.pool.waitForDone(timeout_ms)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Refuse new tasks, drop queued ones, wait for running ones to end."""
        self._closed = True
        self.pool.clear()
        return self.pool.waitForDone(timeout_ms)
