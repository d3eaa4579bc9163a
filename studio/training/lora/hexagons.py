"""The hexagon experiment: teaching the starter model a shape it never saw, and measuring it.

`write_training_set` renders captioned single-hexagon pictures into a
folder (PNG plus same-named .txt, the layout a person would give the
Personalise panel); `held_out` gives hexagon samples from seeds no
training set uses; `score` generates a picture per caption and asks the
extended detector whether its main object is the caption's shape;
`autoencoder_ceiling` scores the held-out renders themselves after the
model's autoencoder has encoded and decoded them, the most a LoRA (which
leaves the autoencoder as it is) could score when it learns the encoder's
latents; with ``refine_steps`` the latents are first refined towards the
render through the decoder (`studio.training.lora.refine`), which bounds
what the decoder itself can draw. `ceiling_by_size` gives both by hexagon
size: the starter's encoder rounds small hexagons into discs, but its
decoder draws most of them from refined latents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.training.shapes import TRAIN_SEED_LIMIT, ShapeSample, render_sample

HEXAGON = ("hexagon",)
TRAIN_FIRST_SEED = 700_000_000
HELD_OUT_FIRST_SEED = TRAIN_SEED_LIMIT + 50_000_000
SAMPLE_PROMPT = "a large red hexagon on a white background"
REFINE_STEPS = 25  # decoder-refinement steps for the ceiling of what the decoder can draw


def hexagon_samples(first_seed: int, count: int) -> list[ShapeSample]:
    return [render_sample(seed, shapes=HEXAGON, single=True) for seed in range(first_seed, first_seed + count)]


def write_training_set(folder: Path, count: int = 20, first_seed: int = TRAIN_FIRST_SEED) -> list[ShapeSample]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    samples = hexagon_samples(first_seed, count)
    for sample in samples:
        Image.fromarray(sample.image).save(folder / f"hexagon-{sample.seed}.png")
        (folder / f"hexagon-{sample.seed}.txt").write_text(sample.caption + "\n", encoding="utf-8")
    return samples


def held_out(count: int = 200) -> list[ShapeSample]:
    return hexagon_samples(HELD_OUT_FIRST_SEED, count)


def score(pipe: Any, samples: Sequence[ShapeSample], steps: int = 20, guidance: float = 5.0,
          batch: int = 25) -> tuple[float, list[np.ndarray]]:
    """Share of pictures whose main object the extended detector names as the caption's main shape."""
    from studio.training.detect_extended import detect_extended
    from studio.training.starter import generate

    images: list[np.ndarray] = []
    for i in range(0, len(samples), batch):
        chunk = samples[i:i + batch]
        images += generate(pipe, [s.caption for s in chunk], [s.seed for s in chunk], steps=steps,
                           guidance_scale=guidance)
    hits = sum(detect_extended(img).main_shape == s.objects[0].shape for img, s in zip(images, samples))
    return hits / max(1, len(samples)), images


def _pixels(samples: Sequence[ShapeSample]) -> Any:
    import torch

    return torch.stack([torch.from_numpy(s.image).permute(2, 0, 1).float() / 127.5 - 1.0 for s in samples])


def round_trip_hits(vae: Any, samples: Sequence[ShapeSample], refine_steps: int = 0) -> list[bool]:
    """Whether the extended detector names each sample's main shape after the VAE round trip
    (with ``refine_steps``, through latents refined towards the render)."""
    import torch

    from studio.training.detect_extended import detect_extended
    from studio.training.lora.refine import refine_latents

    pixels = _pixels(samples).to(vae.device, vae.dtype)
    with torch.no_grad():
        latents = vae.encode(pixels).latent_dist.mean
    latents = refine_latents(vae, pixels, latents, refine_steps)
    with torch.no_grad():
        decoded = vae.decode(latents.to(vae.dtype)).sample
    images = ((decoded.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [detect_extended(img).main_shape == s.objects[0].shape for img, s in zip(images, samples)]


def autoencoder_ceiling(pipe: Any, samples: Sequence[ShapeSample], refine_steps: int = 0) -> float:
    """Share of the samples' own renders the extended detector names right after the VAE round trip."""
    hits = round_trip_hits(pipe.vae, samples, refine_steps)
    return sum(hits) / max(1, len(samples))


def by_size(samples: Sequence[ShapeSample], hits: Sequence[bool]) -> dict[str, float]:
    sizes: dict[str, list[bool]] = {}
    for sample, hit in zip(samples, hits):
        sizes.setdefault(sample.objects[0].size, []).append(hit)
    return {size: round(sum(v) / len(v), 3) for size, v in sorted(sizes.items())}


def ceiling_by_size(pipe: Any, samples: Sequence[ShapeSample],
                    refine_steps: int = REFINE_STEPS) -> dict[str, dict[str, float]]:
    """Round-trip hexagon scores by size through the encoder's latents and through refined ones."""
    return {"encoder": by_size(samples, round_trip_hits(pipe.vae, samples)),
            "refined": by_size(samples, round_trip_hits(pipe.vae, samples, refine_steps))}
