"""Loading diffusion pipelines offline, and lending a loaded one to a job.

A card is a diffusers folder (``model_index.json``: the user's folders, the
Hugging Face cache, the bundled starter model) or a single .safetensors
checkpoint (``single_file``). Whatever diffusers' AutoPipeline resolves for
the folder is used, so SD 1.x/2.x, SDXL, SD3 and Flux all load here.

The model manager holds the plain pipeline, which other engines (keyframe
video) share. What the image engine keeps beside it (mode variants built
with ``from_pipe`` on the same weights, the default scheduler, preview
factors, the tiny autoencoder) hangs on the pipeline as ``ModelState``. A
job borrows the pipeline (``borrowed``): LoRAs merged, scheduler and memory
options set, and everything put back as it was when the job ends, cancelled
or not, so the next job (of any engine) finds the model untouched."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.core.paths import studio_paths
from studio.engines.image.lora import LoraState, apply_loras, restore
from studio.engines.loaders import dtype_keyword

log = logging.getLogger(__name__)

# From this many pixels on, the decoder works tile by tile and attention in slices,
# trading a little speed for memory that stays flat as the size grows.
LARGE_IMAGE_PIXELS = 1024 * 1024 + 1
_STATE = "_studio_image"


@dataclass
class ModelState:
    family: str  # sd15, sdxl, flux ... (single files) or the pipeline class
    default_scheduler: dict[str, Any]
    variants: dict[str, Any] = field(default_factory=dict)
    latent_rgb: dict[str, Any] | None = None
    taesd: Any = None
    taesd_searched: bool = False
    loras: LoraState = field(default_factory=LoraState)  # what is merged into the weights now


def state_of(pipe: Any, family: str = "") -> ModelState:
    """The engine's notes on a loaded pipeline (made on first use, whoever loaded it)."""
    state = pipe.__dict__.get(_STATE)
    if state is None:
        state = ModelState(family or type(pipe).__name__, dict(pipe.scheduler.config))
        pipe.__dict__[_STATE] = state  # plain attribute: not a pipeline component or config entry
    return state


def for_mode(pipe: Any, mode: str, name: str = "") -> Any:
    """The pipeline for ``mode``, sharing ``pipe``'s components."""
    state = state_of(pipe)
    if mode not in state.variants:
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

        auto = {"txt2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image,
                "inpaint": AutoPipelineForInpainting, "outpaint": AutoPipelineForInpainting}[mode]
        try:
            variant = pipe if mode == "txt2img" and _is_text2image(pipe) else auto.from_pipe(pipe)
        except (ValueError, KeyError) as exc:
            raise StudioError(f"{name or type(pipe).__name__} has no {mode} pipeline: {exc}") from exc
        variant.set_progress_bar_config(disable=True)
        state.variants[mode] = variant
    return state.variants[mode]


def _is_text2image(pipe: Any) -> bool:
    name = type(pipe).__name__
    return not any(word in name for word in ("Img2Img", "Inpaint"))


