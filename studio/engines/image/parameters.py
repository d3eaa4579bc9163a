"""The A1111 ``parameters`` text: written into every image (so PNG-info
readers of A1111, ComfyUI, InvokeAI and CivitAI show the recipe) and read
back from theirs, so "reuse settings" works on their PNGs too.

The format is the prompt, an optional ``Negative prompt:`` line, then one
line of ``Key: value`` pairs separated by commas (values with commas are
quoted)::

    a lighthouse at dusk, (fog:1.2) <lora:ink:0.8>
    Negative prompt: blurry
    Steps: 25, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, Model: v1-5

This module is light (no torch): the GUI reads dropped PNGs with it."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from studio.engines.image.requests import SCHEDULERS, ImageRequest

_PAIR = re.compile(r'\s*([\w][\w \-/+]*?):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)\s*x\s*(\d+)$")


def _quote(value: Any) -> str:
    text = str(value)
    if "," in text or ":" in text or '"' in text or "\n" in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
    return text


def _number(value: float) -> str:
    return f"{value:g}"


def format_parameters(request: ImageRequest, *, seed: int, width: int, height: int, sampler: str,
                      model_name: str = "", model_hash: str = "", loras: list[tuple[str, float]] = (),
                      version: str = "") -> str:
    """The A1111-compatible text for one image of ``request``."""
    prompt = request.prompt.strip()
    # LoRAs picked outside the prompt are written as tags, the one place other tools look for them.
    present = {m.group(1).strip().lower() for m in re.finditer(r"<(?:lora|lyco):([^:>]+)", prompt, re.IGNORECASE)}
    extra_tags = [f"<lora:{name}:{_number(weight)}>" for name, weight in loras if name.lower() not in present]
    if extra_tags:
        prompt = (prompt + " " + " ".join(extra_tags)).strip()
    lines = [prompt]
    if request.negative.strip():
        lines.append("Negative prompt: " + request.negative.strip())
    pairs: list[tuple[str, Any]] = [
        ("Steps", request.steps), ("Sampler", sampler), ("CFG scale", _number(request.cfg)), ("Seed", seed),
        ("Size", f"{width}x{height}"),
    ]
    if model_hash:
        pairs.append(("Model hash", model_hash))
    if model_name:
        pairs.append(("Model", model_name))
    if request.mode != "txt2img":
        pairs.append(("Denoising strength", _number(1.0 if request.mode == "outpaint" else request.strength)))
        if request.mode in ("inpaint", "outpaint"):
            pairs.append(("Mask blur", request.mask_blur))
    if request.hires_fix:
        pairs += [("Hires upscale", _number(request.hires_scale)), ("Hires upscaler", "Lanczos"),
                  ("Denoising strength", _number(request.hires_strength))]
        if request.hires_steps:
            pairs.append(("Hires steps", request.hires_steps))
    if request.batch_size > 1:
        pairs.append(("Batch size", request.batch_size))
    if version:
        pairs.append(("Version", version))
    seen: set[str] = set()
    text_pairs = []
    for key, value in pairs:
        if key not in seen:
            seen.add(key)
            text_pairs.append(f"{key}: {_quote(value)}")
    lines.append(", ".join(text_pairs))
    return "\n".join(lines)


def parse_parameters(text: str) -> dict[str, Any]:
    """``{"prompt", "negative", "settings": {key: value}}`` from an A1111 parameters text."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if lines and len(_PAIR.findall(lines[-1])) >= 3:
        settings = {key.strip(): _unquote(value.strip()) for key, value in _PAIR.findall(lines[-1])}
        lines = lines[:-1]
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        if line.startswith("Negative prompt:"):
            target = negative_lines
            line = line[len("Negative prompt:"):].strip()
        target.append(line)
    return {"prompt": "\n".join(prompt_lines).strip(), "negative": "\n".join(negative_lines).strip(),
            "settings": settings}


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def scheduler_from_a1111(sampler: str, schedule: str = "") -> str:
    """Our scheduler name for an A1111 sampler (and newer A1111's separate schedule type)."""
    name = sampler.strip()
    if schedule.strip().lower() == "karras" and not name.endswith("Karras"):
        name += " Karras"
    for known in SCHEDULERS:
        if known.lower() == name.lower():
            return known
    if "karras" in name.lower() and "2m" in name.lower():
        return "DPM++ 2M Karras"
    if name.lower().startswith("dpm++ 2m"):
        return "DPM++ 2M"
    return "Default"


def request_from_parameters(text: str, base: ImageRequest | None = None) -> tuple[ImageRequest, dict[str, str]]:
    """An ImageRequest restoring what an A1111 parameters text says (on top of ``base``), and
    the raw settings (so a caller can match "Model" / "Model hash" to a local model)."""
    parsed = parse_parameters(text)
    settings = parsed["settings"]
    values: dict[str, Any] = {"prompt": parsed["prompt"], "negative": parsed["negative"]}

    def number(key: str, cast):
        try:
            return cast(settings[key])
        except (KeyError, ValueError):
            return None

    for key, field, cast in (("Steps", "steps", int), ("CFG scale", "cfg", float), ("Seed", "seed", int)):
        value = number(key, cast)
        if value is not None:
            values[field] = value
    size = _SIZE.match(settings.get("Size", ""))
    if size:
        values["width"], values["height"] = int(size.group(1)), int(size.group(2))
    if "Sampler" in settings:
        values["scheduler"] = scheduler_from_a1111(settings["Sampler"], settings.get("Schedule type", ""))
    if "Hires upscale" in settings:
        values["hires_fix"] = True
        scale = number("Hires upscale", float)
        if scale is not None:
            values["hires_scale"] = scale
        strength = number("Denoising strength", float)
        if strength is not None:
            values["hires_strength"] = strength
        hires_steps = number("Hires steps", int)
        if hires_steps is not None:
            values["hires_steps"] = hires_steps
    elif "Denoising strength" in settings:
        strength = number("Denoising strength", float)
        if strength is not None:
            values["strength"] = strength
    batch = number("Batch size", int)
    if batch:
        values["batch_size"] = batch
    request = replace(base or ImageRequest(), **values)
    return request, settings
