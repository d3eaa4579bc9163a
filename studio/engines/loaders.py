"""Loading a model from its card, by format, offline. Engines that need more
(a scheduler choice, a LoRA) build on these; the Models panel's Load button
uses them directly.

Every load passes ``local_files_only`` so nothing is fetched from a hub, and
pickled weights are read only through ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
from typing import Any

from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.engines.named import resolve

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_model(card: ModelCard, device: str = "cpu") -> Any:
    loader = _LOADERS.get(card.format)
    if loader is None:
        raise StudioError(f"{card.name}: no loader for the {card.format!r} format")
    return loader(card, device)


# Families released and run in bfloat16: their activations overflow float16.
BFLOAT16_FAMILIES = ("Wan", "LTX", "CogVideoX", "Mochi", "Hunyuan", "Flux", "StableDiffusion3")


def dtype_keyword() -> str:
    """diffusers renamed ``torch_dtype`` to ``dtype``; older releases know only the former."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


def diffusers_dtype(card: ModelCard, device: str) -> Any:
    """float32 on the CPU; on a GPU bfloat16 for the families made for it
    (where the GPU has it), else float16. The card's architecture is the
    folder's pipeline class, read by discovery."""
    import torch

    if device == "cpu":
        return torch.float32
    wants_bf16 = any(family in card.architecture for family in BFLOAT16_FAMILIES)
    if wants_bf16 and device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _diffusers(card: ModelCard, device: str) -> Any:
    from diffusers import DiffusionPipeline

    options = {"local_files_only": True, dtype_keyword(): diffusers_dtype(card, device)}
    pipe = DiffusionPipeline.from_pretrained(card.path, **options)
    return pipe.to(device)


def _transformers(card: ModelCard, device: str) -> Any:
    from transformers import AutoModel, AutoModelForCausalLM

    auto = AutoModelForCausalLM if card.modality == "text" else AutoModel
    return auto.from_pretrained(card.path, local_files_only=True).to(device).eval()


def _gguf(card: ModelCard, device: str) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        card.path.parent, gguf_file=card.path.name, local_files_only=True
    ).to(device).eval()


def _safetensors(card: ModelCard, device: str) -> Any:
    from safetensors.torch import load_file

    return load_file(card.path, device=device)


def _state_dict(card: ModelCard, device: str) -> Any:
    import torch

    return torch.load(card.path, map_location=device, weights_only=True)


def _onnx_voice(card: ModelCard, device: str) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(str(card.path), providers=["CPUExecutionProvider"])


def _soundfont(card: ModelCard, device: str) -> Any:
    return card.path.read_bytes()


_LOADERS = {
    "diffusers": _diffusers,
    "transformers": _transformers,
    "gguf": _gguf,
    "safetensors": _safetensors,
    "lora": _safetensors,
    "torch-state-dict": _state_dict,
    # formats loaded by a modality's own code, named so this module imports none of it
    "gan": lambda card, device: resolve("studio.engines.image.gan:load_generator")(card, device),
    "onnx-voice": _onnx_voice,
    "soundfont": _soundfont,
    "rife": lambda card, device: resolve("studio.engines.video.rife:load_ifnet")(card.path, device),
    "onnx-interpolator": lambda card, device: resolve("studio.engines.video.onnx_interp:open_interpolator")(
        card.path, device, card.name),
}
