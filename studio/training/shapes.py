"""Procedural captioned shapes: the training and evaluation data of the starter model.

Every sample is a small picture of one to three flat, outlined or shaded
shapes on a solid or gradient background, together with a caption such as
"a large blue ring and a small red star on a yellow background" and its
ground truth (shape, colour, size, style, mask and bounding box of each
object; the background colour).

A sample is a pure function of its seed, so the data set is unlimited and
exactly reproducible: training uses seeds below ``TRAIN_SEED_LIMIT`` and the
evaluator only seeds at or above it, which keeps its captions held out.

Rendering uses numpy and OpenCV only, drawn at 4x the output size and
area-averaged down so edges are anti-aliased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

TRAIN_SEED_LIMIT = 10**9
"""Training draws seeds below this; held-out evaluation draws seeds at or above it."""

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 140, 20),
    "yellow": (245, 215, 40),
    "green": (45, 160, 60),
    "cyan": (40, 195, 210),
    "blue": (40, 80, 215),
    "purple": (130, 55, 180),
    "pink": (245, 130, 190),
    "brown": (125, 75, 35),
    "black": (25, 25, 25),
    "white": (240, 240, 240),
    "gray": (130, 130, 130),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "heart", "ring", "cross", "diamond",
)
# Shapes the starter model never saw in training, for teaching it one with a LoRA.
NEW_SHAPES: tuple[str, ...] = ("hexagon",)
ALL_SHAPES: tuple[str, ...] = SHAPES + NEW_SHAPES
STYLES: tuple[str, ...] = ("flat", "outline", "shaded")

# Half-extent in output pixels (at 64 px) for each size word; medium is unnamed in captions.
SIZE_RADII: dict[str, tuple[float, float]] = {
    "small": (6.0, 8.0),
    "medium": (10.0, 12.5),
    "large": (15.0, 19.0),
}
SIZE_WORDS = {"small": "small", "medium": "", "large": "large"}
STYLE_WORDS = {"flat": "", "outline": "outlined", "shaded": "shaded"}

# Position phrases for single-object captions: (phrase, column, row) on a 3x3 grid.
POSITIONS: tuple[tuple[str, int, int], ...] = (
    ("in the top left", 0, 0), ("at the top", 1, 0), ("in the top right", 2, 0),
    ("on the left", 0, 1), ("in the center", 1, 1), ("on the right", 2, 1),
    ("in the bottom left", 0, 2), ("at the bottom", 1, 2), ("in the bottom right", 2, 2),
)

SUPERSAMPLE = 4
MIN_CONTRAST = 30.0  # CIE76 distance below which two named colours are too alike to pair


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab of uint8 or 0..255 float RGB values, any leading shape, last axis 3."""
    arr = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    lab = cv2.cvtColor(arr, cv2.COLOR_RGB2LAB)
    return lab.reshape(np.shape(rgb))


_PALETTE_LAB = rgb_to_lab(np.array(list(COLOURS.values()), dtype=np.float32))


def colour_distance(a: str, b: str) -> float:
    """Perceptual (CIE76) distance between two named colours."""
    ia, ib = COLOUR_NAMES.index(a), COLOUR_NAMES.index(b)
    return float(np.linalg.norm(_PALETTE_LAB[ia] - _PALETTE_LAB[ib]))


def nearest_colour_name(rgb: np.ndarray) -> str:
    """The named colour nearest (in Lab) to one RGB value."""
    lab = rgb_to_lab(np.asarray(rgb, dtype=np.float32).reshape(1, 3))[0]
    return COLOUR_NAMES[int(np.argmin(np.linalg.norm(_PALETTE_LAB - lab, axis=1)))]


@dataclass(frozen=True)
class ShapeObject:
    """Ground truth of one drawn object."""

    shape: str
    colour: str
    size: str
    style: str
    center: tuple[float, float]  # (x, y) in output pixels
    radius: float  # half-extent in output pixels
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) of the visible mask
    mask: np.ndarray  # bool (H, W): pixels this object covers in the final image

    def phrase(self) -> str:
        words = [SIZE_WORDS[self.size], STYLE_WORDS[self.style], self.colour, self.shape]
        text = " ".join(w for w in words if w)
        return ("an " if text[0] in "aeiou" else "a ") + text


@dataclass(frozen=True)
class ShapeSample:
    """One rendered picture with its caption and ground truth."""

    seed: int
    image: np.ndarray  # uint8 (H, W, 3) RGB
    caption: str
    objects: tuple[ShapeObject, ...]  # main object first (a size class above the rest), as in the caption
    background: str
    gradient: bool
    position: str | None  # the position phrase, for single-object captions that have one


def _shape_mask(shape: str, cx: float, cy: float, r: float, n: int) -> np.ndarray:
    """Filled uint8 mask (0/255) of one shape on an n x n supersampled canvas."""
    s = SUPERSAMPLE
    mask = np.zeros((n, n), np.uint8)
    shift = 4  # OpenCV fixed-point bits: sub-pixel vertex precision
    scale = float(1 << shift)

    def poly(points: np.ndarray) -> None:
        pts = np.round(points * s * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8, shift=shift)

    def disc(radius: float, value: int) -> None:
        cv2.circle(mask, (round(cx * s * scale), round(cy * s * scale)), round(radius * s * scale),
                   value, -1, lineType=cv2.LINE_8, shift=shift)

    if shape == "circle":
        disc(r, 255)
    elif shape == "ring":
        disc(r, 255)
        disc(r * 0.55, 0)
    elif shape == "square":
        h = r * 0.85
        poly(np.array([[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]]))
    elif shape == "diamond":
        poly(np.array([[cx, cy - r], [cx + r * 0.85, cy], [cx, cy + r], [cx - r * 0.85, cy]]))
    elif shape == "triangle":
        # Equilateral, apex up, shifted so its bounding box is centred on (cx, cy).
        angles = np.deg2rad([-90.0, 30.0, 150.0])
        rr = r * 1.1
        pts = np.stack([cx + rr * np.cos(angles), cy + rr * 0.25 + rr * np.sin(angles)], axis=1)
        poly(pts)
    elif shape == "star":
        angles = np.deg2rad(-90.0 + 36.0 * np.arange(10))
        radii = np.where(np.arange(10) % 2 == 0, r * 1.05, r * 0.45)
        pts = np.stack([cx + radii * np.cos(angles), cy + r * 0.1 + radii * np.sin(angles)], axis=1)
        poly(pts)
    elif shape == "heart":
        t = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
        x = 16.0 * np.sin(t) ** 3
        y = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
        k = r / 16.5
        poly(np.stack([cx + k * x, cy - k * (y + 2.5)], axis=1))
    elif shape == "hexagon":
        # Regular, flat top and bottom, filling the same width as a circle of radius r.
        angles = np.deg2rad(60.0 * np.arange(6))
        poly(np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1))
    elif shape == "cross":
        w = r * 0.34
        pts = np.array([
            [cx - w, cy - r], [cx + w, cy - r], [cx + w, cy - w], [cx + r, cy - w],
            [cx + r, cy + w], [cx + w, cy + w], [cx + w, cy + r], [cx - w, cy + r],
            [cx - w, cy + w], [cx - r, cy + w], [cx - r, cy - w], [cx - w, cy - w],
        ])
        poly(pts)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return mask


def _outline(mask: np.ndarray, radius: float) -> np.ndarray:
    """The band of `mask` within `radius` output pixels of its edge."""
    k = max(3, int(round(radius * SUPERSAMPLE)) * 2 + 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.subtract(mask, cv2.erode(mask, kernel))


def _jitter(rng: np.random.Generator, colour: str, amount: float = 8.0) -> np.ndarray:
    base = np.array(COLOURS[colour], dtype=np.float32)
    return np.clip(base + rng.uniform(-amount, amount, 3), 0, 255)


def _background(rng: np.random.Generator, colour: str, gradient: bool, n: int) -> np.ndarray:
    base = _jitter(rng, colour)
    canvas = np.empty((n, n, 3), np.float32)
    canvas[:] = base
    if gradient:
        # Brightness ramps along a random direction; the colour keeps its name.
        angle = rng.uniform(0, 2 * np.pi)
        lo, hi = 0.82, 1.12
        coords = (np.arange(n, dtype=np.float32) + 0.5) / n - 0.5
        ramp = np.cos(angle) * coords[None, :] + np.sin(angle) * coords[:, None]
        ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
        if rng.random() < 0.5:
            ramp = 1.0 - ramp
        factor = lo + (hi - lo) * ramp
        canvas = np.clip(canvas * factor[..., None], 0, 255)
    return canvas


def _paint(canvas: np.ndarray, cover: np.ndarray, colour: np.ndarray, style: str,
           cx: float, cy: float, r: float) -> None:
    """Composite one object's colour into the supersampled canvas where `cover` is set."""
    ys, xs = np.nonzero(cover)
    if style == "shaded":
        # Light from the upper left: a highlight towards white, a shadow towards dark.
        s = SUPERSAMPLE
        lx, ly = (cx - 0.45 * r) * s, (cy - 0.45 * r) * s
        d = np.sqrt((xs - lx) ** 2 + (ys - ly) ** 2) / (1.6 * r * s)
        d = np.clip(d, 0.0, 1.0)[:, None]
        highlight = np.clip(0.3 - d, 0.0, 0.3)
        shade = 1.0 - 0.3 * np.clip(d - 0.3, 0.0, 1.0)
        pix = colour[None, :] * shade * (1 - highlight) + 255.0 * highlight
        canvas[ys, xs] = np.clip(pix, 0, 255)
    else:
        canvas[ys, xs] = colour


def _pick_colours(rng: np.random.Generator, count: int) -> tuple[str, list[str]]:
    background = COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))]
    choices = [c for c in COLOUR_NAMES if colour_distance(c, background) >= MIN_CONTRAST]
    picked = rng.choice(len(choices), size=count, replace=False)
    return background, [choices[i] for i in picked]


