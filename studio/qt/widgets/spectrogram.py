"""Spectrogram pictures for the waveform lanes.

The mel levels are computed off the GUI thread
(:func:`studio.core.spectrogram.mel_columns`, run by the tracks view's task
pool) for exactly the columns on screen; this module only turns them into
an image: a perceptual dark-to-bright colour map (black, violet, magenta,
orange, pale yellow, after the "magma" family) over a fixed range of
``FLOOR_DB`` to 0 dB, low frequencies at the bottom, and transparent where
the view runs past the end of the clip."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from studio.core.spectrogram import FLOOR_DB

_ANCHORS = np.array([
    [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
    [252, 253, 191],
], np.float64)


def _colour_map(size: int = 256) -> np.ndarray:
    positions = np.linspace(0, 1, len(_ANCHORS))
    steps = np.linspace(0, 1, size)
    channels = [np.interp(steps, positions, _ANCHORS[:, c]) for c in range(3)]
    r, g, b = (np.round(c).astype(np.uint32) for c in channels)
    return (np.uint32(0xFF000000) | (r << 16) | (g << 8) | b).astype(np.uint32)


COLOUR_MAP = _colour_map()


def levels_to_image(levels: np.ndarray) -> QImage:
    """``(n_mels, columns)`` dB levels as an image, one pixel per mel band
    and column (the lane scales it to its height)."""
    missing = np.isnan(levels)
    scaled = np.clip((np.nan_to_num(levels, nan=FLOOR_DB) - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0)
    index = np.round(scaled * (len(COLOUR_MAP) - 1)).astype(np.intp)
    pixels = np.where(missing, np.uint32(0), COLOUR_MAP[index])[::-1]  # low frequencies at the bottom
    pixels = np.ascontiguousarray(pixels, dtype=np.uint32)
    height, width = pixels.shape
    return QImage(pixels.data, width, height, width * 4, QImage.Format.Format_ARGB32).copy()
