"""Latest-wins live work on the job runner's worker thread.

Live frames and writing suggestions are not jobs: a restart must not replay
them, the library does not store them, and only the newest state matters.
A ``LiveSlot`` holds at most one pending piece of work (a newer one replaces
it) and the cancel token of the one running; the runner's worker runs
pending live work before it takes the next queued job (``JobRunner.
run_live_work``), so live work shares the thread (and the loaded models)
with jobs instead of racing them on a second thread.

``submit`` replaces the pending work and, unless asked not to, cancels the
one running at its next step. The work is a callable ``work(cancel)`` run on
the worker thread; its result (or its error) comes back to the GUI thread
through ``finished`` / ``failed`` with the key it was submitted under.
Cancelled work ends silently (``cancelled`` carries its key)."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core.jobs import Cancelled, CancelToken, StudioError

log = logging.getLogger(__name__)

Work = Callable[[CancelToken], Any]


class LiveSlot(QObject):
    started = Signal(object)  # key
    finished = Signal(object, object)  # key, result
    failed = Signal(object, str)  # key, message
    cancelled = Signal(object)  # key

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._lock = threading.Lock()
        self._pending: tuple[Any, Work] | None = None
        self._running: tuple[Any, CancelToken, float] | None = None
        self._wake: Callable[[], None] = lambda: None
        self.runs = 0  # works started (for tests and benchmarks)
        self.completed = 0

    def attach(self, wake: Callable[[], None]) -> None:
        """Called by the runner: how to wake its worker when work arrives."""
        self._wake = wake

    # --- GUI thread ---------------------------------------------------------------
    def submit(self, key: Any, work: Work, cancel_running: bool = True) -> None:
        """Make ``work`` the pending live work (dropping any older pending one)."""
        with self._lock:
            self._pending = (key, work)
            running = self._running
        if running is not None and cancel_running:
            running[1].cancel()
        self._wake()

    def cancel(self) -> None:
        """Drop the pending work and cancel the running one."""
        with self._lock:
            self._pending = None
            running = self._running
        if running is not None:
            running[1].cancel()

    def running_key(self) -> Any:
        with self._lock:
            return self._running[0] if self._running is not None else None

    def running_since(self) -> float | None:
        with self._lock:
            return self._running[2] if self._running is not None else None

    def pending_key(self) -> Any:
        with self._lock:
            return self._pending[0] if self._pending is not None else None

    def has_pending(self) -> bool:
        with self._lock:
            return self._pending is not None

    # --- worker thread ------------------------------------------------------------
    def run_pending(self) -> bool:
        """Run the pending work, if any, to its end; True if something ran."""
        token = CancelToken()
        with self._lock:
            if self._pending is None:
                return False
            (key, work), self._pending = self._pending, None
            self._running = (key, token, time.monotonic())
            self.runs += 1
        self.started.emit(key)
        try:
            result = work(token)
            if token.cancelled:
                raise Cancelled()
        except Cancelled:
            self.cancelled.emit(key)
        except StudioError as exc:
            self.failed.emit(key, str(exc))
        except Exception as exc:  # noqa: BLE001 - live work must never take the worker down
            log.warning("live %s failed: %s", self.name, traceback.format_exc())
            self.failed.emit(key, f"{type(exc).__name__}: {exc}".splitlines()[0])
        else:
            self.completed += 1
            self.finished.emit(key, result)
        finally:
            with self._lock:
                self._running = None
        return True
