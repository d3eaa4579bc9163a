"""What a LoRA should not make its model forget: the pictures for prior preservation.

A LoRA trained only on its own few pictures drifts the whole model towards
them (on the starter, twenty hexagons cost it a third of its other shapes).
Prior preservation mixes into every step pictures of what the model already
draws. For the starter model these are renders of the shapes generator it
was trained on (`studio.training.shapes`, from the seeds its denoiser
learned from): exactly its own data, and free to make. For any other model
they are the base model's own drawings of the training captions with the
trigger word taken out (DreamBooth's class pictures), which the trainer
draws once before training (`studio.training.lora.image.prior_cache`).
"""

from __future__ import annotations

from pathlib import Path

from studio.training.lora.dataset import ImageSet, TrainingImage

STARTER_FIRST_SEED = 200_000_000  # the starter's denoiser data (train_starter.Schedule.unet_first_seed)


def starter_prior(count: int, resolution: int = 64) -> ImageSet:
    """``count`` captioned renders of the starter model's own training data, as a training set."""
    import hashlib

    from studio.training.lora.dataset import bucket_for, fit_to_bucket
    from studio.training.shapes import render_sample

    images, digest = [], hashlib.sha256(f"starter-prior {count} {resolution}".encode())
    for seed in range(STARTER_FIRST_SEED, STARTER_FIRST_SEED + count):
        sample = render_sample(seed)
        pixels = sample.image
        if pixels.shape[0] != resolution:
            pixels = fit_to_bucket(pixels, bucket_for(64, 64, resolution))
        images.append(TrainingImage(path=Path(f"shapes-{seed}.png"), caption=sample.caption, pixels=pixels,
                                    original_size=(64, 64)))
    return ImageSet(images=tuple(images), digest=digest.hexdigest())


def class_captions(captions: list[str], trigger: str) -> list[str]:
    """The training captions without the trigger word: what the base model should go on drawing."""
    if not trigger:
        return []
    out = []
    for caption in captions:
        text = " ".join(caption.replace(trigger, " ").split())
        if text and text not in out:
            out.append(text)
    return out
