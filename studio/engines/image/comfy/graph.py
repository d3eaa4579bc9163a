"""Image requests as ComfyUI API-format graphs, made only of the core nodes
of ComfyUI's ``nodes.py``, and their check against a server's ``/object_info``.

An API-format graph is ``{node_id: {"class_type": ..., "inputs": {...}}}``
where an input is a value or a link ``[source_id, output_index]``. The
shapes made here:

- txt2img: CheckpointLoaderSimple -> (LoraLoader ...) -> CLIPTextEncode x 2,
  EmptyLatentImage -> KSampler -> VAEDecode -> SaveImage;
- img2img: LoadImage -> ImageScale -> VAEEncode -> (RepeatLatentBatch) ->
  KSampler at ``denoise = strength``;
- inpaint: LoadImage + LoadImageMask (the painted mask, white = repaint) ->
  VAEEncodeForInpaint at full strength, or VAEEncode + SetLatentNoiseMask
  below it;
- outpaint: LoadImage -> ImageScale -> ImagePadForOutpaint ->
  VAEEncodeForInpaint -> KSampler at ``denoise = 1``;
- hires fix: LatentUpscale then a second KSampler at the hires strength;
- batches: ``batch_size`` is the latent batch, each of ``batch_count``
  branches has its own seed (``seed + branch * batch_size``) and SaveImage.

This module is pure (no network, no torch): the engine, "Copy as ComfyUI
workflow" and the tests all use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.jobs import StudioError
from studio.engines.image.prompts import extract_loras, merge_loras
from studio.engines.image.requests import ImageRequest, snap8

# Studio's sampler names (A1111's) -> ComfyUI's KSampler sampler_name and scheduler.
SAMPLERS: dict[str, tuple[str, str]] = {
    "Default": ("euler", "normal"),
    "Euler": ("euler", "normal"),
    "Euler a": ("euler_ancestral", "normal"),
    "DPM++ 2M": ("dpmpp_2m", "normal"),
    "DPM++ 2M Karras": ("dpmpp_2m", "karras"),
    "DDIM": ("ddim", "ddim_uniform"),
    "UniPC": ("uni_pc", "normal"),
    "LCM": ("lcm", "sgm_uniform"),
    "Turbo": ("euler_ancestral", "sgm_uniform"),  # ComfyUI's trailing-like schedule, as for SD-Turbo
}
SAVE_PREFIX = "Studio"
OUTPAINT_FEATHER = 40
INPAINT_GROW = 6
LINK_TYPES = ("MODEL", "CLIP", "VAE", "LATENT", "IMAGE", "MASK", "CONDITIONING")


def comfy_sampler(name: str) -> tuple[str, str]:
    if name not in SAMPLERS:
        raise StudioError(f"the sampler {name!r} has no ComfyUI equivalent; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}

    def add(self, class_type: str, **inputs: Any) -> str:
        node_id = str(len(self.nodes) + 1)
        self.nodes[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id


def build_graph(request: ImageRequest, ckpt_name: str, loras: list[tuple[str, float]] = (), init_name: str = "",
                mask_name: str = "", prefix: str = SAVE_PREFIX) -> dict[str, Any]:
    """The graph that runs ``request`` with the checkpoint ``ckpt_name`` and the LoRA files ``loras``
    (names as the server lists them); ``init_name``/``mask_name`` are uploaded image names."""
    sampler_name, scheduler = comfy_sampler(request.scheduler)
    prompt, _tags = extract_loras(request.prompt)
    negative, _ = extract_loras(request.negative)
    g = _Graph()
    checkpoint = g.add("CheckpointLoaderSimple", ckpt_name=ckpt_name)
    model, clip, vae = [checkpoint, 0], [checkpoint, 1], [checkpoint, 2]
    for lora_name, weight in loras:
        lora = g.add("LoraLoader", model=model, clip=clip, lora_name=lora_name, strength_model=float(weight),
                     strength_clip=float(weight))
        model, clip = [lora, 0], [lora, 1]
    positive = [g.add("CLIPTextEncode", text=prompt, clip=clip), 0]
    negative_link = [g.add("CLIPTextEncode", text=negative, clip=clip), 0]

    mode = request.mode
    width, height = request.width, request.height
    denoise = 1.0
    shared_latent = None
    if mode != "txt2img":
        if not init_name:
            raise StudioError(f"{mode} needs an init image")
        image = [g.add("LoadImage", image=init_name), 0]
        image = [g.add("ImageScale", image=image, upscale_method="lanczos", width=width, height=height,
                       crop="disabled"), 0]
        if mode == "img2img":
            denoise = request.strength
            shared_latent = [g.add("VAEEncode", pixels=image, vae=vae), 0]
        elif mode == "inpaint":
            if not mask_name:
                raise StudioError("inpaint needs a mask")
            mask = [g.add("LoadImageMask", image=mask_name, channel="red"), 0]
            denoise = request.strength
            if request.strength >= 1.0:
                shared_latent = [g.add("VAEEncodeForInpaint", pixels=image, vae=vae, mask=mask,
                                       grow_mask_by=INPAINT_GROW), 0]
            else:
                encoded = [g.add("VAEEncode", pixels=image, vae=vae), 0]
                shared_latent = [g.add("SetLatentNoiseMask", samples=encoded, mask=mask), 0]
        elif mode == "outpaint":
            sides = [_pad(v) for v in (request.outpaint_left, request.outpaint_up, request.outpaint_right,
                                       request.outpaint_down)]
            pad = g.add("ImagePadForOutpaint", image=image, left=sides[0], top=sides[1], right=sides[2],
                        bottom=sides[3], feathering=min(OUTPAINT_FEATHER, max(0, request.mask_blur * 10)))
            width, height = width + sides[0] + sides[2], height + sides[1] + sides[3]
            shared_latent = [g.add("VAEEncodeForInpaint", pixels=[pad, 0], vae=vae, mask=[pad, 1],
                                   grow_mask_by=8), 0]
        else:
            raise StudioError(f"mode must be txt2img, img2img, inpaint or outpaint, not {mode!r}")

    hires_w, hires_h = snap8(int(width * request.hires_scale)), snap8(int(height * request.hires_scale))
    for branch in range(request.batch_count):
        seed = (request.seed + branch * request.batch_size) & 0xFFFFFFFFFFFFFFFF
        if shared_latent is None:
            latent = [g.add("EmptyLatentImage", width=width, height=height, batch_size=request.batch_size), 0]
        elif request.batch_size > 1:
            latent = [g.add("RepeatLatentBatch", samples=shared_latent, amount=request.batch_size), 0]
        else:
            latent = shared_latent
        sampled = [g.add("KSampler", model=model, seed=seed, steps=request.steps, cfg=float(request.cfg),
                         sampler_name=sampler_name, scheduler=scheduler, positive=positive,
                         negative=negative_link, latent_image=latent, denoise=float(denoise)), 0]
        if request.hires_fix:
            upscaled = [g.add("LatentUpscale", samples=sampled, upscale_method="nearest-exact", width=hires_w,
                              height=hires_h, crop="disabled"), 0]
            sampled = [g.add("KSampler", model=model, seed=seed, steps=request.hires_steps or request.steps,
                             cfg=float(request.cfg), sampler_name=sampler_name, scheduler=scheduler,
                             positive=positive, negative=negative_link, latent_image=upscaled,
                             denoise=float(request.hires_strength)), 0]
        decoded = [g.add("VAEDecode", samples=sampled, vae=vae), 0]
        g.add("SaveImage", images=decoded, filename_prefix=f"{prefix}/{branch}" if request.batch_count > 1
              else prefix)
    return g.nodes


def _pad(value: int) -> int:
    """Outpaint sides in multiples of 8 (latents are 1/8 of the image)."""
    return 0 if value <= 0 else (int(value) + 7) // 8 * 8


def save_nodes(graph: dict[str, Any]) -> list[str]:
    """The SaveImage nodes in branch order."""
    return sorted((k for k, v in graph.items() if v.get("class_type") == "SaveImage"), key=int)


def sampler_steps(graph: dict[str, Any]) -> dict[str, int]:
    """Each KSampler's step count, for progress across the whole graph."""
    return {k: int(v["inputs"]["steps"]) for k, v in graph.items() if v.get("class_type") == "KSampler"}


