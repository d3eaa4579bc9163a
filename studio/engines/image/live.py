"""Live frames: one diffusion picture made as fast as the model allows, from
the form's state and the painted layer, for a canvas that follows the
person's hand and words.

A live frame is not a job: nothing is queued or stored, and the caller
(the GUI's latest-wins live slot) cancels it at its next step when the
state changes. It runs the same pipeline call as ``engine.run`` (same
scheduler, prompt encoding, seeded CPU generator, LoRAs, image-to-image
preparation), so the request a kept frame carries makes that very frame
again. What is saved per frame: the prompt encoding is cached for the last
few (prompt, negative, LoRAs) states, and the painted layer is passed in
memory instead of through a file.

``LIVE_STEPS`` / ``live_settings`` say how a model is sampled live: a
few-step model (LCM, Turbo: ``fewstep``) with its own settings; a model
whose card names a ``live_lora`` (an LCM-LoRA distilled for it, as the
starter's ``starter-shapes-lcm``) with that LoRA merged and LCM sampling,
when the LoRA is installed; any other model with the fastest step count
that still follows the prompt on the starter model (measured with the shape
detector: see ``benchmarks/live.py``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from studio.core.jobs import CancelToken, NullReporter, Reporter, StudioError
from studio.engines import context
from studio.engines.image.requests import ImageRequest

# The starter model's live settings, chosen from its adherence at each step
# count (benchmarks/live.py prints the table), with the model's own sampler.
LIVE_STEPS = 8
LIVE_SCHEDULER = "Default"  # the model's own (the starter's: DPM++ 2M)
TEXT_CACHE_SIZE = 8
# At this size and below a frame runs on one intra-op thread: its layers are too
# small to split, and a second thread waiting on a core the GUI thread (or any
# other program) is using made a 2-step starter frame 3 to 20 times slower.
ONE_THREAD_PIXELS = 128 * 128

_text_cache: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class LiveFrame:
    """A finished live frame and the request that makes it again (its init
    image, if any, is the caller's to write: ``init_image`` is empty here)."""

    pixels: np.ndarray  # uint8 (H, W, 3)
    request: ImageRequest
    sampler: str
    seconds: float
    steps_run: int


def live_settings(card: Any, scheduler_config: dict[str, Any] | None = None,
                  lora_names: tuple[str, ...] = (), installed_loras: tuple[str, ...] = ()) -> dict[str, Any]:
    """Request fields for live sampling with this model (steps, cfg, scheduler,
    and ``loras`` to add: the card's own ``live_lora`` when it is among
    ``installed_loras``)."""
    from studio.engines.image.fewstep import LCM, detect

    found = detect(scheduler_config=scheduler_config, card=card, lora_names=lora_names)
    if found.fast:
        return {"steps": found.steps, "cfg": found.cfg, "scheduler": found.scheduler}
    live_lora = live_lora_of(card)
    if live_lora and live_lora.lower() in {name.lower() for name in installed_loras}:
        steps = (getattr(card, "extra", None) or {}).get("live_steps", LCM.steps)
        return {"steps": steps, "cfg": LCM.cfg, "scheduler": LCM.scheduler, "loras": ((live_lora, 1.0),)}
    return {"steps": LIVE_STEPS, "scheduler": LIVE_SCHEDULER}


def steps_for_strength(steps: int, strength: float) -> int:
    """The request's step count at which image to image at ``strength`` runs
    ``steps`` steps (diffusers runs int(steps x strength) of them): the live
    step count is what a frame runs, with a painted layer too."""
    if strength <= 0:
        return steps
    total = max(steps, int(steps / strength))
    while int(total * strength) < steps and total < 1000:
        total += 1
    return total


def live_lora_of(card: Any) -> str:
    """The LCM-LoRA a model's card names for its live frames ("" for none)."""
    value = (getattr(card, "extra", None) or {}).get("live_lora", "")
    return value if isinstance(value, str) else ""


def with_loras(loras: tuple[tuple[str, float], ...], added: tuple[tuple[str, float], ...]) -> tuple:
    """``loras`` plus ``added`` (a LoRA already in ``loras`` keeps its weight there)."""
    names = {name.lower() for name, _weight in loras}
    return tuple(loras) + tuple((name, weight) for name, weight in added if name.lower() not in names)


def live_request(request: ImageRequest, has_layer: bool) -> ImageRequest:
    """The one-image, no-extras form of ``request`` that a live frame renders."""
    return replace(request, batch_count=1, batch_size=1, hires_fix=False, preview="off", cpu_offload=False,
                   mode="img2img" if has_layer else "txt2img", init_image="", mask="")


def _text_inputs(pipe: Any, prompt: str, negative: str, lora_key: tuple) -> dict[str, Any]:
    from studio.engines.image.embeddings import pipeline_text_inputs

    key = (id(pipe.text_encoder) if hasattr(pipe, "text_encoder") else id(pipe), prompt, negative, lora_key)
    with _cache_lock:
        if key in _text_cache:
            _text_cache.move_to_end(key)
            return _text_cache[key]
    inputs = pipeline_text_inputs(pipe, prompt, negative)
    with _cache_lock:
        _text_cache[key] = inputs
        while len(_text_cache) > TEXT_CACHE_SIZE:
            _text_cache.popitem(last=False)
    return inputs


def taesd_available(request: ImageRequest) -> bool:
    """Whether a tiny autoencoder fits the request's model (live frames then decode with it)."""
    from studio.engines.image.engine import _taesd, loaded_pipeline
    from studio.engines.image.pipelines import state_of

    base = loaded_pipeline(context.find_card(request.model_id, "image"))
    return _taesd(base, state_of(base)) is not None


def render(request: ImageRequest, layer: np.ndarray | None, cancel: CancelToken,
           report: Reporter | None = None, prefer_taesd: bool = True) -> LiveFrame:
    """One live frame of ``request`` (text to image, or image to image from the
    RGB ``layer``); raises ``Cancelled`` at the next step after ``cancel``."""
    from PIL import Image

    from studio.engines.image import engine
    from studio.engines.image.fewstep import scheduler_for
    from studio.engines.image.images import resize, to_uint8
    from studio.engines.image.pipelines import borrowed, for_mode, state_of
    from studio.engines.image.prompts import extract_loras, merge_loras
    from studio.engines.image.schedulers import make_scheduler

    started = time.perf_counter()
    request = live_request(request, layer is not None)
    card = context.find_card(request.model_id, "image")
    if card.format not in ("diffusers", "safetensors", "checkpoint"):
        raise StudioError(f"{card.name} cannot draw live frames (a {card.format} model)")
    base = engine.loaded_pipeline(card)
    state = state_of(base)
    if prefer_taesd and engine._taesd(base, state) is not None:
        request = replace(request, decoder="taesd")
    _validate(request)
    prompt, tag_loras = extract_loras(request.prompt)
    loras = merge_loras(tag_loras, request.loras)
    lora_files = engine._lora_files(loras)
    width, height = request.width, request.height
    steps = request.steps if layer is None else engine._effective_steps(request.steps, request.strength)
    if steps < 1:
        raise StudioError("no step to run at this strength: raise the steps or the strength")
    cancel.raise_if_cancelled()
    one_thread = width * height <= ONE_THREAD_PIXELS and context.device().name == "cpu"
    with _intra_op_threads(1 if one_thread else 0), \
            borrowed(base, context.device().name, lora_files, width, height, False, keep_loras=True):
        pipe = for_mode(base, request.mode, card.name)
        choice = scheduler_for(request.scheduler, card, state.default_scheduler, tuple(n for n, _w in loras))
        scheduler, sampler = make_scheduler(choice, state.default_scheduler)
        pipe.scheduler = scheduler
        text_inputs = _text_inputs(pipe, prompt, request.negative, tuple(lora_files))
        progress = engine._Progress(report or NullReporter(), cancel, total=steps, phase_steps=steps)
        common = dict(text_inputs, num_inference_steps=request.steps, guidance_scale=request.cfg,
                      num_images_per_prompt=1, generator=engine._generators([request.seed]),
                      height=height, width=width)
        decode = engine._decoder(base, pipe, request, height, width)
        if layer is None:
            result = engine._call(pipe, progress, decode, **common)
        else:
            image = resize(Image.fromarray(np.ascontiguousarray(layer[..., :3])).convert("RGB"), (width, height))
            result = engine._call(pipe, progress, decode, image=image, strength=request.strength, **common)
    cancel.raise_if_cancelled()
    return LiveFrame(to_uint8(result)[0], request, sampler, time.perf_counter() - started, progress.done)


@contextmanager
def _intra_op_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` for the block (0: unchanged)."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count:
            torch.set_num_threads(before)


def _validate(request: ImageRequest) -> None:
    """``ImageRequest.validate`` less the init-image file check (the layer is in memory)."""
    request = replace(request, mode="txt2img")
    request.validate()


def keep_artifact(frame: LiveFrame, init_image: str = "") -> Any:
    """The library artifact of a shown frame: its very pixels, with the recipe
    ``engine.run`` would have written for ``frame.request`` (image to image from
    ``init_image``, the saved layer, when the frame had one)."""
    from studio.engines.image import engine
    from studio.engines.image.pipelines import model_hash, state_of
    from studio.engines.image.prompts import extract_loras, merge_loras

    request = frame.request
    if frame.request.mode == "img2img":
        if not init_image:
            raise StudioError("this frame started from the paint layer: save the layer first")
        request = replace(request, init_image=init_image)
    card = context.find_card(request.model_id, "image")
    base = engine.loaded_pipeline(card)
    loras = merge_loras(extract_loras(request.prompt)[1], request.loras)
    artifact = engine._artifacts([frame.pixels], request, card, state_of(base).family, frame.sampler, loras,
                                 [], model_hash(card))
    artifact.meta["recipe"]["live"] = True
    return artifact
