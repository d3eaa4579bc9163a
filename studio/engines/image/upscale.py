"""Plain upscaling: an image enlarged 2x or 4x with Lanczos resampling and an
unsharp mask, no model. The result is a new library image whose recipe
names its source."""

from __future__ import annotations

import numpy as np

from studio.core.images import encode_png
from studio.core.jobs import Artifact, CancelToken, Reporter
from studio.engines.image.images import read_rgb, upscale
from studio.engines.image.requests import UpscaleRequest


def run(request: UpscaleRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    request.validate()
    report.progress(0, 2, "reading")
    source = read_rgb(request.init_image)
    cancel.raise_if_cancelled()
    report.progress(1, 2, f"upscaling {request.factor}x")
    big = upscale(source, request.factor, request.sharpen)
    cancel.raise_if_cancelled()
    report.progress(2, 2, "saving")
    pixels = np.asarray(big)
    recipe = {"source": {"path": request.init_image, "width": source.width, "height": source.height},
              "upscaler": f"Lanczos {request.factor}x, unsharp mask {request.sharpen:g}"}
    return Artifact(data=encode_png(pixels), suffix=".png", width=big.width, height=big.height,
                    meta={"recipe": recipe})
