"""The Image workspace driving a ComfyUI server (the protocol test server
on 127.0.0.1): a server checkpoint in the model picker runs through the same
form, live previews on the canvas, result in the library, and the Library's
"Copy as ComfyUI workflow"."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from tests.helpers import comfy_protocol as proto
from tests.helpers.comfy_server import CHECKPOINT, ComfyServer


@pytest.fixture(autouse=True)
def file_secrets(monkeypatch):
    monkeypatch.setenv("STUDIO_SECRETS", "file")


@pytest.fixture
def server(tmp_path):
    with ComfyServer(tmp_path / "comfy", step_delay=0.03) as running:
        yield running


def test_a_server_checkpoint_runs_from_the_image_form_with_previews(qtbot, open_window, studio_home, server):
    config = studio_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps({
        "servers.endpoints": [{"name": "gpu", "base_url": server.url, "kind": "comfyui"}],
        "models.include_hf_cache": False}))
    window = open_window()
    card_id = f"gpu/{CHECKPOINT}"
    qtbot.waitUntil(lambda: any(c.id == card_id for c in window.services.models.cards()), timeout=20000)
    workspace = window.workspaces["image"]
    window.show_workspace("image")
    workspace.engine_picker.setCurrentIndex(workspace.engine_picker.findData("image"))
    qtbot.waitUntil(lambda: workspace.model_picker.count() >= 1, timeout=10000)
    workspace.model_picker.set_value(card_id)
    workspace.prompt_edit.setPlainText("a green heart on a white background")
    workspace.steps.setValue(8)
    workspace.width_spin.setValue(64)
    workspace.height_spin.setValue(64)
    workspace.seed_field.random_button.setChecked(False)
    workspace.seed_field.spin.setValue(3)
    previews = []
    workspace.canvas.image_changed.connect(lambda: previews.append(workspace.canvas.is_preview))
    with qtbot.waitSignal(window.runner.job_finished, timeout=60000) as finished:
        qtbot.mouseClick(workspace.generate_button, Qt.MouseButton.LeftButton)
    _, item = finished.args
    assert item is not None, window.services.queue.jobs()[-1].error
    assert True in previews  # the server's preview frames reached the canvas
    qtbot.waitUntil(lambda: workspace.shown_path == str(item.path), timeout=10000)
    assert item.recipe["comfyui"]["server"] == "gpu"

    panel = window.library_panel
    qtbot.waitUntil(lambda: item.id in panel.item_ids(), timeout=10000)
    panel.select(item.id)
    assert panel.copy_workflow_action in panel.list.actions()
    panel.copy_workflow_action.trigger()
    graph = json.loads(QGuiApplication.clipboard().text())
    assert graph == item.recipe["comfyui"]["graph"]
    assert proto.check_graph(graph, server.info()) == []


def test_settings_offer_the_comfyui_kind_its_test_and_the_timeout(qtbot, studio_home, server):
    from studio.engines.registry import open_studio_services
    from studio.qt.app import create_application
    from studio.qt.shared.settings_dialog import SettingsDialog, _list_models

    create_application()
    services = open_studio_services()
    try:
        dialog = SettingsDialog(services.settings)
        qtbot.addWidget(dialog)
        dialog.add_server("gpu", server.url, "comfyui")
        endpoint = services.settings.get("servers.endpoints")[0]
        assert endpoint == {"name": "gpu", "base_url": server.url, "kind": "comfyui"}
        from studio.core import servers
        assert _list_models(servers.ServerStore(services.settings).get("gpu"))[0] == CHECKPOINT
        dialog.comfy_timeout.setValue(90)
        assert dialog.values()["comfyui.result_timeout_s"] == 90
    finally:
        services.close()


def test_a_result_left_on_the_server_by_a_closed_studio_is_fetched_when_the_window_opens(
        qtbot, open_window, studio_home, server):
    import time

    from studio.core import servers
    from studio.core.settings import Settings
    from studio.engines.image.comfy import engine as comfy
    from studio.engines.image.comfy.client import ComfyClient
    from studio.engines.image.requests import ImageRequest
    from studio.engines.registry import open_studio_services

    config = studio_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps({
        "servers.endpoints": [{"name": "gpu", "base_url": server.url, "kind": "comfyui"}]}))
    # What a Studio killed mid-job leaves: its prompt on the server and the record of it.
    earlier = open_studio_services()
    earlier.models.refresh()
    card = earlier.models.card(f"gpu/{CHECKPOINT}")
    request = ImageRequest(prompt="a blue ring", model_id=card.id, width=64, height=64, steps=4, seed=8)
    with ComfyClient(servers.ServerStore(Settings(config / "settings.json")).get("gpu")) as client:
        graph = comfy.prepare(client, card, request)
        prompt_id = client.queue_prompt(graph, "closed-studio")
    comfy._remember({"prompt_id": prompt_id, "server": "gpu", "graph": graph, "request": request.to_dict(),
                     "card": {"id": card.id, "name": card.name}, "created": time.time() - 60})
    earlier.close()
    deadline = time.monotonic() + 20
    while prompt_id not in server.history and time.monotonic() < deadline:
        time.sleep(0.05)

    window = open_window()
    qtbot.waitUntil(lambda: len(window.services.library.items()) == 1, timeout=20000)
    item = window.services.library.items()[0]
    assert item.recipe["comfyui"]["prompt_id"] == prompt_id and item.seed == 8
    qtbot.waitUntil(lambda: "Fetched from the server" in window.statusBar().currentMessage(), timeout=5000)
    assert comfy.pending() == []  # fetched once: the record is gone
