"""What a decoder can draw: a latent refined through the frozen decoder towards a picture.

A LoRA leaves the autoencoder alone, so what the decoder can draw bounds
what any LoRA can make. Encoding and decoding a picture measures less than
that: the starter's small encoder, which never saw a hexagon, rounds small
ones into discs (21% of small held-out hexagons are still hexagons after
the round trip). Twenty-five gradient steps on the latent itself, through
the frozen decoder, towards the picture bring 58% back: the decoder can
draw them. `refine_latents` takes those steps, starting from the encoder's
latent and held near it.

The loss is L1 + L2 on the pixels plus an L1 on their horizontal and
vertical differences (the starter autoencoder's own edge term), so edges
and corners count, not only areas of colour.
"""

from __future__ import annotations

from typing import Any

EDGE_WEIGHT = 0.5
ANCHOR_WEIGHT = 0.01  # pull towards the encoder's latent, per unit of squared distance


def refine_latents(vae: Any, pixels: Any, latents: Any, steps: int, learning_rate: float = 0.05) -> Any:
    """``latents`` (unscaled, as the encoder gives them) moved by ``steps`` Adam steps so that the
    decoder's drawing of them comes closer to ``pixels`` (in -1..1); the decoder is left unchanged."""
    import torch

    from studio.training.train_starter import edge_loss

    if steps <= 0:
        return latents
    start = latents.detach().float()
    target = pixels.detach().float()
    latent = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=learning_rate)
    with torch.enable_grad():
        for _ in range(steps):
            drawn = vae.decode(latent.to(vae.dtype)).sample.float()
            error = drawn - target
            loss = (error.abs() + error.square()).mean() + EDGE_WEIGHT * edge_loss(drawn, target)
            loss = loss + ANCHOR_WEIGHT * (latent - start).square().mean()
            # Gradients for the latent alone: the decoder's weights get none and stay as they are.
            (latent.grad,) = torch.autograd.grad(loss, [latent])
            optimizer.step()
    return latent.detach()


def round_trip_error(vae: Any, pixels: Any, latents: Any) -> float:
    """Mean absolute pixel error (in -1..1) of the decoder's drawing of ``latents``."""
    import torch

    with torch.no_grad():
        drawn = vae.decode(latents.to(vae.dtype)).sample.float()
    return float((drawn.clamp(-1, 1) - pixels.float()).abs().mean())
