"""The output library: every artifact's file under the library folder and a
row in the SQLite index, newest first, searchable by prompt.

A file is written atomically (with its recipe embedded) before its row is
committed, so the index never lists a file that is not whole; a crash
between the two leaves an unlisted file, which ``rescan`` can adopt."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio import __version__
from studio.core import provenance
from studio.core.atomic import PART_SUFFIX, atomic_write_bytes, atomic_write_text
from studio.core.db import Database
from studio.core.jobs import Artifact, Request, StudioError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibraryItem:
    id: int
    path: Path
    modality: str
    kind: str
    prompt: str
    model_id: str
    seed: int
    width: int
    height: int
    duration_s: float
    created: float
    recipe: dict[str, Any]

    @property
    def request(self) -> Request:
        """The request that made this item: what "reuse settings" restores."""
        return Request.from_dict(self.recipe["request"])


def make_recipe(request: Request, artifact: Artifact) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "generator": f"Studio {__version__}",
        "ai_generated": True,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "request": request.to_dict(),
    }
    recipe.update(artifact.meta.get("recipe", {}))
    return recipe


class Library:
    def __init__(self, db: Database, folder: Path, credentials: Any = None) -> None:
        self.db = db
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        # studio.core.credentials.ContentCredentials: watermark, sign (C2PA); None: recipe only
        self.credentials = credentials

    def add(self, request: Request, artifact: Artifact) -> LibraryItem:
        recipe = make_recipe(request, artifact)
        path = self._new_path(request, artifact.suffix)
        # Sidecars go first and the file itself last: a process killed at any point
        # leaves either no file or a whole file whose recipe can be read back
        # (studio.core.recovery adopts it on the next start).
        if self.credentials is None:
            data = provenance.embed(artifact.data, artifact.suffix, recipe)
        else:  # Content Credentials: a signing failure keeps the file, with its plain recipe and the reason
            sealed = self.credentials.seal(artifact.data, artifact.suffix, recipe,
                                           sign=not artifact.meta.get("signed"))
            data = sealed.data
            if sealed.sidecar is not None:
                atomic_write_bytes(path.with_name(path.name + ".c2pa"), sealed.sidecar)
            recipe = {**recipe, "content_credentials": artifact.meta.get("content_credentials") or sealed.summary()}
        if provenance.needs_sidecar(artifact.suffix):
            atomic_write_text(provenance.sidecar_path(path), json.dumps(recipe))
        atomic_write_bytes(path, data)
        return self._index(path, request, artifact, recipe)

    def _index(self, path: Path, request: Request, artifact: Artifact, recipe: dict[str, Any]) -> LibraryItem:
        cursor = self.db.execute(
            "INSERT INTO artifacts (path, modality, kind, prompt, model_id, seed, width, height,"
            " duration_s, created, recipe) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            # another process may have adopted the file between its rename and this row
            " ON CONFLICT(path) DO UPDATE SET recipe=excluded.recipe, width=excluded.width,"
            " height=excluded.height, duration_s=excluded.duration_s",
            (
                str(path), request.modality, request.kind, getattr(request, "prompt", ""),
                request.model_id, int(request.seed), artifact.width, artifact.height,
                float(artifact.duration_s), time.time(), json.dumps(recipe),
            ),
        )
        return self._get_by_path(path)

    def _get_by_path(self, path: Path) -> LibraryItem:
        rows = self.db.query("SELECT * FROM artifacts WHERE path=?", (str(path),))
        if not rows:
            raise StudioError(f"{path.name} is not in the library")
        return _row_to_item(rows[0])

    def _new_path(self, request: Request, suffix: str) -> Path:
        day = dt.date.today().isoformat()
        slug = re.sub(r"[^a-z0-9]+", "-", request.describe().lower()).strip("-")[:40] or request.kind
        folder = self.folder / day
        stamp = dt.datetime.now().strftime("%H%M%S")
        for n in range(10000):
            candidate = folder / f"{stamp}-{slug}-{request.seed}{'-' + str(n) if n else ''}{suffix}"
            if not candidate.exists():
                return candidate
        raise StudioError("could not choose a file name in the library")

    def get(self, item_id: int) -> LibraryItem:
        rows = self.db.query("SELECT * FROM artifacts WHERE id=?", (item_id,))
        if not rows:
            raise StudioError(f"no library item {item_id}")
        return _row_to_item(rows[0])

    def items(self, search: str = "", modality: str = "", limit: int = 500) -> list[LibraryItem]:
        sql = "SELECT * FROM artifacts WHERE 1=1"
        params: list[Any] = []
        if search:
            sql += " AND (prompt LIKE ? ESCAPE '\\' OR model_id LIKE ? ESCAPE '\\')"
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [pattern, pattern]
        if modality:
            sql += " AND modality=?"
            params.append(modality)
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        params.append(limit)
        items = []
        for row in self.db.query(sql, tuple(params)):
            try:
                items.append(_row_to_item(row))
            except (ValueError, TypeError) as exc:  # one damaged row must not hide the library
                log.warning("skipped library row %s: it cannot be read (%s)", row["id"], str(exc)[:120])
        return items

    def delete(self, item_id: int) -> None:
        item = self.get(item_id)
        self.db.execute("DELETE FROM artifacts WHERE id=?", (item_id,))
        for path in (item.path, provenance.sidecar_path(item.path), item.path.with_name(item.path.name + ".c2pa")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def rescan(self) -> int:
        """Drop rows whose file is gone and leftover partial files; return rows dropped."""
        dropped = 0
        for row in self.db.query("SELECT id, path FROM artifacts"):
            if not Path(row["path"]).exists():
                self.db.execute("DELETE FROM artifacts WHERE id=?", (row["id"],))
                dropped += 1
        for part in self.folder.rglob(f"*{PART_SUFFIX}"):
            with contextlib.suppress(OSError):
                part.unlink()
        return dropped


def _row_to_item(row) -> LibraryItem:
    return LibraryItem(
        id=row["id"], path=Path(row["path"]), modality=row["modality"], kind=row["kind"],
        prompt=row["prompt"], model_id=row["model_id"], seed=row["seed"], width=row["width"],
        height=row["height"], duration_s=row["duration_s"], created=row["created"],
        recipe=_recipe(row["recipe"]),
    )


def _recipe(text: str) -> dict[str, Any]:
    recipe = json.loads(text)
    if not isinstance(recipe, dict):
        raise ValueError("the stored recipe is not an object")
    return recipe
