"""Atomic file writes: a temp name in the same folder, fsync, rename, fsync
the folder. A reader sees the old file or the whole new one, never a part;
a crash leaves at most a ``.part`` file that nothing lists.

``atomic_write_bytes`` writes bytes in one go; ``atomic_output`` hands a
writer that streams (a video encoder, a folder of frames) a temp path and
renames it into place when the writer is done. Temp names carry the
process, the thread and a counter, so two writers of one file never share
one."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from studio.core.jobs import StudioError

PART_SUFFIX = ".part"
_serial = itertools.count()


def temp_path(path: Path) -> Path:
    """A temp name beside ``path``, unique to this process, thread and call."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}-{next(_serial)}{PART_SUFFIX}")


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(path)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if exc.errno == errno.ENOSPC:
            raise StudioError(f"the disk is full: could not write {path.name}") from exc
        raise StudioError(f"could not write {path}: {exc.strerror or exc}") from exc
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temp path (file or folder) for a streaming writer; when the block
    ends normally its contents are flushed to disk and it is renamed to
    ``path``; if the block raises (``Cancelled`` included) it is deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(path)
    try:
        yield temp
        flush_to_disk(temp)
        os.replace(temp, path)
    except BaseException:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise
    _fsync_dir(path.parent)


def flush_to_disk(path: Path) -> None:
    """fsync a file, or every file of a folder and the folder itself, so a
    rename that follows never exposes data still in the page cache."""
    if path.is_dir():
        for child in path.iterdir():
            flush_to_disk(child)
        _fsync_dir(path)
        return
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
