"""The hexagon experiment: teaching the starter model a shape it never saw, and measuring it.

`write_training_set` renders captioned single-hexagon pictures into a
folder (PNG plus same-named .txt, the layout a person would give the
Personalise panel); `held_out` gives hexagon samples from seeds no
training set uses; `score` generates a picture per caption and asks the
extended detector whether its main object is the caption's shape;
`autoencoder_ceiling` scores the held-out renders themselves after the
model's autoencoder has encoded and decoded them, the most a LoRA (which
leaves the autoencoder as it is) could score: the starter's autoencoder
never saw a hexagon and rounds small ones into discs. `decoder_probe` asks
whether a better decoder could lift that ceiling: it fine-tunes a copy of
the decoder (the encoder, and so every latent, left as they are) on renders
that include hexagons and scores the round trip again by size. Small
hexagons stayed about as poor (0.21 before, 0.19 after 600 steps), so what
the encoder keeps of a small hexagon is not enough to draw one back.
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


def round_trip_hits(vae: Any, samples: Sequence[ShapeSample]) -> list[bool]:
    """Whether the extended detector names each sample's main shape after the VAE round trip."""
    import torch

    from studio.training.detect_extended import detect_extended

    with torch.no_grad():
        decoded = vae.decode(vae.encode(_pixels(samples).to(vae.device, vae.dtype)).latent_dist.mean).sample
    images = ((decoded.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [detect_extended(img).main_shape == s.objects[0].shape for img, s in zip(images, samples)]


def autoencoder_ceiling(pipe: Any, samples: Sequence[ShapeSample]) -> float:
    """Share of the samples' own renders the extended detector names right after the VAE round trip."""
    hits = round_trip_hits(pipe.vae, samples)
    return sum(hits) / max(1, len(samples))


def by_size(samples: Sequence[ShapeSample], hits: Sequence[bool]) -> dict[str, float]:
    sizes: dict[str, list[bool]] = {}
    for sample, hit in zip(samples, hits):
        sizes.setdefault(sample.objects[0].size, []).append(hit)
    return {size: round(sum(v) / len(v), 3) for size, v in sorted(sizes.items())}


def decoder_probe(pipe: Any, samples: Sequence[ShapeSample], steps: int = 600, batch: int = 16,
                  learning_rate: float = 2e-4) -> dict[str, dict[str, float]]:
    """Round-trip hexagon scores by size, before and after fine-tuning a copy of the decoder on
    renders of every shape, hexagons included (the encoder is frozen: the latents do not change)."""
    import copy

    import torch

    from studio.training.shapes import ALL_SHAPES, render_sample
    from studio.training.train_starter import _edge_loss

    vae = copy.deepcopy(pipe.vae).float().requires_grad_(False)
    before = by_size(samples, round_trip_hits(vae, samples))
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    for param in params:
        param.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    torch.manual_seed(0)
    for step in range(steps):
        first = TRAIN_FIRST_SEED + 100_000_000 + step * batch
        drawn = [render_sample(first + i, shapes=ALL_SHAPES, single=bool((step + i) % 2)) for i in range(batch)]
        pixels = _pixels(drawn)
        objects = torch.stack([torch.from_numpy(np.any([o.mask for o in s.objects], axis=0)) for s in drawn])
        with torch.no_grad():
            latents = vae.encode(pixels).latent_dist.sample()
        error = vae.decode(latents).sample - pixels
        weight = 1.0 + 4.0 * objects[:, None].float()  # as the starter's autoencoder was trained
        loss = (weight * (error.abs() + error.square())).mean() + 0.5 * _edge_loss(pixels + error, pixels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    vae.eval()
    return {"before": before, "after": by_size(samples, round_trip_hits(vae, samples))}
