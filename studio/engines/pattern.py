"""A procedural image engine with no model: it "denoises" seeded noise into
a seeded pattern of soft discs over a gradient, one step at a time.

It exercises the whole job path (progress, previews, cancel, errors, the
library) the way a diffusion engine does, and optionally sleeps per step so
tests and benchmarks can watch a job in flight."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from studio.core.jobs import Artifact, CancelToken, Reporter, Request, StudioError

if TYPE_CHECKING:  # numpy is imported when a job runs: this module is also the light request module
    import numpy as np

MAX_SIDE = 4096


@dataclass(frozen=True)
class PatternRequest(Request):
    kind = "pattern"
    modality = "image"
    prompt: str = ""
    steps: int = 20
    width: int = 256
    height: int = 256
    step_delay_s: float = 0.0

    HELP: ClassVar[dict[str, str]] = {
        "prompt": "any text: it labels the image and varies the pattern",
        "steps": "steps from noise to the pattern (1-1000)",
        "width": "image width in pixels, a multiple of 8",
        "height": "image height in pixels, a multiple of 8",
        "step_delay_s": "seconds to sleep each step (to watch a job in flight)",
        "model_id": "unused: the pattern engine needs no model",
    }

    def validate(self) -> None:
        if not self.prompt.strip():
            raise StudioError("the prompt is empty")
        if not 1 <= self.steps <= 1000:
            raise StudioError(f"steps must be between 1 and 1000, not {self.steps}")
        for name, side in (("width", self.width), ("height", self.height)):
            if side % 8 or not 8 <= side <= MAX_SIDE:
                raise StudioError(f"{name} must be a multiple of 8 between 8 and {MAX_SIDE}, not {side}")


def target_image(request: PatternRequest) -> np.ndarray:
    """The finished picture for this request: a float HxWx3 array in 0..1."""
    import numpy as np

    rng = np.random.default_rng([request.seed, len(request.prompt)])
    h, w = request.height, request.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top, bottom = rng.random(3), rng.random(3)
    t = (yy / max(h - 1, 1))[..., None]
    image = top * (1 - t) + bottom * t
    for _ in range(int(rng.integers(3, 8))):
        cx, cy, radius = rng.random() * w, rng.random() * h, (0.08 + 0.2 * rng.random()) * min(w, h)
        weight = np.clip(1.2 - np.hypot(xx - cx, yy - cy) / radius, 0, 1)[..., None]
        image = image * (1 - weight) + rng.random(3) * weight
    return image.astype(np.float32)


def run(request: PatternRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    import numpy as np

    from studio.core.images import encode_png

    request.validate()
    target = target_image(request)
    noise = np.random.default_rng(request.seed).random(target.shape, dtype=np.float32)
    image = noise
    for step in range(1, request.steps + 1):
        cancel.raise_if_cancelled()
        if request.step_delay_s:
            time.sleep(request.step_delay_s)
        mix = step / request.steps
        image = noise * (1 - mix) + target * mix
        report.progress(step, request.steps)
        report.preview((image * 255).astype(np.uint8))
    pixels = (image * 255 + 0.5).astype(np.uint8)
    return Artifact(data=encode_png(pixels), suffix=".png", width=request.width, height=request.height)
