"""The diffusion engine: one ``ImageRequest`` in, one artifact per image out.

A job loads (or reuses) the model through the shared model manager, merges
the LoRAs asked for, sets the scheduler and the memory options, encodes the
weighted prompt once, then runs ``batch_count`` pipeline calls of
``batch_size`` images (image k seeded ``seed + k``, each with its own
generator so it can be made again alone), with an optional hires-fix pass.
Every step reports progress, checks cancel (a cancel raises out of the
pipeline within one step, and nothing is returned) and offers a preview.

Each image becomes a PNG whose recipe carries the A1111 ``parameters`` text,
the model, sampler and LoRAs; the first is the job's artifact and the rest
ride along in ``Artifact.extra``."""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from studio import __version__
from studio.core.images import encode_png
from studio.core.jobs import Artifact, CancelToken, PreviewPacer, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines import context
from studio.engines.image.parameters import format_parameters
from studio.engines.image.prompts import extract_loras, merge_loras
from studio.engines.image.requests import ImageRequest

log = logging.getLogger(__name__)

_OOM_WORDS = ("out of memory", "can't allocate memory", "not enough memory", "cannot allocate memory")


@dataclass
class _Progress:
    """Steps across every pipeline call of a job, and the previews they make."""

    report: Reporter
    cancel: CancelToken
    total: int
    done: int = 0
    label: str = ""
    previewer: Any = None
    phase_steps: int = 0
    tap: Any = None  # the scheduler's denoised estimate, previewed instead of the noisy latents
    pacer: PreviewPacer | None = None  # set from the reporter: previews no faster than they are shown

    def __post_init__(self) -> None:
        if self.pacer is None:
            self.pacer = PreviewPacer(self.report)

    def callback(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        self.cancel.raise_if_cancelled()
        self.done += 1
        self.report.progress(min(self.done, self.total), self.total, self.label)
        last = step + 1 >= self.phase_steps
        if self.previewer is None or not self.pacer.due(last):
            if self.tap is not None:
                self.tap.discard()
            return tensors
        latents = tensors.get("latents")
        estimate = self.tap.take() if self.tap is not None else None
        if estimate is not None and latents is not None and estimate.shape == latents.shape and not last:
            latents = estimate  # the last step shows the latents themselves: what will be decoded
        if latents is not None:
            image = self.previewer.image(latents, step + 1, last=last)
            if image is not None:
                self.report.preview(image)
        return tensors


def _effective_steps(steps: int, strength: float) -> int:
    """How many steps an image-to-image call really runs (diffusers skips the first ones)."""
    return min(int(steps * strength), steps)


def load_for(card: ModelCard) -> Any:
    from studio.engines.image.pipelines import load_pipeline

    info = context.device()
    return load_pipeline(card, info.name, info.dtype)


def loaded_pipeline(card: ModelCard) -> Any:
    """The card's pipeline from the shared model manager."""
    from studio.engines.image.pipelines import is_pipeline

    manager = context.model_manager()
    pipe = manager.get(card.id, load_for)
    if not is_pipeline(pipe):  # loaded elsewhere as something else (a checkpoint's bare tensors)
        manager.unload(card.id)
        pipe = manager.get(card.id, load_for)
    return pipe


def _lora_files(loras: list[tuple[str, float]]) -> list[tuple[str, float, Path]]:
    manager = context.model_manager()
    available = [c for c in manager.cards("image") if c.format == "lora"]
    resolved = []
    for name, weight in loras:
        if weight == 0.0:  # switched off: nothing to find or merge
            continue
        wanted = name.lower()
        card = next((c for c in available if wanted in (c.name.lower(), c.id.lower(), Path(c.path).stem.lower())),
                    None)
        if card is None:
            raise StudioError(f"LoRA {name!r} was not found: put it in a LoRA folder (models/Lora) "
                              "and refresh the Models panel")
        resolved.append((card.name, weight, Path(card.path)))
    return resolved


def _taesd(pipe: Any, state: Any) -> Any:
    """The tiny autoencoder for this model's latents, loaded once per model; None if none is found."""
    if state.taesd is None and not state.taesd_searched:
        from diffusers import AutoencoderTiny

        from studio.engines.image.previews import find_taesd, latent_family

        state.taesd_searched = True
        channels = int(getattr(pipe.vae.config, "latent_channels", 4))
        path = find_taesd(context.model_manager().cards(), latent_family(pipe), channels)
        if path is not None:
            parameter = next(pipe.vae.parameters())
            state.taesd = AutoencoderTiny.from_pretrained(str(path), local_files_only=True).to(
                parameter.device, parameter.dtype).eval()
    return state.taesd


def _make_previewer(base: Any, card: ModelCard, request: ImageRequest, pipe: Any, height: int, width: int) -> Any:
    from studio.engines.image.pipelines import state_of
    from studio.engines.image.previews import Previewer, latent_rgb_for

    if request.preview == "off":
        return None
    state = state_of(base)
    if state.latent_rgb is None:
        try:
            state.latent_rgb = latent_rgb_for(base, Path(card.path) if Path(card.path).is_dir() else None)
        except Exception as exc:  # noqa: BLE001 - a preview must never fail the job
            log.warning("no latent preview factors for %s: %s", card.name, exc)
            state.latent_rgb = {}
    taesd = _taesd(base, state) if request.preview == "taesd" else None
    return Previewer(pipe, request.preview, request.preview_every, height, width, state.latent_rgb, taesd)


def _call(pipe: Any, progress: _Progress, decode: Any = None, **kwargs: Any) -> np.ndarray:
    """Run one pipeline call with only the arguments it takes; float (N, H, W, 3) 0..1.
    ``decode`` (latents -> pixels) replaces the pipeline's own decoder (a tiny autoencoder)."""
    accepted = inspect.signature(pipe.__call__).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in accepted and v is not None}
    if decode is not None:
        return decode(pipe(callback_on_step_end=progress.callback, output_type="latent", **kwargs).images)
    return pipe(callback_on_step_end=progress.callback, output_type="np", **kwargs).images


