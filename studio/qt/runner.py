"""The Qt job runner: a worker QThread that takes jobs from the persistent
queue one at a time and runs them, and the signals the GUI listens to.

Progress and previews are coalesced: the worker only overwrites a "latest"
slot, and a timer on the GUI thread takes from it at most ``max_fps`` times a
second, so a fast engine can never flood the event loop and the newest
preview always wins. Pictures (QImage previews) keep a lower rate of their
own, ``picture_fps``: each one costs the GUI thread a conversion and a
scaled repaint, time a small model's sampler loses on a 2-core machine (it
ran 4-5% slower at 15 pictures a second, 2.5-3% at 5), while the text so
far is cheap to show and reads best at the full rate. Pieces of a stream
(audio chunks, see ``studio.core.jobs.is_stream_part``) are queued instead,
and every one is delivered, in order, at the next tick. Array previews are
turned into QImage in the worker, so the GUI thread only wraps them in a
QPixmap. Cancel is the job's thread-safe token, never a queued call into
the busy worker."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal
from PySide6.QtGui import QImage

from studio.core.jobs import CancelToken, Job, JobState, is_stream_part
from studio.core.library import Library
from studio.core.queue import JobQueue
from studio.core.settings import DEFAULTS
from studio.engines.execute import execute_job
from studio.qt.shared.qimage import array_to_qimage

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25  # at most four progress updates a second: a bar needs no more


class _LatestSlot:
    """Holds the newest progress and preview of the running job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: tuple[int, int, int, str] | None = None
        self._preview: tuple[int, Any] | None = None
        self._stream: list[tuple[int, Any]] = []
        self.previews_offered = 0

    def put_progress(self, value: tuple[int, int, int, str]) -> None:
        with self._lock:
            self._progress = value

    def put_preview(self, value: tuple[int, Any]) -> None:
        with self._lock:
            self._preview = value
            self.previews_offered += 1

    def append_stream(self, value: tuple[int, Any]) -> None:
        with self._lock:
            self._stream.append(value)

    def take(self, include_progress: bool = True, include_picture: bool = True
             ) -> tuple[tuple[int, int, int, str] | None, tuple[int, Any] | None, list[tuple[int, Any]]]:
        """The latest whole preview and every stream piece since the last take,
        the latest progress unless ``include_progress`` is False; a picture
        preview not yet due (``include_picture`` False) stays for a later take."""
        with self._lock:
            progress = self._progress if include_progress else None
            preview, stream = self._preview, self._stream
            if include_progress:
                self._progress = None
            if preview is not None and not include_picture and isinstance(preview[1], QImage):
                preview = None
            else:
                self._preview = None
            self._stream = []
            return progress, preview, stream


class _WorkerReporter:
    """The Reporter handed to engines; runs on the worker thread."""

    def __init__(self, job_id: int, slot: _LatestSlot, preview_interval_s: float = 0.0) -> None:
        self.job_id = job_id
        self.slot = slot
        # Previews closer together than the GUI shows them would be drawn for
        # nothing: an engine may skip making them (see studio.core.jobs.preview_due).
        self.preview_interval_s = preview_interval_s

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.slot.put_progress((self.job_id, done, total, message))

    def preview(self, payload: Any) -> None:
        if is_stream_part(payload):
            self.slot.append_stream((self.job_id, payload))
            return
        np = sys.modules.get("numpy")  # an array payload means numpy is already imported
        if np is not None and isinstance(payload, np.ndarray) and payload.ndim == 3 and payload.dtype == np.uint8:
            payload = array_to_qimage(payload)
        self.slot.put_preview((self.job_id, payload))


class _Worker(QThread):
    def __init__(self, runner: JobRunner) -> None:
        super().__init__()
        self.runner = runner
        self.setObjectName("studio-job-worker")

    def run(self) -> None:
        runner = self.runner
        while not runner.stopping:
            if runner.run_live_work():  # latest-wins live work (studio.qt.live_slot) goes first
                continue
            job = runner.queue.take_next()
            if job is None:
                runner.wait_for_work(0.25)
                continue
            runner.run_one(job)


