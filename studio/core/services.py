"""The studio's shared services, built once per process and handed to the
GUI or the CLI: settings, the database, the job queue, the library and the
model manager, all rooted in one set of user folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.core.db import Database
from studio.core.library import Library
from studio.core.models.manager import ModelManager
from studio.core.paths import StudioPaths, studio_paths
from studio.core.queue import JobQueue
from studio.core.recovery import recover
from studio.core.settings import Settings


@dataclass
class Services:
    paths: StudioPaths
    settings: Settings
    db: Database
    queue: JobQueue
    library: Library
    models: ModelManager

    def close(self) -> None:
        self.models.unload_all()
        self.db.close()


def open_services(paths: StudioPaths | None = None) -> Services:
    paths = (paths or studio_paths()).ensure()
    settings = Settings(paths.settings_file)
    db = Database(paths.database)
    models = open_model_manager(paths, settings)
    from studio.core import credentials

    signing = credentials.ContentCredentials.from_settings(settings, paths.config)
    credentials.configure(signing)  # exporters sign with it too
    queue = JobQueue(db)
    library = Library(db, paths.library_dir, signing)
    recover(queue, library)  # files finished but not listed (a kill, a replaced database) are adopted
    return Services(paths, settings, db, queue, library, models)


def open_model_manager(paths: StudioPaths | None = None, settings: Settings | None = None) -> ModelManager:
    """The model manager alone, configured from the settings (for engines run
    without the rest of the services, e.g. from a script)."""
    paths = (paths or studio_paths()).ensure()
    settings = settings or Settings(paths.settings_file)
    return ModelManager(
        budget_bytes=int(settings.get("models.memory_budget_mb")) * 1024 * 1024,
        idle_unload_s=float(settings.get("models.idle_unload_s")),
        user_folders=[Path(p) for p in [paths.models_dir, *settings.get("models.folders")]],
    )
