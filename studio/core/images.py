"""Small image helpers with no heavy imports: PNG encoding from a numpy
array (zlib only) so core and light engines need neither PIL nor OpenCV."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an HxWx3 (or HxWx4) uint8 array as PNG."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"expected HxWx3/4 uint8 pixels, got {rgb.shape} {rgb.dtype}")
    height, width, channels = rgb.shape
    raw = np.empty((height, 1 + width * channels), dtype=np.uint8)
    raw[:, 0] = 0  # filter type "None" on every row
    raw[:, 1:] = rgb.reshape(height, width * channels)
    color_type = 2 if channels == 3 else 6

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
