"""Secrets (API keys of remote servers), kept apart from the settings.

The desktop keyring holds them when ``keyring`` has a usable backend (the
macOS Keychain, the Windows Credential Locker, the Secret Service); on a
machine without one (a headless box, a bare container) they go to a JSON
file in Studio's config folder, in a folder only the user may enter and a
file only the user may read (``0700``/``0600``), written atomically.
``STUDIO_SECRETS=file`` picks the file even where a keyring works (tests,
portable installs under ``STUDIO_HOME``).

A secret never goes into settings.json, a recipe, a log line or an error
message: ``redact`` removes it from any text that is about to be shown."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path

from studio.core.atomic import atomic_write_text
from studio.core.jobs import StudioError
from studio.core.paths import studio_paths

log = logging.getLogger(__name__)

SERVICE = "Studio"
FILE_MODE = 0o600
FOLDER_MODE = 0o700
_lock = threading.Lock()


def secrets_file() -> Path:
    return studio_paths().config / "private" / "secrets.json"


def _keyring():
    """The keyring module when its backend can really store secrets, else None."""
    if os.environ.get("STUDIO_SECRETS", "").lower() == "file":
        return None
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - no keyring at all: the file store
        return None
    if isinstance(backend, fail.Keyring) or type(backend).__module__.endswith(".null"):
        return None
    try:
        if float(getattr(backend, "priority", 0)) <= 0:
            return None
    except Exception:  # noqa: BLE001 - a backend whose priority cannot be read is not trusted
        return None
    return keyring


def backend_name() -> str:
    """Where secrets go on this machine, in words (for Settings)."""
    ring = _keyring()
    if ring is None:
        return f"a private file ({secrets_file()})"
    return f"the system keyring ({type(ring.get_keyring()).__name__})"


# --- the file store ------------------------------------------------------------
def _read_file() -> dict[str, str]:
    path = secrets_file()
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:  # someone widened it: narrow it again before reading
        log.warning("secrets file %s had mode %o; setting it to %o", path, mode, FILE_MODE)
        os.chmod(path, FILE_MODE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudioError(f"the secrets file {path} is unreadable ({type(exc).__name__})") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_file(values: dict[str, str]) -> None:
    path = secrets_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, FOLDER_MODE)  # the temp file of the atomic write is made in here
    atomic_write_text(path, json.dumps(values, indent=2, sort_keys=True))
    os.chmod(path, FILE_MODE)
    if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
        raise StudioError(f"could not make {path} private (mode {FILE_MODE:o})")


# --- the interface -------------------------------------------------------------
def set_secret(name: str, value: str) -> None:
    if not name:
        raise StudioError("a secret needs a name")
    ring = _keyring()
    if ring is not None:
        try:
            ring.set_password(SERVICE, name, value)
            return
        except Exception as exc:  # noqa: BLE001 - the keyring refused: say so without the value
            raise StudioError(f"the system keyring could not store {name!r}: "
                              f"{redact(str(exc), value) or type(exc).__name__}") from None
    with _lock:
        values = _read_file()
        values[name] = value
        _write_file(values)


def get_secret(name: str) -> str | None:
    ring = _keyring()
    if ring is not None:
        try:
            return ring.get_password(SERVICE, name)
        except Exception as exc:  # noqa: BLE001
            log.warning("the system keyring could not read %r: %s", name, type(exc).__name__)
            return None
    with _lock:
        return _read_file().get(name)


def delete_secret(name: str) -> None:
    ring = _keyring()
    if ring is not None:
        try:
            ring.delete_password(SERVICE, name)
        except Exception as exc:  # noqa: BLE001 - nothing stored under that name is fine
            log.debug("nothing to delete for %r in the keyring (%s)", name, type(exc).__name__)
        return
    with _lock:
        values = _read_file()
        if values.pop(name, None) is not None:
            _write_file(values)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
