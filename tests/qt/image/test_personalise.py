"""The Personalise dialog of the Image workspace: pictures from a folder with their captions,
one-line errors, and a short training job on the starter model followed on the canvas until
its LoRA is in the LoRA list."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.training.lora.hexagons import SAMPLE_PROMPT, write_training_set


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def image_window(open_window, qtbot):
    window = open_window()
    workspace = window.workspaces["image"]
    window.show_workspace("image")
    qtbot.waitUntil(lambda: any(c.id == "starter-shapes" for c in workspace._diffusion_cards), timeout=20000)
    return window, workspace


def test_dialog_reads_captions_refuses_bad_input_and_trains(qtbot, image_window, tmp_path):
    window, workspace = image_window
    assert workspace.personalise_button.isVisible() or workspace.personalise_button.parent() is not None
    qtbot.mouseClick(workspace.personalise_button, Qt.MouseButton.LeftButton)
    dialog = workspace.personalise_dialog
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("starter-shapes"))
    dialog.train()
    assert "name" in dialog.error.text()  # nothing submitted: one line says what is missing
    samples = write_training_set(tmp_path / "hexagons", count=5)
    dialog.table.add_paths([tmp_path / "hexagons"])
    assert dialog.table.rowCount() == 5 and dialog.table.captions()[0] == samples[0].caption
    dialog.name_edit.setText("gui-hexagon")
    dialog.steps_spin.setValue(2)
    dialog.batch_spin.setValue(2)
    dialog.every_spin.setValue(1)
    dialog.sample_edit.setText(SAMPLE_PROMPT)
    assert dialog.prior_check.isChecked() and dialog.build_request().prior_preservation
    dialog.prior_check.setChecked(False)
    assert not dialog.build_request().prior_preservation
    dialog.prior_check.setChecked(True)
    dialog.grab().save(str(tmp_path / "dialog.png"))  # for looking at: the dialog filled in
    previews = []
    workspace.canvas.image_changed.connect(lambda: previews.append(workspace.canvas.is_preview))
    with qtbot.waitSignal(window.runner.job_finished, timeout=180000) as finished:
        dialog.train()
    _, item = finished.args
    assert item.recipe["request"]["kind"] == "lora" and item.recipe["lora"]["name"] == "gui-hexagon"
    assert True in previews  # the sample and loss curve showed while it trained
    qtbot.waitUntil(lambda: any(c.format == "lora" and c.name == "gui-hexagon"
                                for c in window.services.models.cards()), timeout=10000)
