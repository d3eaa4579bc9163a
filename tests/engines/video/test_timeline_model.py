"""The Qt-free timeline model: every edit, its undo and redo, snapping, and
the project file round trip."""

from __future__ import annotations

import json

import pytest

from studio.core.jobs import StudioError
from studio.engines.video.timeline import PROJECT_FORMAT, Project, Timeline, TimelineError


def _timeline(tmp_path):
    """Two video clips back to back on V1 and an audio clip on A1."""
    timeline = Timeline(Project(fps=24, width=320, height=180))
    video = timeline.add_track("video")
    audio = timeline.add_track("audio")
    media = tmp_path / "clip.mp4"
    first = timeline.add_clip(video, media, "video", 0, 48, source_frames=96)
    second = timeline.add_clip(video, tmp_path / "other.mp4", "video", 48, 24, source_frames=60)
    sound = timeline.add_clip(audio, tmp_path / "voice.wav", "audio", 12, 30, source_frames=30)
    return timeline, video, audio, first, second, sound


def _clip(timeline, clip_id):
    return timeline.project.find(clip_id)[1]


def test_every_edit_undoes_and_redoes_exactly(tmp_path):
    timeline, video, audio, first, second, sound = _timeline(tmp_path)
    edits = [
        lambda: timeline.move_clip(second, 60),
        lambda: timeline.trim_start(first, 10),
        lambda: timeline.trim_end(first, 40),
        lambda: timeline.split(second, 70),
        lambda: timeline.delete([sound]),
        lambda: timeline.set_transition(first, "crossfade", 6),
        lambda: timeline.ripple_delete([first]),
        lambda: timeline.set_muted(audio, True),
        lambda: timeline.add_track("video"),
    ]
    states = [timeline.project.to_dict()]
    for edit in edits:
        edit()
        states.append(timeline.project.to_dict())
        assert states[-1] != states[-2], "each edit changes the project"
    for expected in reversed(states[:-1]):
        assert timeline.undo()
        assert timeline.project.to_dict() == expected
    assert timeline.undo_label == "Add clip"  # back to the set-up, whose own steps remain
    for expected in states[1:]:
        assert timeline.redo()
        assert timeline.project.to_dict() == expected
    assert not timeline.can_redo


def test_trims_keep_content_in_place_and_respect_the_media(tmp_path):
    timeline, _video, _audio, first, second, _sound = _timeline(tmp_path)
    timeline.trim_start(first, 8)
    clip = _clip(timeline, first)
    assert (clip.start, clip.source_in, clip.duration, clip.end) == (8, 8, 40, 48)
    with pytest.raises(TimelineError):
        timeline.trim_start(first, -2)  # before the media's first frame
    timeline.trim_start(first, 2)  # back out: the trimmed frames return
    assert (_clip(timeline, first).start, _clip(timeline, first).source_in) == (2, 2)
    timeline.trim_end(second, 60)
    assert _clip(timeline, second).duration == 12
    with pytest.raises(TimelineError):
        timeline.trim_end(second, 48 + 61)  # past the end of its 60-frame media
    with pytest.raises(TimelineError):
        timeline.trim_end(first, 50)  # into the next clip


def test_split_at_playhead_cuts_every_track_in_one_step(tmp_path):
    timeline, _video, _audio, first, _second, sound = _timeline(tmp_path)
    made = timeline.split_at(20)
    assert len(made) == 2
    left, right = _clip(timeline, first), _clip(timeline, made[0])
    assert (left.start, left.duration) == (0, 20)
    assert (right.start, right.duration, right.source_in, right.media) == (20, 28, 20, left.media)
    audio_right = _clip(timeline, made[1])
    assert (audio_right.start, audio_right.source_in, audio_right.duration) == (20, 8, 22)
    assert _clip(timeline, sound).duration == 8
    timeline.undo()
    assert len(timeline.project.tracks[0].clips) == 2 and len(timeline.project.tracks[1].clips) == 1
    with pytest.raises(TimelineError):
        timeline.split(first, 0)


