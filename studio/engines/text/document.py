"""A document of the Write view: a title and plain text, stored in the library
as JSON (its recipe a top-level key, like a conversation's)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from studio.core.jobs import StudioError

DOCUMENT_TYPE = "studio-document"


@dataclass
class Document:
    title: str = ""
    text: str = ""
    model_id: str = ""  # the model whose suggestions were offered
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def display_title(self) -> str:
        if self.title.strip():
            return self.title.strip()
        first = next((line.strip() for line in self.text.splitlines() if line.strip()), "")
        return (first[:48] + "…") if len(first) > 48 else (first or "Untitled document")

    def word_count(self) -> int:
        return len(self.text.split())

    def to_json(self) -> bytes:
        return json.dumps({"type": DOCUMENT_TYPE, "id": self.id, "title": self.title, "text": self.text,
                           "model_id": self.model_id}, ensure_ascii=False, indent=1).encode("utf-8")

    @staticmethod
    def from_json(data: bytes) -> Document:
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise StudioError(f"not a document: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("type") != DOCUMENT_TYPE:
            raise StudioError("not a Studio document")
        return Document(title=str(raw.get("title", "")), text=str(raw.get("text", "")),
                        model_id=str(raw.get("model_id", "")), id=str(raw.get("id") or uuid.uuid4().hex[:12]))
