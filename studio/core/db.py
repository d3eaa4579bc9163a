"""The one SQLite database (WAL mode) that holds the job queue and the
library index. WAL lets the GUI read while the worker writes, and a process
killed mid-write leaves the last committed state intact.

The schema carries a version (``PRAGMA user_version``) and is brought up to
date by ``MIGRATIONS`` in one write transaction, so two processes opening
the same file at once migrate it once. A file that is not a database, is
damaged, or holds somebody else's tables is moved aside (kept, renamed
``studio.sqlite3.damaged-<time>``) and a new one is made; the library then
adopts its finished files again from their embedded recipes."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from studio.core.jobs import StudioError

log = logging.getLogger(__name__)

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    position REAL NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '',
    artifact_path TEXT
);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    modality TEXT NOT NULL,
    kind TEXT NOT NULL,
    prompt TEXT NOT NULL DEFAULT '',
    model_id TEXT NOT NULL DEFAULT '',
    seed INTEGER NOT NULL DEFAULT 0,
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    duration_s REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    recipe TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_created ON artifacts(created);
"""
SCHEMA = SCHEMA_V1  # the original schema, kept under its old name

# Migration n takes a database from version n to n + 1 (statements separated by ";").
MIGRATIONS: tuple[str, ...] = (
    SCHEMA_V1,
    # 2: which process runs a job, and when it last said it is alive (several
    # processes share one queue: only a dead owner's job is interrupted).
    "ALTER TABLE jobs ADD COLUMN owner TEXT; ALTER TABLE jobs ADD COLUMN heartbeat REAL;"
    " CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, position)",
)
SCHEMA_VERSION = len(MIGRATIONS)
REQUIRED_COLUMNS = {
    "jobs": {"id", "request", "state", "position", "created"},
    "artifacts": {"id", "path", "modality", "kind", "created", "recipe"},
}


class Database:
    """A connection shared across threads, serialised by a lock (SQLite's own
    locking covers other processes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.closed = False
        self.moved_aside: Path | None = None  # where a damaged or foreign file was put
        try:
            self.conn = self._open()
        except sqlite3.DatabaseError as exc:
            self.moved_aside = self._move_aside(str(exc))
            self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            _check_ours(conn)
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self, reason: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
            n += 1
        try:
            self.path.replace(target)
            for extra in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + extra)
                if side.exists():
                    side.replace(target.with_name(target.name + extra))
        except OSError as exc:
            raise StudioError(f"the library database {self.path} is damaged ({reason}) and could not be "
                              f"moved aside: {exc.strerror or exc}") from None
        log.warning("the library database was damaged or not Studio's (%s); it was moved to %s and a new one "
                    "made (finished files are adopted again)", reason, target.name)
        return target

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self.lock, self.conn:
            return self.conn.execute(sql, params)

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that holds SQLite's write lock from its first
        statement (``BEGIN IMMEDIATE``): a read-then-write inside it cannot
        interleave with another process's."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.conn.close()


def _check_ours(conn: sqlite3.Connection) -> None:
    """Raise DatabaseError when the file is damaged or holds tables that are
    not Studio's (reading the schema fails on a file that is not SQLite)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StudioError(f"{conn.execute('PRAGMA database_list').fetchone()[2]} was made by a newer Studio "
                          f"(schema {version}, this one knows {SCHEMA_VERSION}); update Studio to open it")
    user_tables = {t for t in tables if not t.startswith("sqlite_")}
    if user_tables and not (set(REQUIRED_COLUMNS) <= user_tables):
        raise sqlite3.DatabaseError(f"foreign tables {', '.join(sorted(user_tables))[:80]}")
    for table, required in REQUIRED_COLUMNS.items():
        if table in tables:
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if not required <= columns:
                raise sqlite3.DatabaseError(f"table {table} lacks {', '.join(sorted(required - columns))}")
    if tables:
        result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {result}")


def _migrate(conn: sqlite3.Connection) -> None:
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])  # another process may have done it
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    try:
                        conn.execute(statement)
                    except sqlite3.OperationalError as exc:
                        if "duplicate column" not in str(exc):
                            raise
            conn.execute(f"PRAGMA user_version={number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
