"""The shapes detector extended with the shapes the starter model never saw (a hexagon).

Regions, background and colours are found exactly as `detect` finds them;
only the shape classifier differs: the same small network with one output
per shape of `ALL_SHAPES`, trained on generator renders that draw from all
of them (`python -m studio.training.detect_extended --train`), so a
hexagon is told from a circle and every old shape is still named. Its
weights ship beside this module as safetensors; the original classifier
and its measured figures are left as they were.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from studio.training.detect import Detection, detect, fit_classifier, mask_patch
from studio.training.shapes import ALL_SHAPES

CLASSIFIER_FILE = Path(__file__).with_name("shape_classifier_extended.safetensors")
FIRST_SEED = 600_000_000  # inside the training range, apart from the model's data and the first classifier's


def _net():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 96), nn.ReLU(), nn.Linear(96, len(ALL_SHAPES)),
    )


@lru_cache(maxsize=1)
def _load():
    from safetensors.torch import load_file

    if not CLASSIFIER_FILE.is_file():
        raise FileNotFoundError(f"{CLASSIFIER_FILE} missing: run python -m studio.training.detect_extended --train")
    net = _net()
    net.load_state_dict({k: v.float() for k, v in load_file(str(CLASSIFIER_FILE)).items()})
    return net.eval()


def classify_masks(masks: list[np.ndarray]) -> list[str]:
    import torch

    if not masks:
        return []
    patches = torch.from_numpy(np.stack([mask_patch(m) for m in masks]))[:, None]
    with torch.no_grad():
        logits = _load()(patches)
    return [ALL_SHAPES[i] for i in logits.argmax(dim=1).tolist()]


def detect_extended(image: np.ndarray) -> Detection:
    """`detect`, with each region's shape named from `ALL_SHAPES`."""
    found = detect(image, classify=False)
    return replace(found, shapes=tuple(classify_masks([r.mask for r in found.regions])))


def main_shape_ok(image: np.ndarray, shape: str) -> bool:
    """Whether the picture's main object is a ``shape``."""
    return detect_extended(image).main_shape == shape


def train(count: int = 16000, epochs: int = 12, out: Path = CLASSIFIER_FILE) -> float:
    """Train the extended classifier; returns its accuracy on held-back renders."""
    accuracy = fit_classifier(_net(), FIRST_SEED, count, epochs, out, shapes=ALL_SHAPES)
    _load.cache_clear()
    return accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the extended (hexagon-aware) shape classifier")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--count", type=int, default=16000)
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args(argv)
    if args.train:
        accuracy = train(args.count, args.epochs)
        print(f"extended classifier saved to {CLASSIFIER_FILE}; accuracy on unseen renders {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
