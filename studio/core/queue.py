"""The persistent job queue: every submitted job is a row, so jobs queued
when the app closes or dies are still there on restart; a job that was
running when the process died is marked interrupted and can be run again."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable

from studio.core.db import Database
from studio.core.jobs import Job, JobState, Request, StudioError

Listener = Callable[[Job], None]


class JobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._listeners: list[Listener] = []
        self._wake = threading.Condition()
        self.db.execute(
            "UPDATE jobs SET state=?, error=? WHERE state=?",
            (JobState.INTERRUPTED.value, "the studio closed while this job ran", JobState.RUNNING.value),
        )

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
        with self.db.lock:
            rows = self.db.query(
                "SELECT id FROM jobs WHERE state=? ORDER BY position LIMIT 1", (JobState.QUEUED.value,)
            )
            if not rows:
                return None
            job_id = rows[0]["id"]
            self.db.execute(
                "UPDATE jobs SET state=?, started=? WHERE id=?", (JobState.RUNNING.value, time.time(), job_id)
            )
        return self._changed(job_id)

    def start(self, job_id: int) -> Job:
        """Mark one specific queued job running (headless runs of a single job)."""
        cursor = self.db.execute(
            "UPDATE jobs SET state=?, started=? WHERE id=? AND state=?",
            (JobState.RUNNING.value, time.time(), job_id, JobState.QUEUED.value),
        )
        if not cursor.rowcount:
            raise StudioError(f"job {job_id} is not queued")
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
        return _row_to_job(rows[0])

    def jobs(self, state: JobState | None = None) -> list[Job]:
        if state is None:
            rows = self.db.query("SELECT * FROM jobs ORDER BY position")
        else:
            rows = self.db.query("SELECT * FROM jobs WHERE state=? ORDER BY position", (state.value,))
        return [_row_to_job(row) for row in rows]


def _row_to_job(row) -> Job:
    return Job(
        id=row["id"],
        request=Request.from_dict(json.loads(row["request"])),
        state=JobState(row["state"]),
        position=row["position"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        error=row["error"],
        details=row["details"],
        artifact_path=Path(row["artifact_path"]) if row["artifact_path"] else None,
    )
