"""Editing the sample buffer: every operation is exact, and undo / redo put
back exactly the samples that were there."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.audio_buffer import AudioClip, Change, match_channels
from studio.core.jobs import StudioError

RATE = 8000


def _ramp(frames: int = 100, channels: int = 2) -> np.ndarray:
    """Distinct, exactly representable values: frame i, channel c -> (i + 1000 c) / 4096."""
    frames_index = np.arange(frames, dtype=np.float32)[:, None]
    return (frames_index + 1000 * np.arange(channels, dtype=np.float32)[None, :]) / 4096


def _clip(frames: int = 100, channels: int = 2) -> AudioClip:
    return AudioClip(_ramp(frames, channels), RATE)


def test_cut_removes_the_range_and_returns_it_and_undo_restores_it():
    clip = _clip()
    original = clip.samples.copy()
    taken, change = clip.cut(10, 30)
    assert change == Change(10, 30, 10)
    np.testing.assert_array_equal(taken, original[10:30])
    np.testing.assert_array_equal(clip.samples, np.concatenate([original[:10], original[30:]]))
    assert clip.undo_name == "Cut"
    assert clip.undo() == Change(10, 10, 30)
    np.testing.assert_array_equal(clip.samples, original)
    assert clip.redo() == Change(10, 30, 10)
    assert clip.frames == 80


def test_paste_inserts_at_the_cursor_or_replaces_the_selection():
    clip = _clip()
    original = clip.samples.copy()
    piece = clip.copy(0, 5)
    clip.paste(50, piece)
    np.testing.assert_array_equal(clip.samples, np.concatenate([original[:50], original[:5], original[50:]]))
    clip.undo()
    np.testing.assert_array_equal(clip.samples, original)
    change = clip.paste(20, piece, replace_end=40)  # 20 frames replaced by 5
    assert change == Change(20, 40, 25)
    np.testing.assert_array_equal(clip.samples, np.concatenate([original[:20], original[:5], original[40:]]))
    clip.undo()
    np.testing.assert_array_equal(clip.samples, original)


def test_paste_converts_mono_and_stereo():
    stereo = _clip(channels=2)
    mono_piece = np.array([[0.25], [0.5]], np.float32)
    stereo.paste(0, mono_piece)
    np.testing.assert_array_equal(stereo.samples[:2], [[0.25, 0.25], [0.5, 0.5]])
    mono = _clip(channels=1)
    mono.paste(0, np.array([[0.25, 0.75]], np.float32))
    assert mono.samples[0, 0] == 0.5
    np.testing.assert_array_equal(match_channels(np.zeros((3, 1)), 2).shape, (3, 2))


def test_delete_and_trim():
    clip = _clip()
    original = clip.samples.copy()
    clip.delete(90, 100)
    np.testing.assert_array_equal(clip.samples, original[:90])
    change = clip.trim(20, 60)
    assert change == Change(0, 90, 40)
    np.testing.assert_array_equal(clip.samples, original[20:60])
    assert clip.undo_name == "Trim"
    clip.undo()
    np.testing.assert_array_equal(clip.samples, original[:90])
    clip.undo()
    np.testing.assert_array_equal(clip.samples, original)
    assert not clip.can_undo
    clip.redo()
    clip.redo()
    np.testing.assert_array_equal(clip.samples, original[20:60])


def test_fades_are_linear_from_and_to_exact_silence():
    clip = AudioClip(np.full((9, 1), 0.5, np.float32), RATE)
    clip.fade_in(0, 5)
    np.testing.assert_array_equal(clip.samples[:, 0], [0.0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5, 0.5, 0.5])
    clip.fade_out(4, 9)
    np.testing.assert_array_equal(clip.samples[:, 0], [0.0, 0.125, 0.25, 0.375, 0.5, 0.375, 0.25, 0.125, 0.0])
    clip.undo()
    clip.undo()
    np.testing.assert_array_equal(clip.samples[:, 0], np.full(9, 0.5))


def test_normalise_brings_the_peak_to_the_target_on_every_channel_together():
    samples = np.array([[0.25, -0.125], [-0.5, 0.0625], [0.125, 0.0]], np.float32)
    clip = AudioClip(samples, RATE)
    clip.normalise(0, 3, peak_db=0.0)
    np.testing.assert_array_equal(clip.samples, samples * 2)  # the loudest (-0.5) becomes -1.0
    clip.undo()
    clip.normalise(0, 3, peak_db=-6.0)
    assert np.max(np.abs(clip.samples)) == pytest.approx(10 ** (-6 / 20), rel=1e-6)
    np.testing.assert_allclose(clip.samples, samples * (10 ** (-6 / 20) / 0.5), rtol=1e-6)  # shape kept
    silent = AudioClip(np.zeros((10, 1)), RATE)
    with pytest.raises(StudioError, match="silent"):
        silent.normalise(0, 10)
    assert not silent.can_undo


def test_gain_scales_only_the_range():
    clip = _clip(frames=10, channels=1)
    original = clip.samples.copy()
    clip.gain(2, 4, 20 * np.log10(2.0))
    expected = original.copy()
    expected[2:4] *= 2
    np.testing.assert_array_equal(clip.samples, expected)
    with pytest.raises(StudioError):
        clip.gain(0, 10, float("nan"))
    clip.undo()
    np.testing.assert_array_equal(clip.samples, original)


def test_a_new_edit_clears_redo_and_empty_selections_are_refused():
    clip = _clip()
    clip.delete(0, 10)
    clip.undo()
    assert clip.can_redo and clip.redo_name == "Delete"
    clip.fade_in(0, 10)
    assert not clip.can_redo
    with pytest.raises(StudioError, match="select"):
        clip.delete(5, 5)
    with pytest.raises(StudioError, match="select"):
        clip.fade_out(200, 300)  # outside the clip
    with pytest.raises(StudioError, match="clipboard is empty"):
        clip.paste(0, np.zeros((0, 2), np.float32))


def test_ranges_are_clamped_and_ordered():
    clip = _clip()
    original = clip.samples.copy()
    clip.delete(120, 90)  # reversed and past the end: frames 90..100
    np.testing.assert_array_equal(clip.samples, original[:90])


def test_listeners_hear_every_change_and_append_is_not_an_edit():
    clip = _clip(frames=10)
    heard: list[Change] = []
    clip.listeners.append(heard.append)
    clip.append(np.ones((5, 1), np.float32))
    np.testing.assert_array_equal(clip.samples[10:], np.ones((5, 2)))
    clip.delete(0, 2)
    clip.undo()
    assert heard == [Change(10, 10, 15), Change(0, 2, 0), Change(0, 0, 2)]
    assert clip.can_redo
    clip.replace_all(np.zeros((4, 2)), sample_rate=16000)
    assert clip.sample_rate == 16000 and not clip.can_undo and not clip.can_redo
    assert heard[-1] == Change(0, 15, 4)


def test_long_histories_forget_their_oldest_edits(monkeypatch):
    from studio.core import audio_buffer

    monkeypatch.setattr(audio_buffer, "HISTORY_LIMIT_EDITS", 3)
    clip = _clip()
    original = clip.samples.copy()
    for _ in range(5):
        clip.gain(0, 100, 1.0)
    undone = 0
    while clip.undo() is not None:
        undone += 1
    assert undone == 3
    assert not np.array_equal(clip.samples, original)  # the two oldest edits are no longer undoable


def test_streamed_chunks_append_in_linear_time_and_old_views_stay_valid():
    clip = AudioClip(np.zeros((0, 2), np.float32), RATE)
    chunks = [np.full((1000, 2), i, np.float32) for i in range(200)]
    first_view = None
    buffers = set()
    for chunk in chunks:
        clip.append(chunk)
        buffers.add(id(clip.samples.base))
        if first_view is None:
            first_view = clip.samples
    np.testing.assert_array_equal(clip.samples, np.concatenate(chunks))
    np.testing.assert_array_equal(first_view, chunks[0])  # what the player held is untouched
    assert len(buffers) <= 8  # the buffer doubles: a handful of copies, not one per chunk
    clip.delete(0, 1000)  # edits after streaming work on the samples as usual
    np.testing.assert_array_equal(clip.samples, np.concatenate(chunks[1:]))
    clip.undo()
    np.testing.assert_array_equal(clip.samples, np.concatenate(chunks))