def _decoder(base: Any, pipe: Any, request: ImageRequest, height: int, width: int) -> Any:
    """The tiny-autoencoder decode a request asks for (None: the model's own VAE)."""
    from studio.engines.image.fewstep import decode_with_taesd
    from studio.engines.image.pipelines import state_of

    if getattr(request, "decoder", "vae") != "taesd":
        return None
    taesd = _taesd(base, state_of(base))
    if taesd is None:
        raise StudioError("this recipe was decoded with a tiny autoencoder (TAESD), and none is installed "
                          "for this model")
    return lambda latents: decode_with_taesd(pipe, taesd, latents, height, width)


def _generators(seeds: list[int]) -> list[Any]:
    import torch

    # CPU generators: the same seed gives the same noise on every device.
    return [torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF) for seed in seeds]


def run(request: ImageRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    request.validate()
    card = context.find_card(request.model_id, "image")
    if card.format == "comfyui":  # a checkpoint on a remote ComfyUI server (Settings > Servers)
        from studio.engines.image.comfy.engine import run as run_on_server

        return run_on_server(card, request, report, cancel)
    if card.format == "gan":
        raise StudioError(f"{card.name} is a GAN: render it in the GAN explorer (studio generate gan)")
    if card.modality not in ("image", ""):
        raise StudioError(f"{card.name} is a {card.modality} model, not an image model")
    cancel.raise_if_cancelled()
    report.progress(0, 1, "loading model")
    pipe = loaded_pipeline(card)
    try:
        return _generate(pipe, card, request, report, cancel)
    except StudioError:
        raise
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, MemoryError) or any(word in str(exc).lower() for word in _OOM_WORDS):
            _release()
            hint = "turn on CPU offload, " if context.device().name == "cuda" else ""
            raise StudioError(f"out of memory at {request.width}x{request.height}: try a smaller size, "
                              f"{hint}fewer images per batch, or unload other models") from exc
        raise


