"""The pictures and captions an image LoRA learns from: reading, checking, bucketing, hashing.

A set is a folder of pictures (each caption in a same-named ``.txt``), or
an explicit list of files with captions typed for them; a template such as
``"a photo of [trigger]"`` captions every picture that has none. Every
problem a person can fix (an unreadable or tiny picture, a missing
caption, too few or too many pictures) is one clear line, raised before
any model loads.

Pictures are resized into aspect buckets: each keeps its aspect ratio
(scaled to cover the bucket, then centre-cropped by at most a few pixels),
so nothing is squashed; buckets hold about ``resolution``² pixels, with
sides that are multiples of ``multiple``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.jobs import StudioError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MIN_IMAGES, MAX_IMAGES = 5, 50
TRIGGER_TOKEN = "[trigger]"


@dataclass(frozen=True)
class TrainingImage:
    path: Path
    caption: str
    pixels: np.ndarray  # uint8 (H, W, 3) RGB, bucketed
    original_size: tuple[int, int]  # (width, height) as read


@dataclass(frozen=True)
class ImageSet:
    images: tuple[TrainingImage, ...]
    digest: str  # sha256 of every picture's bytes and caption, in order

    def __len__(self) -> int:
        return len(self.images)

    def buckets(self) -> dict[tuple[int, int], list[int]]:
        """(width, height) -> indices of the pictures in that bucket."""
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(self.images):
            h, w = image.pixels.shape[:2]
            groups.setdefault((w, h), []).append(index)
        return groups


def caption_from_template(template: str, trigger: str) -> str:
    text = template.replace(TRIGGER_TOKEN, trigger).strip()
    return " ".join(text.split())


def list_images(folder: Path) -> list[Path]:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise StudioError(f"training pictures: {folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def bucket_for(width: int, height: int, resolution: int, multiple: int = 8) -> tuple[int, int]:
    """The (width, height) bucket of about resolution² pixels nearest the picture's aspect."""
    aspect = width / height
    area = float(resolution * resolution)
    bw = max(multiple, round((area * aspect) ** 0.5 / multiple) * multiple)
    bh = max(multiple, round((area / aspect) ** 0.5 / multiple) * multiple)
    return bw, bh


def fit_to_bucket(rgb: np.ndarray, bucket: tuple[int, int]) -> np.ndarray:
    """Scale to cover the bucket keeping the aspect ratio, then crop the centre: no distortion."""
    import cv2

    h, w = rgb.shape[:2]
    bw, bh = bucket
    scale = max(bw / w, bh / h)
    nw, nh = max(bw, round(w * scale)), max(bh, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(rgb, (nw, nh), interpolation=interpolation)
    x0, y0 = (nw - bw) // 2, (nh - bh) // 2
    return np.ascontiguousarray(resized[y0:y0 + bh, x0:x0 + bw])


def _read_rgb(path: Path) -> tuple[np.ndarray, bytes]:
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
        import io

        with Image.open(io.BytesIO(data)) as image:
            image.load()
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise StudioError(f"training picture {path.name} cannot be read: {str(exc)[:100]}") from None
    return rgb, data


def load_image_set(paths: Sequence[Path | str], captions: Sequence[str] = (), template: str = "",
                   trigger: str = "", resolution: int = 512, multiple: int = 8,
                   min_images: int = MIN_IMAGES, max_images: int = MAX_IMAGES) -> ImageSet:
    """Read and check the pictures; a caption comes from ``captions``, else a same-named .txt, else ``template``."""
    paths = [Path(p).expanduser() for p in paths]
    if len(paths) < min_images:
        raise StudioError(f"LoRA training needs at least {min_images} pictures; {len(paths)} given")
    if len(paths) > max_images:
        raise StudioError(f"LoRA training takes at most {max_images} pictures; {len(paths)} given")
    if template and trigger and TRIGGER_TOKEN not in template and trigger not in template:
        template = f"{template} {trigger}"
    min_side = max(16, resolution // 2)
    digest = hashlib.sha256()
    images = []
    for i, path in enumerate(paths):
        caption = captions[i].strip() if i < len(captions) and captions[i] else ""
        sidecar = path.with_suffix(".txt")
        if not caption and sidecar.is_file():
            caption = sidecar.read_text(encoding="utf-8", errors="replace").strip()
        if not caption and template:
            caption = caption_from_template(template, trigger)
        if not caption:
            raise StudioError(f"training picture {path.name} has no caption: add {sidecar.name}, type one, "
                              "or give a caption template")
        if trigger:
            caption = caption.replace(TRIGGER_TOKEN, trigger)
        rgb, data = _read_rgb(path)
        h, w = rgb.shape[:2]
        if min(w, h) < min_side:
            raise StudioError(f"training picture {path.name} is too small ({w}x{h}); this model needs at least "
                              f"{min_side} pixels on the short side")
        pixels = fit_to_bucket(rgb, bucket_for(w, h, resolution, multiple))
        digest.update(hashlib.sha256(data).digest())
        digest.update(caption.encode("utf-8"))
        images.append(TrainingImage(path=path, caption=caption, pixels=pixels, original_size=(w, h)))
    return ImageSet(images=tuple(images), digest=digest.hexdigest())


def load_folder(folder: Path | str, template: str = "", trigger: str = "", resolution: int = 512,
                multiple: int = 8) -> ImageSet:
    return load_image_set(list_images(Path(folder)), template=template, trigger=trigger,
                          resolution=resolution, multiple=multiple)
