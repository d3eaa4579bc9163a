"""The queue and library shared by several real processes: taking a job is
atomic (no job is taken twice), a process opening the queue interrupts only
jobs whose owner is gone, a damaged or foreign database is moved aside, the
schema is versioned, and damaged rows are skipped."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from studio.core import db as db_module
from studio.core.db import SCHEMA_VERSION, Database
from studio.core.jobs import JobState
from studio.core.queue import JobQueue
from studio.engines.pattern import PatternRequest

TAKER = r"""
import sys, json
from pathlib import Path
from studio.core.db import Database
from studio.core.queue import JobQueue
import studio.engines.pattern
queue = JobQueue(Database(Path(sys.argv[1])))
print("ready", flush=True)
sys.stdin.readline()
taken = []
while True:
    job = queue.take_next()
    if job is None:
        break
    taken.append(job.id)
    queue.finish(job.id, None)
print(json.dumps(taken), flush=True)
"""

HOLDER = r"""
import sys, time
from pathlib import Path
from studio.core.db import Database
from studio.core.queue import JobQueue
import studio.engines.pattern
queue = JobQueue(Database(Path(sys.argv[1])))
job = queue.take_next()
print(job.id, flush=True)
time.sleep(60)
"""


def _python(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def test_two_processes_never_take_the_same_job(tmp_path):
    path = tmp_path / "studio.sqlite3"
    queue = JobQueue(Database(path))
    ids = [queue.submit(PatternRequest(prompt=str(n), seed=n)).id for n in range(120)]
    takers = [_python(TAKER, str(path)) for _ in range(3)]
    for taker in takers:
        assert taker.stdout.readline().strip() == "ready"
    for taker in takers:  # start them together
        taker.stdin.write("go\n")
        taker.stdin.flush()
    taken = []
    for taker in takers:
        taken.extend(json.loads(taker.stdout.readline()))
        taker.wait(30)
    assert sorted(taken) == ids  # every job once, none twice
    assert all(job.state is JobState.FINISHED for job in queue.jobs())


def test_opening_the_queue_leaves_a_live_processs_job_running(tmp_path):
    path = tmp_path / "studio.sqlite3"
    queue = JobQueue(Database(path))
    live_job = queue.submit(PatternRequest(prompt="live")).id
    holder = _python(HOLDER, str(path))
    try:
        assert int(holder.stdout.readline()) == live_job
        reopened = JobQueue(Database(path))  # e.g. a CLI command while the window runs a job
        assert reopened.get(live_job).state is JobState.RUNNING
        assert reopened.interrupted == []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    # Its owner is gone now: the next process to open the queue interrupts it.
    after = JobQueue(Database(path))
    assert after.get(live_job).state is JobState.INTERRUPTED
    assert after.interrupted == [live_job]


def test_a_job_of_another_machine_is_interrupted_only_when_its_heartbeat_stops(tmp_path):
    path = tmp_path / "studio.sqlite3"
    queue = JobQueue(Database(path))
    fresh, stale = (queue.submit(PatternRequest(prompt=p)).id for p in ("fresh", "stale"))
    now = time.time()
    for job_id, beat in ((fresh, now), (stale, now - 3600)):
        queue.db.execute("UPDATE jobs SET state='running', owner=?, heartbeat=? WHERE id=?",
                         ("other-host 123 456 abc", beat, job_id))
    reopened = JobQueue(Database(path))
    assert reopened.get(fresh).state is JobState.RUNNING
    assert reopened.get(stale).state is JobState.INTERRUPTED


def test_the_schema_is_versioned_and_an_old_database_is_migrated(tmp_path):
    path = tmp_path / "studio.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(db_module.SCHEMA_V1)
    old.execute("INSERT INTO jobs (request, state, position, created) VALUES (?, 'running', 1, 0)",
                (json.dumps(PatternRequest(prompt="old").to_dict()),))
    old.commit()
    old.close()
    database = Database(path)
    assert database.schema_version() == SCHEMA_VERSION >= 2
    columns = {row[1] for row in database.query("PRAGMA table_info(jobs)")}
    assert {"owner", "heartbeat"} <= columns
    queue = JobQueue(database)
    assert [job.state for job in queue.jobs()] == [JobState.INTERRUPTED]  # no owner recorded: interrupted


def test_a_corrupt_or_foreign_database_is_moved_aside(tmp_path):
    garbage = tmp_path / "a" / "studio.sqlite3"
    garbage.parent.mkdir()
    garbage.write_bytes(b"this is not a database" * 100)
    database = Database(garbage)
    assert database.moved_aside is not None and database.moved_aside.exists()
    assert database.schema_version() == SCHEMA_VERSION
    JobQueue(database).submit(PatternRequest(prompt="works"))

    foreign = tmp_path / "b" / "studio.sqlite3"
    foreign.parent.mkdir()
    other = sqlite3.connect(foreign)
    other.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
    other.commit()
    other.close()
    database = Database(foreign)
    assert database.moved_aside is not None
    assert "invoices" not in {row[0] for row in database.query("SELECT name FROM sqlite_master")}


def test_a_row_that_fails_to_decode_is_skipped_and_reported(tmp_path, caplog, services):
    queue = services.queue
    good = queue.submit(PatternRequest(prompt="good")).id
    bad = queue.submit(PatternRequest(prompt="bad")).id
    queue.db.execute("UPDATE jobs SET request='{not json' WHERE id=?", (bad,))
    other = queue.submit(PatternRequest(prompt="other")).id
    queue.db.execute("UPDATE jobs SET request='[1, 2]' WHERE id=?", (other,))
    with caplog.at_level("WARNING"):
        assert [job.id for job in queue.jobs()] == [good]
    assert f"skipped job {bad}" in caplog.text
    services.db.execute(
        "INSERT INTO artifacts (path, modality, kind, created, recipe) VALUES ('/x.png', 'image', 'pattern', 0, 'nope')")
    assert services.library.items() == []
