"""settings.json values of the wrong type fall back to defaults with a
warning, instead of a traceback wherever they are used."""

from __future__ import annotations

import json
import subprocess
import sys

from studio.core.settings import DEFAULTS, Settings


def _settings(tmp_path, values) -> Settings:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(values))
    return Settings(path)


def test_wrong_types_fall_back_to_defaults_with_one_warning(tmp_path, caplog):
    settings = _settings(tmp_path, {"models.folders": "/home/me/models", "models.memory_budget_mb": "lots",
                                    "models.idle_unload_s": None, "ui.theme": 3, "credentials.sign": "yes",
                                    "servers.endpoints": {"a": 1}, "forms.image.prompt": 7})
    with caplog.at_level("WARNING"):
        assert settings.get("models.folders") == []
        assert settings.get("models.folders") == []
        assert settings.get("models.memory_budget_mb") == DEFAULTS["models.memory_budget_mb"]
        assert settings.get("models.idle_unload_s") == DEFAULTS["models.idle_unload_s"]
        assert settings.get("ui.theme") == "dark"
        assert settings.get("credentials.sign") is True
        assert settings.get("servers.endpoints") == []
    assert settings.get("forms.image.prompt") == 7  # unknown keys are kept as they are
    assert caplog.text.count("models.folders should be a list") == 1


def test_close_enough_values_are_read(tmp_path):
    settings = _settings(tmp_path, {"models.memory_budget_mb": "4096", "models.idle_unload_s": 30.5,
                                    "models.folders": ["/a", 3, "/b"]})
    assert settings.get("models.memory_budget_mb") == 4096
    assert settings.get("models.idle_unload_s") == 30
    assert settings.get("models.folders") == ["/a", "/b"]


def test_a_settings_file_that_is_not_an_object_starts_from_defaults(tmp_path):
    assert _settings(tmp_path, [1, 2]).get("models.folders") == []


def test_the_cli_survives_mistyped_settings(studio_home):
    config = studio_home / "config"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({"models.folders": "/nowhere", "models.memory_budget_mb": "x",
                                                      "models.idle_unload_s": [], "servers.endpoints": "none"}))
    result = subprocess.run([sys.executable, "-m", "studio", "models", "list"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "starter-shapes" in result.stdout
    assert "models.folders should be a list" in result.stderr
