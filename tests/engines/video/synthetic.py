"""Small synthetic clips with known motion and known flicker, for the video tests and benchmark."""

from __future__ import annotations

import numpy as np


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (blurred noise): good for optical flow to lock on."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3)).astype(np.float32) * 255
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    # Stretch the contrast back up: blurring flattens it toward the mean.
    smooth = (smooth - smooth.mean()) * 3.0 + 128
    return np.clip(smooth, 0, 255).astype(np.uint8)


def moving_square(size: int = 96, square: int = 20, start: tuple[int, int] = (20, 30),
                  velocity: tuple[int, int] = (10, 4), frames: int = 2, colour=(230, 60, 40)) -> list[np.ndarray]:
    """A coloured square moving over a plain grey background."""
    out = []
    for index in range(frames):
        frame = np.full((size, size, 3), 90, dtype=np.uint8)
        x = start[0] + velocity[0] * index
        y = start[1] + velocity[1] * index
        frame[y:y + square, x:x + square] = colour
        out.append(frame)
    return out


def translating_pattern(size: int = 96, frames: int = 8, velocity: tuple[int, int] = (2, 1),
                        seed: int = 3) -> list[np.ndarray]:
    """A textured picture panning by ``velocity`` pixels per frame (content enters at one edge)."""
    margin = (frames + 1) * max(abs(v) for v in velocity) + 4
    big = texture(size + 2 * margin, size + 2 * margin, seed)
    out = []
    for index in range(frames):
        # The camera moves left/up, so the content moves right/down by velocity.
        x = margin - velocity[0] * index
        y = margin - velocity[1] * index
        out.append(np.ascontiguousarray(big[y:y + size, x:x + size]))
    return out


def flickering(size: int = 96, frames: int = 24, amount: float = 0.18, seed: int = 5,
               velocity: tuple[int, int] = (1, 0)) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A slowly panning texture with random per-frame brightness and colour
    gains (generated-footage flicker); returns (flickering, clean)."""
    clean = translating_pattern(size, frames, velocity, seed)
    rng = np.random.default_rng(seed + 1)
    noisy = []
    for frame in clean:
        gain = 1.0 + rng.uniform(-amount, amount) + rng.uniform(-amount / 3, amount / 3, size=3)
        noisy.append(np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return noisy, clean


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def reddish(frame: np.ndarray) -> np.ndarray:
    """Pixels whose red channel clearly dominates (the colour edit of the propagation test)."""
    pixels = frame.astype(np.int32)
    return (pixels[..., 0] - np.maximum(pixels[..., 1], pixels[..., 2])) > 60
