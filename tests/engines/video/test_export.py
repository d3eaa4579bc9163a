"""Export of clips and timelines: MP4 with muxed audio and the recipe in its
metadata, PNG sequences, animated WebP/GIF, OpenTimelineIO round trips,
cancelling without leaving a file, and the export and edit jobs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.core.jobs import Cancelled, CancelToken, JobState, NullReporter
from studio.engines.video import compose, export, media, otio, render
from studio.engines.video.timeline import Project, Timeline
from tests.engines.video.synthetic import flickering, translating_pattern


def solid_clip(path, colour, frames=24, size=(64, 48), fps=12):
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8) + np.array(colour, dtype=np.uint8)
    export.write_mp4(path, [pixels] * frames, fps)
    return path


def tone(path, seconds=1.0, frequency=440.0, rate=44100):
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, 0.5 * np.sin(2 * np.pi * frequency * t), rate)
    return path


@pytest.fixture
def edit(tmp_path):
    """A 12 fps timeline: red (24 frames) then a 6-frame crossfade into blue
    (24 frames), and a 1 s tone starting at frame 12."""
    red = solid_clip(tmp_path / "red.mp4", (220, 20, 20))
    blue = solid_clip(tmp_path / "blue.mp4", (20, 20, 220))
    sound = tone(tmp_path / "tone.wav")
    timeline = Timeline(Project(fps=12, width=64, height=48))
    video, audio = timeline.add_track("video"), timeline.add_track("audio")
    timeline.add_clip(video, red, "video", 0, 20, source_frames=24)
    second = timeline.add_clip(video, blue, "video", 20, 24, source_frames=24)
    timeline.set_transition(second, "crossfade", 6)
    timeline.add_clip(audio, sound, "audio", 12, 12, source_frames=12)
    return timeline


def test_mp4_export_has_the_frames_size_duration_audio_and_recipe(edit, tmp_path):
    out = render.export_timeline(edit.project, tmp_path / "out.mp4", "mp4", recipe={"request": {"kind": "x"}})
    info = media.probe(out)
    assert (info.frame_count, info.width, info.height, info.fps) == (44, 64, 48, 12.0)
    assert info.duration_s == pytest.approx(44 / 12)
    assert info.has_audio
    import av

    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert audio.rate == 48000 and audio.codec_context.name == "aac"
        assert float(audio.duration * audio.time_base) == pytest.approx(44 / 12, abs=0.05)
        assert "AI-generated" in container.metadata["description"]
    assert export.read_mp4_recipe(out) == {"request": {"kind": "x"}, "ai_generated": True}
    frames = media.read_frames(out)
    assert len(frames) == 44
    assert frames[5][24, 32, 0] > 180 and frames[40][24, 32, 2] > 180
    mid = frames[22][24, 32].astype(int)  # 3rd of 6 crossfade frames: weight 3/7 of blue
    assert 90 < mid[0] < 160 and 70 < mid[2] < 140
    sound = media.read_audio(out)
    rms = lambda a, b: float(np.sqrt(np.mean(sound[:, int(a * 48000):int(b * 48000)] ** 2)))  # noqa: E731
    assert rms(0.1, 0.9) < 0.01 and rms(1.1, 1.9) > 0.2 and rms(2.2, 3.5) < 0.01


def test_timeline_rendering_follows_tracks_mutes_and_gaps(edit, tmp_path):
    project = edit.project
    top = Timeline(project)
    overlay = top.add_track("video")
    top.project.tracks.insert(0, top.project.tracks.pop())  # the new track on top of the stack
    green = solid_clip(tmp_path / "green.mp4", (20, 200, 20))
    top.add_clip(overlay, green, "video", 4, 4, source_frames=24)
    source = compose.DecodingSource()
    try:
        assert compose.render_frame(top.project, 5, source)[10, 10, 1] > 180  # the upper track wins
        top.set_muted(overlay, True)
        assert compose.render_frame(top.project, 5, source)[10, 10, 0] > 180
        assert compose.render_frame(top.project, 100, source).max() == 0  # past the end: black
    finally:
        source.close()
    mix = compose.mix_audio(top.project)
    assert mix.shape == (2, 44 * 4000)
    top.set_muted(top.project.tracks[-1].id, True)
    assert not compose.mix_audio(top.project).any()


def test_png_sequence_webp_and_gif(edit, tmp_path):
    recipe = {"request": {"kind": "video-export"}}
    render.export_timeline(edit.project, tmp_path / "frames", "png", 0, 10, recipe=recipe)
    pngs = sorted((tmp_path / "frames").iterdir())
    assert [p.name for p in pngs[:2]] == ["frame_00000.png", "frame_00001.png"] and len(pngs) == 10
    from studio.core.provenance import read_recipe

    assert read_recipe(pngs[3])["frame"] == 3 and read_recipe(pngs[3])["ai_generated"] is True
    from PIL import Image

    moving = Timeline(Project(fps=12, width=64, height=48))
    track = moving.add_track("video")
    pattern = tmp_path / "moving.mp4"
    export.write_mp4(pattern, translating_pattern(64, 12, (2, 0)), 12)
    moving.add_clip(track, pattern, "video", 0, 12, source_frames=12)
    for suffix in ("webp", "gif"):
        path = render.export_timeline(moving.project, tmp_path / f"anim.{suffix}", suffix, recipe=recipe)
        with Image.open(path) as image:
            assert image.n_frames == 12 and image.size == (64, 48)
            assert image.info.get("loop") == 0
            marker = image.info.get("comment", b"") if suffix == "gif" else image.info.get("xmp", b"")
            assert b"AI-generated" in marker or b"trainedAlgorithmicMedia" in marker
            durations = []
            for index in range(image.n_frames):
                image.seek(index)
                image.load()
                durations.append(image.info["duration"])
            assert sum(durations) == pytest.approx(1000, rel=0.05)  # GIF counts in 10 ms ticks


def test_otio_round_trip_keeps_clips_and_times(edit, tmp_path):
    path = otio.write_otio(edit.project, tmp_path / "cut.otio")
    again = otio.read_otio(path)
    assert again.project.to_dict() == edit.project.to_dict()
    import opentimelineio as otio_lib

    document = otio_lib.adapters.read_from_file(str(path))
    video = document.tracks[0]
    kinds = [type(item).__name__ for item in video]
    assert kinds == ["Clip", "Transition", "Clip"]
    assert video[2].source_range.duration.value == 24 and video[1].out_offset.value == 6
    assert document.tracks[1].kind == otio_lib.schema.TrackKind.Audio
    assert isinstance(document.tracks[1][0], otio_lib.schema.Gap)  # the tone starts at frame 12


def test_cancelled_export_leaves_no_file_and_keeps_the_old_one(edit, tmp_path):
    target = tmp_path / "final.mp4"
    target.write_bytes(b"the previous export")
    token = CancelToken()

    def progress(done, total):
        if done == 10:
            token.cancel()

    with pytest.raises(Cancelled):
        render.export_timeline(edit.project, target, "mp4", cancel=token, progress=progress)
    assert target.read_bytes() == b"the previous export"
    with pytest.raises(Cancelled):
        render.export_timeline(edit.project, tmp_path / "seq", "png", cancel=token)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blue.mp4", "final.mp4", "red.mp4", "tone.wav"]


def test_export_job_stores_the_file_with_its_recipe_in_the_library(services, edit, tmp_path):
    from studio.engines.execute import execute_job
    from studio.engines.video.requests import VideoExportRequest

    project = edit.save(tmp_path / "edit.studio-video.json")
    request = VideoExportRequest(project=str(project), format="mp4", destination=str(tmp_path / "copy.mp4"))
    job = services.queue.start(services.queue.submit(request).id)
    state, item = execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
    assert state is JobState.FINISHED
    assert item.path.suffix == ".mp4" and item.duration_s == pytest.approx(44 / 12)
    sidecar = json.loads((item.path.parent / (item.path.name + ".recipe.json")).read_text())
    embedded = export.read_mp4_recipe(item.path)
    assert sidecar["request"] == embedded["request"] == request.to_dict()
    assert embedded["ai_generated"] and embedded["timeline"]["clips"] == 3
    assert (tmp_path / "copy.mp4").read_bytes() == item.path.read_bytes()
    assert item.request == request


def test_edit_job_deflickers_a_clip_and_records_the_warp_error_drop(services, tmp_path):
    from studio.engines.execute import execute_job
    from studio.engines.video.requests import VideoEditRequest

    noisy, _clean = flickering(96, 16)
    source = tmp_path / "noisy.mp4"
    export.write_mp4(source, noisy, 12)
    request = VideoEditRequest(source=str(source), operation="deflicker", strength=1.0)
    job = services.queue.start(services.queue.submit(request).id)
    state, item = execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
    assert state is JobState.FINISHED
    change = export.read_mp4_recipe(item.path)["consistency"]
    assert change["mean_warp_error_after"] < 0.5 * change["mean_warp_error_before"]
    assert change["mean_warp_error_drop"] == pytest.approx(
        change["mean_warp_error_before"] - change["mean_warp_error_after"], abs=1e-3)
    assert media.probe(item.path).frame_count == 16


def test_cli_prints_a_clips_consistency(tmp_path, capsys):
    from studio.cli import main

    frames = flickering(64, 10, amount=0.0)[1]
    frames[6] = np.clip(frames[6].astype(np.int32) + 70, 0, 255).astype(np.uint8)
    clip = tmp_path / "clip.mp4"
    export.write_mp4(clip, frames, 12)
    assert main(["video", "consistency", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "mean warp error" in out and "frames            10" in out
    spike_lines = [line for line in out.splitlines() if "<- spike" in line]
    assert [int(line.split()[0]) for line in spike_lines] == [6, 7]
    assert main(["video", "consistency", str(clip), "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["frames"] == 10 and data["spikes"] == [6, 7]
    assert main(["video", "consistency", str(tmp_path / "missing.mp4")]) == 2
