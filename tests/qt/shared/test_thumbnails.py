"""Thumbnails decoded off the GUI thread: Pillow pixels no larger than asked,
transparency kept, an unreadable file gives None (a null QImage), never an
exception; and several task threads decoding at once agree with one thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from studio.qt.shared.qimage import pixels_to_qimage, thumbnail_pixels


def test_a_picture_is_shrunk_to_the_side_keeping_its_shape_and_transparency(tmp_path):
    wide = np.zeros((90, 300, 4), np.uint8)
    wide[..., 0] = 255
    wide[:, 150:, 3] = 255  # the right half opaque red, the left half see-through
    Image.fromarray(wide, "RGBA").save(tmp_path / "wide.png")
    pixels = thumbnail_pixels(str(tmp_path / "wide.png"), 64)
    assert pixels.shape == (19, 64, 4) or pixels.shape == (20, 64, 4)
    assert pixels[:, :20, 3].max() == 0 and pixels[:, -20:, 3].min() == 255
    image = pixels_to_qimage(pixels)
    assert (image.width(), image.height()) == (64, pixels.shape[0]) and image.hasAlphaChannel()

    Image.fromarray(np.full((400, 200, 3), 90, np.uint8)).save(tmp_path / "tall.jpg", quality=90)
    tall = thumbnail_pixels(str(tmp_path / "tall.jpg"), 72)
    assert tall.shape == (72, 36, 3) and abs(int(tall.mean()) - 90) <= 3


def test_an_unreadable_file_is_none_and_a_null_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (tmp_path / "notes.png").write_text("not a picture")
    for name in ("broken.png", "notes.png", "missing.png"):
        assert thumbnail_pixels(str(tmp_path / name), 64) is None
        assert pixels_to_qimage(None).isNull()


def test_threads_decoding_at_once_get_what_one_thread_gets(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for i in range(24):
        path = tmp_path / f"p{i}.png"
        Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    alone = [thumbnail_pixels(p, 64) for p in paths]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda p: thumbnail_pixels(p, 64), paths))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))