def request_loras(request: ImageRequest) -> list[tuple[str, float]]:
    """The (name, weight) LoRAs a request asks for: its ``<lora:name:w>`` tags and its list; weight 0 is off."""
    _prompt, tags = extract_loras(request.prompt)
    return [(name, weight) for name, weight in merge_loras(tags, request.loras) if weight != 0.0]


# --- the server's schema ------------------------------------------------------------------------
def offered(info: dict[str, Any], class_type: str, input_name: str) -> list[Any]:
    """The values a combo input offers (classic ``[[values], {...}]`` and newer ``["COMBO", {"options"}]``)."""
    spec = _input_spec(info, class_type, input_name)
    if spec is None:
        return []
    if isinstance(spec[0], list):
        return list(spec[0])
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return list(spec[1].get("options", []))
    return []


def _input_spec(info: dict[str, Any], class_type: str, input_name: str) -> list | None:
    node = info.get(class_type)
    if not isinstance(node, dict):
        return None
    inputs = node.get("input", {})
    return (inputs.get("required") or {}).get(input_name) or (inputs.get("optional") or {}).get(input_name)


def match_name(wanted: str, names: list[str]) -> str | None:
    """The server's file for ``wanted``: the exact name, else the one whose stem matches (any folder, any case)."""
    if wanted in names:
        return wanted
    stem = Path(wanted.replace("\\", "/")).stem.lower()
    for name in names:
        if Path(str(name).replace("\\", "/")).stem.lower() == stem:
            return name
    return None


