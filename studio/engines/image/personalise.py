"""The ``lora`` job: train an image LoRA on the person's pictures and save it as a model.

It checks the pictures and captions first (one line for each problem, before
any model loads), loads its own copy of the base model (the shared one stays
untouched for other jobs), trains (``studio.training.lora.image``) with the
loss curve, time left and a fixed-prompt sample on the canvas, and writes
the LoRA into the models folder's ``Lora`` folder in kohya's layout, with a
card saying what it was trained on. Cancel keeps the last checkpoint; the
same request submitted again resumes from it. The job's library item is the
last sample, its recipe the training settings and the LoRA it made.
"""

from __future__ import annotations

import errno
import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from studio.core.images import encode_png
from studio.core.jobs import Artifact, Cancelled, CancelToken, Reporter, StudioError
from studio.core.paths import studio_paths
from studio.engines import context
from studio.engines.image.personalise_requests import LoraTrainRequest

TRAINABLE_FORMATS = ("diffusers", "safetensors", "checkpoint")


def config_for(request: LoraTrainRequest, native: int) -> Any:
    from studio.training.lora.image import defaults_for

    base = defaults_for(native)
    changes: dict[str, Any] = {"seed": int(request.seed), "train_text_encoder": bool(request.train_text_encoder),
                               "sample_prompt": request.prompt.strip()}
    for field in ("rank", "learning_rate", "steps", "resolution", "batch", "sample_every"):
        value = getattr(request, field)
        if value:
            changes[field] = value
    if not request.prior_preservation:
        changes["prior_weight"] = 0.0
    elif request.prior_weight:
        changes["prior_weight"] = float(request.prior_weight)
    config = replace(base, **changes)
    if request.sample_every:
        config = replace(config, checkpoint_every=max(1, min(config.checkpoint_every, request.sample_every)))
    return config


def _base_card(request: LoraTrainRequest) -> Any:
    card = context.model_manager().card(request.model_id)
    if card.modality != "image" or card.format not in TRAINABLE_FORMATS:
        raise StudioError(f"{card.name} is not a Stable Diffusion model ({card.modality or 'unknown'} "
                          f"{card.format}): choose an image model as the base")
    if card.error:
        raise StudioError(f"{card.name}: {card.error}")
    return card


def _native_size(card: Any) -> int:
    size = card.extra.get("native_size")
    return int(size[0]) if isinstance(size, (list, tuple)) and size else 512


def run_folder(card: Any, digest: str, config: Any, name: str) -> Path:
    settings = {k: v for k, v in asdict(config).items() if k not in ("sample_every", "sample_prompt", "sample_steps")}
    key = json.dumps([card.id, str(card.path), digest, settings, name], sort_keys=True)
    return studio_paths().cache / "lora-runs" / hashlib.sha1(key.encode()).hexdigest()[:16]


def _reporter(report: Reporter, losses_ref: list[float]):
    from studio.training.lora.progress import format_eta, training_view

    def on_step(step: int, total: int, loss: float, eta: float) -> None:
        report.progress(step, total, f"loss {loss:.4f} · {format_eta(eta)} left")

    def on_sample(step: int, image: Any, losses: list[float]) -> None:
        losses_ref[:] = losses
        report.preview(training_view(image, losses, f"step {step}  loss {losses[-1]:.4f}"))

    return on_step, on_sample


def save_lora(pipe: Any, request: LoraTrainRequest, card: Any, config: Any, images: Any, steps: int) -> Path:
    from studio.training.lora.kohya import kohya_state, lora_path, safe_name, write_lora

    name = safe_name(request.name)
    path = lora_path(studio_paths().models_dir, name)
    tensors = kohya_state(pipe.unet, pipe.text_encoder if config.train_text_encoder else None)
    trained_on = {"base_model": card.id, "base_model_name": card.name, "trigger_word": request.trigger,
                  "steps": steps, "rank": config.rank, "alpha": config.alpha or config.rank,
                  "learning_rate": config.learning_rate, "resolution": config.resolution, "batch": config.batch,
                  "text_encoder": config.train_text_encoder, "seed": config.seed,
                  "prior_weight": config.prior_weight,
                  "dataset_size": len(images), "dataset_hash": images.digest}
    metadata = {"ss_network_module": "networks.lora", "ss_network_dim": str(config.rank),
                "ss_network_alpha": str(config.alpha or config.rank), "ss_sd_model_name": card.name,
                "ss_base_model_version": "sd_v1" if _native_size(card) < 768 else "sd_v2",
                "ss_steps": str(steps), "ss_num_train_images": str(len(images)),
                "ss_resolution": f"({config.resolution},{config.resolution})", "ss_output_name": name,
                "ss_learning_rate": str(config.learning_rate), "ss_seed": str(config.seed),
                "studio_trained_on": trained_on}
    description = (f"LoRA trained by Studio on {len(images)} pictures for {card.name}"
                   + (f"; trigger word '{request.trigger}'" if request.trigger else ""))
    model_card = {"name": name, "modality": "image", "format": "lora", "source": "trained by Studio",
                  "description": description, "architecture": f"LoRA rank {config.rank} for {card.name}",
                  "trained_on": trained_on, "recipe": request.to_dict()}
    try:
        return write_lora(path, tensors, metadata, model_card)
    except OSError as exc:
        raise _disk_error(exc) from exc


