"""Choosing how in-between frames are made: optical flow, or a frame
interpolation model the model manager found (a RIFE weights file, told by
its tensor names). The choice goes into generated clips retimed with
"Interpolate to" and into the editor's Interpolate and Bridge edits."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engines.video import export
from studio.qt.tasks import Tasks
from studio.qt.video.timeline_editor import TimelineEditor
from studio.qt.video.timeline_tools import OPTICAL_FLOW


def _write_rife(folder) -> str:
    """A safetensors file with a RIFE IFNet's tensor names (discovery reads only its header)."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({"block0.conv0.0.0.weight": torch.zeros(4, 7, 3, 3), "block0.lastconv.0.weight": torch.zeros(4, 4, 4, 4)},
              str(folder / "rife-tiny.safetensors"))
    return "rife-tiny"


@pytest.fixture
def interpolator_card(studio_home):
    """Discovery's card for a RIFE file in the studio's models folder."""
    from studio.core.models.discovery import scan_folder
    from studio.core.paths import studio_paths

    folder = studio_paths().ensure().models_dir / "interpolation"
    _write_rife(folder)
    cards = [card for card in scan_folder(folder, "user folder") if card.is_interpolator]
    assert len(cards) == 1
    return cards[0]


def test_generation_form_offers_interpolators_only_when_retiming(qtbot, open_window, interpolator_card):
    window = open_window()
    workspace = window.show_workspace("video")
    picker = workspace.interpolator_picker
    qtbot.waitUntil(lambda: picker.findData(interpolator_card.id) >= 0, timeout=20000)
    assert picker.itemText(0) == OPTICAL_FLOW and picker.value() == ""  # optical flow unless chosen
    assert workspace.model_picker.findData(interpolator_card.id) < 0  # it makes no clips
    workspace.form.set_values({"model_id": "starter-shapes", "interpolate": 0, "interpolator": interpolator_card.id})
    workspace.prompt_edit.setPlainText("a red circle")
    assert not picker.isEnabled()
    assert workspace.build_request().interpolator == ""  # no retiming: no interpolator
    workspace.form.set_value("interpolate", 24)
    assert picker.isEnabled()
    request = workspace.build_request()
    assert (request.interpolate, request.interpolator) == (24, interpolator_card.id)
    workspace.apply_request(request)  # reuse settings brings the choice back
    assert picker.value() == interpolator_card.id


@pytest.fixture
def editor(qtbot, tmp_path):
    tasks = Tasks(max_threads=2)
    editor = TimelineEditor(tasks, tmp_path / "video")
    qtbot.addWidget(editor)
    source = tmp_path / "clip.mp4"
    export.write_mp4(source, [np.full((32, 32, 3), 16 * i, dtype=np.uint8) for i in range(8)], 8)
    clip_id = editor.add_media(source)
    editor.view.select({clip_id})
    yield editor
    editor.shutdown()
    tasks.shutdown()


def test_interpolate_and_bridge_edits_carry_the_chosen_interpolator(qtbot, editor, interpolator_card):
    editor.set_model_cards([interpolator_card])
    tools = editor.tools
    assert [tools.interpolator.itemText(i) for i in range(tools.interpolator.count())][0] == OPTICAL_FLOW
    requests = []
    editor.edit_requested.connect(lambda request, _clip: requests.append(request))
    tools.interpolator.set_value(interpolator_card.id)
    for name in ("interpolate", "bridge", "deflicker"):
        tools.buttons[name].click()
    tools.interpolator.set_value("")
    tools.buttons["interpolate"].click()
    assert [(r.operation, r.interpolator) for r in requests] == [
        ("interpolate", interpolator_card.id), ("bridge", interpolator_card.id), ("deflicker", ""),
        ("interpolate", "")]
