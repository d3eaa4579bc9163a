"""The waveform pyramid: its envelope equals the brute-force min/max of the
samples wherever columns line up with blocks, never misses a sample where
they do not, and follows edits and streamed chunks by recomputing only what
changed. (Paint time against clip length is measured by benchmarks/audio.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.audio_buffer import AudioClip
from studio.core.waveform_pyramid import BASE_BLOCK, WaveformPyramid


def _noise(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (frames, channels)).astype(np.float32)


def _brute(samples: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    part = samples[start:end].astype(np.float64)
    return part.min(axis=0), part.max(axis=0), np.sqrt((part ** 2).mean(axis=0))


@pytest.mark.parametrize("frames_per_column", [1, 7, 2 * BASE_BLOCK, 4 * BASE_BLOCK, 8192])
def test_aligned_columns_equal_the_brute_force_envelope(frames_per_column):
    samples = _noise(50_001)
    pyramid = WaveformPyramid(samples)
    columns = 40
    env = pyramid.envelope(0, frames_per_column, columns)
    for column in range(columns):
        start, end = column * frames_per_column, (column + 1) * frames_per_column
        if start >= len(samples):
            assert not env.valid[column]
            continue
        lo, hi, rms = _brute(samples, start, end)
        assert env.valid[column]
        np.testing.assert_array_equal(env.lo[column], lo.astype(np.float32))
        np.testing.assert_array_equal(env.hi[column], hi.astype(np.float32))
        np.testing.assert_allclose(env.rms[column], rms, rtol=1e-3)


@pytest.mark.parametrize("start,frames_per_column", [(123.4, 150.3), (5000.5, 777.7), (0.0, 3001.1)])
def test_unaligned_columns_cover_every_sample_and_little_more(start, frames_per_column):
    samples = _noise(60_000, seed=1)
    pyramid = WaveformPyramid(samples)
    env = pyramid.envelope(start, frames_per_column, 50)
    for column in range(50):
        first = int(np.floor(start + column * frames_per_column))
        last = int(np.floor(start + (column + 1) * frames_per_column))
        if first >= len(samples):
            continue
        lo, hi, _ = _brute(samples, first, last)
        assert (env.lo[column] <= lo).all() and (env.hi[column] >= hi).all()
        # At most one block of the neighbours on each side is included.
        block = pyramid.level_for(frames_per_column)
        slack = block.block if block else 0
        wide_lo, wide_hi, _ = _brute(samples, max(0, first - slack), last + slack)
        assert (env.lo[column] >= wide_lo).all() and (env.hi[column] <= wide_hi).all()


def test_streamed_chunks_and_edits_give_the_same_pyramid_as_a_fresh_build():
    samples = _noise(100_003, seed=2)
    grown = WaveformPyramid(samples[:3000])
    for end in range(3000 + 7777, len(samples) + 7777, 7777):
        grown.update(samples[:end], end - 7777)
    clip = AudioClip(samples, 48000)
    followed = WaveformPyramid(clip.samples)
    clip.listeners.append(lambda change: followed.update(clip.samples, change.start))
    clip.cut(70_000, 71_234)
    clip.fade_out(90_000, 98_000)
    clip.undo()
    clip.undo()
    for pyramid in (grown, followed):
        fresh = WaveformPyramid(samples)
        assert [level.block for level in pyramid.levels] == [level.block for level in fresh.levels]
        for mine, theirs in zip(pyramid.levels, fresh.levels):
            np.testing.assert_array_equal(mine.lo, theirs.lo)
            np.testing.assert_array_equal(mine.hi, theirs.hi)
            np.testing.assert_allclose(mine.ms, theirs.ms, rtol=1e-5)


def test_an_edit_near_the_end_reads_only_the_end(monkeypatch):
    from studio.core import waveform_pyramid

    samples = _noise(2_000_000, channels=1, seed=3)
    pyramid = WaveformPyramid(samples)
    clip = AudioClip(samples, 48000, copy=False)
    clip.delete(1_990_000, 1_995_000)
    read: list[int] = []
    real_reduce = waveform_pyramid._reduce_raw

    def counting_reduce(part, block):
        read.append(part.shape[0])
        return real_reduce(part, block)

    monkeypatch.setattr(waveform_pyramid, "_reduce_raw", counting_reduce)
    pyramid.update(clip.samples, 1_990_000)
    assert read == [1_995_000 - 1_990_000 // BASE_BLOCK * BASE_BLOCK]
    fresh = WaveformPyramid(clip.samples)
    for mine, theirs in zip(pyramid.levels, fresh.levels, strict=True):
        np.testing.assert_array_equal(mine.hi, theirs.hi)


def test_empty_and_silent_clips():
    empty = WaveformPyramid(np.zeros((0, 2), np.float32))
    env = empty.envelope(0, 10, 5)
    assert not env.valid.any()
    silent = WaveformPyramid(np.zeros((1000, 1), np.float32))
    env = silent.envelope(0, 200, 10)
    assert env.valid[:5].all() and not env.valid[5:].any()
    assert (env.lo == 0).all() and (env.hi == 0).all()
    with pytest.raises(ValueError):
        silent.envelope(0, 0.5, 10)
