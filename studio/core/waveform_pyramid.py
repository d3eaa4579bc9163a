"""The multi-resolution min/max pyramid behind the waveform view.

Drawing a waveform means, for every pixel column, the lowest and highest
sample (and the loudness) among the frames that column covers. Reading the
raw samples for that would make a one-hour file at full zoom-out touch 170
million frames per paint. Instead the pyramid keeps, per channel, the
minimum, maximum and mean square of blocks of 64 frames (level 0), of 128
frames (level 1), 256, ... up to a handful of blocks. A paint picks the
coarsest level whose blocks are still at most half a column wide, so every
column reduces between two and four blocks: the work per paint depends on
the width of the view, not on the length of the file.

The pyramid follows its clip: ``update(samples, from_frame)`` recomputes
only the blocks from the first changed frame on (an edit near the end, or
streamed chunks arriving, are cheap; an edit at the start of a long file
recomputes it all, which is about a second for an hour of stereo).

Qt-free and exact where it can be: when column edges fall on block edges
the envelope equals the brute-force min/max of the samples; otherwise a
column may include at most one neighbouring block, never miss a sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASE_BLOCK = 64  # frames per block at level 0
MIN_BLOCKS_PER_COLUMN = 2  # use blocks at most half a column wide
_CHUNK_FRAMES = 1 << 22  # raw frames reduced at a time, to bound temporary memory


@dataclass
class Level:
    block: int  # frames per block
    lo: np.ndarray  # (blocks, channels) float32
    hi: np.ndarray
    ms: np.ndarray  # mean square


@dataclass
class Envelope:
    """Per pixel column and channel: min, max and RMS; ``valid`` is False for
    columns past the end of the clip."""

    lo: np.ndarray  # (columns, channels)
    hi: np.ndarray
    rms: np.ndarray
    valid: np.ndarray  # (columns,) bool


def _fold(shaped: np.ndarray, op: np.ufunc) -> np.ndarray:
    """Reduce axis 1 (a power of two long) by halves: ``op`` on two
    contiguous halves is one vectorised pass, about ten times faster than
    ``shaped.min(axis=1)`` over a short middle axis."""
    while shaped.shape[1] > 1:
        half = shaped.shape[1] // 2
        shaped = op(shaped[:, :half], shaped[:, half:])
    return shaped[:, 0]


def _reduce_raw(samples: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks of ``block`` frames of ``samples`` (the last may be shorter)."""
    frames, channels = samples.shape
    blocks = -(-frames // block)
    lo = np.empty((blocks, channels), np.float32)
    hi = np.empty((blocks, channels), np.float32)
    ms = np.empty((blocks, channels), np.float32)
    step = max(block, _CHUNK_FRAMES // block * block)
    for first in range(0, frames, step):
        part = samples[first:first + step]
        full = part.shape[0] // block
        out = slice(first // block, first // block + full)
        if full:
            shaped = part[:full * block].reshape(full, block, channels)
            lo[out] = _fold(shaped, np.minimum)
            hi[out] = _fold(shaped, np.maximum)
            ms[out] = np.einsum("ijk,ijk->ik", shaped, shaped) / block
        tail = part[full * block:]
        if tail.shape[0]:
            index = first // block + full
            lo[index] = tail.min(axis=0)
            hi[index] = tail.max(axis=0)
            ms[index] = np.einsum("jk,jk->k", tail, tail, dtype=np.float64) / tail.shape[0]
    return lo, hi, ms


def _reduce_pairs(level: Level, frames_covered: int, first_block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of blocks of ``level`` from block ``first_block`` (even) on."""
    lo, hi, ms = level.lo[first_block:], level.hi[first_block:], level.ms[first_block:]
    count = lo.shape[0]
    # Frames in each block: all full but possibly the last one.
    weights = np.full(count, level.block, np.float64)
    if count:
        weights[-1] = frames_covered - (first_block + count - 1) * level.block
    if count % 2:
        lo = np.concatenate([lo, lo[-1:]])
        hi = np.concatenate([hi, hi[-1:]])
        ms = np.concatenate([ms, ms[-1:]])
        weights = np.concatenate([weights, [0.0]])
    w = weights.reshape(-1, 2)
    total = w.sum(axis=1)[:, None]
    pair_ms = (ms[0::2] * w[:, :1] + ms[1::2] * w[:, 1:]) / np.maximum(total, 1.0)
    return (np.minimum(lo[0::2], lo[1::2]), np.maximum(hi[0::2], hi[1::2]), pair_ms.astype(np.float32))


def _merge(old_levels: list[Level], index: int, block: int, first: int, lo: np.ndarray, hi: np.ndarray,
           ms: np.ndarray) -> Level:
    """Level ``index``: its old blocks before ``first`` followed by the new ones."""
    if first > 0:
        old = old_levels[index]
        keep = min(first, old.lo.shape[0])
        return Level(block, np.concatenate([old.lo[:keep], lo]), np.concatenate([old.hi[:keep], hi]),
                     np.concatenate([old.ms[:keep], ms]))
    return Level(block, lo, hi, ms)


class WaveformPyramid:
    def __init__(self, samples: np.ndarray | None = None, channels: int = 1) -> None:
        self.samples = np.zeros((0, channels), np.float32)
        self.levels: list[Level] = []
        if samples is not None:
            self.update(samples, 0)

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    # --- building ----------------------------------------------------------------
    def update(self, samples: np.ndarray, from_frame: int = 0) -> None:
        """Follow ``samples`` (the clip's whole array), whose frames before
        ``from_frame`` are unchanged since the last update."""
        if samples.ndim != 2:
            raise ValueError("samples must be (frames, channels)")
        if samples.shape[1] != self.channels or not self.levels:
            from_frame = 0
        self.samples = samples
        frames = self.frames
        from_frame = max(0, min(int(from_frame), frames))
        old_levels = self.levels if from_frame > 0 else []
        block = BASE_BLOCK
        first = from_frame // block
        lo, hi, ms = _reduce_raw(samples[first * block:], block)
        levels = [_merge(old_levels, 0, block, first, lo, hi, ms)]
        while levels[-1].lo.shape[0] > 2:
            below = levels[-1]
            # A level the old pyramid did not have is built whole.
            first = first // 2 if len(levels) < len(old_levels) else 0
            lo, hi, ms = _reduce_pairs(below, frames, first * 2)
            levels.append(_merge(old_levels, len(levels), below.block * 2, first, lo, hi, ms))
        self.levels = levels

    @property
    def nbytes(self) -> int:
        return sum(level.lo.nbytes * 3 for level in self.levels)

    # --- reading -----------------------------------------------------------------------
    def level_for(self, frames_per_column: float) -> Level | None:
        """The coarsest level with at least two blocks per column, or None
        when even level 0 is too coarse (then the raw samples are read)."""
        chosen = None
        for level in self.levels:
            if level.block * MIN_BLOCKS_PER_COLUMN <= frames_per_column:
                chosen = level
            else:
                break
        return chosen

    def envelope(self, start: float, frames_per_column: float, columns: int) -> Envelope:
        """Min/max/RMS for ``columns`` pixel columns, column ``c`` covering
        frames ``[start + c*fpc, start + (c+1)*fpc)``. Needs ``fpc >= 1``
        (closer in, draw the samples themselves)."""
        if frames_per_column < 1:
            raise ValueError("envelope needs at least one frame per column")
        channels = self.channels
        edges = start + np.arange(columns + 1, dtype=np.float64) * frames_per_column
        edges = np.floor(edges).astype(np.int64)
        valid = (edges[:-1] < self.frames) & (edges[1:] > 0)
        lo = np.zeros((columns, channels), np.float32)
        hi = np.zeros((columns, channels), np.float32)
        rms = np.zeros((columns, channels), np.float32)
        if not valid.any():
            return Envelope(lo, hi, rms, valid)
        first_col = int(np.argmax(valid))
        last_col = columns - int(np.argmax(valid[::-1]))  # exclusive
        level = self.level_for(frames_per_column)
        if level is None:
            source_lo = source_hi = self.samples
            source_ms = None
            unit = 1
            limit = self.frames
        else:
            source_lo, source_hi, source_ms = level.lo, level.hi, level.ms
            unit = level.block
            limit = level.lo.shape[0]
        # Column edges in units of the source; a column takes every unit it overlaps.
        starts = np.clip(edges[first_col:last_col] // unit, 0, limit - 1)
        ends = np.clip(-(-edges[first_col + 1:last_col + 1] // unit), 1, limit)
        ends = np.maximum(ends, starts + 1)
        span = slice(int(starts[0]), int(ends[-1]))
        # reduceat reduces [i_k, i_{k+1}); overlapping columns (a shared block) need their own
        # end, so reduce over the starts and then fold in each column's last unit separately.
        index = starts - span.start
        part_lo, part_hi = source_lo[span], source_hi[span]
        col_lo = np.minimum.reduceat(part_lo, index, axis=0)
        col_hi = np.maximum.reduceat(part_hi, index, axis=0)
        last = ends - 1 - span.start
        col_lo = np.minimum(col_lo, part_lo[last])
        col_hi = np.maximum(col_hi, part_hi[last])
        if source_ms is None:
            squares = part_lo.astype(np.float64) ** 2
            sums = np.add.reduceat(squares, index, axis=0)
            counts = np.diff(np.append(index, part_lo.shape[0]))[:, None]
            col_ms = sums / np.maximum(counts, 1)
        else:
            sums = np.add.reduceat(source_ms[span].astype(np.float64), index, axis=0)
            counts = np.diff(np.append(index, source_ms[span].shape[0]))[:, None]
            col_ms = sums / np.maximum(counts, 1)
        lo[first_col:last_col] = col_lo
        hi[first_col:last_col] = col_hi
        rms[first_col:last_col] = np.sqrt(col_ms)
        return Envelope(lo, hi, rms, valid)
