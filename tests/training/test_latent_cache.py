"""The denoiser's latent cache: exact epochs, reproducible order, atomic files."""

from __future__ import annotations

import pytest
import torch

from studio.training import architecture
from studio.training.clip_tokenizer import build_clip_tokenizer
from studio.training.latent_cache import CACHE_FILE, LatentCache, build_latent_cache, usable_size
from studio.training.train_starter import batches


def _numbered_cache(count: int) -> LatentCache:
    # Picture i's latent is filled with i, so a batch tells which pictures it holds.
    latents = torch.arange(count, dtype=torch.float32)[:, None, None, None].expand(count, 4, 2, 2).clone()
    return LatentCache(latents=latents, token_ids=torch.arange(count)[:, None].repeat(1, 3))


def _picture_numbers(cache: LatentCache, step: int, batch: int) -> list[int]:
    latents, ids = cache.batch(step, batch)
    assert torch.equal(latents[:, 0, 0, 0].long(), ids[:, 0])  # latents and captions stay paired
    return ids[:, 0].tolist()


def test_every_epoch_visits_each_picture_once_in_a_new_order():
    cache = _numbered_cache(12)
    epochs = [sum((_picture_numbers(cache, epoch * 3 + i, 4) for i in range(3)), []) for epoch in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(12))
    assert epochs[0] != epochs[1] != epochs[2]
    # The batch of a step depends on the step alone: a resumed run sees the same data.
    assert _picture_numbers(_numbered_cache(12), 7, 4) == epochs[2][4:8]


def test_batches_must_tile_the_cache_and_the_size_is_rounded_to_whole_batches():
    with pytest.raises(ValueError, match="does not split"):
        _numbered_cache(10).batch(0, 4)
    assert usable_size(65536, steps=3, batch=2) == 6  # no more than the run visits
    assert usable_size(1000, steps=100, batch=64) == 960
    assert usable_size(10, steps=100, batch=64) == 64


def test_a_cache_of_real_latents_round_trips_through_its_file(tmp_path):
    torch.manual_seed(0)
    vae = architecture.build_vae().eval()
    tokenizer = build_clip_tokenizer(tmp_path / "tokenizer", model_max_length=architecture.TEXT_CONTEXT)
    data = [(pixels, captions) for pixels, _, captions in batches(200_000_000, 0, 2, 3, 0, torch.device("cpu"))]
    seen: list[int] = []
    cache = build_latent_cache(
        data,
        encode=lambda pixels: vae.encode(pixels).latent_dist.mean * 0.5,
        tokenize=lambda captions: tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length,
                                            truncation=True, return_tensors="pt").input_ids,
        on_batch=seen.append,
    )
    assert seen == [3, 3] and cache.latents.shape == (6, 4, 16, 16) and cache.token_ids.shape == (6, 32)
    assert tokenizer.decode(cache.token_ids[0], skip_special_tokens=True) == data[0][1][0]
    path = tmp_path / CACHE_FILE
    cache.save(path)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".partial"] == []
    loaded = LatentCache.load(path)
    assert torch.equal(loaded.latents, cache.latents) and torch.equal(loaded.token_ids, cache.token_ids)
