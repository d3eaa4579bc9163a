"""The endpoint store and the secrets store: names and URLs checked, keys
kept out of the settings in a private file (no keyring on a headless box)."""

from __future__ import annotations

import json

import pytest

from studio.core import secrets, servers
from studio.core.jobs import StudioError
from studio.core.settings import Settings


@pytest.fixture
def store(studio_home, monkeypatch):
    monkeypatch.setenv("STUDIO_SECRETS", "file")
    return servers.ServerStore(Settings(studio_home / "config" / "settings.json"))


@pytest.mark.parametrize(("url", "stored"), [
    ("http://localhost:8080/v1", "http://localhost:8080"),
    ("http://localhost:8080/v1/", "http://localhost:8080"),
    ("http://localhost:8080", "http://localhost:8080"),
    (" https://api.example.com/openai/v1 ", "https://api.example.com/openai"),
    ("http://[::1]:11434/", "http://[::1]:11434"),
])
def test_base_urls_with_or_without_v1_name_the_same_server(url, stored):
    assert servers.normalise_url(url) == stored


@pytest.mark.parametrize(("url", "message"), [
    ("localhost:8080", "http"), ("ftp://host/v1", "http"), ("http:///v1", "no host"),
    ("http://host:port/v1", "not a valid URL"), ("http://user:pw@host/v1", "key field"),
])
def test_bad_urls_are_refused(url, message):
    with pytest.raises(StudioError, match=message):
        servers.normalise_url(url)


def test_endpoints_are_stored_in_settings_and_keys_in_a_private_file(store, studio_home):
    endpoint = store.add("desk", "http://127.0.0.1:8080/v1", api_key="sk-secret-123")
    assert endpoint.api_url == "http://127.0.0.1:8080/v1" and endpoint.has_key()
    assert store.add("lab", "http://127.0.0.1:8000").has_key() is False
    assert [e.name for e in store.list()] == ["desk", "lab"]
    assert store.get("desk") == endpoint
    saved = (studio_home / "config" / "settings.json").read_text()
    assert json.loads(saved)["servers.endpoints"][0] == {"name": "desk", "base_url": "http://127.0.0.1:8080",
                                                         "kind": "openai"}
    assert "sk-secret-123" not in saved
    path = secrets.secrets_file()
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert secrets.get_secret("server:desk") == "sk-secret-123"
    with pytest.raises(StudioError, match="exists already"):
        store.add("desk", "http://127.0.0.1:9")
    with pytest.raises(StudioError, match="server name"):
        store.add("bad name/x", "http://127.0.0.1:9")
    store.remove("desk")
    assert [e.name for e in store.list()] == ["lab"] and secrets.get_secret("server:desk") is None
    with pytest.raises(StudioError, match="no server named 'desk'"):
        store.get("desk")


def test_a_widened_secrets_file_is_made_private_again(store):
    secrets.set_secret("a", "1")
    secrets.secrets_file().chmod(0o644)
    assert secrets.get_secret("a") == "1"
    assert secrets.secrets_file().stat().st_mode & 0o777 == 0o600


def test_the_fail_keyring_is_not_used_and_redact_hides_keys(monkeypatch):
    import keyring
    from keyring.backends import fail

    monkeypatch.delenv("STUDIO_SECRETS", raising=False)
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    assert secrets._keyring() is None
    assert secrets.redact("bad key sk-1 in sk-1", "sk-1", None) == "bad key *** in ***"
