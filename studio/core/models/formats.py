"""Recognising model files and folders by their content, without loading
weights: diffusers and transformers folders, single-file safetensors
(checkpoint or LoRA), GGUF, Piper ONNX voices, SoundFonts, and pickled torch
files (which are only accepted when ``torch.load(weights_only=True)`` can
read them; anything that needs full unpickling is refused with a reason)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from studio.core.models.cards import ModelCard, card_id

PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".tar"}
SAFETENSORS_HEADER_LIMIT = 100 * 1024 * 1024

_PIPELINE_MODALITY = (
    ("video", ("Video", "AnimateDiff", "CogVideo", "LTX", "Wan", "I2VGen", "Mochi", "Hunyuan")),
    ("audio", ("Audio", "MusicLDM", "StableAudio")),
    ("image", ("Diffusion", "Flux", "Kandinsky", "PixArt", "Sana", "Wuerstchen", "Pipeline")),
)
_TEXT_ARCH = ("CausalLM", "LMHeadModel", "ForConditionalGeneration")
_AUDIO_ARCH = ("Vits", "SpeechT5", "Bark", "Musicgen", "Wav2Vec", "Whisper", "Encodec")


class FormatError(ValueError):
    """The file looks like a model but is damaged or unsupported."""


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def read_safetensors_header(path: Path) -> dict:
    """The JSON header of a .safetensors file; raises FormatError if damaged."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise FormatError("file is too short to be safetensors")
        (length,) = struct.unpack("<Q", raw)
        if length <= 0 or length > min(size - 8, SAFETENSORS_HEADER_LIMIT):
            raise FormatError("safetensors header length is invalid (damaged or not safetensors)")
        try:
            header = json.loads(handle.read(length))
        except ValueError as exc:
            raise FormatError(f"safetensors header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a table of tensors")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + length + end > size:
        raise FormatError("safetensors file is truncated")
    return header


def classify_diffusers(folder: Path, source: str) -> ModelCard:
    card = ModelCard(card_id(folder.name, folder), folder.name, "image", "diffusers", folder, source=source)
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        card.architecture = str(index.get("_class_name", ""))
    except (OSError, ValueError) as exc:
        card.error = f"model_index.json unreadable: {exc}"
        return card
    for modality, words in _PIPELINE_MODALITY:
        if any(word in card.architecture for word in words):
            card.modality = modality
            break
    return card


def classify_transformers(folder: Path, source: str) -> ModelCard:
    card = ModelCard(card_id(folder.name, folder), folder.name, "", "transformers", folder, source=source)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        card.error = f"config.json unreadable: {exc}"
        return card
    architectures = config.get("architectures") or [config.get("model_type", "")]
    card.architecture = str(architectures[0])
    if any(word.lower() in card.architecture.lower() for word in _AUDIO_ARCH):
        card.modality = "audio"
    elif any(word in card.architecture for word in _TEXT_ARCH) or config.get("model_type") in ("gpt2", "llama"):
        card.modality = "text"
    if not any(folder.glob("*.safetensors")):
        if any(folder.glob("*.bin")):
            card.error = "weights are only in pickle (.bin) form; convert them to safetensors to use them"
        else:
            card.error = "no weights (.safetensors) in this folder"
    return card


def classify_file(path: Path, source: str, lora_folder: bool = False) -> ModelCard | None:
    """A card for a single model file, or None if the file is not a model."""
    suffix = path.suffix.lower()
    name = path.stem
    if suffix == ".safetensors":
        card = ModelCard(card_id(name, path), name, "image", "safetensors", path, source=source)
        try:
            header = read_safetensors_header(path)
        except (OSError, FormatError) as exc:
            card.error = f"unreadable safetensors file: {exc}"
            return card
        keys = [k for k in header if k != "__metadata__"]
        if lora_folder or any("lora" in k.lower() for k in keys[:200]):
            card.format = "lora"
        card.extra["tensors"] = len(keys)
        return card
    if suffix == ".gguf":
        card = ModelCard(card_id(name, path), name, "text", "gguf", path, source=source)
        with open(path, "rb") as handle:
            if handle.read(4) != b"GGUF":
                card.error = "not a GGUF file (bad magic number)"
        return card
    if suffix == ".onnx" and path.with_name(path.name + ".json").exists():
        card = ModelCard(card_id(name, path), name, "audio", "onnx-voice", path, source=source)
        card.architecture = "piper"
        return card
    if suffix in (".sf2", ".sf3"):
        card = ModelCard(card_id(name, path), name, "audio", "soundfont", path, source=source)
        with open(path, "rb") as handle:
            head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            card.error = "not a SoundFont (missing RIFF sfbk header)"
        return card
    if suffix in PICKLE_SUFFIXES:
        card = ModelCard(card_id(name, path), name, "", "torch-state-dict", path, source=source)
        card.error = check_pickle_safe(path)
        return card
    return None


def check_pickle_safe(path: Path) -> str:
    """Empty if ``torch.load(weights_only=True)`` reads the file, else why not.

    Only the restricted unpickler runs, so no code in the file executes."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any failure means "not safe to load"
        try:  # legacy (non-zip) files cannot be memory-mapped; retry without
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"skipped: pickle file is not loadable safely with weights_only=True ({reason[:160]})"
    return ""
