"""A deterministic detector for shapes pictures: background colour, objects, their colours and shapes.

It judges whether a generated picture follows its caption, so it must work
the same on the generator's own renders (where the truth is known) and on a
model's pictures:

1. background: a plane per colour channel is fitted robustly to the
   picture's border (solid and gradient backgrounds are both planes); its
   median colour is named by the nearest of the generator's named colours
   (in CIE Lab);
2. objects: pixels far (in Lab) from that plane, split into connected
   regions; tiny specks are dropped; the main object is the region of the
   largest extent (the caption names the largest first, a size class above
   the others);
3. an object's colour: the median of its clearly-coloured pixels, named the
   same way;
4. its shape: a small convolutional classifier over the region's mask,
   trained on regions this same detector found in generator renders
   (`python -m studio.training.detect --train`); its weights ship beside
   this module as safetensors.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from studio.training.shapes import SHAPES, nearest_colour_name, render_sample, rgb_to_lab

CLASSIFIER_FILE = Path(__file__).with_name("shape_classifier.safetensors")
MASK_SIZE = 32
FOREGROUND_DELTA_E = 16.0  # Lab distance from the background plane that marks a pixel as object
MIN_REGION_PIXELS = 10
CLASSIFIER_FIRST_SEED = 500_000_000  # inside the training range, apart from the model's own data


@dataclass(frozen=True)
class Region:
    """One object found in a picture."""

    mask: np.ndarray  # bool (H, W)
    filled_area: int
    colour: str
    rgb: tuple[int, int, int]
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


@dataclass(frozen=True)
class Detection:
    background: str
    background_rgb: tuple[int, int, int]
    regions: tuple[Region, ...]  # largest first
    shapes: tuple[str, ...]  # the classifier's shape per region

    @property
    def main(self) -> Region | None:
        return self.regions[0] if self.regions else None

    @property
    def main_shape(self) -> str | None:
        return self.shapes[0] if self.shapes else None


def _border_mask(h: int, w: int, width: int = 2) -> np.ndarray:
    border = np.zeros((h, w), bool)
    border[:width], border[-width:], border[:, :width], border[:, -width:] = True, True, True, True
    return border


def background_plane(image: np.ndarray) -> np.ndarray:
    """Float (H, W, 3) RGB background: per-channel plane fitted to the border, outliers rejected."""
    h, w = image.shape[:2]
    ys, xs = np.nonzero(_border_mask(h, w))
    pixels = image[ys, xs].astype(np.float64)
    design = np.stack([np.ones_like(xs), xs / w - 0.5, ys / h - 0.5], axis=1).astype(np.float64)
    keep = np.ones(len(xs), bool)
    coef = np.zeros((3, 3))
    for _ in range(4):
        # Objects touching the border are outliers of the plane; refit without them.
        coef, *_ = np.linalg.lstsq(design[keep], pixels[keep], rcond=None)
        residual = np.linalg.norm(pixels - design @ coef, axis=1)
        limit = max(12.0, 2.5 * float(np.median(residual[keep])))
        new_keep = residual < limit
        if new_keep.sum() < len(xs) // 4 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    gx, gy = np.meshgrid((np.arange(w) / w) - 0.5, (np.arange(h) / h) - 0.5)
    grid = np.stack([np.ones_like(gx), gx, gy], axis=-1)
    return np.clip(grid @ coef, 0, 255)


def _filled(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=-1)
    return filled.astype(bool) | mask


def find_regions(image: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The background plane, and (mask, per-pixel Lab distance) of each object region."""
    plane = background_plane(image)
    distance = np.linalg.norm(rgb_to_lab(image.astype(np.float32)) - rgb_to_lab(plane.astype(np.float32)), axis=-1)
    foreground = (distance > FOREGROUND_DELTA_E).astype(np.uint8)
    count, labels = cv2.connectedComponents(foreground, connectivity=8)
    masks = [labels == label for label in range(1, count)]
    masks = [m for m in _merge_nested(masks) if m.sum() >= MIN_REGION_PIXELS]
    return plane, [(mask, distance) for mask in masks]


def _merge_nested(masks: list[np.ndarray]) -> list[np.ndarray]:
    # An outlined ring is two concentric circles: a part lying inside another
    # region's filled outline belongs to that region.
    masks = sorted(masks, key=lambda m: -int(m.sum()))
    merged: list[tuple[np.ndarray, np.ndarray]] = []  # (mask, filled mask)
    for mask in masks:
        for i, (outer, outer_filled) in enumerate(merged):
            if (mask & outer_filled).sum() >= 0.9 * mask.sum():
                merged[i] = (outer | mask, outer_filled)
                break
        else:
            merged.append((mask, _filled(mask)))
    return [mask for mask, _ in merged]


def _region_colour(image: np.ndarray, mask: np.ndarray, distance: np.ndarray) -> np.ndarray:
    # Edge pixels blend object and background. A filled object is judged by its
    # interior; a thin one (an outline) by its pixels farthest from the background.
    interior = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if interior.sum() >= 12:
        chosen = interior
    else:
        chosen = mask & (distance >= np.percentile(distance[mask], 60))
    return np.median(image[chosen].astype(np.float32), axis=0)


