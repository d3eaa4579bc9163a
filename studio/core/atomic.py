"""Atomic file writes: a temp name in the same folder, fsync, rename, fsync
the folder. A reader sees the old file or the whole new one, never a part;
a crash leaves at most a ``.part`` file that nothing lists."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from studio.core.jobs import StudioError

PART_SUFFIX = ".part"


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}{PART_SUFFIX}")
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
