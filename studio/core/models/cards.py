"""Model cards: what the studio knows about one model on disk, before and
without loading it (modality, format, size, licence, source, usability)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MODALITIES = ("text", "image", "audio", "video")
# Video models that make in-between frames of a clip rather than a clip:
# RIFE IFNet weights and RIFE/FILM ONNX exports.
INTERPOLATOR_FORMATS = ("rife", "onnx-interpolator")


@dataclass
class ModelCard:
    id: str
    name: str
    modality: str  # one of MODALITIES, or "" when unknown
    format: str  # diffusers, transformers, gguf, safetensors, lora, torch-state-dict, onnx-voice, soundfont,
    # gan, rife, onnx-interpolator
    path: Path
    size_bytes: int = 0
    licence: str = "unknown"
    source: str = ""  # starter package, user folder, Hugging Face cache, A1111/ComfyUI folder
    description: str = ""
    architecture: str = ""  # pipeline or model class when the files say it
    error: str = ""  # why the model cannot be used; empty when usable
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return not self.error

    @property
    def is_interpolator(self) -> bool:
        """A frame interpolation model (video modality, but it makes no clips)."""
        return self.format in INTERPOLATOR_FORMATS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def card_id(name: str, path: Path) -> str:
    """A stable id: a slug of the name plus a short hash of the real path."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "model"
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:6]
    return f"{slug}-{digest}"


def apply_card_file(card: ModelCard, card_file: Path) -> None:
    """Merge a ``model.json`` written by a person or a starter pack into ``card``."""
    try:
        data = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        card.error = f"model.json unreadable: {exc}"
        return
    for key in ("id", "name", "modality", "format", "licence", "source", "description", "architecture"):
        if isinstance(data.get(key), str) and data[key]:
            setattr(card, key, data[key])
    card.extra.update({k: v for k, v in data.items() if not hasattr(card, k)})


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
