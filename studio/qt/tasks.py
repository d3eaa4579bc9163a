"""Short background tasks for the GUI: device detection, model discovery,
loading and unloading a model, decoding thumbnails, resampling and
spectrograms.

Each task runs a plain function on a small pool of Python threads owned by
the window; its result or error comes back to the GUI thread through a
queued signal. The pool is the only place such work runs, so closing the
window can wait for all of it (``Tasks.shutdown``) and leave no thread behind.

Why Python threads and not QThreadPool: Qt's pool runs each task under a
Python thread state that PySide creates before it and deletes after it, on
threads Qt reuses. torch's bindings keep their own per-thread record of
thread states, so torch code in a later task on the same pool thread can use
a deleted one and crash the process (seen with torchaudio's resample after
another task had imported torch). ``threading`` threads keep one thread
state for their whole life, which is what torch expects.

Generation jobs do not go through here: they have the job runner's own
worker thread and the persistent queue.
"""

from __future__ import annotations

import logging
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from studio.core.jobs import StudioError

log = logging.getLogger(__name__)


class Tasks(QObject):
    _delivered = Signal(object, object)  # a callback and its arguments, run on the GUI thread

    def __init__(self, parent: QObject | None = None, max_threads: int = 3, name: str = "studio-task") -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix=name)
        self._futures: set[Future] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._delivered.connect(self._deliver)

    def run(self, fn: Callable[..., Any], *args: Any,
            finished: Callable[[Any], None] | None = None,
            failed: Callable[[str, str], None] | None = None) -> Future | None:
        """Run ``fn(*args)`` in the pool; ``finished(result)`` or ``failed(message,
        traceback)`` is then called on the GUI thread. None once shut down."""
        if self._closed:
            return None
        future = self._pool.submit(self._call, fn, args, finished, failed)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], finished: Callable[[Any], None] | None,
              failed: Callable[[str, str], None] | None) -> None:
        try:
            result = fn(*args)
        except StudioError as exc:
            if failed is not None:
                self._delivered.emit(failed, (str(exc), traceback.format_exc()))
        except Exception as exc:  # noqa: BLE001 - a failing task must reach the user, not kill the pool
            log.exception("background task %s failed", getattr(fn, "__name__", fn))
            first = (str(exc).strip().splitlines() or [""])[0]
            message = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
            if failed is not None:
                self._delivered.emit(failed, (message, traceback.format_exc()))
        else:
            if finished is not None:
                self._delivered.emit(finished, (result,))

    def _deliver(self, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        callback(*args)

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

    @property
    def active(self) -> int:
        with self._lock:
            return sum(1 for future in self._futures if not future.done())

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait for every submitted task; True if all ended in time."""
        with self._lock:
            pending = list(self._futures)
        _done, not_done = wait(pending, timeout=None if timeout_ms < 0 else timeout_ms / 1000)
        return not not_done

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Refuse new tasks, drop queued ones, wait for running ones to end."""
        self._closed = True
        with self._lock:
            for future in self._futures:
                future.cancel()
        ended = self.wait(timeout_ms)
        self._pool.shutdown(wait=ended, cancel_futures=True)
        return ended