def test_ripple_delete_closes_the_gap(tmp_path):
    timeline, video, _audio, first, second, sound = _timeline(tmp_path)
    third = timeline.add_clip(video, tmp_path / "c.mp4", "video", 80, 10)
    timeline.ripple_delete([second])
    starts = [(c.id, c.start) for c in timeline.project.track(video).clips]
    assert starts == [(first, 0), (third, 56)]
    assert _clip(timeline, sound).start == 12  # other tracks stay put
    timeline.ripple_delete([first, third])
    assert timeline.project.track(video).clips == []


def test_moves_never_overlap_and_failed_edits_change_nothing(tmp_path):
    timeline, video, audio, first, second, sound = _timeline(tmp_path)
    before = timeline.project.to_dict()
    with pytest.raises(TimelineError):
        timeline.move_clip(second, 30)
    with pytest.raises(TimelineError):
        timeline.move_clip(sound, 0, track_id=video)  # audio onto a video track
    with pytest.raises(TimelineError):
        timeline.set_transition(first, "crossfade", 48)
    assert timeline.project.to_dict() == before
    assert timeline.undo_label == "Add clip"
    second_video = timeline.add_track("video")
    timeline.move_clip(second, 10, track_id=second_video)
    assert [c.id for c in timeline.project.track(second_video).clips] == [second]


def test_snapping_pulls_either_edge_to_clip_edges_and_the_playhead(tmp_path):
    timeline, _video, _audio, first, second, _sound = _timeline(tmp_path)
    assert timeline.snap(46, 3) == 48
    assert timeline.snap(44, 3) == 42  # the audio clip's end is nearer
    assert timeline.snap(44, 1) == 44
    assert timeline.snap(33, 3, playhead=35) == 35
    # Dragging the second clip: its end (start + 24) snaps to the audio clip's end (42) ...
    assert timeline.snap_move(second, 20, 3) == 18
    # ... or its start snaps to the first clip's start, whichever is nearer.
    assert timeline.snap_move(second, 1, 3) == 0
    assert timeline.snap_move(second, 100, 3) == 100


def test_crossfade_cut_and_gain(tmp_path):
    timeline, _video, _audio, first, second, sound = _timeline(tmp_path)
    timeline.set_transition(second, "crossfade", 8)
    assert (_clip(timeline, second).transition, _clip(timeline, second).transition_frames) == ("crossfade", 8)
    timeline.set_transition(second, "cut")
    assert _clip(timeline, second).transition_frames == 0
    with pytest.raises(TimelineError):
        timeline.set_transition(second, "wipe", 4)
    timeline.set_gain(sound, 0.5)
    assert _clip(timeline, sound).gain == 0.5


def test_project_saves_and_reopens_exactly(tmp_path):
    timeline, _video, _audio, first, second, _sound = _timeline(tmp_path)
    timeline.set_transition(second, "crossfade", 5)
    timeline.split(first, 30)
    assert timeline.modified
    path = timeline.save(tmp_path / "edit.studio-video.json")
    assert not timeline.modified
    document = json.loads(path.read_text())
    assert document["format"] == PROJECT_FORMAT
    assert document["project"]["tracks"][0]["clips"][0]["media"] == "clip.mp4"  # relative to the project
    reopened = Timeline.open(path)
    assert reopened.project.to_dict() == timeline.project.to_dict()
    assert not reopened.modified and reopened.path == path
    # Moving the project together with its media keeps it whole.
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "edit.studio-video.json").write_text(path.read_text())
    again = Timeline.open(moved / "edit.studio-video.json")
    assert again.project.tracks[0].clips[0].media == str((moved / "clip.mp4").resolve())
    assert not list(tmp_path.glob("*.part"))


def test_bad_project_files_give_clear_errors(tmp_path):
    broken = tmp_path / "broken.studio-video.json"
    broken.write_text("{not json")
    with pytest.raises(StudioError, match="not a Studio video project"):
        Timeline.open(broken)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(StudioError, match="not a Studio video project"):
        Timeline.open(other)
    with pytest.raises(StudioError, match="cannot open"):
        Timeline.open(tmp_path / "missing.studio-video.json")