def _disk_error(exc: OSError) -> StudioError:
    if exc.errno == errno.ENOSPC:
        return StudioError("the disk is full: free some space and run the job again (it resumes)")
    return StudioError(f"could not write the training files: {exc.strerror or exc}")


def _prior(card: Any, request: LoraTrainRequest, images: Any, config: Any) -> dict[str, Any]:
    """Prior preservation's pictures: the starter's own training renders, else captions to draw."""
    from studio.training.lora.prior import class_captions, starter_prior
    from studio.training.starter import STARTER_MODEL_ID

    if config.prior_weight <= 0:
        return {}
    if card.id == STARTER_MODEL_ID:
        return {"prior_images": starter_prior(config.prior_count, config.resolution)}
    return {"prior_captions": class_captions([image.caption for image in images.images], request.trigger)}


def _train(pipe: Any, request: LoraTrainRequest, images: Any, config: Any, folder: Path, device: str,
           report: Reporter, cancel: CancelToken, prior: dict[str, Any]) -> Any:
    import torch

    from studio.training.lora.image import train_image_lora

    losses: list[float] = []
    on_step, on_sample = _reporter(report, losses)
    try:
        return train_image_lora(pipe, images, config, folder, device, on_step=on_step, on_sample=on_sample,
                                should_stop=lambda: cancel.cancelled, **prior)
    except torch.cuda.OutOfMemoryError:
        raise StudioError(f"out of GPU memory at {config.resolution} px, batch {config.batch}, rank {config.rank}: "
                          "lower the resolution or batch, or unload other models") from None
    except MemoryError:
        raise StudioError("out of memory: lower the resolution or batch, or close other programs") from None
    except OSError as exc:
        raise _disk_error(exc) from exc


def run(request: LoraTrainRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines.image.pipelines import load_pipeline
    from studio.training.lora import resume
    from studio.training.lora.dataset import load_image_set

    request.validate()
    card = _base_card(request)
    config = config_for(request, _native_size(card))
    images = load_image_set(request.image_paths(), captions=request.captions, template=request.caption_template,
                            trigger=request.trigger, resolution=config.resolution)
    report.progress(0, config.steps, "loading the base model")
    device = context.device()
    pipe = load_pipeline(card, device.name, "float16" if device.name == "cuda" else "float32")
    folder = run_folder(card, images.digest, config, request.name)
    result = _train(pipe, request, images, config, folder, device.name, report, cancel,
                    _prior(card, request, images, config))
    if result.stopped:
        raise Cancelled()  # the checkpoint stays: the same job again resumes from it
    cancel.raise_if_cancelled()
    path = save_lora(pipe, request, card, config, images, result.steps)
    resume.clear(folder / "checkpoint")
    context.model_manager().refresh()
    return _artifact(request, path, result, card)


def _artifact(request: LoraTrainRequest, path: Path, result: Any, card: Any) -> Artifact:
    import numpy as np

    from studio.training.lora.progress import format_eta, training_view

    last = result.losses[-1] if result.losses else float("nan")
    view = training_view(result.last_sample, result.losses,
                         f"{path.stem}: {result.steps} steps, loss {last:.4f}, {format_eta(result.seconds)}")
    recipe = {"lora": {"name": path.stem, "path": str(path), "size_bytes": path.stat().st_size,
                       "base_model": card.id, "steps": result.steps, "resumed_from": result.resumed_from,
                       "train_seconds": round(result.seconds, 1), "final_loss": last,
                       "use": f"<lora:{path.stem}:1>"}}
    return Artifact(data=encode_png(np.ascontiguousarray(view)), suffix=".png", width=view.shape[1],
                    height=view.shape[0], meta={"recipe": recipe})
