"""Background work for torch on Python's own threads.

The window's task pool (:mod:`studio.qt.tasks`) runs functions on threads
that Qt starts and reuses: each task runs under a Python thread state that
PySide creates before it and deletes after it. torch's bindings (pybind11)
keep their own per-thread record of thread states, so torch code in a later
task on the same pool thread can end up using a deleted one and crash the
process (seen: ``torchaudio.functional.resample`` in a pool task after the
device check had imported torch in another task on that thread).
Threads made by Python's ``threading`` module have the thread
state pybind11 expects, so the Audio workspace runs its torch work here:
a ``ThreadPoolExecutor`` whose results come back to the GUI thread through
a queued signal, with the same ``finished`` / ``failed`` callbacks as
``Tasks.run``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core.jobs import StudioError

log = logging.getLogger(__name__)


class PythonTasks(QObject):
    _delivered = Signal(object, object)  # the callback and its arguments, run on the GUI thread

    def __init__(self, parent: QObject | None = None, max_workers: int = 1, name: str = "studio-audio") -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        self._closed = False
        self._delivered.connect(self._deliver)

    def run(self, fn: Callable[..., Any], *args: Any, finished: Callable[[Any], None] | None = None,
            failed: Callable[[str, str], None] | None = None) -> Future | None:
        """Run ``fn(*args)`` on a Python thread; ``finished(result)`` or
        ``failed(message, traceback)`` is called on the GUI thread."""
        if self._closed:
            return None
        return self._pool.submit(self._call, fn, args, finished, failed)

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], finished: Callable[[Any], None] | None,
              failed: Callable[[str, str], None] | None) -> None:
        try:
            result = fn(*args)
        except StudioError as exc:
            if failed is not None and not self._closed:
                self._delivered.emit(failed, (str(exc), traceback.format_exc()))
        except Exception as exc:  # noqa: BLE001 - a failing task must reach the user, not kill the pool
            log.exception("background task %s failed", getattr(fn, "__name__", fn))
            first = (str(exc).strip().splitlines() or [""])[0]
            if failed is not None and not self._closed:
                self._delivered.emit(failed, (f"{type(exc).__name__}: {first}", traceback.format_exc()))
        else:
            if finished is not None and not self._closed:
                self._delivered.emit(finished, (result,))

    def _deliver(self, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        if not self._closed:
            callback(*args)

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new work, drop what has not started, wait for what runs."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
