"""The Video workspace in the real window: generating a clip with a tiny GAN
lands it on the timeline after live previews; a cancelled job keeps its
frames; analysis fills the consistency graph; a deflicker job replaces the
clip's media and the graph shows before and after; export runs as a job;
projects save and reopen; reuse settings restores keyframes."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage

from studio.core.jobs import JobState
from studio.engines.video import media
from studio.engines.video.requests import VideoRequest
from tests.engines.video import tiny_models


@pytest.fixture
def video(qtbot, open_window, studio_home):
    from studio.core.paths import studio_paths

    tiny_models.build_gan(studio_paths().ensure().models_dir / "gan")
    window = open_window()
    workspace = window.show_workspace("video")
    qtbot.waitUntil(lambda: workspace.model_picker.findData("tiny-gan") >= 0, timeout=15000)
    workspace.form.set_values({"model_id": "tiny-gan", "frames": 16, "fps": 8, "width": 64, "height": 64,
                               "seed_random": False, "seed": 3})
    workspace.prompt_edit.setPlainText("a walk")
    return window, workspace


def _generate(qtbot, window, workspace):
    with qtbot.waitSignal(window.runner.job_finished, timeout=30000) as finished:
        assert workspace.generate() is not None
    return finished.args[1]


def test_generated_clip_is_previewed_then_placed_on_the_timeline(qtbot, video):
    window, workspace = video
    editor = workspace.editor
    previews = []
    editor.viewer.image_changed.connect(lambda: previews.append(editor.viewer.image()))
    item = _generate(qtbot, window, workspace)
    assert len([p for p in previews if isinstance(p, QImage)]) >= 1
    clips = editor.timeline.project.tracks[0].clips
    assert [c.media for c in clips] == [str(item.path.resolve())]
    assert clips[0].duration == 16 and editor.timeline.project.fps == 8
    assert "Added" in workspace.message_label.text()
    qtbot.waitUntil(lambda: editor.clip_frames(clips[0]) is not None, timeout=10000)
    assert editor.render_playhead().width() == 64


def test_cancel_keeps_a_partial_clip(qtbot, video):
    window, workspace = video
    workspace.form.set_value("frames", 2000)
    workspace.form.set_value("width", 256)
    workspace.form.set_value("height", 256)
    with qtbot.waitSignal(window.runner.job_finished, timeout=60000) as finished:
        assert workspace.generate() is not None
        qtbot.waitUntil(workspace.editor.viewer.has_image, timeout=20000)  # frames are coming
        workspace.cancel()
    item = finished.args[1]
    assert item.recipe["partial"] is True
    assert 0 < media.probe(item.path).frame_count < 2000
    assert "cancelled" in workspace.message_label.text()


def test_analyse_then_deflicker_shows_before_and_after_and_undo_restores(qtbot, video, tmp_path):
    from studio.engines.video.export import write_mp4
    from tests.engines.video.synthetic import flickering

    window, workspace = video
    editor = workspace.editor
    source = tmp_path / "flicker.mp4"
    write_mp4(source, flickering(96, 16)[0], 12)
    editor.import_files([str(source)])
    clip = editor.timeline.project.tracks[0].clips[0]
    qtbot.waitUntil(lambda: editor.clip_frames(clip) is not None, timeout=10000)
    editor.view.select({clip.id})
    editor.analyse_selected()
    qtbot.waitUntil(lambda: editor.graph.report is not None, timeout=20000)
    assert editor.graph.report.frame_count == 16
    editor.timeline.move_clip(clip.id, 10)
    assert editor.graph.offset == 10  # the graph stays under its clip
    editor.strength.setValue(1.0)
    with qtbot.waitSignal(window.runner.job_finished, timeout=60000):
        editor.request_edit("deflicker")
    qtbot.waitUntil(lambda: editor.graph.before is not None, timeout=30000)
    replaced = editor.timeline.project.find(clip.id)[1]
    assert replaced.media != str(source.resolve())
    assert editor.graph.report.mean_warp_error < 0.5 * editor.graph.before.mean_warp_error
    assert "→" in editor.graph.caption()
    assert "mean warp error" in workspace.message_label.text()
    editor.timeline_undo()
    assert editor.timeline.project.find(clip.id)[1].media == str(source.resolve())


def test_export_runs_as_a_job_and_writes_the_file(qtbot, video, tmp_path):
    window, workspace = video
    editor = workspace.editor
    _generate(qtbot, window, workspace)
    target = tmp_path / "cut.mp4"
    with qtbot.waitSignal(window.runner.job_finished, timeout=60000) as finished:
        editor.request_export("mp4", str(target))
    info = media.probe(target)
    assert (info.frame_count, info.width) == (16, 64)
    assert finished.args[1].path.suffix == ".mp4"
    assert "Exported cut.mp4" in workspace.message_label.text()
    assert window.services.queue.get(finished.args[0]).state is JobState.FINISHED


def test_project_saves_and_reopens_in_the_editor(qtbot, video, tmp_path):
    window, workspace = video
    editor = workspace.editor
    _generate(qtbot, window, workspace)
    clip = editor.timeline.project.tracks[0].clips[0]
    editor.timeline.split(clip.id, 6)
    saved = editor.save_project(tmp_path / "cut.studio-video.json")
    state = editor.timeline.project.to_dict()
    editor.timeline.delete([clip.id])
    editor.open_project(saved)
    assert editor.timeline.project.to_dict() == state
    assert editor.view.timeline is editor.timeline


def test_reuse_settings_restores_keyframes(qtbot, video):
    _window, workspace = video
    request = VideoRequest(model_id="tiny-gan", keyframes=("0:dawn", "24:dusk"), fps=12, width=128, height=64)
    workspace.apply_request(request)
    assert workspace.keyframes_edit.toPlainText() == "0:dawn\n24:dusk"
    rebuilt = workspace.build_request()
    assert rebuilt.keyframes == ("0:dawn", "24:dusk") and rebuilt.width == 128 and rebuilt.fps == 12
