"""The Queue, Library and Models panels on real services: job states and
the commands on them, library search / delete / show file, and models
discovered in a temporary folder with Load and Unload."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import QObject, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core.jobs import Artifact, JobState
from studio.core.images import encode_png
from studio.engines.pattern import PatternRequest
from studio.engines.registry import open_studio_services


def _slow(prompt: str, steps: int = 400) -> PatternRequest:
    return PatternRequest(prompt=prompt, steps=steps, width=32, height=32, step_delay_s=0.02)


def test_queue_panel_shows_states_and_cancel_reorder_retry_clear_work(qtbot, window):
    panel, runner = window.queue_panel, window.runner
    with qtbot.waitSignal(runner.job_started, timeout=5000):
        running = runner.submit(_slow("first"))
    second = runner.submit(_slow("second", steps=5))
    third = runner.submit(_slow("third"))
    qtbot.waitUntil(lambda: panel.states().get(third.id) == "queued", timeout=3000)
    assert panel.states()[running.id] == "running"
    assert panel.states()[second.id] == "queued"
    qtbot.waitUntil(lambda: (panel.progress(running.id) or 0) > 0, timeout=5000)

    panel.select(third.id)
    assert panel.up_button.isEnabled() and not panel.retry_button.isEnabled()
    panel.up_button.click()
    assert panel.job_ids() == [running.id, third.id, second.id]

    panel.select(second.id)
    panel.cancel_button.click()
    assert panel.states()[second.id] == "cancelled"
    assert window.services.queue.get(second.id).state is JobState.CANCELLED
    panel.select(second.id)
    assert panel.retry_button.isEnabled() and not panel.up_button.isEnabled()

    with qtbot.waitSignal(runner.job_cancelled, timeout=5000):
        panel.cancel_all_button.click()
    qtbot.waitUntil(lambda: panel.states().get(running.id) == "cancelled", timeout=3000)
    assert panel.states()[third.id] == "cancelled"

    panel.select(second.id)
    with qtbot.waitSignal(runner.job_finished, timeout=10000):
        panel.retry_button.click()
        assert panel.states()[second.id] in ("queued", "running")
    qtbot.waitUntil(lambda: panel.states().get(second.id) == "finished", timeout=3000)
    assert panel.progress(second.id) == 1.0

    panel.clear_button.click()
    assert panel.job_ids() == []


def test_queue_panel_shows_interrupted_jobs_and_retries_them(qtbot, open_window, studio_home):
    earlier = open_studio_services()
    job = earlier.queue.submit(PatternRequest(prompt="cut short", steps=2, width=16, height=16))
    earlier.queue.take_next()  # running when the "process died"
    earlier.close()
    window = open_window()
    panel = window.queue_panel
    assert panel.states()[job.id] == "interrupted"
    panel.select(job.id)
    assert "closed while this job ran" in panel.message.text()
    with qtbot.waitSignal(window.runner.job_finished, timeout=10000):
        panel.retry_button.click()
    assert window.services.queue.get(job.id).state is JobState.FINISHED


def _add_items(services, prompts: list[str]) -> list:
    items = []
    for index, prompt in enumerate(prompts):
        pixels = np.full((24, 32, 3), 40 * index, dtype=np.uint8)
        request = PatternRequest(prompt=prompt, seed=index, width=32, height=24)
        items.append(services.library.add(request, Artifact(encode_png(pixels), ".png", 32, 24)))
    return items


def test_library_lists_newest_first_and_search_filters(qtbot, window):
    items = _add_items(window.services, ["red fox in snow", "blue whale", "fox den at night"])
    panel = window.library_panel
    panel.reload()
    assert panel.item_ids() == [items[2].id, items[1].id, items[0].id]
    panel.search.setText("fox")
    qtbot.waitUntil(lambda: panel.item_ids() == [items[2].id, items[0].id], timeout=2000)
    panel.search.setText("zebra")
    qtbot.waitUntil(lambda: panel.item_ids() == [], timeout=2000)
    assert panel.empty_label.isVisible() and "No item matches" in panel.empty_label.text()
    panel.search.clear()
    qtbot.waitUntil(lambda: len(panel.item_ids()) == 3, timeout=2000)
    qtbot.waitUntil(lambda: all(panel.has_thumbnail(i.id) for i in items), timeout=5000)


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_library_show_file_opens_the_folder(qtbot, window):
    (item,) = _add_items(window.services, ["a file to show"])
    window.library_panel.reload()
    window.library_panel.select(item.id)
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        window.library_panel.show_button.click()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [u.toLocalFile() for u in catcher.urls] == [str(item.path.parent)]


def _answer_next_box(button_text: str) -> None:
    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        for button in box.buttons():
            if button.text().replace("&", "") == button_text:
                button.click()
                return
    QTimer.singleShot(20, answer)


def test_library_delete_asks_first(qtbot, window):
    keep, gone = _add_items(window.services, ["keep me", "delete me"])
    panel = window.library_panel
    panel.reload()
    panel.select(gone.id)
    _answer_next_box("Cancel")
    panel.delete_button.click()
    assert gone.id in panel.item_ids() and gone.path.exists()
    _answer_next_box("Delete")
    panel.delete_button.click()
    assert panel.item_ids() == [keep.id]
    assert not gone.path.exists()


def _model_folder(tmp_path):
    from safetensors.numpy import save_file

    folder = tmp_path / "my-models"
    folder.mkdir()
    save_file({"weight": np.ones((4, 4), dtype=np.float32)}, str(folder / "tiny-checkpoint.safetensors"))
    pipe = folder / "tiny-pipeline"
    pipe.mkdir()
    (pipe / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (folder / "damaged.safetensors").write_bytes(b"\xff" * 64)
    return folder


def test_models_panel_lists_cards_from_a_model_folder_and_loads_one(qtbot, open_window, tmp_path):
    folder = _model_folder(tmp_path)
    services = open_studio_services()
    services.settings.set("models.folders", [str(folder)])
    services.close()
    window = open_window(background=False)
    panel = window.models_panel
    with qtbot.waitSignal(panel.discovery_finished, timeout=20000):
        panel.refresh()
    cards = {c.name: c for c in window.services.models.cards()}
    tiny, pipe, damaged = cards["tiny-checkpoint"], cards["tiny-pipeline"], cards["damaged"]
    row = panel.row_texts(tiny.id)
    assert row["Modality"] == "image" and row["Format"] == "safetensors"
    assert row["Status"] == "Not loaded" and row["Memory"] == "—"
    assert row["Path"] == str(folder / "tiny-checkpoint.safetensors")
    assert row["Size"].endswith("B") and row["Licence"]
    assert panel.row_texts(pipe.id)["Format"] == "diffusers"
    assert panel.row_texts(damaged.id)["Status"] == "Unusable"
    # The workspaces' pickers list the models of their modality.
    picker = window.workspaces["image"].model_picker
    assert picker.findData(tiny.id) >= 0 and picker.findData(pipe.id) >= 0
    assert window.workspaces["text"].model_picker.findData(tiny.id) < 0

    panel.select(tiny.id)
    assert panel.load_button.isEnabled() and not panel.unload_button.isEnabled()
    with qtbot.waitSignal(panel.load_finished, timeout=30000):
        panel.load_button.click()
        assert panel.row_texts(tiny.id)["Status"] == "Loading…"
    assert window.services.models.is_loaded(tiny.id)
    row = panel.row_texts(tiny.id)
    assert row["Status"] == "Loaded" and row["Memory"] == "64 B"
    assert panel.unload_button.isEnabled()
    panel.unload_button.click()
    qtbot.waitUntil(lambda: panel.row_texts(tiny.id)["Status"] == "Not loaded", timeout=10000)
    assert not window.services.models.is_loaded(tiny.id)


def test_a_model_that_cannot_load_gives_a_readable_message(qtbot, open_window, tmp_path):
    folder = _model_folder(tmp_path)
    services = open_studio_services()
    services.settings.set("models.folders", [str(folder)])
    services.close()
    window = open_window(background=False)
    panel = window.models_panel
    with qtbot.waitSignal(panel.discovery_finished, timeout=20000):
        panel.refresh()
    damaged = next(c for c in window.services.models.cards() if c.name == "damaged")
    panel.select(damaged.id)
    assert not panel.load_button.isEnabled()  # its card already says why
    assert "unreadable safetensors" in panel.detail.text()
    with qtbot.waitSignal(panel.load_finished, timeout=10000):
        panel.load(damaged.id)
    assert panel.last_error.startswith("damaged cannot be used: unreadable safetensors file")
    assert "Traceback" not in panel.error_dialog.text()
    assert panel.row_texts(damaged.id)["Status"] == "Unusable"