def check_sampler(info: dict[str, Any], request: ImageRequest, server: str) -> None:
    sampler_name, scheduler = comfy_sampler(request.scheduler)
    samplers, schedulers = offered(info, "KSampler", "sampler_name"), offered(info, "KSampler", "scheduler")
    if samplers and sampler_name not in samplers:
        raise StudioError(f"server {server!r} has no sampler {sampler_name!r} (for {request.scheduler}); "
                          f"choose another sampler")
    if schedulers and scheduler not in schedulers:
        raise StudioError(f"server {server!r} has no scheduler {scheduler!r} (for {request.scheduler}); "
                          f"choose another sampler")


_WHAT = {("CheckpointLoaderSimple", "ckpt_name"): "checkpoint", ("LoraLoader", "lora_name"): "LoRA",
         ("KSampler", "sampler_name"): "sampler", ("KSampler", "scheduler"): "scheduler",
         ("LoadImage", "image"): "input image", ("LoadImageMask", "image"): "input image"}


def validate(graph: dict[str, Any], info: dict[str, Any], server: str) -> None:
    """Raise one clear line for the first thing ``graph`` needs that the server does not offer:
    a node class, an input, a model or a value of the wrong type."""
    for node_id, node in graph.items():
        cls = node.get("class_type")
        schema = info.get(cls)
        if not isinstance(schema, dict):
            raise StudioError(f"server {server!r} has no node {cls!r} (node {node_id}); update ComfyUI on the "
                              f"server or remove the custom node from the graph")
        required = (schema.get("input") or {}).get("required") or {}
        optional = (schema.get("input") or {}).get("optional") or {}
        inputs = node.get("inputs") or {}
        for name in required:
            if name not in inputs:
                raise StudioError(f"server {server!r}: node {node_id} ({cls}) needs the input {name!r}, "
                                  f"which Studio does not know; the server's ComfyUI may be newer than expected")
        for name, value in inputs.items():
            spec = required.get(name) or optional.get(name)
            if spec is None:
                raise StudioError(f"server {server!r}: node {node_id} ({cls}) has no input {name!r}")
            kind = spec[0]
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
                source = graph.get(str(value[0]))
                out_types = (info.get(source.get("class_type"), {}) or {}).get("output", []) if source else []
                if source is None or not 0 <= value[1] < len(out_types):
                    raise StudioError(f"node {node_id} ({cls}).{name} links to a missing output {value}")
                if out_types[value[1]] != kind and kind not in ("*",):
                    raise StudioError(f"node {node_id} ({cls}).{name} wants {kind} but gets {out_types[value[1]]}")
                continue
            choices = offered(info, cls, name)
            if isinstance(kind, list) or kind == "COMBO":
                if value not in choices:
                    what = _WHAT.get((cls, name), f"value for {cls}.{name}")
                    some = ", ".join(map(str, choices[:8])) + (" …" if len(choices) > 8 else "")
                    raise StudioError(f"server {server!r} has no {what} {value!r} (node {node_id}); "
                                      f"it offers: {some or 'none'}")
            elif kind == "INT" and (not isinstance(value, int) or isinstance(value, bool)):
                raise StudioError(f"node {node_id} ({cls}).{name} must be a whole number, not {value!r}")
            elif kind == "FLOAT" and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise StudioError(f"node {node_id} ({cls}).{name} must be a number, not {value!r}")
            elif kind == "STRING" and not isinstance(value, str):
                raise StudioError(f"node {node_id} ({cls}).{name} must be text, not {value!r}")
            elif kind in LINK_TYPES:
                raise StudioError(f"node {node_id} ({cls}).{name} must be linked to a {kind} output")
            if kind in ("INT", "FLOAT") and len(spec) > 1 and isinstance(spec[1], dict):
                low, high = spec[1].get("min"), spec[1].get("max")
                if (low is not None and value < low) or (high is not None and value > high):
                    raise StudioError(f"node {node_id} ({cls}).{name} = {value} is outside {low}..{high}")


