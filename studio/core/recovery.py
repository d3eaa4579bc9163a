"""What a start does after a crash, a kill or a damaged database, so that a
finished file is never lost:

- ``adopt_unindexed``: files under the library folder that carry a Studio
  recipe but have no library row (the process died between the file's
  rename and its row, or the database was replaced) are indexed again from
  the recipe read back out of the file.
- ``link_interrupted_jobs``: a job marked interrupted whose file was adopted
  did finish; it is marked finished with that file.
- ``remove_stale_partials``: ``.part`` temp files (and temp folders) left by
  a writer that is gone are deleted; those of a live process are kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import struct
from pathlib import Path
from typing import Any

from studio.core import provenance
from studio.core.atomic import PART_SUFFIX
from studio.core.jobs import JobState, Request, StudioError
from studio.core.library import Library, LibraryItem
from studio.core.queue import JobQueue, pid_alive

log = logging.getLogger(__name__)

_SKIP_SUFFIXES = (PART_SUFFIX, ".recipe.json", ".c2pa")
_PART_PID = re.compile(r"\.(\d+)-\d+-\d+" + re.escape(PART_SUFFIX) + "$")


def _candidates(folder: Path):
    for path in sorted(folder.rglob("*")):
        name = path.name
        if name.startswith(".") or name.endswith(_SKIP_SUFFIXES) or ".part" in path.parent.name:
            continue
        try:
            if path.is_file():
                yield path
        except OSError:
            continue


def _png_size(path: Path) -> tuple[int, int]:
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
    except OSError:
        pass
    return 0, 0


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return kind(value)
    return kind(0)


def adopt_unindexed(library: Library) -> list[LibraryItem]:
    """Index every file of the library folder that carries a Studio recipe
    and has no row yet; return the items adopted."""
    indexed = {row["path"] for row in library.db.query("SELECT path FROM artifacts")}
    adopted: list[LibraryItem] = []
    for path in _candidates(library.folder):
        if str(path) in indexed:
            continue
        try:
            recipe = provenance.read_recipe(path)
        except Exception:  # noqa: BLE001 - not Studio's, or damaged: leave it alone
            continue
        data = recipe.get("request") if isinstance(recipe, dict) else None
        if not isinstance(data, dict):
            continue
        try:
            request = Request.from_dict(data)
        except Exception:  # noqa: BLE001 - a recipe an installed engine cannot read back
            log.warning("not adopting %s: its recipe cannot be read back", path)
            continue
        width, height = _png_size(path)
        if not width:
            width, height = _number(data.get("width"), int), _number(data.get("height"), int)
        duration = _number(data.get("duration_s"), float)
        if not duration and data.get("frames") and data.get("fps"):
            duration = _number(data.get("frames"), float) / max(1.0, _number(data.get("fps"), float))
        modality = getattr(request, "modality", "") or str(data.get("modality", ""))
        kind = getattr(request, "kind", "") or str(data.get("kind", ""))
        try:
            created = path.stat().st_mtime
        except OSError:
            continue
        cursor = library.db.execute(
            "INSERT INTO artifacts (path, modality, kind, prompt, model_id, seed, width, height, duration_s,"
            " created, recipe) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO NOTHING",
            (str(path), modality or "unknown", kind or "unknown", str(data.get("prompt", ""))[:10000],
             str(data.get("model_id", "")), _number(data.get("seed"), int), width, height, duration, created,
             json.dumps(recipe)),
        )
        if cursor.rowcount:
            log.warning("adopted %s: the studio stopped before listing it", path.name)
            adopted.append(library.get(cursor.lastrowid))
    return adopted


def link_interrupted_jobs(queue: JobQueue, items: list[LibraryItem]) -> int:
    """Mark finished the interrupted jobs whose file was adopted (matched by
    their request); return how many."""
    linked = 0
    for item in items:
        wanted = item.recipe.get("request")
        for row in queue.db.query("SELECT id, request FROM jobs WHERE state=?", (JobState.INTERRUPTED.value,)):
            try:
                same = json.loads(row["request"]) == wanted
            except ValueError:
                continue
            if same:
                queue.db.execute(
                    "UPDATE jobs SET state=?, finished=?, artifact_path=?, error='' WHERE id=? AND state=?",
                    (JobState.FINISHED.value, item.created, str(item.path), row["id"], JobState.INTERRUPTED.value),
                )
                linked += 1
                break
    return linked


def remove_stale_partials(folder: Path) -> int:
    """Delete temp files and folders whose writing process is gone."""
    removed = 0
    for part in list(Path(folder).rglob(f"*{PART_SUFFIX}")):
        match = _PART_PID.search(part.name)
        if match and pid_alive(int(match.group(1))):
            continue  # another process is writing it now
        with contextlib.suppress(OSError):
            if part.is_dir():
                shutil.rmtree(part)
            else:
                part.unlink()
            removed += 1
    return removed


def recover(queue: JobQueue, library: Library) -> list[LibraryItem]:
    """Everything a start does to make the library whole again."""
    try:
        remove_stale_partials(library.folder)
        adopted = adopt_unindexed(library)
        link_interrupted_jobs(queue, adopted)
    except (OSError, StudioError) as exc:
        log.warning("library recovery stopped early: %s", exc)
        return []
    return adopted
