"""Deflicker: make a clip's frames agree with each other where the picture
itself does not change, on a chosen range and at a chosen strength.

Two passes, both the user's ``strength`` (0..1) strong:

1. Statistics: each frame's per-channel mean and spread are smoothed over
   time (a Gaussian window, so slow fades survive) and the frame is remapped
   onto the smoothed values. This removes global brightness and colour
   pumping, the commonest flicker of generated frames.
2. Flow-guided blending: each frame is averaged with its two neighbours,
   each warped onto it by dense optical flow, only where the warp is
   trustworthy (visible in both frames and photometrically close). Texture
   that boils from frame to frame settles; moving content is not smeared.

A still sequence comes out bit-identical: its statistics are constant and
its flows are zero.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from studio.core.jobs import CancelToken
from studio.engines.video.flow import compute_flow, visible_mask, warp

DEFAULT_WINDOW = 3.0  # Gaussian sigma of the statistics smoothing, in frames
# A warped neighbour that differs from the frame by more than this (8-bit
# levels, after statistics correction) shows different content, not flicker.
BLEND_TOLERANCE = 24.0
MIN_SPREAD = 2.0  # channel standard deviations below this are not rescaled (flat frames)

Progress = Callable[[int, int], None]


def _check_range(count: int, start: int, end: int | None) -> tuple[int, int]:
    end = count if end is None else end
    if not 0 <= start < end <= count:
        raise ValueError(f"range {start}..{end} is outside the clip's {count} frames")
    return start, end


def channel_stats(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = frame.reshape(-1, frame.shape[-1]).astype(np.float64)
    return pixels.mean(0), pixels.std(0)


def gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth rows of ``values`` (T x C) over time; edges repeat the end values."""
    if sigma <= 0 or len(values) < 2:
        return values.copy()
    radius = max(1, int(round(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(values[:1], radius, 0), values, np.repeat(values[-1:], radius, 0)])
    out = np.zeros_like(values, dtype=np.float64)
    for weight, offset in zip(kernel, offsets):
        out += weight * padded[radius + offset: radius + offset + len(values)]
    return out


def normalise_statistics(frames: Sequence[np.ndarray], strength: float, window: float = DEFAULT_WINDOW
                         ) -> list[np.ndarray]:
    """Pass 1: frames (float32) remapped toward temporally smoothed channel statistics."""
    stats = [channel_stats(np.asarray(frame)) for frame in frames]
    means = np.array([m for m, _ in stats])
    spreads = np.array([s for _, s in stats])
    smooth_means = gaussian_smooth(means, window)
    smooth_spreads = gaussian_smooth(spreads, window)
    out = []
    for frame, mean, spread, target_mean, target_spread in zip(frames, means, spreads, smooth_means, smooth_spreads):
        pixels = np.asarray(frame, dtype=np.float32)
        gain = np.where(spread > MIN_SPREAD, target_spread / np.maximum(spread, 1e-6), 1.0)
        gain = np.clip(gain, 0.5, 2.0)
        corrected = (pixels - mean) * gain + target_mean
        out.append((pixels + strength * (corrected - pixels)).astype(np.float32))
    return out


class PairFlows:
    """Flows between neighbouring frames, each computed once: frame t uses
    the pair (t, t+1) as its next neighbour and frame t+1 the same pair as
    its previous one. Only the pairs still ahead are kept."""

    def __init__(self, frames: Sequence[np.ndarray], quality: str) -> None:
        self.frames = frames
        self.quality = quality
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def flow(self, a: int, b: int) -> np.ndarray:
        key = (a, b)
        if key not in self._cache:
            self._cache[key] = compute_flow(self.frames[a], self.frames[b], self.quality)
            for old in [k for k in self._cache if max(k) < min(a, b)]:
                del self._cache[old]
        return self._cache[key]


def blend_with_neighbours(frames: Sequence[np.ndarray], index: int, strength: float,
                          flows: PairFlows | None = None) -> np.ndarray:
    """Pass 2 for one frame: a weighted mean of the frame and its neighbours
    warped onto it, each neighbour weighted by ``strength`` times its
    trustworthiness (visible, and within ``BLEND_TOLERANCE`` levels)."""
    flows = flows or PairFlows(frames, "fast")
    frame = frames[index]
    total = frame.copy()
    weight = np.ones(frame.shape[:2], dtype=np.float32)
    for neighbour in (index - 1, index + 1):
        if not 0 <= neighbour < len(frames):
            continue
        other = frames[neighbour]
        to_other = flows.flow(index, neighbour)
        if not to_other.any():  # a still pair: the neighbour already is the frame
            warped, trust = other, np.ones_like(weight)
        else:
            warped = warp(other, to_other)
            trust = visible_mask(to_other, flows.flow(neighbour, index))
        difference = np.abs(warped - frame).mean(-1)
        trust = trust * np.clip(1.0 - difference / BLEND_TOLERANCE, 0.0, 1.0)
        # Half weight per neighbour at full strength: the frame itself keeps
        # the largest share, so detail is kept while the noise averages out.
        neighbour_weight = 0.5 * strength * trust
        total += neighbour_weight[..., None] * warped
        weight += neighbour_weight
    return total / weight[..., None]


def deflicker(frames: Sequence[np.ndarray], strength: float = 0.5, start: int = 0, end: int | None = None,
              window: float = DEFAULT_WINDOW, cancel: CancelToken | None = None,
              progress: Progress | None = None, quality: str = "fast") -> list[np.ndarray]:
    """Deflickered copies of ``frames``; frames outside ``start..end`` are
    returned as they were. ``strength`` 0 changes nothing, 1 is the most."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, not {strength}")
    start, end = _check_range(len(frames), start, end)
    out = [np.asarray(frame) for frame in frames]
    if strength == 0.0:
        return out
    # One frame of context on each side lets the range's edges blend too.
    lo, hi = max(0, start - 1), min(len(frames), end + 1)
    normalised = normalise_statistics(out[lo:hi], strength, window)
    if start > lo:  # the context frames stay as they are: they are outside the edit
        normalised[0] = out[lo].astype(np.float32)
    if end < hi:
        normalised[-1] = out[hi - 1].astype(np.float32)
    flows = PairFlows(normalised, quality)
    for index in range(start, end):
        if cancel is not None:
            cancel.raise_if_cancelled()
        blended = blend_with_neighbours(normalised, index - lo, strength, flows)
        out[index] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        if progress is not None:
            progress(index - start + 1, end - start)
    return out
