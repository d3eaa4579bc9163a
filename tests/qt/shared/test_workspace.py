"""Workspaces: the Image workspace runs the pattern engine end to end
(preview on the canvas, then the stored image, then the Library), the other
modalities say plainly that they cannot generate yet, invalid forms and
failing engines give readable messages, and "reuse settings" restores a
past request into the form."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from studio.core.jobs import JobState
from tests.helpers import engines as test_engines


def _small_image_form(workspace, prompt: str, steps: int = 6, delay: float = 0.05) -> None:
    workspace.prompt_edit.setPlainText(prompt)
    workspace.steps.setValue(steps)
    workspace.step_delay.setValue(delay)
    workspace.width_spin.setValue(64)
    workspace.height_spin.setValue(64)


def test_image_generate_shows_preview_then_result_then_library_item(qtbot, window):
    image = window.workspaces["image"]
    _small_image_form(image, "tide pools", steps=8)
    previews = []
    image.canvas.image_changed.connect(lambda: previews.append(image.caption.text()))
    assert not image.canvas.has_image()
    with qtbot.waitSignal(window.runner.job_finished, timeout=10000) as finished:
        job = image.generate()
        assert job is not None
        qtbot.waitUntil(lambda: window.job_progress.isVisible(), timeout=5000)
    job_id, item = finished.args
    assert job_id == job.id
    assert any(text.startswith("Preview") for text in previews), previews
    # The canvas then shows the file the library stored, decoded in the background.
    qtbot.waitUntil(lambda: image.shown_path == str(item.path), timeout=5000)
    shown = image.canvas.image()
    assert (shown.width(), shown.height()) == (64, 64)
    assert f"seed {item.seed}" in image.caption.text()
    assert window.library_panel.item_ids()[0] == item.id
    qtbot.waitUntil(lambda: window.library_panel.has_thumbnail(item.id), timeout=5000)
    assert window.services.queue.get(job.id).state is JobState.FINISHED
    assert not window.job_progress.isVisible()
    assert image.active_jobs == []
    assert "finished" in image.job_status.text()


def test_random_seed_rolls_and_locked_seed_stays(qtbot, window):
    image = window.workspaces["image"]
    _small_image_form(image, "seeds", steps=1, delay=0)
    image.seed_field.random_button.setChecked(False)
    image.seed_field.spin.setValue(7)
    assert image.build_request().seed == 7
    image.generate()
    assert image.seed_field.spin.value() == 7
    image.seed_field.random_button.setChecked(True)
    seeds = set()
    for _ in range(3):
        image.generate()
        seeds.add(image.seed_field.spin.value())
    assert len(seeds) > 1


def test_workspaces_without_an_engine_say_so_and_cannot_generate(qtbot, open_window, monkeypatch):
    from studio.engines import registry

    # Only the pattern (image) engine installed: the other modalities have none.
    monkeypatch.setattr(registry, "ENGINES", {"pattern": registry.ENGINES["pattern"]})
    window = open_window()
    for name in ("text", "audio", "video"):
        workspace = window.workspaces[name]
        window.show_workspace(name)
        assert workspace.notice.isVisible()
        assert "not available yet" in workspace.notice.text()
        assert not workspace.generate_button.isEnabled()
        assert not window.generate_action.isEnabled()
        assert workspace.generate() is None
        assert workspace.prompt_edit.isEnabled() and workspace.model_picker.isEnabled()
    window.show_workspace("image")
    assert not window.workspaces["image"].notice.isVisible()
    assert window.generate_action.isEnabled()
    assert window.services.queue.jobs() == []


def test_an_invalid_form_shows_an_inline_message_and_submits_nothing(qtbot, window):
    image = window.workspaces["image"]
    image.prompt_edit.setPlainText("   ")
    assert image.generate() is None
    assert image.error_label.isVisible()
    assert image.error_text() == "the prompt is empty"
    assert window.services.queue.jobs() == []
    image.prompt_edit.setPlainText("fixed")
    image.step_delay.setValue(0)
    assert image.generate() is not None
    assert not image.error_label.isVisible()


def test_a_failing_engine_shows_its_message_with_the_traceback_in_details(qtbot, open_window, monkeypatch):
    test_engines.register(monkeypatch)
    window = open_window(background=False)
    image = window.workspaces["image"]
    image.engine_picker.setCurrentIndex(image.engine_picker.findData("broken"))
    image.prompt_edit.setPlainText("this will break")
    with qtbot.waitSignal(window.runner.job_failed, timeout=10000):
        job = image.generate()
    assert "engine bug at step 2" in image.error_text()
    assert "Traceback" not in image.error_text()
    image.error_label.linkActivated.emit("details")
    box = window.findChild(QMessageBox, "errorDialog")
    assert box is not None and "engine bug at step 2" in box.text()
    assert "ZeroDivisionError" in box.detailedText() and "Traceback" in box.detailedText()
    box.close()
    assert window.queue_panel.states()[job.id] == "failed"


def test_reuse_settings_restores_the_request_into_its_workspace(qtbot, window):
    image = window.workspaces["image"]
    _small_image_form(image, "old harbour, fog", steps=3, delay=0)
    image.seed_field.random_button.setChecked(False)
    image.seed_field.spin.setValue(99)
    with qtbot.waitSignal(window.runner.job_finished, timeout=10000) as finished:
        image.generate()
    _, item = finished.args
    # Change everything, move elsewhere, then reuse the library item.
    _small_image_form(image, "something else", steps=40, delay=0.2)
    image.seed_field.random_button.setChecked(True)
    window.show_workspace("text")
    window.library_panel.select(item.id)
    window.library_panel.reuse_button.click()
    assert window.current_workspace() is image
    assert image.prompt_edit.toPlainText() == "old harbour, fog"
    assert (image.steps.value(), image.width_spin.value(), image.height_spin.value()) == (3, 64, 64)
    assert image.seed_field.spin.value() == 99
    assert not image.seed_field.is_random()  # reuse means "make that again"
    assert image.build_request() == item.request


def test_model_picker_keeps_a_saved_choice_until_discovery_finds_it(qtbot, window):
    picker = window.workspaces["text"].model_picker
    picker.set_value("my-model-123")
    assert picker.value() == "my-model-123"
    picker.set_cards([])
    assert picker.value() == "my-model-123"
    assert "not found" in picker.currentText()
    picker.setCurrentIndex(0)
    assert picker.value() == ""
