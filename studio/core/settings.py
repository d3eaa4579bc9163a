"""User settings: one JSON file, read once, written atomically on change.

Keys are dotted names (``ui.theme``, ``models.folders``,
``forms.image.prompt``); unknown keys are kept so newer versions' settings
survive an older build."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "ui.theme": "dark",
    "models.folders": [],
    "models.memory_budget_mb": 8192,
    "models.idle_unload_s": 600,
    "preview.max_fps": 15,
    "text.gpu_layers": -1,  # llama.cpp: layers offloaded to a GPU when its build has one (-1: all)
    "credentials.sign": True,  # C2PA Content Credentials in every artifact (studio.core.credentials)
    "credentials.watermark": True,  # invisible watermark in images of at least 256 px
    "servers.endpoints": [],  # [{"name", "base_url", "kind"}]; API keys are kept apart (studio.core.secrets)
}


class Settings:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._values: dict[str, Any] = {}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._values = loaded
            except (OSError, ValueError) as exc:
                # A damaged settings file must not stop the app; keep a copy for the user.
                log.warning("settings file %s unreadable (%s); starting from defaults", path, exc)
                self.path.replace(self.path.with_suffix(".json.bad"))

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._values:
            return self._values[key]
        return DEFAULTS.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if self._values.get(key, object()) == value:
            return
        self._values[key] = value
        self.save()

    def update(self, values: dict[str, Any]) -> None:
        changed = {k: v for k, v in values.items() if self._values.get(k, object()) != v}
        if changed:
            self._values.update(changed)
            self.save()

    def section(self, prefix: str) -> dict[str, Any]:
        """All keys under ``prefix.``, with the prefix removed."""
        head = prefix + "."
        return {k[len(head):]: v for k, v in self._values.items() if k.startswith(head)}

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self._values, indent=2, sort_keys=True))