def mask_patch(mask: np.ndarray) -> np.ndarray:
    """A region's mask cropped to a square around it and scaled to MASK_SIZE (float 0..1)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = max(y1 - y0, x1 - x0) + 2
    square = np.zeros((side, side), np.float32)
    oy, ox = (side - (y1 - y0)) // 2, (side - (x1 - x0)) // 2
    square[oy:oy + y1 - y0, ox:ox + x1 - x0] = mask[y0:y1, x0:x1]
    return cv2.resize(square, (MASK_SIZE, MASK_SIZE), interpolation=cv2.INTER_AREA)


def detect(image: np.ndarray, classify: bool = True) -> Detection:
    """Find the background colour and the objects (largest first) of an RGB uint8 picture."""
    plane, found = find_regions(image)
    background_rgb = np.median(plane.reshape(-1, 3), axis=0)
    regions = []
    for mask, distance in found:
        filled = _filled(mask)
        rgb = _region_colour(image, mask, distance)
        ys, xs = np.nonzero(mask)
        regions.append(Region(
            mask=mask, filled_area=int(filled.sum()), colour=nearest_colour_name(rgb),
            rgb=tuple(int(v) for v in np.round(rgb)),  # type: ignore[arg-type]
            bbox=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
        ))
    # The largest by extent, not by area: a star covers less than a circle of its size.
    regions.sort(key=lambda r: (-max(r.bbox[2] - r.bbox[0], r.bbox[3] - r.bbox[1]), -r.filled_area))
    shapes = tuple(classify_masks([r.mask for r in regions])) if classify and regions else ()
    return Detection(
        background=nearest_colour_name(background_rgb),
        background_rgb=tuple(int(v) for v in np.round(background_rgb)),  # type: ignore[arg-type]
        regions=tuple(regions), shapes=shapes,
    )


def _classifier_net():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 96), nn.ReLU(), nn.Linear(96, len(SHAPES)),
    )


@lru_cache(maxsize=1)
def _load_classifier():
    import torch
    from safetensors.torch import load_file

    if not CLASSIFIER_FILE.is_file():
        raise FileNotFoundError(f"{CLASSIFIER_FILE} missing: run python -m studio.training.detect --train")
    net = _classifier_net()
    net.load_state_dict({k: v.float() for k, v in load_file(str(CLASSIFIER_FILE)).items()})
    return net.eval()


def classify_masks(masks: list[np.ndarray]) -> list[str]:
    """Shape name for each region mask."""
    import torch

    if not masks:
        return []
    patches = torch.from_numpy(np.stack([mask_patch(m) for m in masks]))[:, None]
    with torch.no_grad():
        logits = _load_classifier()(patches)
    return [SHAPES[i] for i in logits.argmax(dim=1).tolist()]


def _perturb(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Generated pictures are softer and noisier than renders: train on such variants too.
    out = image.astype(np.float32)
    sigma = rng.uniform(0.0, 0.9)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out = out + rng.normal(0.0, rng.uniform(0.0, 5.0), out.shape)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def labelled_patches(first_seed: int, count: int, perturb: bool,
                     shapes: tuple[str, ...] = SHAPES) -> tuple[np.ndarray, np.ndarray]:
    """(patches, indices into ``shapes``) of detector regions matched to
    generator objects (drawn from ``shapes``) by overlap."""
    rng = np.random.default_rng(first_seed)
    patches, labels = [], []
    for seed in range(first_seed, first_seed + count):
        sample = render_sample(seed, shapes=shapes)
        image = _perturb(sample.image, rng) if perturb else sample.image
        _, found = find_regions(image)
        for obj in sample.objects:
            best, best_iou = None, 0.5
            for mask, _ in found:
                iou = (mask & obj.mask).sum() / max(1, (mask | obj.mask).sum())
                if iou > best_iou:
                    best, best_iou = mask, iou
            if best is not None:
                patches.append(mask_patch(best))
                labels.append(shapes.index(obj.shape))
    return np.stack(patches), np.array(labels)


def train_classifier(count: int = 16000, epochs: int = 12, out: Path = CLASSIFIER_FILE) -> float:
    """Train the shape classifier on generator renders; returns accuracy on held-back renders."""
    accuracy = fit_classifier(_classifier_net(), CLASSIFIER_FIRST_SEED, count, epochs, out)
    _load_classifier.cache_clear()
    return accuracy


def fit_classifier(net, first_seed: int, count: int, epochs: int, out: Path,
                   shapes: tuple[str, ...] = SHAPES) -> float:
    """Train ``net`` on ``count`` renders of ``shapes`` from ``first_seed``
    (the next 1000 held back), save it in float16 to ``out`` and return its
    accuracy on the held-back renders."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    x, y = labelled_patches(first_seed, count, perturb=True, shapes=shapes)
    vx, vy = labelled_patches(first_seed + count, 1000, perturb=False, shapes=shapes)
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y)
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * (len(xt) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for i in range(0, len(order) - 127, 128):
            batch = order[i:i + 128]
            inputs = xt[batch]
            if torch.rand(1, generator=generator).item() < 0.5:
                inputs = inputs.flip(-1)  # every shape (the hexagon too) is mirror-symmetric
            loss = torch.nn.functional.cross_entropy(net(inputs), yt[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(torch.from_numpy(vx)[:, None]).argmax(1) == torch.from_numpy(vy)).float().mean().item()
    save_file({k: v.to(torch.float16).contiguous() for k, v in net.state_dict().items()}, str(out))
    out.chmod(0o644)
    return accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the shapes detector's classifier")
    parser.add_argument("--train", action="store_true", help="train and save the shape classifier")
    parser.add_argument("--count", type=int, default=16000, help="generator pictures to train on")
    args = parser.parse_args(argv)
    if args.train:
        accuracy = train_classifier(args.count)
        print(f"shape classifier saved to {CLASSIFIER_FILE}; accuracy on unseen renders {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

