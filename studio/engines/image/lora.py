"""LoRAs merged into a loaded pipeline's weights, and taken out again.

A1111 and ComfyUI users keep LoRAs in two layouts: kohya's
(``lora_unet_<layer>.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha``,
with ``lora_te_``, ``lora_te1_``, ``lora_te2_`` for the text encoders; the
UNet layer named the diffusers way for SD 1.x and the original way for
SDXL), and the diffusers / PEFT one (``unet.<layer>.lora_A.weight`` ...).
Both are matched against the model's own layer names, so no conversion
table is needed beyond ``ldm_names``.

Merging (W += weight x alpha/rank x up @ down) costs nothing per step,
unlike adapter layers. The original weights of every touched layer are
kept, and restored before a different set of LoRAs is merged, so a job
never sees a previous job's LoRAs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.jobs import StudioError
from studio.engines.image.ldm_names import ldm_name, unet_prefixes

log = logging.getLogger(__name__)

_DOWN = (".lora_down.weight", ".lora_A.weight", ".lora.down.weight")
_UP = (".lora_up.weight", ".lora_B.weight", ".lora.up.weight")


@dataclass
class LoraState:
    """What is merged into one pipeline now."""

    applied: tuple[tuple[str, float, int], ...] = ()  # (name, weight, file modification time)
    originals: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # id(module) -> (module, weight copy)


def _layer_index(pipe: Any) -> dict[str, Any]:
    """Every name a LoRA file may use for a Linear/Conv layer of ``pipe`` -> the layer."""
    import torch

    index: dict[str, Any] = {}
    parts = [("unet", getattr(pipe, "unet", None), ("lora_unet_",), ("unet.",))]
    if getattr(pipe, "text_encoder_2", None) is not None:
        parts.append(("te1", getattr(pipe, "text_encoder", None), ("lora_te1_",), ("text_encoder.",)))
        parts.append(("te2", pipe.text_encoder_2, ("lora_te2_",), ("text_encoder_2.",)))
    else:
        parts.append(("te", getattr(pipe, "text_encoder", None), ("lora_te_", "lora_te1_"), ("text_encoder.",)))
    for kind, model, kohya_prefixes, dotted_prefixes in parts:
        if model is None:
            continue
        modules = [(n, m) for n, m in model.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
        prefixes = unet_prefixes([n for n, _ in modules], model.config.layers_per_block) if kind == "unet" else []
        for name, module in modules:
            variants = {name}
            if kind == "unet":
                original = ldm_name(name, prefixes)
                if original:
                    variants.add(original)
            else:
                variants.add(name.removeprefix("text_model.") if name.startswith("text_model.")
                             else "text_model." + name)
            for variant in variants:
                for prefix in kohya_prefixes:
                    index[prefix + variant.replace(".", "_")] = module
                for prefix in dotted_prefixes:
                    index[prefix + variant] = module
    return index


def _pairs(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Layer base name -> {"down", "up", "alpha"} tensors."""
    layers: dict[str, dict[str, Any]] = {}
    for key, tensor in state.items():
        for role, suffixes in (("down", _DOWN), ("up", _UP), ("alpha", (".alpha",))):
            suffix = next((s for s in suffixes if key.endswith(s)), None)
            if suffix:
                layers.setdefault(key[: -len(suffix)], {})[role] = tensor
                break
    return {name: parts for name, parts in layers.items() if "down" in parts and "up" in parts}


def _delta(parts: dict[str, Any], weight: float, shape: Any) -> Any:
    down, up = parts["down"].float(), parts["up"].float()
    rank = down.shape[0]
    alpha = float(parts["alpha"]) if "alpha" in parts else float(rank)
    product = up.flatten(1) @ down.flatten(1)
    return (product * (weight * alpha / rank)).reshape(shape)


def restore(state: LoraState) -> None:
    import torch

    with torch.no_grad():
        for module, original in state.originals.values():
            module.weight.copy_(original)
    state.originals.clear()
    state.applied = ()


def _modified(path: Path) -> int:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return 0


def apply_loras(pipe: Any, state: LoraState, loras: list[tuple[str, float, Path]]) -> None:
    """Make ``pipe`` carry exactly ``loras`` ((name, weight, file) triples)."""
    import torch
    from safetensors.torch import load_file

    # A file's modification time is part of what is merged: a LoRA trained
    # again under the same name is merged again.
    wanted = tuple((name, float(weight), _modified(path)) for name, weight, path in loras if weight != 0.0)
    if wanted == state.applied:
        return
    restore(state)
    if not wanted:
        return
    index = _layer_index(pipe)
    for name, weight, path in loras:
        if weight == 0.0:
            continue
        try:
            layers = _pairs(load_file(str(path)))
        except Exception as exc:
            restore(state)
            raise StudioError(f"LoRA {name} could not be read: {exc}") from exc
        if not layers:
            restore(state)
            raise StudioError(f"LoRA {name} is in a format Studio does not merge (LoCon/LoHa/LoKr need lora_down/up)")
        matched = 0
        with torch.no_grad():
            for base, parts in layers.items():
                module = index.get(base)
                if module is None:
                    continue
                if id(module) not in state.originals:
                    state.originals[id(module)] = (module, module.weight.detach().clone())
                delta = _delta(parts, weight, module.weight.shape)
                module.weight.add_(delta.to(module.weight.dtype, copy=False).to(module.weight.device))
                matched += 1
        if not matched:
            restore(state)
            raise StudioError(f"LoRA {name} matches no layer of this model: it was made for another model family")
        if matched < len(layers):
            log.warning("LoRA %s: %d of %d layers matched this model", name, matched, len(layers))
    state.applied = wanted
