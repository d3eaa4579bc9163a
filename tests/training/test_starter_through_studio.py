"""The starter model as a user meets it: discovered by the model manager as a
bundled card and generated from through the image engine, offline."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from studio.core.jobs import CancelToken, NullReporter
from studio.engines import context
from studio.engines.image import engine
from studio.engines.image.requests import ImageRequest


def test_bundled_starter_is_discovered_and_generates_through_the_engine(services):
    card = context.model_manager().card("starter-shapes")
    assert card.format == "diffusers" and card.modality == "image" and card.usable
    assert card.licence == "Apache-2.0" and card.source == "trained by Studio"
    request = ImageRequest(prompt="a large red circle on a blue background", steps=4, width=64, height=64,
                           seed=3, model_id="starter-shapes")
    artifact = engine.run(request, NullReporter(), CancelToken())
    picture = np.asarray(Image.open(io.BytesIO(artifact.data)).convert("RGB")).astype(int)
    assert picture.shape == (64, 64, 3)
    border = np.concatenate([picture[0], picture[-1], picture[:, 0], picture[:, -1]])
    assert border[:, 2].mean() > border[:, 0].mean() + 40, "the background should come out blue"
