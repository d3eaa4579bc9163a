"""Keyframe propagation (EbSynth-like): an edit made on one frame (painted,
or regenerated image-to-image) is carried along the clip by optical flow to
the neighbouring frames, until the next edited keyframe.

For every frame the module tracks where each of its pixels came from in the
keyframe: flows are chained frame to frame into one coordinate map, and the
keyframe is sampled once through it, so the edit stays sharp however far it
travels (warping frame after frame would blur it a little at every step).
A pixel whose flow fails the forward-backward check at any link of the
chain is occluded: it was not in the keyframe, so it keeps the frame's own
content. Between two keyframes the edits carried from each side are
cross-faded by distance, each only where it is visible.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from studio.core.jobs import CancelToken
from studio.engines.video.flow import compute_flow, pixel_grid, remap, visible_mask

Progress = Callable[[int, int], None]


def chain_maps(frames: Sequence[np.ndarray], key: int, stop: int, cancel: CancelToken | None = None,
               quality: str = "medium") -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each frame from ``key`` towards ``stop`` (exclusive, either
    direction): (coordinates in the keyframe of each pixel, visibility 0..1)."""
    height, width = np.asarray(frames[key]).shape[:2]
    grid = pixel_grid(height, width)
    step = 1 if stop > key else -1
    coords = grid.copy()
    visible = np.ones((height, width), dtype=np.float32)
    maps = {key: (coords, visible)}
    for index in range(key + step, stop, step):
        if cancel is not None:
            cancel.raise_if_cancelled()
        previous = index - step
        to_previous = compute_flow(frames[index], frames[previous], quality)
        to_current = compute_flow(frames[previous], frames[index], quality)
        link = visible_mask(to_previous, to_current)
        # Compose: where the pixel was in the previous frame, then where that was in the keyframe.
        source = grid + to_previous
        coords = remap(coords, source)
        visible = remap(visible, source) * link
        maps[index] = (coords, visible)
    return maps


def propagate(frames: Sequence[np.ndarray], edits: Mapping[int, np.ndarray], cancel: CancelToken | None = None,
              progress: Progress | None = None, quality: str = "medium") -> list[np.ndarray]:
    """``frames`` with each edited keyframe's edit carried to its neighbours.

    ``edits`` maps keyframe indices to their edited frames (same size as the
    clip). Frames before the first keyframe and after the last take that
    keyframe's edit alone; frames between two keyframes blend both by
    distance, each where it is visible. Keyframes come out exactly as edited."""
    count = len(frames)
    keys = _check_edits(frames, edits)
    shape = np.asarray(frames[0]).shape
    numerator = {i: np.zeros(shape, np.float32) for i in range(count) if i not in edits}
    denominator = {i: np.zeros(shape[:2], np.float32) for i in numerator}
    coverage = {i: np.zeros(shape[:2], np.float32) for i in numerator}
    bounds = [-1, *keys, count]
    total = sum(bounds[i + 2] - bounds[i] - 2 for i in range(len(keys)))  # frames each key reaches
    done = 0
    for position, key in enumerate(keys):
        edited = np.asarray(edits[key], dtype=np.float32)
        for stop in (bounds[position], bounds[position + 2]):
            inside = 0 <= stop < count  # another keyframe ends this stretch: share by distance
            for index, (coords, visible) in chain_maps(frames, key, stop, cancel, quality).items():
                if index == key:
                    continue
                weight = abs(stop - index) / abs(stop - key) if inside else 1.0
                numerator[index] += (weight * visible)[..., None] * remap(edited, coords)
                denominator[index] += weight * visible
                coverage[index] = np.maximum(coverage[index], visible)
                done += 1
                if progress is not None:
                    progress(done, total)
    out = []
    for index in range(count):
        if index in edits:
            out.append(np.asarray(edits[index]).copy())
            continue
        original = np.asarray(frames[index], dtype=np.float32)
        carried = numerator[index] / np.maximum(denominator[index], 1e-6)[..., None]
        share = np.clip(coverage[index], 0.0, 1.0)[..., None]
        out.append(np.clip(carried * share + original * (1.0 - share) + 0.5, 0, 255).astype(np.uint8))
    return out


def _check_edits(frames: Sequence[np.ndarray], edits: Mapping[int, np.ndarray]) -> list[int]:
    if not edits:
        raise ValueError("propagation needs at least one edited keyframe")
    keys = sorted(edits)
    for key in keys:
        if not 0 <= key < len(frames):
            raise ValueError(f"keyframe {key} is outside the clip's {len(frames)} frames")
        if np.asarray(edits[key]).shape != np.asarray(frames[key]).shape:
            raise ValueError(f"the edit of frame {key} is not the size of the clip's frames")
    return keys
