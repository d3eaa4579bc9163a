"""Model cards: what the studio knows about one model on disk, before and
without loading it (modality, format, size, licence, source, usability)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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


# Card fields other code reads from ``extra``, and what a valid value is:
# a wrong type is dropped (with a warning) rather than failing later in an engine.
_EXTRA_CHECKS = {
    "native_size": lambda v: isinstance(v, (list, tuple)) and len(v) == 2
    and all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= 16384 for x in v),
    "default_guidance": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100,
    "config": lambda v: isinstance(v, str),
    "generator": lambda v: isinstance(v, dict),
    "backend": lambda v: isinstance(v, str),
    "live_lora": lambda v: isinstance(v, str),
    "live_steps": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 50,
}


def apply_card_file(card: ModelCard, card_file: Path) -> None:
    """Merge a ``model.json`` written by a person or a starter pack into ``card``.

    The file is untrusted: it must be a JSON object; string fields are taken
    only when they are strings, and known ``extra`` fields only when their
    type is right."""
    try:
        data = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        card.error = f"{card_file.name} unreadable: {str(exc)[:120]}"
        return
    if not isinstance(data, dict):
        card.error = f"{card_file.name} is not a JSON object"
        return
    for key in ("id", "name", "modality", "format", "licence", "source", "description", "architecture"):
        if isinstance(data.get(key), str) and data[key]:
            setattr(card, key, data[key])
    if card.modality not in MODALITIES:
        card.modality = ""
    for key, value in data.items():
        if hasattr(card, key):
            continue
        check = _EXTRA_CHECKS.get(key)
        if check is not None and not check(value):
            log.warning("%s: ignoring %s (%r is not a valid value)", card_file, key, value)
            continue
        card.extra[key] = value


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
