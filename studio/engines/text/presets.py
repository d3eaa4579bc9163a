"""Task presets: what people use a text model for, each a system prompt and
sampling defaults, plus the presets a user edited or saved.

Built-in presets live here; a user's changes (an edited built-in or a new
preset) are kept in ``<config>/text-presets.json`` and win over the
built-in of the same id. Resetting a built-in drops the user's copy."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.jobs import StudioError

log = logging.getLogger(__name__)
PRESETS_FILE = "text-presets.json"


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    system: str
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    repetition_penalty: float = 1.1
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    placeholder: str = ""  # what to write in the prompt box
    send_to: str = ""  # a workspace that takes the answer as its prompt ("image")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stop"] = list(self.stop)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Preset:
        names = {f.name for f in dataclasses.fields(Preset)}
        values = {k: v for k, v in data.items() if k in names}
        if not values.get("id") or not values.get("title"):
            raise StudioError("a preset needs an id and a title")
        values["stop"] = tuple(values.get("stop") or ())
        return Preset(**values)


BUILTIN_PRESETS: tuple[Preset, ...] = (
    Preset("chat", "General chat",
           "You are a helpful, friendly assistant. Answer clearly and concisely.",
           placeholder="Ask anything…"),
    Preset("writing", "Writing and editing",
           "You are an experienced editor. Improve the text the user gives you: fix grammar and spelling, "
           "tighten wordy sentences and keep the author's voice and meaning. Return the improved text, then "
           "a short list of the main changes.",
           temperature=0.4, max_new_tokens=512, placeholder="Paste the text to edit…"),
    Preset("social", "Social media post",
           "You write engaging social media posts. Keep them short, concrete and friendly, with at most two "
           "relevant hashtags and no more than one emoji. Offer one post unless asked for more.",
           temperature=0.9, max_new_tokens=160, placeholder="What is the post about, and for which network?"),
    Preset("email", "Email draft",
           "You draft clear, polite emails. Start with a subject line, then the email. Keep it brief, "
           "state the purpose in the first sentence and end with a clear next step.",
           temperature=0.5, max_new_tokens=320, placeholder="Who is it to, and what should it say?"),
    Preset("summary", "Summarise a document",
           "You summarise documents faithfully. Give a one-sentence overview, then the key points as a "
           "short bulleted list. Do not add facts that are not in the text.",
           temperature=0.2, top_p=0.8, max_new_tokens=300, repetition_penalty=1.05,
           placeholder="Paste the document to summarise…"),
    Preset("code", "Code help",
           "You are a careful senior programmer. Explain briefly, then give correct, idiomatic code in "
           "fenced code blocks with the language named. Point out edge cases.",
           temperature=0.2, top_p=0.9, max_new_tokens=512, repetition_penalty=1.0,
           placeholder="Describe the problem or paste the code…"),
    Preset("translate", "Translation",
           "You are a professional translator. Translate the user's text into the language they ask for "
           "(English if they do not say), keeping meaning, tone and formatting. Reply with the translation "
           "only.",
           temperature=0.2, top_p=0.8, max_new_tokens=400, repetition_penalty=1.0,
           placeholder="Translate into French: …"),
    Preset("story", "Story",
           "You are an imaginative storyteller. Write vivid, well-paced stories with concrete detail and "
           "natural dialogue, and give every story a satisfying ending.",
           temperature=1.0, top_p=0.95, top_k=60, max_new_tokens=700,
           placeholder="A story about…"),
    Preset("support", "Customer-service reply",
           "You write replies for a customer-service team. Be warm, apologise once if something went wrong, "
           "answer the question directly, give clear next steps and never promise what you cannot know.",
           temperature=0.4, max_new_tokens=300, placeholder="Paste the customer's message…"),
    Preset("image-prompt", "Prompt for image",
           "You write prompts for an image generator. Reply with one prompt only, on one line, no preamble "
           "and no quotes: the subject first, then setting, style, lighting, colours and composition, as "
           "comma-separated phrases, at most 60 words.",
           temperature=0.8, max_new_tokens=120, stop=("\n\n",), send_to="image",
           placeholder="Describe the picture you have in mind…"),
)


def parse_stop(text: str) -> tuple[str, ...]:
    """Stop strings as a person types them: separated by ``|``, with ``\\n``
    and ``\\t`` for a line break and a tab (surrounding spaces are trimmed)."""
    parts = (part.strip().replace("\\n", "\n").replace("\\t", "\t") for part in text.split("|"))
    return tuple(part for part in parts if part)


def format_stop(stop: Any) -> str:
    return " | ".join(str(s).replace("\n", "\\n").replace("\t", "\\t") for s in stop or ())


def clean_image_prompt(text: str) -> str:
    """An answer of the image-prompt preset as an image prompt: its first
    paragraph, without a "Prompt:" label or quotes."""
    paragraph = next((p.strip() for p in text.strip().split("\n\n") if p.strip()), "")
    for label in ("prompt:", "image prompt:"):
        if paragraph.lower().startswith(label):
            paragraph = paragraph[len(label):].strip()
    return " ".join(paragraph.strip("\"'“”").split())


def preset_id(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "preset"


class PresetStore:
    """Built-in presets merged with the user's saved ones."""

    def __init__(self, config_dir: Path) -> None:
        self.path = Path(config_dir) / PRESETS_FILE
        self._user: dict[str, Preset] = self._read()

    def _read(self) -> dict[str, Preset]:
        if not self.path.exists():
            return {}
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
            return {p.id: p for p in (Preset.from_dict(e) for e in entries)}
        except (OSError, ValueError, TypeError, StudioError) as exc:
            # A damaged file must not cost the built-ins; keep it for the user to inspect.
            log.warning("text presets file %s unreadable (%s); using the built-in presets", self.path, exc)
            self.path.replace(self.path.with_suffix(".json.bad"))
            return {}

    def _write(self) -> None:
        atomic_write_text(self.path, json.dumps([p.to_dict() for p in self._user.values()], indent=2))

    def all(self) -> list[Preset]:
        builtin_ids = {p.id for p in BUILTIN_PRESETS}
        merged = [self._user.get(p.id, p) for p in BUILTIN_PRESETS]
        return merged + [p for p in self._user.values() if p.id not in builtin_ids]

    def get(self, preset_id_: str) -> Preset:
        for preset in self.all():
            if preset.id == preset_id_:
                return preset
        raise StudioError(f"no text preset {preset_id_!r}")

    def is_builtin(self, preset_id_: str) -> bool:
        return any(p.id == preset_id_ for p in BUILTIN_PRESETS)

    def is_modified(self, preset_id_: str) -> bool:
        return self.is_builtin(preset_id_) and preset_id_ in self._user

    def save(self, preset: Preset) -> None:
        self._user[preset.id] = preset
        self._write()

    def remove(self, preset_id_: str) -> None:
        """Delete a user preset, or reset a built-in to its original."""
        if self._user.pop(preset_id_, None) is not None:
            self._write()
