"""A long export streams: the MP4 writer pulls frames and audio chunks only
as far as the video written so far, the timeline's audio is mixed chunk by
chunk without decoding any file whole, and that streamed mix is the same,
sample for sample, as the whole mix the preview uses."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engines.video import compose, export, media, render
from tests.engines.video.test_export import edit, solid_clip, tone  # noqa: F401  (the fixture)


@pytest.fixture
def mixed(edit, tmp_path):  # noqa: F811
    """The edit's tone, plus a second audio track: a 44.1 kHz tone that
    crossfades into a quieter one started 3 frames into its file, and a
    clip longer than its (0.5 s) file, whose fade-out lands on the file's end."""
    timeline = edit
    track = timeline.add_track("audio")
    low, high = tone(tmp_path / "low.wav", 2.0, 220.0), tone(tmp_path / "high.wav", 2.0, 660.0, rate=32000)
    timeline.add_clip(track, low, "audio", 2, 14)
    second = timeline.add_clip(track, high, "audio", 16, 10, source_in=3)
    timeline.set_transition(second, "crossfade", 5)
    timeline.project.tracks[-1].clips[-1].gain = 0.5
    short = tone(tmp_path / "short.wav", 0.5, 330.0)
    third = timeline.add_clip(track, short, "audio", 26, 12)
    timeline.set_transition(third, "crossfade", 4)
    return timeline


@pytest.mark.parametrize("start,end,chunk_s", [(0, None, 0.1), (0, None, 1.0), (7, 30, 0.037), (20, 44, 0.25)])
def test_streamed_mix_is_the_whole_mix(mixed, start, end, chunk_s):
    project = mixed.project
    whole = compose.mix_audio(project, start, end)
    chunks = list(compose.iter_mix(project, start, end, chunk_s=chunk_s))
    assert max(c.shape[1] for c in chunks) <= round(chunk_s * media.MIX_RATE)
    streamed = np.concatenate(chunks, axis=1)
    assert streamed.shape == whole.shape
    assert np.array_equal(streamed, whole)
    assert np.abs(whole).max() > 0.2


def test_timeline_export_never_decodes_an_audio_file_whole(mixed, tmp_path, monkeypatch):
    def whole_file(*args, **kwargs):
        raise AssertionError("export decoded a whole audio file")

    monkeypatch.setattr(media, "read_audio", whole_file)
    monkeypatch.setattr(compose.AudioCache, "samples", whole_file)
    monkeypatch.setattr(compose, "mix_audio", whole_file)
    out = render.export_timeline(mixed.project, tmp_path / "out.mp4", "mp4")
    monkeypatch.undo()
    info = media.probe(out)
    assert info.frame_count == 44 and info.has_audio
    sound = media.read_audio(out)
    assert sound.shape[1] == pytest.approx(44 / 12 * 48000, abs=2048)
    assert float(np.sqrt(np.mean(sound[:, 4000:20000] ** 2))) > 0.1  # the first 220 Hz tone


def test_writer_pulls_frames_and_audio_only_as_far_as_the_video(tmp_path):
    fps, count, rate, chunk = 12, 120, 48000, 4800  # 10 s of video, audio in 0.1 s chunks
    pulled = {"frames": 0, "samples": 0}
    lead = []  # at each frame made, how far ahead of it the audio had been read (seconds)

    def frames():
        for index in range(count):
            pulled["frames"] += 1
            lead.append(pulled["samples"] / rate - index / fps)
            yield np.full((48, 64, 3), index * 2, dtype=np.uint8)

    def audio():
        t = np.arange(chunk) / rate
        for index in range(count * rate // fps // chunk):
            pulled["samples"] += chunk
            yield np.stack([np.sin(2 * np.pi * 440 * (t + index * chunk / rate))] * 2).astype(np.float32) * 0.5

    written = []
    export.write_mp4(tmp_path / "lazy.mp4", frames(), fps, count, audio=audio(), sample_rate=rate,
                     progress=lambda done, total: written.append((done, pulled["frames"])))
    # Each frame was made just before it was written (no frame list built first) ...
    assert all(made - done <= 1 for done, made in written)
    # ... and the audio was read at most a chunk and an AAC frame ahead of the video.
    assert max(lead) <= 1 / fps + chunk / rate + export.AUDIO_FRAME / rate + 1e-9
    info = media.probe(tmp_path / "lazy.mp4")
    assert info.frame_count == count and info.has_audio
    assert media.read_audio(tmp_path / "lazy.mp4").shape[1] == pytest.approx(10 * rate, abs=2048)


def test_writer_takes_a_whole_array_or_no_samples(tmp_path):
    frames = [np.zeros((48, 64, 3), dtype=np.uint8)] * 12
    mono = (0.3 * np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440))[None].astype(np.float32)
    export.write_mp4(tmp_path / "array.mp4", frames, 12, audio=mono)
    assert media.probe(tmp_path / "array.mp4").has_audio
    export.write_mp4(tmp_path / "empty.mp4", frames, 12, audio=iter([np.zeros((2, 0), dtype=np.float32)]))
    assert not media.probe(tmp_path / "empty.mp4").has_audio
    export.write_mp4(tmp_path / "none.mp4", frames, 12, audio=np.zeros((2, 0), dtype=np.float32))
    assert not media.probe(tmp_path / "none.mp4").has_audio