def quiet_libraries() -> None:
    """No progress bars from diffusers/transformers on the worker's stderr."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()


def load_pipeline(card: ModelCard, device: str, dtype_name: str) -> Any:
    """Load ``card`` from disk only (never from a hub)."""
    import torch

    quiet_libraries()
    dtype = getattr(torch, dtype_name)
    path = Path(card.path)
    if not path.exists():
        raise StudioError(f"{card.name}: {path} is gone; refresh the Models panel")
    if card.format == "diffusers" or (path.is_dir() and (path / "model_index.json").exists()):
        pipe, family = _load_folder(path, dtype), ""
    elif card.format in ("safetensors", "checkpoint") and path.suffix.lower() == ".safetensors":
        from studio.engines.image.single_file import load_single_file

        pipe, family = load_single_file(path, dtype, str(card.extra.get("config", "")))
    elif card.format == "lora":
        raise StudioError(f"{card.name} is a LoRA: pick it in the LoRA list, with a base model chosen above")
    else:
        raise StudioError(f"{card.name} is not a diffusion model Studio can load ({card.format})")
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to(device)
    state_of(pipe, family)
    return pipe


def is_pipeline(model: Any) -> bool:
    return hasattr(model, "components") and hasattr(model, "scheduler") and callable(model)


def _load_folder(folder: Path, dtype: Any) -> Any:
    from diffusers import AutoPipelineForText2Image, DiffusionPipeline

    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    options: dict[str, Any] = {"local_files_only": True, dtype_keyword(): dtype}
    if "safety_checker" in index:
        options.update(safety_checker=None, requires_safety_checker=False)
    # Components a folder leaves out on purpose ([null, null]: SD3 without its large T5 encoder)
    # must be passed as None, or diffusers refuses the folder.
    for name, spec in index.items():
        if not name.startswith("_") and isinstance(spec, list) and spec[:1] == [None]:
            options.setdefault(name, None)
    try:
        return AutoPipelineForText2Image.from_pretrained(str(folder), **options)
    except ValueError:
        # A pipeline AutoPipeline has no text-to-image entry for (an inpainting-only model ...).
        return DiffusionPipeline.from_pretrained(str(folder), **options)


@dataclass
class Borrowed:
    """What a job set on the pipeline, for its recipe."""

    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def borrowed(pipe: Any, device: str, loras: list[tuple[str, float, Path]], width: int, height: int,
             cpu_offload: bool, keep_loras: bool = False) -> Iterator[Borrowed]:
    """Lend ``pipe`` to one job with these LoRAs merged and these memory options,
    and put everything back afterwards. Schedulers are set per variant by the job
    and restored here too (every variant's scheduler is remembered).

    ``keep_loras`` leaves the LoRAs merged afterwards: live frames come many
    a second with the same LoRAs, and merging them is several times the cost
    of a few-step frame. The pipeline's one ``LoraState`` records what is
    merged, so the next borrower with other LoRAs (or none) restores it first."""
    state = state_of(pipe)
    schedulers = {id(v): (v, v.scheduler) for v in [pipe, *state.variants.values()]}
    lora_state = state.loras
    vae = getattr(pipe, "vae", None)
    large = width * height >= LARGE_IMAGE_PIXELS
    offload = cpu_offload and device == "cuda"
    lent = Borrowed()
    try:
        apply_loras(pipe, lora_state, loras)
        if large:
            if hasattr(pipe, "enable_attention_slicing"):
                pipe.enable_attention_slicing()
            if vae is not None and hasattr(vae, "enable_tiling"):
                vae.enable_tiling()
            lent.notes += ["attention slicing", "VAE tiling"]
        if offload:
            pipe.enable_model_cpu_offload()
            state.variants.clear()  # variants are rebuilt around the offloaded placement
            lent.notes.append("CPU offload")
        yield lent
    finally:
        if not keep_loras:
            restore(lora_state)
        for variant, scheduler in schedulers.values():
            variant.scheduler = scheduler
        for variant in state.variants.values():
            if id(variant) not in schedulers:
                variant.scheduler = pipe.scheduler
        if large:
            if hasattr(pipe, "disable_attention_slicing"):
                pipe.disable_attention_slicing()
            if vae is not None and hasattr(vae, "disable_tiling"):
                vae.disable_tiling()
        if offload:
            pipe.remove_all_hooks()
            pipe.to(device)
            state.variants.clear()


def model_hash(card: ModelCard) -> str:
    """A1111's short model hash (first 10 hex digits of the file's SHA-256), cached per file;
    empty for folders, which A1111 does not hash."""
    path = Path(card.path)
    if not path.is_file():
        return ""
    stat = path.stat()
    cache = studio_paths().cache / "model-hashes.json"
    key = f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"
    try:
        known = json.loads(cache.read_text(encoding="utf-8")) if cache.exists() else {}
    except (OSError, ValueError):
        known = {}
    if key not in known:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        known[key] = digest.hexdigest()[:10]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known), encoding="utf-8")
    return known[key]
