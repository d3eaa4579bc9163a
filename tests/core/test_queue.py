"""The persistent job queue: order, state changes, reordering, and survival
across a restart (a job that was running comes back interrupted)."""

from __future__ import annotations

from studio.core.db import Database
from studio.core.jobs import JobState, UnknownRequest
from studio.core.queue import JobQueue
from studio.engines.pattern import PatternRequest


def _queue(path):
    return JobQueue(Database(path))


def test_jobs_run_in_submission_order(tmp_path):
    queue = _queue(tmp_path / "db.sqlite3")
    first = queue.submit(PatternRequest(prompt="one"))
    second = queue.submit(PatternRequest(prompt="two"))
    assert queue.take_next().id == first.id
    assert queue.get(first.id).state is JobState.RUNNING
    assert queue.take_next().id == second.id
    assert queue.take_next() is None


def test_queue_survives_restart_and_marks_running_jobs_interrupted(tmp_path):
    path = tmp_path / "db.sqlite3"
    queue = _queue(path)
    running = queue.submit(PatternRequest(prompt="running", seed=7))
    waiting = queue.submit(PatternRequest(prompt="waiting", seed=8))
    queue.take_next()
    queue.db.close()

    reopened = _queue(path)
    states = {job.id: job.state for job in reopened.jobs()}
    assert states == {running.id: JobState.INTERRUPTED, waiting.id: JobState.QUEUED}
    assert reopened.get(waiting.id).request == PatternRequest(prompt="waiting", seed=8)
    assert "closed" in reopened.get(running.id).error
    reopened.retry(running.id)
    assert [job.id for job in reopened.jobs(JobState.QUEUED)] == [waiting.id, running.id]


def test_reorder_cancel_and_clear(tmp_path):
    queue = _queue(tmp_path / "db.sqlite3")
    ids = [queue.submit(PatternRequest(prompt=str(n))).id for n in range(4)]
    queue.move(ids[3], -2)
    assert [job.id for job in queue.jobs(JobState.QUEUED)] == [ids[0], ids[3], ids[1], ids[2]]
    queue.move(ids[0], 10)
    assert [job.id for job in queue.jobs(JobState.QUEUED)][-1] == ids[0]
    assert queue.cancel_queued(ids[1])
    assert queue.get(ids[1]).state is JobState.CANCELLED
    running = queue.take_next()
    assert not queue.cancel_queued(running.id), "a running job is cancelled through its token, not the queue"
    assert queue.clear_finished() == 1
    assert len(queue.jobs()) == 3


def test_unknown_kind_is_kept_not_fatal(tmp_path):
    queue = _queue(tmp_path / "db.sqlite3")
    job = queue.submit(PatternRequest(prompt="x"))
    queue.db.execute("UPDATE jobs SET request=? WHERE id=?", ('{"kind": "gone", "prompt": "old"}', job.id))
    loaded = queue.get(job.id)
    assert isinstance(loaded.request, UnknownRequest)
    assert loaded.request.to_dict()["prompt"] == "old"
    assert "unknown kind" in loaded.label


def test_listeners_hear_every_change(tmp_path):
    queue = _queue(tmp_path / "db.sqlite3")
    seen = []
    queue.subscribe(lambda job: seen.append(job.state))
    job = queue.submit(PatternRequest(prompt="x"))
    queue.take_next()
    queue.finish(job.id, None)
    assert seen == [JobState.QUEUED, JobState.RUNNING, JobState.FINISHED]
