"""Pixels in and out of the diffusion engine: reading the init image and the
mask, building the outpainting canvas, pasting a repaint back over the
original, resizing (Lanczos) and the plain 2x/4x upscale with sharpening.

Masks follow A1111: white is repainted, black is kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from studio.core.jobs import StudioError

OUTPAINT_OVERLAP = 8  # px of the original the fill may blend into, so the seam does not show


def read_rgb(path: str) -> Image.Image:
    try:
        with Image.open(Path(path).expanduser()) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "P"):
                # Transparent areas become white, as a designer's canvas shows them.
                canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
                canvas.alpha_composite(image.convert("RGBA"))
                return canvas.convert("RGB")
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise StudioError(f"cannot read the image {Path(path).name}: {exc}") from exc


def read_mask(path: str, size: tuple[int, int]) -> Image.Image:
    try:
        with Image.open(Path(path).expanduser()) as image:
            if image.mode in ("RGBA", "LA"):
                # A painted layer: the paint is wherever it is not transparent.
                mask = image.getchannel("A")
            else:
                mask = image.convert("L")
            return mask.resize(size, Image.Resampling.BILINEAR)
    except (OSError, ValueError) as exc:
        raise StudioError(f"cannot read the mask {Path(path).name}: {exc}") from exc


def snap_size(width: int, height: int) -> tuple[int, int]:
    return max(8, (width + 4) // 8 * 8), max(8, (height + 4) // 8 * 8)


def resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


@dataclass
class Canvas:
    """What an image-to-image job starts from."""

    image: Image.Image
    mask: Image.Image | None  # L, white = repaint (blurred edges)
    original: Image.Image  # the untouched pixels, for pasting back


def prepare(mode: str, init_path: str, mask_path: str, width: int, height: int, mask_blur: int,
            extend: tuple[int, int, int, int] = (0, 0, 0, 0)) -> Canvas:
    """The starting picture (and mask) for img2img, inpaint and outpaint."""
    init = read_rgb(init_path)
    if mode == "outpaint":
        return _outpaint_canvas(resize(init, snap_size(*init.size)), extend, mask_blur)
    image = resize(init, (width, height))
    mask = None
    if mode == "inpaint":
        mask = read_mask(mask_path, image.size)
        if not np.asarray(mask).any():
            raise StudioError("the mask is empty: paint over the area to repaint")
        if mask_blur > 0:
            mask = mask.filter(ImageFilter.GaussianBlur(mask_blur))
    return Canvas(image, mask, image)


def _outpaint_canvas(init: Image.Image, extend: tuple[int, int, int, int], mask_blur: int) -> Canvas:
    left, right, up, down = extend
    width, height = snap_size(init.width + left + right, init.height + up + down)
    right += width - (init.width + left + right)  # rounding to 8 goes to the right and bottom edges
    down += height - (init.height + up + down)
    pixels = np.asarray(init)
    # Stretch the edges outward, then blur the new area: a start with the right
    # colours, which the sampler repaints, instead of a flat fill it must fight.
    padded = np.pad(pixels, ((up, down), (left, right), (0, 0)), mode="edge")
    filled = Image.fromarray(padded).filter(ImageFilter.GaussianBlur(16))
    canvas = Image.fromarray(padded)
    area = np.zeros((height, width), dtype=np.uint8)
    area[:up, :] = area[height - down:, :] = 255
    area[:, :left] = area[:, width - right:] = 255
    canvas.paste(filled, mask=Image.fromarray(area))
    grown = Image.fromarray(area).filter(ImageFilter.MaxFilter(2 * OUTPAINT_OVERLAP + 1))
    mask = grown.filter(ImageFilter.GaussianBlur(max(mask_blur, 2)))
    original = Image.fromarray(padded)
    return Canvas(canvas, mask, original)


def paste_back(result: np.ndarray, canvas: Canvas) -> np.ndarray:
    """Keep the original where the mask is black: the autoencoder's round trip
    would otherwise soften the pixels the user asked to keep."""
    if canvas.mask is None:
        return result
    size = (result.shape[1], result.shape[0])
    weight = np.asarray(canvas.mask.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)[..., None] / 255.0
    original = np.asarray(resize(canvas.original, size), dtype=np.float32)
    return (original * (1.0 - weight) + result.astype(np.float32) * weight + 0.5).astype(np.uint8)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float 0..1 (N, H, W, 3) pipeline output as uint8."""
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def upscale(image: Image.Image, factor: int, sharpen: float) -> Image.Image:
    """Lanczos enlargement with an unsharp mask scaled to the factor."""
    big = image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)
    if sharpen <= 0:
        return big
    return big.filter(ImageFilter.UnsharpMask(radius=0.8 * factor, percent=int(sharpen * 100), threshold=2))