def _place(rng: np.random.Generator, radius: float, placed: list[tuple[float, float, float]],
           size: int, cell: tuple[int, int] | None) -> tuple[float, float] | None:
    lo, hi = radius + 1.0, size - radius - 1.0
    for _ in range(60):
        if cell is None:
            cx, cy = rng.uniform(lo, hi), rng.uniform(lo, hi)
        else:
            third = size / 3.0
            cx = float(np.clip(rng.uniform(cell[0] * third, (cell[0] + 1) * third), lo, hi))
            cy = float(np.clip(rng.uniform(cell[1] * third, (cell[1] + 1) * third), lo, hi))
        if all(np.hypot(cx - px, cy - py) >= radius + pr + 1.5 for px, py, pr in placed):
            return cx, cy
    return None


def render_sample(seed: int, size: int = 64, shapes: tuple[str, ...] = SHAPES, single: bool = False) -> ShapeSample:
    """Render the sample of `seed`: the same seed always gives the same pixels and caption.

    `shapes` and `single` (one object only) draw other sets, such as hexagons
    alone; the defaults are the starter model's own data."""
    if seed < 0:
        raise ValueError("seed must be non-negative")
    rng = np.random.default_rng(seed)
    count = 1 if single else int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    background, colours = _pick_colours(rng, count)
    gradient = bool(rng.random() < 0.35)
    scale = size / 64.0

    # With several objects the first-named one is a size class larger than the rest,
    # so "the main object" is well defined in the picture too.
    size_words = list(SIZE_RADII)
    if count == 1:
        sizes = [str(rng.choice(size_words, p=[0.3, 0.35, 0.35]))]
    else:
        main = str(rng.choice(["medium", "large"], p=[0.35, 0.65]))
        smaller = size_words[:size_words.index(main)]
        sizes = [main] + [str(rng.choice(smaller)) for _ in range(count - 1)]

    specs = []
    for colour, size_word in zip(colours, sizes):
        lo, hi = SIZE_RADII[size_word]
        specs.append({
            "shape": shapes[rng.integers(len(shapes))],
            "colour": colour,
            "size": size_word,
            "style": str(rng.choice(STYLES, p=[0.5, 0.2, 0.3])),
            "radius": float(rng.uniform(lo, hi)) * scale,
        })
    specs.sort(key=lambda spec: -spec["radius"])  # main object first: largest

    position: str | None = None
    cell: tuple[int, int] | None = None
    if count == 1 and rng.random() < 0.5:
        position, col, row = POSITIONS[rng.integers(len(POSITIONS))]
        cell = (col, row)

    placed: list[tuple[float, float, float]] = []
    kept = []
    for spec in specs:
        where = _place(rng, spec["radius"], placed, size, cell)
        if where is None:
            continue  # crowded: drop this (smaller) object rather than overlap
        placed.append((where[0], where[1], spec["radius"]))
        kept.append((spec, where))

    n = size * SUPERSAMPLE
    canvas = _background(rng, background, gradient, n)
    covers = []
    for spec, (cx, cy) in kept:
        cover = _shape_mask(spec["shape"], cx, cy, spec["radius"], n)
        if spec["style"] == "outline":
            cover = _outline(cover, max(1.4, 0.16 * spec["radius"]) * scale)
        _paint(canvas, cover, _jitter(rng, spec["colour"]), spec["style"], cx, cy, spec["radius"])
        for earlier in covers:  # later objects hide what they overlap
            earlier[cover > 0] = 0
        covers.append(cover)

    image = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)

    objects = []
    for (spec, (cx, cy)), cover in zip(kept, covers):
        small = cv2.resize(cover.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_AREA)
        mask = small >= 0.5
        ys, xs = np.nonzero(mask)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else (0, 0, 0, 0)
        objects.append(ShapeObject(
            shape=spec["shape"], colour=spec["colour"], size=spec["size"], style=spec["style"],
            center=(cx, cy), radius=spec["radius"], bbox=bbox, mask=mask,
        ))

    phrases = [obj.phrase() for obj in objects]
    if len(phrases) == 1:
        subject = phrases[0]
    else:
        subject = ", ".join(phrases[:-1]) + " and " + phrases[-1]
    if position:
        subject += " " + position
    ground = "gradient background" if gradient else "background"
    article = "an" if background[0] in "aeiou" else "a"
    caption = f"{subject} on {article} {background} {ground}"
    return ShapeSample(
        seed=seed, image=image, caption=caption, objects=tuple(objects),
        background=background, gradient=gradient, position=position,
    )


def iter_samples(start_seed: int, count: int, size: int = 64) -> Iterator[ShapeSample]:
    """Samples for consecutive seeds starting at `start_seed`."""
    for seed in range(start_seed, start_seed + count):
        yield render_sample(seed, size)


def contact_sheet(images: list[np.ndarray], columns: int, scale: int = 1) -> np.ndarray:
    """Tile equally sized RGB images into one uint8 grid (for looking at data)."""
    h, w = images[0].shape[:2]
    rows = (len(images) + columns - 1) // columns
    sheet = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    if scale != 1:
        sheet = cv2.resize(sheet, (sheet.shape[1] * scale, sheet.shape[0] * scale),
                           interpolation=cv2.INTER_NEAREST)
    return sheet
