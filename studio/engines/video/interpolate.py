"""Frame interpolation: in-between frames to change a clip's frame rate
(8 fps generated -> 24 fps) or to smooth a single jump.

An ``Interpolator`` makes the in-betweens of one pair of frames at the
times asked (``between(a, b, times)``), so retiming asks once per pair and
the work shared by a pair's in-betweens (two flow fields, a network's input
tensors) is done once. Optical flow (``FlowInterpolator``) is the default
and needs no model; when the user has one, a RIFE network (``rife``) or a
RIFE/FILM ONNX export (``onnx_interp``) is loaded through the model manager
by ``interpolator_for(model_id)``. Whatever the interpolator, an output time
that falls on a source frame gives that frame untouched (t = 0 is frame A,
t = 1 is frame B): a network never replaces an original frame by its own
reconstruction of it.

The flow method: an in-between frame at time t (0 < t < 1) between frames A
and B is made by forward splatting: every pixel of A is pushed t of the way
along its flow to B, every pixel of B (1 - t) of the way back, each weighted
by how close to t it sits in time and by how well its flow explains the
other frame (a pixel that is occluded in the other frame has a large
brightness error and so little say where it lands). Splatting puts moving
objects exactly where they should be at time t, without the double edges of
backward-warping approximations; the few holes splatting leaves are filled
by backward warping with the linearly scaled flow. Networks trained for the
task (RIFE, FILM) keep large motions and thin structures sharper.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from studio.core.jobs import CancelToken, StudioError
from studio.core.models.cards import ModelCard
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


class Interpolator(Protocol):
    """Makes in-between frames of one pair of frames (H x W x 3 uint8)."""

    name: str

    def between(self, a: np.ndarray, b: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
        """The frames at ``times`` (each strictly between 0 and 1) from ``a`` to ``b``."""
        ...


class FlowInterpolator:
    """In-betweens by optical flow and splatting (``in_between``); no model needed."""

    name = "optical flow"

    def __init__(self, quality: str = "medium") -> None:
        self.quality = quality

    def between(self, a: np.ndarray, b: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
        flows = (compute_flow(a, b, self.quality), compute_flow(b, a, self.quality))
        return [in_between(a, b, t, flows) for t in times]


def frame_at(interpolator: Interpolator, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The frame at ``t`` between ``a`` and ``b``: the frames themselves at 0 and 1."""
    if t <= 0.0:
        return np.asarray(a).copy()
    if t >= 1.0:
        return np.asarray(b).copy()
    return interpolator.between(a, b, [t])[0]


def retime_count(count: int, source_fps: float, target_fps: float) -> int:
    """Frames after retiming ``count`` frames: the first and last frames keep
    their times, in-betweens fill the gaps at the new rate."""
    if count < 2:
        return count
    return int(math.floor((count - 1) * target_fps / source_fps + 1e-9)) + 1


def retime(frames: Sequence[np.ndarray], source_fps: float, target_fps: float,
           cancel: CancelToken | None = None, progress: Progress | None = None,
           quality: str = "medium", interpolator: Interpolator | None = None) -> list[np.ndarray]:
    """``frames`` at ``source_fps`` resampled to ``target_fps`` (up or down)
    with in-betweens from ``interpolator`` (optical flow when None); original
    frames are kept where an output time falls on one."""
    if source_fps <= 0 or target_fps <= 0:
        raise ValueError("frame rates must be positive")
    interpolator = interpolator or FlowInterpolator(quality)
    count = retime_count(len(frames), source_fps, target_fps)
    last = len(frames) - 1

    def source_time(index: int) -> tuple[int, float]:
        position = index * source_fps / target_fps
        left = min(int(math.floor(position + 1e-9)), last)
        return left, position - left

    out: list[np.ndarray] = []
    index = 0
    while index < count:
        if cancel is not None:
            cancel.raise_if_cancelled()
        left, t = source_time(index)
        if t < 1e-6 or left == last:
            out.append(np.asarray(frames[left]).copy())
            index += 1
        else:  # every output time inside this pair of frames, in one call
            times = [t]
            while index + len(times) < count:
                next_left, next_t = source_time(index + len(times))
                if next_left != left or next_t < 1e-6:
                    break
                times.append(next_t)
            out.extend(interpolator.between(frames[left], frames[left + 1], times))
            index += len(times)
        if progress is not None:
            progress(index, count)
    return out


def bridge(frames: Sequence[np.ndarray], start: int, end: int, quality: str = "medium",
           interpolator: Interpolator | None = None) -> list[np.ndarray]:
    """``frames`` with frames ``start..end`` (end exclusive) replaced by
    in-betweens of the frames either side: smooths a jump or a bad stretch
    and keeps the frame count (so the clip's timing on a timeline holds)."""
    if not 1 <= start < end < len(frames):
        raise ValueError(f"frames {start}..{end} need a good frame on each side inside the clip")
    interpolator = interpolator or FlowInterpolator(quality)
    span = end - start + 1
    middle = interpolator.between(frames[start - 1], frames[end], [(k + 1) / span for k in range(end - start)])
    return [np.asarray(f) for f in frames[:start]] + middle + [np.asarray(f) for f in frames[end:]]


# --- interpolation models -----------------------------------------------------------

def interpolator_card(model_id: str) -> ModelCard:
    """The card of interpolation model ``model_id``, or a StudioError saying
    why it cannot interpolate (unknown, not an interpolator, unusable)."""
    from studio.engines import context

    card = context.find_card(model_id, "video")
    if not card.is_interpolator:
        raise StudioError(f"{card.name} is not a frame interpolation model (RIFE or FILM): it is a "
                          f"{card.format} model; leave the interpolator empty for optical flow")
    if card.error:
        raise StudioError(f"{card.name} cannot be used: {card.error}")
    return card


def interpolator_for(model_id: str, quality: str = "medium") -> Interpolator:
    """Optical flow for an empty id, else the model, loaded (or shared) by the
    model manager on the compute device."""
    if not model_id:
        return FlowInterpolator(quality)
    from studio.engines import context
    from studio.engines.loaders import load_model

    card = interpolator_card(model_id)
    device = context.device().name
    model = context.model_manager().get(card.id, lambda c: load_model(c, device))
    if card.format == "rife":
        from studio.engines.video.rife import RifeInterpolator

        return RifeInterpolator(model, card.name)
    return model  # an OnnxInterpolator holds its own session
