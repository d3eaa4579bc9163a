"""Measured prompt adherence of the starter model on held-out captions.

The evaluator draws generator samples whose seeds were never used in
training (`TRAIN_SEED_LIMIT` and up), generates one picture per caption
(20 steps, the picture's noise seeded by the sample's seed), and checks each
picture with the deterministic detector against the caption's ground truth:

- background colour: the detected background's colour name is the caption's;
- object colour: the main (first-named, largest) object's colour name;
- shape: the classifier's shape for that object.

It also renders the grid of samples with their captions shown in the docs.
`python -m studio.training.evaluate --model DIR` prints the scores.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np

from studio.training.detect import detect
from studio.training.shapes import TRAIN_SEED_LIMIT, ShapeSample, render_sample
from studio.training.starter import DEFAULT_GUIDANCE, DEFAULT_STEPS, generate, load_pipeline

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

EVAL_FIRST_SEED = TRAIN_SEED_LIMIT
DEFAULT_COUNT = 200


@dataclass(frozen=True)
class ImageScore:
    seed: int
    caption: str
    background_ok: bool
    colour_ok: bool
    shape_ok: bool
    found: str  # what the detector saw, for reading failures


@dataclass(frozen=True)
class Report:
    scores: tuple[ImageScore, ...]

    def _rate(self, field: str) -> float:
        return sum(getattr(s, field) for s in self.scores) / max(1, len(self.scores))

    @property
    def bg_color_acc(self) -> float:
        return self._rate("background_ok")

    @property
    def object_color_acc(self) -> float:
        return self._rate("colour_ok")

    @property
    def shape_acc(self) -> float:
        return self._rate("shape_ok")

    def summary(self) -> dict[str, float]:
        return {
            "bg_color_acc": round(self.bg_color_acc, 4),
            "object_color_acc": round(self.object_color_acc, 4),
            "shape_acc": round(self.shape_acc, 4),
            "images": len(self.scores),
        }


def held_out_samples(count: int = DEFAULT_COUNT, first_seed: int = EVAL_FIRST_SEED) -> list[ShapeSample]:
    if first_seed < TRAIN_SEED_LIMIT:
        raise ValueError("evaluation seeds must not overlap the training seeds")
    return [render_sample(seed) for seed in range(first_seed, first_seed + count)]


def score_image(image: np.ndarray, sample: ShapeSample) -> ImageScore:
    """Check one picture against the caption of `sample`."""
    found = detect(image)
    main = sample.objects[0]
    region, shape = found.main, found.main_shape
    seen = f"{found.background} background"
    if region is not None:
        seen = f"{region.colour} {shape} ({len(found.regions)} objects) on " + seen
    return ImageScore(
        seed=sample.seed,
        caption=sample.caption,
        background_ok=found.background == sample.background,
        colour_ok=region is not None and region.colour == main.colour,
        shape_ok=region is not None and shape == main.shape,
        found=seen,
    )


def evaluate_images(images: Sequence[np.ndarray], samples: Sequence[ShapeSample]) -> Report:
    return Report(tuple(score_image(img, s) for img, s in zip(images, samples, strict=True)))


def generate_for(pipe: StableDiffusionPipeline, samples: Sequence[ShapeSample], steps: int = DEFAULT_STEPS,
                 guidance_scale: float = DEFAULT_GUIDANCE, batch: int = 16) -> list[np.ndarray]:
    images: list[np.ndarray] = []
    for i in range(0, len(samples), batch):
        chunk = samples[i:i + batch]
        images += generate(pipe, [s.caption for s in chunk], [s.seed for s in chunk],
                           steps=steps, guidance_scale=guidance_scale)
    return images


def evaluate_pipeline(pipe: StableDiffusionPipeline, count: int = DEFAULT_COUNT,
                      first_seed: int = EVAL_FIRST_SEED, steps: int = DEFAULT_STEPS,
                      guidance_scale: float = DEFAULT_GUIDANCE) -> tuple[Report, list[np.ndarray]]:
    samples = held_out_samples(count, first_seed)
    images = generate_for(pipe, samples, steps, guidance_scale)
    return evaluate_images(images, samples), images


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def caption_grid(images: Sequence[np.ndarray], captions: Sequence[str], columns: int = 4,
                 scale: int = 4) -> np.ndarray:
    """Pictures (nearest-neighbour enlarged, so pixels stay honest) above their captions."""
    cell_w = images[0].shape[1] * scale
    font, font_scale, line_h = cv2.FONT_HERSHEY_SIMPLEX, 0.38, 13
    chars = int(cell_w / 7.2)
    wrapped = [_wrap(c, chars) for c in captions]
    text_h = line_h * max(len(w) for w in wrapped) + 8
    cell_h = images[0].shape[0] * scale + text_h
    pad = 6
    rows = (len(images) + columns - 1) // columns
    grid = np.full((rows * (cell_h + pad) + pad, columns * (cell_w + pad) + pad, 3), 255, np.uint8)
    for i, (img, lines) in enumerate(zip(images, wrapped)):
        r, c = divmod(i, columns)
        y, x = pad + r * (cell_h + pad), pad + c * (cell_w + pad)
        big = cv2.resize(img, (cell_w, img.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        grid[y:y + big.shape[0], x:x + cell_w] = big
        for j, line in enumerate(lines):
            baseline = y + big.shape[0] + 12 + j * line_h
            cv2.putText(grid, line, (x + 2, baseline), font, font_scale, (20, 20, 20), 1, cv2.LINE_AA)
    return grid


def save_png(rgb: np.ndarray, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="score the starter model's prompt adherence")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--first-seed", type=int, default=EVAL_FIRST_SEED)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--grid", type=Path, help="also save the first 16 pictures with captions here")
    parser.add_argument("--failures", type=int, default=0, help="print this many failed pictures")
    args = parser.parse_args(argv)

    pipe = load_pipeline(args.model, device=args.device)
    report, images = evaluate_pipeline(pipe, args.count, args.first_seed, args.steps, args.guidance)
    if args.grid:
        save_png(caption_grid(images[:16], [s.caption for s in report.scores[:16]]), args.grid)
    failed = [s for s in report.scores if not (s.background_ok and s.colour_ok and s.shape_ok)]
    for score in failed[:args.failures]:
        print(json.dumps(asdict(score)))
    print(json.dumps({**report.summary(), "guidance": args.guidance, "steps": args.steps}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
