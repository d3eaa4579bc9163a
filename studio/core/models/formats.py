"""Recognising model files and folders by their content, without loading
weights: diffusers and transformers folders, single-file safetensors
(checkpoint or LoRA), GGUF, Piper ONNX voices, SoundFonts, frame
interpolators (RIFE weights by their tensor names; RIFE/FILM ONNX exports by
their name or a ``.model.json`` card), and pickled torch files (which are
only accepted when ``torch.load(weights_only=True)`` can read them; anything
that needs full unpickling is refused with a reason)."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio.core.models.cards import ModelCard, card_id

PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".tar"}
RIFE_WEIGHTS = "flownet.pkl"  # what Practical-RIFE releases, inside a train_log folder
_IFNET_FIRST_CONV = re.compile(r"^(module\.)?block0\.conv0\.0\.0\.weight$")
_INTERPOLATOR_NAME = re.compile(r"(^|[^a-z])(rife|film)", re.IGNORECASE)
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


def is_ifnet(keys: Iterable[Any]) -> bool:
    """Whether tensor names are those of a RIFE IFNet (``block0.conv0 ...``,
    ``lastconv``; with or without the ``module.`` prefix)."""
    names = [str(key) for key in keys]
    return any(_IFNET_FIRST_CONV.match(name) for name in names) and any(".lastconv" in name for name in names)


def rife_card(path: Path, source: str) -> ModelCard:
    """A RIFE weights file, named after its folder (or the folder above a
    ``train_log`` folder) when the file has the generic name ``flownet``."""
    folder = path.parent
    name = path.stem
    if name.lower() == "flownet":
        name = folder.parent.name if folder.name.lower() == "train_log" and folder.parent.name else folder.name
    card = ModelCard(card_id(name, path), name, "video", "rife", path, source=source, architecture="rife",
                     description="Frame interpolation (RIFE IFNet): in-between frames for retiming clips")
    card.size_bytes = path.stat().st_size
    return card


def classify_rife(path: Path, source: str) -> ModelCard:
    """A card for Practical-RIFE's ``flownet.pkl``, read only as weights."""
    card = rife_card(path, source)
    state, card.error = load_pickle_safely(path)
    if not card.error and not (isinstance(state, dict) and is_ifnet(state)):
        card.error = "not a RIFE IFNet state dict (no block0.conv0 and lastconv weights)"
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
        if is_ifnet(keys):
            return rife_card(path, source)
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
    if suffix == ".onnx":
        # Which ONNX graphs interpolate frames cannot be told without a runtime:
        # the name (rife..., film...) says so, or a .model.json card beside it.
        named = _INTERPOLATOR_NAME.search(name)
        if named:
            card = ModelCard(card_id(name, path), name, "video", "onnx-interpolator", path, source=source,
                             architecture=f"{named.group(2).lower()}-onnx",
                             description="Frame interpolation (ONNX): in-between frames for retiming clips")
            return card
        if path.with_suffix(".model.json").exists():
            return ModelCard(card_id(name, path), name, "", "onnx", path, source=source)
        return None
    if suffix in (".sf2", ".sf3"):
        card = ModelCard(card_id(name, path), name, "audio", "soundfont", path, source=source)
        with open(path, "rb") as handle:
            head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            card.error = "not a SoundFont (missing RIFF sfbk header)"
        return card
    if suffix in PICKLE_SUFFIXES:
        card = ModelCard(card_id(name, path), name, "", "torch-state-dict", path, source=source)
        state, card.error = load_pickle_safely(path)
        if not card.error and isinstance(state, dict) and is_ifnet(state):
            return rife_card(path, source)  # RIFE weights renamed (rife46.pth and the like)
        return card
    return None


def load_pickle_safely(path: Path) -> tuple[Any, str]:
    """What ``torch.load(weights_only=True)`` reads from the file (memory-mapped
    where it can be) and an empty reason, or None and why it cannot be read.

    Only the restricted unpickler runs, so no code in the file executes."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True), ""
    except Exception:  # noqa: BLE001 - any failure means "not safe to load"
        try:  # legacy (non-zip) files cannot be memory-mapped; retry without
            return torch.load(path, map_location="cpu", weights_only=True), ""
        except Exception as exc:  # noqa: BLE001
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return None, f"skipped: pickle file is not loadable safely with weights_only=True ({reason[:160]})"


def check_pickle_safe(path: Path) -> str:
    """Empty if ``torch.load(weights_only=True)`` reads the file, else why not."""
    return load_pickle_safely(path)[1]
