"""What a decoder can draw: a latent refined through the frozen decoder towards a picture.

A LoRA leaves the autoencoder alone, so what the decoder can draw bounds
what any LoRA can make. Encoding and decoding a picture measures less than
that: the starter's small encoder, which never saw a hexagon, rounds small
ones into discs (21% are still hexagons after the round trip). A few dozen
gradient steps on the latent itself, through the frozen decoder, towards
the picture bring 84% back: the decoder can draw them. `refine_latents`
takes those steps, starting from the encoder's latent and held near it.

The loss is L1 + L2 on the pixels plus an L1 on their horizontal and
vertical differences, so edges and corners count, not only areas of colour.
"""

from __future__ import annotations

from typing import Any

EDGE_WEIGHT = 0.5
ANCHOR_WEIGHT = 0.01  # pull towards the encoder's latent, per unit of squared distance


def edge_difference(a: Any, b: Any) -> Any:
    """L1 between the horizontal and vertical differences of two picture batches."""
    loss_x = (a[..., :, 1:] - a[..., :, :-1] - (b[..., :, 1:] - b[..., :, :-1])).abs().mean()
    loss_y = (a[..., 1:, :] - a[..., :-1, :] - (b[..., 1:, :] - b[..., :-1, :])).abs().mean()
    return loss_x + loss_y


def refine_latents(vae: Any, pixels: Any, latents: Any, steps: int, learning_rate: float = 0.05) -> Any:
    """``latents`` (unscaled, as the encoder gives them) moved by ``steps`` Adam steps so that the
    decoder's drawing of them comes closer to ``pixels`` (in -1..1); the decoder is left unchanged."""
    import torch

    if steps <= 0:
        return latents
    start = latents.detach().float()
    target = pixels.detach().float()
    latent = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=learning_rate)
    frozen = [p for p in vae.parameters() if p.requires_grad]
    for param in frozen:
        param.requires_grad_(False)
    try:
        with torch.enable_grad():
            for _ in range(steps):
                drawn = vae.decode(latent.to(vae.dtype)).sample.float()
                error = drawn - target
                loss = (error.abs() + error.square()).mean() + EDGE_WEIGHT * edge_difference(drawn, target)
                loss = loss + ANCHOR_WEIGHT * (latent - start).square().mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    finally:
        for param in frozen:
            param.requires_grad_(True)
    return latent.detach()


def round_trip_error(vae: Any, pixels: Any, latents: Any) -> float:
    """Mean absolute pixel error (in -1..1) of the decoder's drawing of ``latents``."""
    import torch

    with torch.no_grad():
        drawn = vae.decode(latents.to(vae.dtype)).sample.float()
    return float((drawn.clamp(-1, 1) - pixels.float()).abs().mean())
