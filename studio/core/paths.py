"""Where Studio keeps its files: settings, the output library, caches and the
user's model folders.

Everything lives under the platform's user directories; ``STUDIO_HOME``
moves all of it under one folder (tests and portable installs use it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "Studio"
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@dataclass(frozen=True)
class StudioPaths:
    config: Path
    data: Path
    cache: Path

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def library_dir(self) -> Path:
        return self.data / "library"

    @property
    def database(self) -> Path:
        return self.data / "studio.sqlite3"

    @property
    def models_dir(self) -> Path:
        return self.data / "models"

    def ensure(self) -> StudioPaths:
        for folder in (self.config, self.data, self.cache, self.library_dir, self.models_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def studio_paths() -> StudioPaths:
    home = os.environ.get("STUDIO_HOME")
    if home:
        root = Path(home)
        return StudioPaths(root / "config", root / "data", root / "cache")
    import platformdirs

    return StudioPaths(
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )
