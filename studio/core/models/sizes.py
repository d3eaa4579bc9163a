"""The picture size a model was made for, and the sizes worth offering for it.

A model asked for a size far from its own makes tiles or mush (a 64-pixel
model at 512) or wastes minutes; forms and the CLI start from this size. It
comes from the card (``native_size`` in a model.json), else from the
pipeline family discovery read (SDXL, SD3 and Flux 1024; other Stable
Diffusion 512)."""

from __future__ import annotations

import math

from studio.core.models.cards import ModelCard

# Pipeline families by the side they were trained at, most specific first.
_FAMILY_SIDES = (("XL", 1024), ("StableDiffusion3", 1024), ("Flux", 1024), ("PixArt", 1024), ("Sana", 1024),
                 ("StableDiffusion", 512), ("LatentConsistency", 512))
# Aspect ratios offered as presets: (label, width / height).
_ASPECTS = (("Square", 1.0), ("Portrait 2:3", 2 / 3), ("Landscape 3:2", 3 / 2), ("Wide 16:9", 16 / 9),
            ("Tall 9:16", 9 / 16))


def native_size(card: ModelCard | None) -> tuple[int, int] | None:
    if card is None:
        return None
    size = card.extra.get("native_size")
    if isinstance(size, (list, tuple)) and len(size) == 2:
        try:
            width, height = int(size[0]), int(size[1])
        except (TypeError, ValueError):
            return None
        return (width, height) if width > 0 and height > 0 else None
    if card.modality != "image" or card.format not in ("diffusers", "safetensors", "checkpoint"):
        return None
    for family, side in _FAMILY_SIDES:
        if family in card.architecture:
            return side, side
    return None


def size_presets(native: tuple[int, int] | None) -> list[tuple[str, int, int]]:
    """Sizes of about the native area in the usual aspect ratios, and twice
    the native side (for a hires pass), each a multiple of 8."""
    width, height = native or (512, 512)
    area = width * height
    presets = []
    for label, aspect in _ASPECTS:
        w, h = _snap(math.sqrt(area * aspect)), _snap(math.sqrt(area / aspect))
        presets.append((f"{label} ({w} x {h})", w, h))
    presets.append((f"Square x2 ({2 * width} x {2 * height})", 2 * width, 2 * height))
    return presets


def _snap(value: float) -> int:
    return max(8, int(round(value / 8)) * 8)
