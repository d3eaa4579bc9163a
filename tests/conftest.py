"""Shared test set-up: Qt renders offscreen, every test gets its own studio
home (settings, database, library) and nothing reaches a model hub."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    home = tmp_path / "studio-home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home


@pytest.fixture
def services(studio_home):
    from studio.engines.registry import open_studio_services

    opened = open_studio_services()
    yield opened
    opened.close()
