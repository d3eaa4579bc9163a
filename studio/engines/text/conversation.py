"""The conversation document: title, model, system prompt and every turn,
each assistant turn with the settings that made it and how fast it came.

One JSON schema serves both the file the engine writes for each reply (the
conversation up to and including that reply) and a conversation saved from
the Text workspace, so any text item of the library opens as a
conversation. The library adds the recipe as a top-level ``studio:recipe``
key; reading ignores it. Markdown is an export format only."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from studio.core.jobs import StudioError
from studio.core.provenance import RECIPE_KEY

FORMAT_KEY = "studio:conversation"
FORMAT_VERSION = 1


def new_conversation_id() -> str:
    return "c-" + uuid.uuid4().hex[:12]


def title_from(prompt: str, limit: int = 60) -> str:
    """A title from the first words of a prompt."""
    words = " ".join(prompt.split())
    if len(words) <= limit:
        return words or "New conversation"
    return words[:limit].rsplit(" ", 1)[0] + "…"


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    content: str
    settings: dict[str, Any] = field(default_factory=dict)  # assistant turns: what made them
    stats: dict[str, Any] = field(default_factory=dict)  # ttft_s, tokens, tokens_per_s, seconds
    stopped: bool = False  # the answer was stopped before it ended
    notice: str = ""  # e.g. earlier turns were left out to fit the context

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.settings:
            data["settings"] = dict(self.settings)
        if self.stats:
            data["stats"] = dict(self.stats)
        if self.stopped:
            data["stopped"] = True
        if self.notice:
            data["notice"] = self.notice
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Turn:
        if not isinstance(data, dict) or data.get("role") not in ("user", "assistant"):
            raise StudioError("a conversation turn must have the role 'user' or 'assistant'")
        return Turn(
            role=data["role"], content=str(data.get("content", "")),
            settings=dict(data.get("settings") or {}), stats=dict(data.get("stats") or {}),
            stopped=bool(data.get("stopped", False)), notice=str(data.get("notice", "")),
        )


@dataclass
class Conversation:
    id: str = field(default_factory=new_conversation_id)
    title: str = ""
    model_id: str = ""
    system: str = ""
    preset: str = ""
    turns: list[Turn] = field(default_factory=list)

    # --- editing ---------------------------------------------------------------
    def history_before(self, index: int) -> tuple[tuple[str, str], ...]:
        """The (role, content) pairs of the turns before ``index``: what the
        model sees as the conversation so far."""
        return tuple((turn.role, turn.content) for turn in self.turns[:index])

    def truncate(self, index: int) -> list[Turn]:
        """Drop the turns from ``index`` on; return them."""
        dropped = self.turns[index:]
        del self.turns[index:]
        return dropped

    def last_user_index(self) -> int:
        for index in range(len(self.turns) - 1, -1, -1):
            if self.turns[index].role == "user":
                return index
        return -1

    def display_title(self) -> str:
        if self.title:
            return self.title
        first = next((t.content for t in self.turns if t.role == "user"), "")
        return title_from(first)

    # --- documents ---------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        return {
            FORMAT_KEY: FORMAT_VERSION,
            "id": self.id,
            "title": self.display_title(),
            "model_id": self.model_id,
            "system": self.system,
            "preset": self.preset,
            "turns": [turn.to_dict() for turn in self.turns],
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_document(), ensure_ascii=False, indent=1).encode("utf-8")

    @staticmethod
    def from_document(document: Any) -> Conversation:
        if not isinstance(document, dict) or FORMAT_KEY not in document:
            raise StudioError("this file is not a Studio conversation")
        version = document.get(FORMAT_KEY)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StudioError(f"this conversation was saved by a newer Studio (format {version!r})")
        turns = document.get("turns")
        if not isinstance(turns, list):
            raise StudioError("the conversation has no list of turns")
        return Conversation(
            id=str(document.get("id") or new_conversation_id()), title=str(document.get("title", "")),
            model_id=str(document.get("model_id", "")), system=str(document.get("system", "")),
            preset=str(document.get("preset", "")), turns=[Turn.from_dict(t) for t in turns],
        )

    @staticmethod
    def from_json(data: bytes) -> Conversation:
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise StudioError(f"the conversation file is not valid JSON: {exc}") from exc
        if isinstance(document, dict):
            document.pop(RECIPE_KEY, None)
        return Conversation.from_document(document)

    # --- export ---------------------------------------------------------------------
    def to_markdown(self) -> str:
        lines = [f"# {self.display_title()}", ""]
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        lines += [f"*Model: {self.model_id or 'unknown'} · exported {stamp} · AI-generated with Studio*", ""]
        if self.system:
            lines += ["**System prompt:**", "", _quote(self.system), ""]
        for turn in self.turns:
            lines += ["### You" if turn.role == "user" else "### Assistant", "", turn.content, ""]
            if turn.role == "assistant":
                caption = describe_turn(turn)
                if caption:
                    lines += [f"<sub>{caption}</sub>", ""]
        return "\n".join(lines).rstrip() + "\n"


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


def describe_turn(turn: Turn, mark_stopped: bool = True) -> str:
    """The caption under an answer: speed, then what made it."""
    parts = []
    stats = turn.stats
    if "ttft_s" in stats:
        parts.append(f"{stats['ttft_s']:.2f} s to first token")
    if "tokens_per_s" in stats:
        parts.append(f"{stats['tokens_per_s']:.1f} tokens/s")
    if "tokens" in stats:
        parts.append(f"{stats['tokens']} tokens")
    settings = turn.settings
    if "temperature" in settings:
        parts.append(f"temperature {settings['temperature']:g}")
    if "seed" in settings:
        parts.append(f"seed {settings['seed']}")
    if turn.stopped and mark_stopped:
        parts.append("stopped")
    return " · ".join(parts)
