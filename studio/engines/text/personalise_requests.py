"""The text LoRA training request (``text-lora``): what the Text workspace's
Personalise dialog and ``studio train text-lora`` submit. Light (dataclasses only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from studio.core.jobs import Request, StudioError


@dataclass(frozen=True)
class TextLoraTrainRequest(Request):
    kind = "text-lora"
    modality = "text"
    name: str = ""
    folder: str = ""
    rank: int = 16
    learning_rate: float = 5e-4
    steps: int = 120
    block: int = 128
    batch: int = 4

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "the base text model (a transformers folder or GGUF file), by id",
        "name": "the adapter's name: it becomes a variant of the base model in the Text workspace",
        "folder": "a folder of your .txt and .md files (the last tenth is held out to measure perplexity)",
        "rank": "LoRA rank",
        "learning_rate": "learning rate",
        "steps": "training steps",
        "block": "tokens per training block",
        "batch": "blocks per step",
    }

    @property
    def prompt(self) -> str:
        return f"text LoRA {self.name}"

    def describe(self) -> str:
        return f"text LoRA {self.name or '?'} on {self.model_id or '?'}"

    def validate(self) -> None:
        if not self.model_id:
            raise StudioError("choose the base text model to personalise")
        if not self.name.strip():
            raise StudioError("give the text LoRA a name")
        if not self.folder or not Path(self.folder).expanduser().is_dir():
            raise StudioError(f"writing to learn from: {self.folder or '(none)'} is not a folder")
        if not (1 <= self.rank <= 256 and 1 <= self.steps <= 100_000 and 16 <= self.block <= 8192
                and 1 <= self.batch <= 256):
            raise StudioError("rank 1-256, steps 1-100000, block 16-8192 and batch 1-256")
        if not 0.0 < self.learning_rate <= 1.0:
            raise StudioError("the learning rate must be between 0 and 1")
