"""Regenerating the playhead's frame of a clip in the Video workspace: the
dialog's image-to-image job runs on the bundled starter model through the
real queue and runner, then its result either replaces that one frame or
is carried to the neighbouring frames by a propagation job; undo restores
the original frames exactly, and a failed or cancelled image job leaves the
clip as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.engines.video import export
from studio.engines.video.media import read_image
from studio.qt.video.regenerate_dialog import generation_size
from studio.qt.video.timeline_keyframes import render_still
from tests.engines.video.synthetic import translating_pattern
from tests.qt.conftest import make_active

FRAMES = 8
PLAYHEAD = 3
STARTER = "starter-shapes"
JOB_TIMEOUT_MS = 120000


@pytest.fixture
def clip_editor(qtbot, open_window, tmp_path):
    """The Video workspace with one 8-frame 64x64 panning texture on V1, selected, the playhead on frame 3."""
    window = open_window()
    workspace = window.show_workspace("video")
    editor = workspace.editor
    qtbot.waitUntil(lambda: any(card.id == STARTER for card in editor.keyframes.cards), timeout=20000)
    source = tmp_path / "pan.mp4"
    export.write_mp4(source, translating_pattern(64, FRAMES, (1, 0)), 8)
    editor.import_files([str(source)])
    clip = editor.timeline.project.tracks[0].clips[0]
    qtbot.waitUntil(lambda: editor.clip_frames(clip) is not None, timeout=10000)
    editor.view.select({clip.id})
    editor.playback.seek(PLAYHEAD)
    return window, workspace, editor, clip.id


def _frames(editor) -> list[np.ndarray]:
    """Every timeline frame, decoded at full size from the clips' media."""
    state = editor.timeline.project.to_dict()
    return [render_still(state, frame)[1].astype(np.int32) for frame in range(FRAMES)]


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def _reencoding_loss(frames: list[np.ndarray], tmp_path) -> float:
    """How far a frame moves when the clip is only encoded again (the edit job writes a new MP4)."""
    from studio.engines.video.media import read_frames

    again = tmp_path / "again.mp4"
    export.write_mp4(again, [f.astype(np.uint8) for f in frames], 8)
    return max(_difference(a, b) for a, b in zip(read_frames(again), frames))


def _open_dialog(editor, carry: bool, model: str = STARTER):
    dialog = editor.keyframes.choose_regeneration()
    assert dialog is not None and dialog.preview.has_image()
    assert dialog.carry.isChecked()  # carrying is the default
    dialog.prompt.setPlainText("a large red circle on a yellow background")
    dialog.model_picker.set_value(model)
    dialog.strength.setValue(0.9)
    dialog.steps.setValue(6)
    dialog.seed.random_button.setChecked(False)
    dialog.seed.spin.setValue(7)
    dialog.carry.setChecked(carry)
    return dialog


def _regenerate(qtbot, window, editor, clip_id: int, carry: bool):
    """Accept the dialog; wait for the image job and the edit job that puts its result in the clip."""
    finished = []
    window.runner.job_finished.connect(lambda job_id, item: finished.append(item))
    media = editor.timeline.project.find(clip_id)[1].media
    image_workspace = window.workspaces["image"]
    dialog = _open_dialog(editor, carry)
    dialog.accept()
    qtbot.waitUntil(lambda: editor.timeline.project.find(clip_id)[1].media != media, timeout=JOB_TIMEOUT_MS)
    assert [item.kind for item in finished] == ["image", "video-edit"]
    image_item, edit_item = finished
    # The editor follows its own image job; the Image workspace does not take it over.
    assert image_item.id not in image_workspace.active_jobs and image_workspace.shown_path != str(image_item.path)
    request = image_item.recipe["request"]
    assert (request["mode"], request["strength"], request["model_id"]) == ("img2img", 0.9, STARTER)
    assert request["init_image"].startswith(str(editor.keyframes.media_folder()))
    edit = edit_item.recipe["request"]
    assert edit["operation"] == "propagate" and edit["edits"] == [f"{PLAYHEAD}:{image_item.path}"]
    # Carried over the whole clip, or over the playhead's frame alone.
    assert (edit["start"], edit["end"]) == ((0, FRAMES) if carry else (PLAYHEAD, PLAYHEAD + 1))
    return image_item, read_image(request["init_image"])


