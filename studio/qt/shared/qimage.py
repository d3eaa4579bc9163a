"""Numpy pixels to QImage: the one conversion every workspace and the job
runner use, safe to call from a worker thread (QImage, unlike QPixmap, is not
tied to the GUI thread)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

if TYPE_CHECKING:  # numpy is imported on first use: it is not needed to show the window
    import numpy as np


def array_to_qimage(pixels: np.ndarray) -> QImage:
    """An HxWx3 / HxWx4 uint8 array as a QImage that owns its memory."""
    import numpy as np

    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    fmt = QImage.Format.Format_RGB888 if pixels.shape[2] == 3 else QImage.Format.Format_RGBA8888
    return QImage(pixels.data, width, height, pixels.strides[0], fmt).copy()
