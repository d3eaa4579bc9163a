"""Frame interpolation by optical flow: in-between frames to change a clip's
frame rate (8 fps generated -> 24 fps) or to smooth a single jump.

An in-between frame at time t (0 < t < 1) between frames A and B is made by
forward splatting: every pixel of A is pushed t of the way along its flow to
B, every pixel of B (1 - t) of the way back, each weighted by how close to
t it sits in time and by how well its flow explains the other frame (a
pixel that is occluded in the other frame has a large brightness error and
so little say where it lands). Splatting puts moving objects exactly where
they should be at time t, without the double edges of backward-warping
approximations; the few holes splatting leaves are filled by backward
warping with the linearly scaled flow.

RIFE/FILM networks would sharpen large motions; no such weights ship with
Studio, and the flow method needs none.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from studio.core.jobs import CancelToken
from studio.engines.video.flow import compute_flow, pixel_grid, warp

# Brightness-constancy error (8-bit levels) at which a splatted pixel's say drops to 1/e.
IMPORTANCE_LEVELS = 12.0
HOLE_WEIGHT = 1e-3

Progress = Callable[[int, int], None]


def splat(image: np.ndarray, flow: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Push each pixel of ``image`` to ``x + flow[x]`` with bilinear splatting.

    Returns the weighted colour sum (HxWxC) and the weight sum (HxW). The
    four corners of every pixel go through one ``bincount`` per channel;
    corners outside the picture get weight 0 instead of being filtered out
    (masking copies cost more than the zeros)."""
    height, width = flow.shape[:2]
    count = height * width
    target = pixel_grid(height, width) + flow
    x0 = np.floor(target[..., 0])
    y0 = np.floor(target[..., 1])
    fx = (target[..., 0] - x0).ravel()
    fy = (target[..., 1] - y0).ravel()
    x0 = x0.astype(np.int64).ravel()
    y0 = y0.astype(np.int64).ravel()
    weight = weight.ravel()
    indices, weights = [], []
    for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xs, ys = x0 + dx, y0 + dy
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        indices.append(np.where(inside, ys * width + xs, 0))
        weights.append(share * weight * inside)
    index = np.concatenate(indices)
    share = np.concatenate(weights)
    total = np.bincount(index, weights=share, minlength=count)
    values = image.reshape(count, -1)
    colour = np.stack([np.bincount(index, weights=share * np.tile(values[:, c], 4), minlength=count)
                       for c in range(values.shape[1])], axis=-1)
    return colour.reshape(height, width, -1), total.reshape(height, width)


def in_between(a: np.ndarray, b: np.ndarray, t: float, flows: tuple[np.ndarray, np.ndarray] | None = None,
               quality: str = "medium") -> np.ndarray:
    """The frame at time ``t`` between ``a`` (t=0) and ``b`` (t=1)."""
    if t <= 0.0:
        return np.asarray(a).copy()
    if t >= 1.0:
        return np.asarray(b).copy()
    a32, b32 = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    a_to_b, b_to_a = flows or (compute_flow(a, b, quality), compute_flow(b, a, quality))
    # How well each pixel's flow explains the other frame: occluded pixels fail.
    error_a = np.abs(warp(b32, a_to_b) - a32).mean(-1)
    error_b = np.abs(warp(a32, b_to_a) - b32).mean(-1)
    weight_a = (1.0 - t) * np.exp(-error_a / IMPORTANCE_LEVELS)
    weight_b = t * np.exp(-error_b / IMPORTANCE_LEVELS)
    colour_a, total_a = splat(a32, t * a_to_b, weight_a)
    colour_b, total_b = splat(b32, (1.0 - t) * b_to_a, weight_b)
    colour = colour_a + colour_b
    total = total_a + total_b
    # Holes splatting leaves (disocclusions, stretched regions) take the
    # backward warp of both frames with the flow scaled to time t; a tiny
    # weight makes it vanish wherever splatted pixels landed.
    fill = (1.0 - t) * warp(a32, -t * b_to_a) + t * warp(b32, -(1.0 - t) * a_to_b)
    result = (colour + HOLE_WEIGHT * fill) / (total + HOLE_WEIGHT)[..., None]
    return np.clip(result + 0.5, 0, 255).astype(np.uint8)


def retime_count(count: int, source_fps: float, target_fps: float) -> int:
    """Frames after retiming ``count`` frames: the first and last frames keep
    their times, in-betweens fill the gaps at the new rate."""
    if count < 2:
        return count
    return int(math.floor((count - 1) * target_fps / source_fps + 1e-9)) + 1


def retime(frames: Sequence[np.ndarray], source_fps: float, target_fps: float,
           cancel: CancelToken | None = None, progress: Progress | None = None,
           quality: str = "medium") -> list[np.ndarray]:
    """``frames`` at ``source_fps`` resampled to ``target_fps`` (up or down)
    with flow-interpolated in-betweens; original frames are kept where an
    output time falls on one."""
    if source_fps <= 0 or target_fps <= 0:
        raise ValueError("frame rates must be positive")
    count = retime_count(len(frames), source_fps, target_fps)
    out: list[np.ndarray] = []
    cached_pair: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None
    for index in range(count):
        if cancel is not None:
            cancel.raise_if_cancelled()
        position = index * source_fps / target_fps
        left = min(int(math.floor(position + 1e-9)), len(frames) - 1)
        t = position - left
        if t < 1e-6 or left == len(frames) - 1:
            out.append(np.asarray(frames[left]).copy())
        else:
            if cached_pair is None or cached_pair[0] != left:
                a, b = frames[left], frames[left + 1]
                cached_pair = (left, (compute_flow(a, b, quality), compute_flow(b, a, quality)))
            out.append(in_between(frames[left], frames[left + 1], t, cached_pair[1]))
        if progress is not None:
            progress(index + 1, count)
    return out


def bridge(frames: Sequence[np.ndarray], start: int, end: int, quality: str = "medium") -> list[np.ndarray]:
    """``frames`` with frames ``start..end`` (end exclusive) replaced by
    in-betweens of the frames either side: smooths a jump or a bad stretch
    and keeps the frame count (so the clip's timing on a timeline holds)."""
    if not 1 <= start < end < len(frames):
        raise ValueError(f"frames {start}..{end} need a good frame on each side inside the clip")
    a, b = frames[start - 1], frames[end]
    flows = (compute_flow(a, b, quality), compute_flow(b, a, quality))
    span = end - start + 1
    middle = [in_between(a, b, (k + 1) / span, flows) for k in range(end - start)]
    return [np.asarray(f) for f in frames[:start]] + middle + [np.asarray(f) for f in frames[end:]]
