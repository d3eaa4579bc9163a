"""The persistent job queue: every submitted job is a row, so jobs queued
when the app closes or dies are still there on restart; a job that was
running when the process died is marked interrupted and can be run again.

Several processes share one queue (the window and CLI commands on the same
STUDIO_HOME): taking a job is one write transaction, so two processes never
take the same job, and each running job names its owner (host, process id,
process start time, queue instance) and carries a heartbeat. A process that
opens the queue marks interrupted only running jobs whose owner is gone:
a dead process on this machine (or one whose queue closed), or on another
machine a heartbeat older than ``STALE_S``."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Callable

from studio.core.db import Database
from studio.core.jobs import Job, JobState, Request, StudioError

log = logging.getLogger(__name__)

Listener = Callable[[Job], None]
HOST = socket.gethostname().replace(" ", "_") or "localhost"
HEARTBEAT_S = 15.0
STALE_S = 120.0  # a job on another machine with no heartbeat for this long is orphaned
INTERRUPTED_MESSAGE = "the studio closed while this job ran"
_live_queues: weakref.WeakValueDictionary[str, JobQueue] = weakref.WeakValueDictionary()


def process_start(pid: int) -> str | None:
    """The start time of a process (Linux ``/proc``), which tells a process
    from a later one given the same id; None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields and fields[0] in (b"Z", b"X"):  # a zombie has finished
        return "dead"
    return fields[19].decode() if len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return process_start(pid) != "dead"


def owner_alive(owner: str | None, heartbeat: float | None, now: float | None = None) -> bool:
    """Whether the process named by ``owner`` may still be running its job."""
    if not owner:
        return False  # written by a Studio that did not record owners
    parts = owner.split(" ")
    if len(parts) != 4:
        return False
    host, pid_text, start, instance = parts
    if host != HOST:
        now = time.time() if now is None else now
        return heartbeat is not None and now - heartbeat < STALE_S
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        queue = _live_queues.get(instance)
        return queue is not None and not queue.db.closed
    if not pid_alive(pid):
        return False
    actual = process_start(pid)
    return actual is None or start == "?" or actual == start


class JobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._listeners: list[Listener] = []
        self._wake = threading.Condition()
        self.instance = uuid.uuid4().hex[:12]
        self.owner = f"{HOST} {os.getpid()} {process_start(os.getpid()) or '?'} {self.instance}"
        _live_queues[self.instance] = self
        self._heartbeat_thread: threading.Thread | None = None
        self.skipped_rows: set[int] = set()  # rows that failed to decode (reported once each)
        self.interrupted = self.recover_orphans()

    def recover_orphans(self) -> list[int]:
        """Mark interrupted the running jobs whose owner process is gone."""
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT id, owner, heartbeat FROM jobs WHERE state=?",
                                (JobState.RUNNING.value,)).fetchall()
            orphans = [row["id"] for row in rows if not owner_alive(row["owner"], row["heartbeat"])]
            for job_id in orphans:
                conn.execute("UPDATE jobs SET state=?, error=? WHERE id=? AND state=?",
                             (JobState.INTERRUPTED.value, INTERRUPTED_MESSAGE, job_id, JobState.RUNNING.value))
        return orphans

    def _beat_forever(self) -> None:
        while not self.db.closed:
            time.sleep(HEARTBEAT_S)
            try:
                self.heartbeat()
            except Exception:  # noqa: BLE001 - the database was closed under us: stop beating
                return

    def heartbeat(self) -> None:
        """Say that this process still runs its jobs."""
        if not self.db.closed:
            self.db.execute("UPDATE jobs SET heartbeat=? WHERE owner=? AND state=?",
                            (time.time(), self.owner, JobState.RUNNING.value))

    def _start_heartbeat(self) -> None:
        if self._heartbeat_thread is None:
            self._heartbeat_thread = threading.Thread(target=self._beat_forever, name="queue-heartbeat",
                                                      daemon=True)
            self._heartbeat_thread.start()

    # --- observers ---------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def wake(self) -> None:
        """Wake every thread blocked in ``wait_for_work`` (used at shutdown)."""
        with self._wake:
            self._wake.notify_all()

    def _changed(self, job_id: int) -> Job:
        job = self.get(job_id)
        for listener in list(self._listeners):
            listener(job)
        self.wake()
        return job

    # --- commands ----------------------------------------------------------
    def submit(self, request: Request) -> Job:
        now = time.time()
        row = self.db.query("SELECT COALESCE(MAX(position), 0) + 1 FROM jobs")[0][0]
        cursor = self.db.execute(
            "INSERT INTO jobs (request, state, position, created) VALUES (?, ?, ?, ?)",
            (json.dumps(request.to_dict()), JobState.QUEUED.value, row, now),
        )
        return self._changed(cursor.lastrowid)

    def take_next(self) -> Job | None:
        """Mark the first queued job running and return it (None if idle)."""
        with self.db.transaction() as conn:  # the check and the take are one: no other process takes it too
            row = conn.execute(
                "SELECT id FROM jobs WHERE state=? ORDER BY position LIMIT 1", (JobState.QUEUED.value,)
            ).fetchone()
            if row is None:
                return None
            job_id = row["id"]
            now = time.time()
            conn.execute(
                "UPDATE jobs SET state=?, started=?, owner=?, heartbeat=? WHERE id=? AND state=?",
                (JobState.RUNNING.value, now, self.owner, now, job_id, JobState.QUEUED.value),
            )
        self._start_heartbeat()
        return self._changed(job_id)

    def start(self, job_id: int) -> Job:
        """Mark one specific queued job running (headless runs of a single job)."""
        now = time.time()
        cursor = self.db.execute(
            "UPDATE jobs SET state=?, started=?, owner=?, heartbeat=? WHERE id=? AND state=?",
            (JobState.RUNNING.value, now, self.owner, now, job_id, JobState.QUEUED.value),
        )
        if not cursor.rowcount:
            raise StudioError(f"job {job_id} is not queued")
        self._start_heartbeat()
        return self._changed(job_id)

    def wait_for_work(self, timeout: float) -> None:
        with self._wake:
            self._wake.wait(timeout)

    def finish(self, job_id: int, artifact_path: Path | None) -> Job:
        self.db.execute(
            "UPDATE jobs SET state=?, finished=?, artifact_path=? WHERE id=?",
            (JobState.FINISHED.value, time.time(), str(artifact_path) if artifact_path else None, job_id),
        )
        return self._changed(job_id)

    def note(self, job_id: int, text: str) -> Job:
        """A remark on a finished job (its details), e.g. why its file was not signed."""
        self.db.execute("UPDATE jobs SET details=? WHERE id=?", (text, job_id))
        return self._changed(job_id)

    def fail(self, job_id: int, error: str, details: str = "") -> Job:
        self.db.execute(
            "UPDATE jobs SET state=?, finished=?, error=?, details=? WHERE id=?",
            (JobState.FAILED.value, time.time(), error, details, job_id),
        )
        return self._changed(job_id)

    def mark_cancelled(self, job_id: int) -> Job:
        self.db.execute(
            "UPDATE jobs SET state=?, finished=? WHERE id=?", (JobState.CANCELLED.value, time.time(), job_id)
        )
        return self._changed(job_id)

    def cancel_queued(self, job_id: int) -> bool:
        """Cancel a job that has not started; False if it is running or done."""
        cursor = self.db.execute(
            "UPDATE jobs SET state=?, finished=? WHERE id=? AND state IN (?, ?)",
            (JobState.CANCELLED.value, time.time(), job_id, JobState.QUEUED.value, JobState.INTERRUPTED.value),
        )
        if cursor.rowcount:
            self._changed(job_id)
        return bool(cursor.rowcount)

    def retry(self, job_id: int) -> Job:
        """Queue a failed, cancelled or interrupted job again, at the end."""
        position = self.db.query("SELECT COALESCE(MAX(position), 0) + 1 FROM jobs")[0][0]
        self.db.execute(
            "UPDATE jobs SET state=?, position=?, error='', details='', started=NULL, finished=NULL WHERE id=?",
            (JobState.QUEUED.value, position, job_id),
        )
        return self._changed(job_id)

    def move(self, job_id: int, offset: int) -> None:
        """Move a queued job ``offset`` places (negative: earlier) among queued jobs."""
        queued = [job.id for job in self.jobs(JobState.QUEUED)]
        if job_id not in queued:
            raise StudioError("only queued jobs can be reordered")
        index = queued.index(job_id)
        target = max(0, min(len(queued) - 1, index + offset))
        queued.insert(target, queued.pop(index))
        positions = sorted(job.position for job in self.jobs(JobState.QUEUED))
        with self.db.lock:
            for pos, qid in zip(positions, queued):
                self.db.execute("UPDATE jobs SET position=? WHERE id=?", (pos, qid))
        self._changed(job_id)

    def clear_finished(self) -> int:
        final = [s.value for s in JobState if s.is_final]
        cursor = self.db.execute(
            f"DELETE FROM jobs WHERE state IN ({','.join('?' * len(final))})", tuple(final)
        )
        self.wake()
        return cursor.rowcount

    # --- queries -----------------------------------------------------------
    def get(self, job_id: int) -> Job:
        rows = self.db.query("SELECT * FROM jobs WHERE id=?", (job_id,))
        if not rows:
            raise StudioError(f"no job {job_id}")
        job = self._decode(rows[0])
        if job is None:
            raise StudioError(f"job {job_id} is damaged in the database and cannot be read")
        return job

    def jobs(self, state: JobState | None = None) -> list[Job]:
        """The jobs in queue order; a row that fails to decode is skipped (and
        reported once in the log)."""
        if state is None:
            rows = self.db.query("SELECT * FROM jobs ORDER BY position")
        else:
            rows = self.db.query("SELECT * FROM jobs WHERE state=? ORDER BY position", (state.value,))
        return [job for job in map(self._decode, rows) if job is not None]

    def _decode(self, row) -> Job | None:
        try:
            return _row_to_job(row)
        except Exception as exc:  # noqa: BLE001 - one damaged row must not hide the queue
            if row["id"] not in self.skipped_rows:
                self.skipped_rows.add(row["id"])
                log.warning("skipped job %s: its row cannot be read (%s: %s)", row["id"], type(exc).__name__,
                            str(exc)[:120])
            return None


def _row_to_job(row) -> Job:
    data = json.loads(row["request"])
    if not isinstance(data, dict):
        raise ValueError("the stored request is not an object")
    return Job(
        id=row["id"],
        request=Request.from_dict(data),
        state=JobState(row["state"]),
        position=row["position"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        error=row["error"],
        details=row["details"],
        artifact_path=Path(row["artifact_path"]) if row["artifact_path"] else None,
    )
