"""The denoiser's training data: pictures drawn and encoded once, then served for many epochs.

Drawing 64 pictures and running them through the autoencoder's encoder took
a fifth of every denoiser step, for pictures that differ only by their seed.
The cache holds each picture's scaled latent and its tokenised caption, is
written once (atomically, as safetensors) so a resumed run skips rebuilding
it, and serves the batch of any step in an order that depends only on the
step: each epoch visits every picture once, in a fresh permutation seeded by
the epoch number, so resuming reproduces the batches exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from safetensors.torch import load_file, save_file

CACHE_FILE = "latent_cache.safetensors"
ORDER_SEED = 30_000_017  # base of the per-epoch permutation seeds


def usable_size(requested: int, steps: int, batch: int) -> int:
    """Pictures worth encoding: no more than the run visits, a whole number of batches."""
    size = min(requested, steps * batch)
    return max(batch, size - size % batch)


@dataclass
class LatentCache:
    latents: torch.Tensor  # [N, C, H, W] float32, already multiplied by the VAE's scaling factor
    token_ids: torch.Tensor  # [N, context] int64, padded captions

    def __len__(self) -> int:
        return self.latents.shape[0]

    def batch(self, step: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents and token ids of training step `step` (batches never straddle two epochs)."""
        if len(self) % batch:
            raise ValueError(f"cache of {len(self)} pictures does not split into batches of {batch}")
        epoch, offset = divmod(step * batch, len(self))
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(ORDER_SEED + epoch))
        index = order[offset:offset + batch]
        return self.latents[index], self.token_ids[index]

    def save(self, path: Path) -> None:
        partial = path.with_name(path.name + ".partial")
        save_file({"latents": self.latents.contiguous(), "token_ids": self.token_ids.contiguous()}, str(partial))
        os.replace(partial, path)  # a run killed mid-write leaves no half cache behind

    @classmethod
    def load(cls, path: Path) -> LatentCache:
        tensors = load_file(str(path))
        return cls(latents=tensors["latents"], token_ids=tensors["token_ids"])


@torch.no_grad()
def build_latent_cache(
    batches: Iterable[tuple[torch.Tensor, list[str]]],
    encode: Callable[[torch.Tensor], torch.Tensor],
    tokenize: Callable[[list[str]], torch.Tensor],
    on_batch: Callable[[int], None] | None = None,
) -> LatentCache:
    """Encode every (pixels, captions) batch; `encode` returns scaled latents, `tokenize` padded ids."""
    latents, token_ids = [], []
    for pixels, captions in batches:
        latents.append(encode(pixels).float().cpu())
        token_ids.append(tokenize(captions).cpu())
        if on_batch is not None:
            on_batch(len(captions))
    return LatentCache(latents=torch.cat(latents), token_ids=torch.cat(token_ids).long())