def workflow_for_recipe(recipe: dict[str, Any], ckpt_name: str = "") -> dict[str, Any]:
    """The API-format graph that makes a library image again on a ComfyUI server: the graph that
    ran for a server image, else one built from the diffusers engine's request and model."""
    comfy = recipe.get("comfyui")
    if isinstance(comfy, dict) and isinstance(comfy.get("graph"), dict):
        return comfy["graph"]
    data = recipe.get("request") or {}
    if data.get("kind") != "image":
        raise StudioError("only images made by the diffusion engine or a ComfyUI server can be copied as a "
                          "ComfyUI workflow")
    from studio.core.jobs import Request

    request = Request.from_dict(data)
    assert isinstance(request, ImageRequest)
    model = recipe.get("model") or {}
    name = ckpt_name or str(model.get("name") or request.model_id or "model")
    if not Path(name).suffix:
        name += ".safetensors"
    loras = [(_lora_file(str(entry.get("name", ""))), float(entry.get("weight", 1.0)))
             for entry in recipe.get("loras") or [] if float(entry.get("weight", 1.0)) != 0.0]
    return build_graph(request, name, loras, Path(request.init_image).name if request.init_image else "",
                       Path(request.mask).name if request.mask else "")


def _lora_file(name: str) -> str:
    return name if Path(name).suffix else f"{name}.safetensors"


def frame_graph(ckpt_name: str, prompt_from: str, prompt_to: str, t: float, negative: str, seed: int, steps: int,
                cfg: float, width: int, height: int, scheduler: str = "Euler", init_name: str = "",
                denoise: float = 1.0, prefix: str = "Studio/frames") -> dict[str, Any]:
    """One frame of a keyframe clip: the two keyframes' prompts blended by ``t``
    (ConditioningAverage), from noise or, with ``init_name``, image-to-image at ``denoise``."""
    sampler_name, sampler_scheduler = comfy_sampler(scheduler)
    g = _Graph()
    checkpoint = g.add("CheckpointLoaderSimple", ckpt_name=ckpt_name)
    model, clip, vae = [checkpoint, 0], [checkpoint, 1], [checkpoint, 2]
    positive = [g.add("CLIPTextEncode", text=extract_loras(prompt_from)[0], clip=clip), 0]
    if t > 0 and prompt_to != prompt_from:
        other = [g.add("CLIPTextEncode", text=extract_loras(prompt_to)[0], clip=clip), 0]
        positive = [g.add("ConditioningAverage", conditioning_to=other, conditioning_from=positive,
                          conditioning_to_strength=float(t)), 0]
    negative_link = [g.add("CLIPTextEncode", text=negative, clip=clip), 0]
    if init_name:
        image = [g.add("LoadImage", image=init_name), 0]
        image = [g.add("ImageScale", image=image, upscale_method="lanczos", width=width, height=height,
                       crop="disabled"), 0]
        latent = [g.add("VAEEncode", pixels=image, vae=vae), 0]
    else:
        latent = [g.add("EmptyLatentImage", width=width, height=height, batch_size=1), 0]
        denoise = 1.0
    sampled = [g.add("KSampler", model=model, seed=int(seed) & 0xFFFFFFFFFFFFFFFF, steps=int(steps),
                     cfg=float(cfg), sampler_name=sampler_name, scheduler=sampler_scheduler, positive=positive,
                     negative=negative_link, latent_image=latent, denoise=float(denoise)), 0]
    decoded = [g.add("VAEDecode", samples=sampled, vae=vae), 0]
    g.add("SaveImage", images=decoded, filename_prefix=prefix)
    return g.nodes