def test_a_saved_frame_and_a_frame_read_for_regeneration_carry_credentials(qtbot, clip_editor, tmp_path):
    from studio.core.credentials import read_credentials
    from studio.core.provenance import read_recipe
    from studio.qt.video.timeline_keyframes import write_media_frame

    window, _workspace, editor, clip_id = clip_editor
    config = window.services.paths.config
    media = editor.timeline.project.find(clip_id)[1].media
    saved = editor.keyframes.save_frame(tmp_path / "still.png")
    found = read_credentials(saved, config)
    assert found.state == "valid", found.reason
    assert [a["action"] for a in found.actions] == ["c2pa.created", "c2pa.placed"]
    assert [(i["title"], i["relationship"]) for i in found.ingredients] == [(Path(media).name, "componentOf")]
    assert read_recipe(saved)["frame"] == PLAYHEAD
    assert np.array_equal(read_image(saved), render_still(editor.timeline.project.to_dict(), PLAYHEAD)[1])
    path, width, height = write_media_frame(media, PLAYHEAD, tmp_path / "for-the-job.png")
    found = read_credentials(path, config)
    assert (width, height) == (64, 64) and found.state == "valid"
    assert [a["action"] for a in found.actions] == ["c2pa.opened", "c2pa.edited"]
    assert [(i["title"], i["relationship"]) for i in found.ingredients] == [(Path(media).name, "parentOf")]


def test_regenerate_one_frame_then_carry_it_and_undo_each(qtbot, clip_editor, tmp_path):
    window, workspace, editor, clip_id = clip_editor
    original = _frames(editor)
    tolerance = _reencoding_loss(original, tmp_path) + 1.0

    # Replace only the playhead's frame.
    image_item, init = _regenerate(qtbot, window, editor, clip_id, carry=False)
    assert np.array_equal(init, original[PLAYHEAD]), "the image job starts from the playhead's full-size frame"
    generated = read_image(image_item.path, (64, 64))
    assert _difference(generated, original[PLAYHEAD]) > 20, "the regenerated frame should look different"
    replaced = _frames(editor)
    assert _difference(replaced[PLAYHEAD], generated) < 4.0
    for index in set(range(FRAMES)) - {PLAYHEAD}:
        assert _difference(replaced[index], original[index]) < tolerance, f"frame {index} should keep its picture"
    assert editor.timeline.undo_label == "Replace clip media"  # one undoable step
    editor.timeline_undo()
    assert all(np.array_equal(a, b) for a, b in zip(_frames(editor), original))

    # Carry it to the neighbouring frames.
    image_item, _init = _regenerate(qtbot, window, editor, clip_id, carry=True)
    generated = read_image(image_item.path, (64, 64))
    carried = _frames(editor)
    assert _difference(carried[PLAYHEAD], generated) < 4.0
    for index in (PLAYHEAD - 1, PLAYHEAD + 1):
        before, after = _difference(original[index], generated), _difference(carried[index], generated)
        assert after < 0.5 * before, f"frame {index} should have taken on the regenerated picture"
        assert _difference(carried[index], original[index]) > 4 * tolerance
    editor.timeline_undo()
    assert all(np.array_equal(a, b) for a, b in zip(_frames(editor), original))


@pytest.fixture
def broken_model(studio_home):
    """An image diffusion model folder copied without its weights."""
    from studio.core.paths import studio_paths

    folder = studio_paths().ensure().models_dir / "broken-model"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", "DDIMScheduler"]}))
    (folder / "model.json").write_text(json.dumps({"id": "broken-model", "name": "Broken model"}))
    return "broken-model"


def test_a_failed_or_cancelled_image_job_leaves_the_clip_unchanged(qtbot, broken_model, clip_editor):
    window, workspace, editor, clip_id = clip_editor
    assert any(card.id == broken_model for card in editor.keyframes.cards)
    original, state, history = _frames(editor), editor.timeline.project.to_dict(), editor.timeline.undo_label

    # The shortcut opens the dialog from the timeline.
    make_active(qtbot, window)
    editor.view.setFocus()
    QTest.keyClick(editor.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert editor.keyframes.dialog is not None
    editor.keyframes.dialog.reject()
    with qtbot.waitSignal(window.runner.job_failed, timeout=JOB_TIMEOUT_MS):
        _open_dialog(editor, carry=True, model=broken_model).accept()
    assert "not regenerated" in workspace.message_label.text() and "failed" in workspace.message_label.text()
    assert workspace.error_text()

    with qtbot.waitSignal(window.runner.job_cancelled, timeout=JOB_TIMEOUT_MS):
        _open_dialog(editor, carry=True).accept()
        qtbot.waitUntil(lambda: bool(workspace._regenerate_jobs), timeout=10000)
        workspace.cancel()
    assert "cancelled" in workspace.message_label.text()
    assert editor.timeline.project.to_dict() == state and editor.timeline.undo_label == history
    assert all(np.array_equal(a, b) for a, b in zip(_frames(editor), original))


def test_generation_size_follows_the_model_and_the_frame():
    assert generation_size(64, 64, [64, 64]) == (64, 64)
    assert generation_size(1920, 1080, [512, 512]) == (512, 288)
    assert generation_size(1280, 720) == (1024, 576)
    assert generation_size(96, 40) == (96, 64)  # never below the 64 pixels a diffusion request needs
