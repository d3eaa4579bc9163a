"""The Servers section of the Settings dialog: add, list, test and remove a
remote text server; the API key goes to the secrets store, never to the
settings; Test runs off the GUI thread and shows the model count or the
error line. Tested against the real llama.cpp server where it is installed."""

from __future__ import annotations

import pytest

from studio.core import servers
from studio.core.jobs import StudioError
from studio.core.secrets import secrets_file
from studio.core.settings import Settings
from studio.qt.shared.settings_dialog import ServerDialog, SettingsDialog
from tests.helpers import llama_server

KEY = "qt-key-51b2"


@pytest.fixture(autouse=True)
def file_secrets(monkeypatch, studio_home):
    monkeypatch.setenv("STUDIO_SECRETS", "file")


@pytest.fixture
def dialog(qtbot, studio_home):
    settings = Settings(studio_home / "config" / "settings.json")
    shown = SettingsDialog(settings)
    qtbot.addWidget(shown)
    yield shown
    shown.server_tasks.shutdown(5000)


def test_a_server_is_added_with_its_key_kept_apart_and_removed(dialog, studio_home):
    dialog.add_server("desk", "http://127.0.0.1:9/v1", "openai", KEY)
    assert dialog.server_names() == ["desk"]
    assert "API key set" in dialog.server_list.item(0).text() and KEY not in dialog.server_list.item(0).text()
    settings_text = (studio_home / "config" / "settings.json").read_text()
    assert "desk" in settings_text and KEY not in settings_text
    assert secrets_file().stat().st_mode & 0o777 == 0o600
    with pytest.raises(StudioError, match="exists already"):
        dialog.add_server("desk", "http://127.0.0.1:9", "openai", "")
    with pytest.raises(StudioError, match="http"):
        dialog.add_server("other", "ftp://example.invalid", "openai", "")
    dialog.select_server("desk")
    assert dialog.remove_server_button.isEnabled()
    dialog.remove_selected_server()
    assert dialog.server_names() == []
    assert servers.ServerStore(dialog.settings).list() == []
    assert KEY not in secrets_file().read_text()


def test_test_shows_the_error_line_of_a_server_that_is_down(qtbot, dialog):
    port = llama_server.free_port()
    dialog.add_server("gone", f"http://127.0.0.1:{port}", "openai", "")
    dialog.select_server("gone")
    dialog.test_selected_server()
    assert not dialog.test_server_button.isEnabled()  # one test at a time
    qtbot.waitUntil(lambda: "unreachable" in dialog.server_status.text(), timeout=8000)
    assert "\n" not in dialog.server_status.text()
    assert dialog.test_server_button.isEnabled()


@pytest.mark.skipif(bool(llama_server.why_unavailable()), reason=llama_server.why_unavailable() or "available")
def test_test_counts_the_models_of_a_real_server(qtbot, dialog, tmp_path):
    server = llama_server.start_llama_server(tmp_path, api_key=KEY)
    try:
        dialog.add_server("local", server.api_url, "openai", KEY)
        dialog.select_server("local")
        dialog.test_selected_server()
        qtbot.waitUntil(lambda: "1 model" in dialog.server_status.text(), timeout=8000)
        assert llama_server.MODEL_ALIAS in dialog.server_status.text()
    finally:
        server.stop()


def test_the_add_dialog_hides_the_key_and_suggests_addresses(qtbot):
    add = ServerDialog()
    qtbot.addWidget(add)
    assert add.key.echoMode() == add.key.EchoMode.Password
    assert add.url.placeholderText() == "http://localhost:8080/v1"
    add.name.setText("box")
    add.url.setText("http://localhost:11434/v1")
    add.key.setText("k")
    assert add.values() == ("box", "http://localhost:11434/v1", "openai", "k")


def test_accept_reports_the_servers_setting_as_changed(qtbot, dialog):
    dialog.add_server("desk", "http://127.0.0.1:9", "openai", "")
    with qtbot.waitSignal(dialog.settings_changed) as changed:
        dialog.accept()
    assert servers.SETTING in changed.args[0]


@pytest.mark.skipif(bool(llama_server.why_unavailable()), reason=llama_server.why_unavailable() or "available")
def test_a_server_added_in_settings_offers_its_models_in_the_text_workspace(qtbot, open_window, tmp_path):
    server = llama_server.start_llama_server(tmp_path)
    try:
        window = open_window()
        picker = window.workspaces["text"].model_picker
        qtbot.waitUntil(lambda: picker.findData("smollm2-135m-instruct") >= 0, timeout=15000)  # first scan done
        dialog = window.open_settings()
        dialog.add_server("desk", server.api_url, "openai", "")
        dialog.accept()
        qtbot.waitUntil(lambda: picker.findData(f"desk/{llama_server.MODEL_ALIAS}") >= 0, timeout=15000)
        card = window.services.models.card(f"desk/{llama_server.MODEL_ALIAS}")
        assert card.source == "server desk"
    finally:
        server.stop()