def _release() -> None:
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _generate(base: Any, card: ModelCard, request: ImageRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines.image.embeddings import pipeline_text_inputs
    from studio.engines.image.fewstep import scheduler_for
    from studio.engines.image.images import paste_back, prepare, snap_size, to_uint8
    from studio.engines.image.pipelines import borrowed, for_mode, model_hash, state_of
    from studio.engines.image.previews import DenoisedTap
    from studio.engines.image.schedulers import make_scheduler

    mode = request.mode
    unet = getattr(base, "unet", None)
    if unet is not None and unet.config.in_channels == 9 and mode not in ("inpaint", "outpaint"):
        raise StudioError(f"{card.name} is an inpainting model: use the Inpaint or Outpaint mode")
    prompt, tag_loras = extract_loras(request.prompt)
    loras = merge_loras(tag_loras, request.loras)
    lora_files = _lora_files(loras)

    canvas = None
    width, height = request.width, request.height
    if mode != "txt2img":
        canvas = prepare(mode, request.init_image, request.mask, width, height, request.mask_blur,
                         (request.outpaint_left, request.outpaint_right, request.outpaint_up, request.outpaint_down))
        width, height = canvas.image.size
    strength = 1.0 if mode == "outpaint" else request.strength
    steps_per_call = request.steps if mode == "txt2img" else _effective_steps(request.steps, strength)
    if steps_per_call < 1:
        raise StudioError(f"{request.steps} steps at strength {strength:g} leave no step to run: "
                          "raise the steps or the strength")
    hires_size = snap_size(int(width * request.hires_scale), int(height * request.hires_scale))
    hires_steps = _effective_steps(request.hires_steps or request.steps, request.hires_strength)
    if request.hires_fix and hires_steps < 1:
        raise StudioError("hires fix: steps x strength leave no step to run; raise the hires strength")

    state = state_of(base)
    largest = hires_size if request.hires_fix else (width, height)
    with borrowed(base, context.device().name, lora_files, *largest, request.cpu_offload) as lent:
        pipe = for_mode(base, mode, card.name)
        choice = scheduler_for(request.scheduler, card, state.default_scheduler, tuple(n for n, _w in loras))
        scheduler, sampler = make_scheduler(choice, state.default_scheduler)
        pipe.scheduler = scheduler
        tap = DenoisedTap(scheduler) if request.preview != "off" else None
        text_inputs = pipeline_text_inputs(pipe, prompt, request.negative)
        per_image = steps_per_call + (hires_steps if request.hires_fix else 0)
        progress = _Progress(report, cancel, total=per_image * request.batch_count, phase_steps=steps_per_call,
                             tap=tap)
        images: list[np.ndarray] = []
        started = time.monotonic()
        for batch in range(request.batch_count):
            cancel.raise_if_cancelled()
            seeds = [request.seed + batch * request.batch_size + i for i in range(request.batch_size)]
            progress.label = f"image {len(images) + 1} of {request.image_count}"
            progress.phase_steps = steps_per_call
            progress.previewer = _make_previewer(base, card, request, pipe, height, width)
            common = dict(text_inputs, num_inference_steps=request.steps, guidance_scale=request.cfg,
                          num_images_per_prompt=request.batch_size, generator=_generators(seeds),
                          height=height, width=width)
            decode = _decoder(base, pipe, request, height, width)
            if canvas is None:
                result = _call(pipe, progress, decode, **common)
            else:
                result = _call(pipe, progress, decode, image=canvas.image, mask_image=canvas.mask,
                               strength=strength, **common)
            pixels = [paste_back(image, canvas) if canvas is not None else image for image in to_uint8(result)]
            if request.hires_fix:
                refine = for_mode(base, "img2img", card.name)
                refine.scheduler = scheduler
                pixels = _hires(refine, base, card, request, progress, text_inputs, pixels, hires_size, seeds,
                                hires_steps)
            images.extend(pixels)
        cancel.raise_if_cancelled()
        notes = list(lent.notes)
    report.progress(progress.total, progress.total, "saving")
    log.info("%d image(s) in %.1fs", len(images), time.monotonic() - started)
    return _artifacts(images, request, card, state.family, sampler, loras, notes, model_hash(card))


def _artifacts(images: list[np.ndarray], request: ImageRequest, card: ModelCard, family: str, sampler: str,
               loras: list[tuple[str, float]], notes: list[str], hash_: str) -> Artifact:
    """One PNG artifact per image, the first carrying the rest."""
    common_recipe = {
        "model": {"id": card.id, "name": card.name, "format": card.format, "family": family, "hash": hash_},
        "sampler": sampler,
        "loras": [{"name": name, "weight": weight} for name, weight in loras],
        "memory": notes,
    }
    batch_id = uuid.uuid4().hex[:12]
    artifacts = []
    for index, pixels in enumerate(images):
        seed = request.seed + index
        one = replace(request, seed=seed, batch_count=1, batch_size=1)
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        parameters = format_parameters(one, seed=seed, width=width, height=height, sampler=sampler,
                                       model_name=card.name, model_hash=hash_, loras=list(request.loras),
                                       version=f"Studio {__version__}")
        recipe = {**common_recipe, "parameters": parameters, "seed": seed,
                  "batch": {"id": batch_id, "index": index, "count": len(images)}}
        artifacts.append(Artifact(data=encode_png(np.ascontiguousarray(pixels)), suffix=".png", width=width,
                                  height=height, meta={"recipe": recipe}, request=one))
    first = artifacts[0]
    first.extra = artifacts[1:]
    return first


def _hires(pipe: Any, base: Any, card: ModelCard, request: ImageRequest, progress: _Progress,
           text_inputs: dict[str, Any], pixels: list[np.ndarray], size: tuple[int, int], seeds: list[int],
           steps: int) -> list[np.ndarray]:
    """Upscale (Lanczos) then refine at low strength: detail at a size the model
    would not compose well from noise."""
    from PIL import Image

    from studio.engines.image.images import resize, to_uint8

    upscaled = [resize(Image.fromarray(p), size) for p in pixels]
    progress.phase_steps = steps
    progress.previewer = _make_previewer(base, card, request, pipe, size[1], size[0])
    result = _call(pipe, progress, image=upscaled, strength=request.hires_strength,
                   num_inference_steps=request.hires_steps or request.steps, guidance_scale=request.cfg,
                   num_images_per_prompt=len(upscaled), generator=_generators(seeds),
                   height=size[1], width=size[0], **text_inputs)
    return list(to_uint8(result))
