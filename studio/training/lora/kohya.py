"""A trained LoRA written the way AUTOMATIC1111, ComfyUI and diffusers load it.

kohya's layout: ``lora_unet_<layer>`` (the UNet layer's diffusers name, dots
as underscores, as kohya names SD 1.x/2.x layers) and ``lora_te_<layer>``
for the text encoder, each with ``.lora_down.weight``, ``.lora_up.weight``
and ``.alpha``; string metadata (``ss_*`` keys kohya's tools read, and
``studio_*`` ones) in the safetensors header.

Writing is atomic into the models folder: the card (``NAME.model.json``)
first, then the LoRA through a hidden temp file renamed into place, so a
crash, a full disk or a cancel never leaves a half-written LoRA that the
model list would show.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_bytes, atomic_write_text
from studio.core.jobs import StudioError

LORA_FOLDER = "Lora"  # A1111's folder name; discovery treats it as a LoRA folder
ADAPTER = "default"


def lora_pairs(module: Any, prefix: str) -> dict[str, Any]:
    """kohya tensors of every peft LoRA layer inside ``module`` (float16 on the CPU)."""
    import torch

    out: dict[str, Any] = {}
    for name, sub in module.named_modules():
        lora_a = getattr(sub, "lora_A", None)
        if not isinstance(lora_a, torch.nn.ModuleDict) or ADAPTER not in lora_a:
            continue
        key = prefix + name.replace(".", "_")
        down = lora_a[ADAPTER].weight.detach()
        up = sub.lora_B[ADAPTER].weight.detach()
        rank = down.shape[0]
        alpha = float(sub.lora_alpha[ADAPTER]) if hasattr(sub, "lora_alpha") else float(rank)
        out[f"{key}.lora_down.weight"] = down.to("cpu", torch.float16).contiguous()
        out[f"{key}.lora_up.weight"] = up.to("cpu", torch.float16).contiguous()
        out[f"{key}.alpha"] = torch.tensor(alpha, dtype=torch.float16)
    return out


def kohya_state(unet: Any, text_encoder: Any | None) -> dict[str, Any]:
    state = lora_pairs(unet, "lora_unet_")
    if text_encoder is not None:
        state.update(lora_pairs(text_encoder, "lora_te_"))
    if not state:
        raise StudioError("the model has no LoRA layers to save")
    return state


def safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    if not cleaned:
        raise StudioError("the LoRA needs a name (letters, digits, - or _)")
    return cleaned[:80]


def lora_path(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / LORA_FOLDER / f"{safe_name(name)}.safetensors"


def write_lora(path: Path, tensors: dict[str, Any], metadata: dict[str, Any], card: dict[str, Any]) -> Path:
    """The card, then the LoRA itself, each written atomically; a failure removes the card again."""
    from safetensors.torch import save

    header = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in metadata.items()}
    data = save(tensors, metadata=header)
    card_path = path.with_suffix(".model.json")
    atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")
    try:
        atomic_write_bytes(path, data)
    except BaseException:
        card_path.unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})
