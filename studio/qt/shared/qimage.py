"""Numpy pixels to QImage: the one conversion every workspace and the job
runner use, safe to call from a worker thread (QImage, unlike QPixmap, is not
tied to the GUI thread); and thumbnails decoded without Qt, for background tasks.

Thumbnails are decoded with Pillow, not QImageReader: a window opened on a
library of many pictures decodes their thumbnails on three task threads
while the GUI thread is still building the window's icons, and the process
crashed (a segmentation fault inside the QImageReader of a task thread)
every few such starts. The tasks now return pixels, and the QImage is made
on the GUI thread."""

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


def thumbnail_pixels(path: str, side: int) -> np.ndarray | None:
    """The picture at ``path`` as RGB(A) pixels at most ``side`` on its longer edge,
    or None if it cannot be read. Pillow only: safe on any thread."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.draft("RGB", (side, side))  # JPEG decodes straight at a reduced scale
            image.thumbnail((side, side))
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def pixels_to_qimage(pixels: np.ndarray | None) -> QImage:
    """``thumbnail_pixels``' result as a QImage (null when there were none)."""
    return QImage() if pixels is None else array_to_qimage(pixels)