class JobRunner(QObject):
    job_started = Signal(int)
    job_progress = Signal(int, int, int, str)  # job id, done, total, message
    job_preview = Signal(int, object)  # job id, QImage / text delta / audio chunk
    job_finished = Signal(int, object)  # job id, LibraryItem
    job_failed = Signal(int, str, str)  # job id, message, traceback
    job_cancelled = Signal(int)
    queue_changed = Signal()

    def __init__(self, queue: JobQueue, library: Library, max_fps: float = DEFAULTS["preview.max_fps"],
                 picture_fps: float = DEFAULTS["preview.picture_fps"], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.library = library
        self.stopping = False
        self._tokens: dict[int, CancelToken] = {}
        self._early_cancels: set[int] = set()
        self._tokens_lock = threading.Lock()
        self._slot = _LatestSlot()
        self._progress_sent = 0.0
        self._picture_sent = 0.0
        self._pump = QTimer(self)
        self.set_max_fps(max_fps)
        self.set_picture_fps(picture_fps)
        self._pump.timeout.connect(self._deliver)
        self._pump.start()
        self.queue.subscribe(self._on_queue_changed)
        self._worker = _Worker(self)
        self.live_slots: list = []  # studio.qt.live_slot.LiveSlot
        self._work_ready = threading.Event()

    # --- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        if not self._worker.isRunning():
            self._worker.start()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel what runs, stop the worker and wait for it; True if it ended."""
        self.stopping = True
        self._pump.stop()
        self.cancel_running()
        for slot in self.live_slots:
            slot.cancel()
        self._work_ready.set()
        self.queue.wake()
        ended = self._worker.wait(timeout_ms) if self._worker.isRunning() else True
        self.queue.unsubscribe(self._on_queue_changed)
        return bool(ended)

    def set_max_fps(self, max_fps: float) -> None:
        """How often a second the GUI may receive progress and previews."""
        self._pump.setInterval(max(1, int(1000 / max(max_fps, 1.0))))

    def set_picture_fps(self, picture_fps: float) -> None:
        """How often a second the GUI may receive a picture preview (never more
        often than ``max_fps``); engines make no more than that."""
        self._preview_interval_s = 1.0 / max(picture_fps, 1.0)

    @property
    def picture_interval_s(self) -> float:
        """The shortest time between two picture previews."""
        return self._preview_interval_s

    @property
    def worker_thread(self) -> QThread:
        return self._worker

    # --- live work (studio.qt.live_slot) -------------------------------------
    def add_live_slot(self, slot) -> None:
        """Run ``slot``'s latest-wins work on the worker, before queued jobs."""
        slot.attach(self._wake_for_live)
        self.live_slots.append(slot)

    def _wake_for_live(self) -> None:
        self.start()
        self._work_ready.set()

    def run_live_work(self) -> bool:
        return any([slot.run_pending() for slot in list(self.live_slots)])

    def wait_for_work(self, timeout: float) -> None:
        """Sleep until a queue change or live work arrives (or ``timeout``)."""
        self._work_ready.wait(timeout)
        self._work_ready.clear()

    # --- commands (GUI thread) ---------------------------------------------
    def submit(self, request) -> Job:
        self.start()
        return self.queue.submit(request)

    def cancel(self, job_id: int) -> None:
        with self._tokens_lock:
            token = self._tokens.get(job_id)
            if token is None and not self.queue.cancel_queued(job_id):
                # The worker has taken the job but not yet made its token:
                # remember the cancel so run_one applies it at once.
                self._early_cancels.add(job_id)
        if token is not None:
            token.cancel()

    def cancel_running(self) -> None:
        with self._tokens_lock:
            tokens = list(self._tokens.values())
        for token in tokens:
            token.cancel()

    def cancel_all(self) -> None:
        for job in self.queue.jobs(JobState.QUEUED):
            self.queue.cancel_queued(job.id)
        self.cancel_running()

    def running_job_ids(self) -> list[int]:
        with self._tokens_lock:
            return list(self._tokens)

    # --- worker side ---------------------------------------------------------
    def run_one(self, job: Job) -> None:
        token = CancelToken()
        with self._tokens_lock:
            self._tokens[job.id] = token
            if job.id in self._early_cancels:
                self._early_cancels.discard(job.id)
                token.cancel()
        self.job_started.emit(job.id)
        reporter = _WorkerReporter(job.id, self._slot, self._preview_interval_s)
        try:
            state, item = execute_job(job, self.queue, self.library, reporter, token)
        finally:
            with self._tokens_lock:
                self._tokens.pop(job.id, None)
        # Deliver what is still pending from this thread, before the job's end
        # signal: signals from one thread arrive in order, so the last preview
        # is shown (a short job gets at least one) and can never arrive after,
        # and paint over, the finished result.
        progress, preview, stream = self._slot.take()
        if progress is not None:
            self.job_progress.emit(*progress)
        for piece in stream:
            self.job_preview.emit(*piece)
        if preview is not None:
            self.job_preview.emit(*preview)
        if state is JobState.FINISHED:
            self.job_finished.emit(job.id, item)
        elif state is JobState.CANCELLED:
            self.job_cancelled.emit(job.id)
        else:
            failed = self.queue.get(job.id)
            self.job_failed.emit(job.id, failed.error, failed.details)

    # --- GUI side ------------------------------------------------------------
    def _deliver(self) -> None:
        # Progress bars need far fewer updates than previews, and each one
        # repaints the status bar and the Queue panel: it keeps its own, lower
        # rate, and a progress not yet due stays in the slot for a later tick.
        now = time.monotonic()
        progress_due = now - self._progress_sent >= PROGRESS_INTERVAL_S
        # Timer ticks are not exact: a picture a few ms early counts as due.
        picture_due = now - self._picture_sent >= self._preview_interval_s - 0.01
        progress, preview, stream = self._slot.take(include_progress=progress_due, include_picture=picture_due)
        if progress is not None:
            self._progress_sent = now
            self.job_progress.emit(*progress)
        for piece in stream:
            self.job_preview.emit(*piece)
        if preview is not None:
            if isinstance(preview[1], QImage):
                self._picture_sent = now
            self.job_preview.emit(*preview)

    def _on_queue_changed(self, _job: Job) -> None:
        self._work_ready.set()
        self.queue_changed.emit()  # may run on the worker thread: Qt queues it to the GUI

