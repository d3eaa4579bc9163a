"""Remote text servers: the OpenAI-compatible endpoints a person lists
(llama.cpp server, vLLM, Ollama, LM Studio, a hosted API).

An ``Endpoint`` is a name and a base URL, kept in the settings under
``servers.endpoints``; its API key, if any, is a secret
(``studio.core.secrets``) named after the endpoint, never a setting. The
base URL is stored as entered, without a trailing ``/`` or ``/v1``
(``api_url`` adds ``/v1`` back), so ``http://host:8080`` and
``http://host:8080/v1`` name the same server."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from studio.core import secrets
from studio.core.jobs import StudioError
from studio.core.settings import Settings

SETTING = "servers.endpoints"
KINDS = {"openai": "OpenAI-compatible", "comfyui": "ComfyUI"}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# Where the common servers listen by default (placeholders for Settings).
EXAMPLES = {
    "llama.cpp server": "http://localhost:8080/v1",
    "Ollama": "http://localhost:11434/v1",
    "vLLM": "http://localhost:8000/v1",
    "LM Studio": "http://localhost:1234/v1",
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    base_url: str
    kind: str = "openai"

    @property
    def api_url(self) -> str:
        """The URL the OpenAI paths hang from: ``{base}/v1`` (a ComfyUI server's paths hang from the base)."""
        return self.base_url if self.kind == "comfyui" else self.base_url + "/v1"

    @property
    def secret_name(self) -> str:
        return secret_name(self.name)

    def api_key(self) -> str | None:
        return secrets.get_secret(self.secret_name) or None

    def has_key(self) -> bool:
        return bool(self.api_key())

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def secret_name(name: str) -> str:
    return f"server:{name}"


def normalise_url(url: str) -> str:
    """``url`` checked (http or https, with a host) and without a trailing ``/`` or ``/v1``."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise StudioError(f"{text!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise StudioError(f"a server URL must start with http:// or https://, not {text!r}")
    if not parts.hostname:
        raise StudioError(f"the server URL {text!r} has no host")
    if parts.query or parts.fragment:
        raise StudioError(f"the server URL {text!r} must not have a query or fragment")
    if parts.username or parts.password:
        raise StudioError("put the API key in the key field, not in the URL")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return f"{parts.scheme}://{parts.netloc}{path}"


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        raise StudioError(f"a server name is letters, digits, '.', '_' or '-' (up to 64), not {name!r}")
    return name


class ServerStore:
    """The endpoints in ``settings`` (and their keys in the secrets store)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def list(self) -> list[Endpoint]:
        endpoints = []
        for entry in self.settings.get(SETTING) or []:
            if isinstance(entry, dict) and entry.get("name") and entry.get("base_url"):
                endpoints.append(Endpoint(str(entry["name"]), str(entry["base_url"]),
                                          str(entry.get("kind") or "openai")))
        return endpoints

    def get(self, name: str) -> Endpoint:
        for endpoint in self.list():
            if endpoint.name == name:
                return endpoint
        known = ", ".join(e.name for e in self.list()) or "none yet; add one with `studio servers add`"
        raise StudioError(f"no server named {name!r} (servers: {known})")

    def add(self, name: str, base_url: str, kind: str = "openai", api_key: str | None = None) -> Endpoint:
        name = check_name(name)
        if kind not in KINDS:
            raise StudioError(f"unknown server kind {kind!r}; use one of {', '.join(KINDS)}")
        if any(e.name == name for e in self.list()):
            raise StudioError(f"a server named {name!r} exists already; remove it first or pick another name")
        endpoint = Endpoint(name, normalise_url(base_url), kind)
        if api_key:
            secrets.set_secret(endpoint.secret_name, api_key.strip())
        else:
            secrets.delete_secret(endpoint.secret_name)  # a stale key of an earlier server of that name
        self._save([*self.list(), endpoint])
        return endpoint

    def remove(self, name: str) -> Endpoint:
        endpoint = self.get(name)
        self._save([e for e in self.list() if e.name != name])
        secrets.delete_secret(endpoint.secret_name)
        return endpoint

    def set_key(self, name: str, api_key: str | None) -> None:
        endpoint = self.get(name)
        if api_key:
            secrets.set_secret(endpoint.secret_name, api_key.strip())
        else:
            secrets.delete_secret(endpoint.secret_name)

    def _save(self, endpoints: list[Endpoint]) -> None:
        self.settings.set(SETTING, [e.to_dict() for e in endpoints])


def store(settings: Settings | None = None) -> ServerStore:
    """The store over ``settings`` (default: the user's settings file)."""
    if settings is None:
        from studio.core.paths import studio_paths

        settings = Settings(studio_paths().settings_file)
    return ServerStore(settings)
