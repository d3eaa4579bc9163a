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
    "preview.max_fps": 15,  # live updates a second: the text so far, progress, sound
    "preview.picture_fps": 5,  # picture previews a second: each redraw is time a small model's sampler loses
    "text.gpu_layers": -1,  # llama.cpp: layers offloaded to a GPU when its build has one (-1: all)
    "credentials.sign": True,  # C2PA Content Credentials in every artifact (studio.core.credentials)
    "credentials.watermark": True,  # invisible watermark in images of at least 256 px
    "servers.endpoints": [],  # [{"name", "base_url", "kind"}]; API keys are kept apart (studio.core.secrets)
    "comfyui.result_timeout_s": 600,  # a ComfyUI job with no result by then fails (and is cancelled there)
}


_INVALID = object()


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, (int, float)):
        return "a number"
    if isinstance(default, list):
        return "a list"
    return "text" if isinstance(default, str) else type(default).__name__


def checked_value(key: str, value: Any, default: Any) -> Any:
    """``value`` when it has the type of ``default`` (a number written as
    text is read as the number; list items of the wrong type are dropped),
    else ``_INVALID``."""
    import math

    if isinstance(default, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(default, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                return _INVALID
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return _INVALID
        return type(default)(value)
    if isinstance(default, list):
        if not isinstance(value, list):
            return _INVALID
        item_type = {"models.folders": str, "servers.endpoints": dict}.get(key)
        if item_type is not None and not all(isinstance(item, item_type) for item in value):
            log.warning("settings: ignoring entries of %s that are not %s", key,
                        "folder names" if item_type is str else "tables")
            return [item for item in value if isinstance(item, item_type)]
        return value
    if isinstance(default, str):
        return value if isinstance(value, str) else _INVALID
    return value


class Settings:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._values: dict[str, Any] = {}
        self._warned: set[str] = set()
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._values = loaded
                else:
                    log.warning("settings file %s is not a JSON object; starting from defaults", path)
            except (OSError, ValueError, RecursionError) as exc:
                # A damaged settings file must not stop the app; keep a copy for the user.
                log.warning("settings file %s unreadable (%s); starting from defaults", path, str(exc)[:120])
                try:
                    self.path.replace(self.path.with_suffix(".json.bad"))
                except OSError:
                    pass

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``; a stored value of the wrong type for a known
        key (a string where a list of folders belongs, a memory budget that
        is not a number) gives the default, with one warning."""
        if key in self._values:
            value = self._values[key]
            if key not in DEFAULTS:
                return value
            checked = checked_value(key, value, DEFAULTS[key])
            if checked is not _INVALID:
                return checked
            if key not in self._warned:
                self._warned.add(key)
                log.warning("settings: %s should be %s, not %r; using the default %r", key,
                            _type_name(DEFAULTS[key]), value, DEFAULTS[key])
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
