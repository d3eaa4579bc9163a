"""Requests of the text engine (a light module: dataclasses only, no torch).

``TextRequest`` is one assistant reply: the new user prompt, the system
prompt, the earlier turns of the conversation as ``(role, content)`` pairs
and the sampling settings. It is what the queue persists and what the
library embeds as the recipe of the reply, so a reply can always be made
again from its file.

``ConversationRequest`` is the recipe of a saved conversation document: it
never runs as a job (no engine is registered for it); it exists because
every library item carries the request that made it, and a conversation is
made by the person who saved it, from many replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from studio.core.jobs import Request, StudioError

ROLES = ("system", "user", "assistant")
MAX_NEW_TOKENS = 32768
MIN_CONTEXT = 32


def _tuple_of_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in value or ():
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise StudioError(f"each history entry must be a (role, content) pair, not {entry!r}")
        pairs.append((str(entry[0]), str(entry[1])))
    return tuple(pairs)


@dataclass(frozen=True)
class TextRequest(Request):
    kind = "text"
    modality = "text"
    prompt: str = ""
    system: str = ""
    history: tuple[tuple[str, str], ...] = ()
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    repetition_penalty: float = 1.1
    max_new_tokens: int = 256
    context_length: int = 0  # 0: the model's own context length
    stop: tuple[str, ...] = ()
    title: str = ""  # the conversation's title
    conversation_id: str = ""
    preset: str = ""  # a label only: the preset's values are already in the fields above
    continuation: bool = False  # continue ``prompt`` as plain text, without the chat template

    HELP: ClassVar[dict[str, str]] = {
        "prompt": "the message to reply to",
        "system": "system prompt: who the assistant is and how it answers",
        "history": "earlier turns as (role, content) pairs",
        "temperature": "sampling temperature (0-5): higher is more varied, 0 always picks the likeliest token",
        "top_p": "nucleus sampling: keep the likeliest tokens up to this total probability (above 0, at most 1)",
        "top_k": "keep only the k likeliest tokens (0: off)",
        "repetition_penalty": "how much repeating earlier tokens is discouraged (1: not at all)",
        "max_new_tokens": f"the longest reply, in tokens (1-{MAX_NEW_TOKENS})",
        "context_length": f"tokens of context (0: the model's own; else at least {MIN_CONTEXT})",
        "stop": "a string that ends the reply where it appears",
        "title": "the conversation's title in the library (empty: from the first message)",
        "conversation_id": "the id the saved conversation gets (empty: a new id)",
        "preset": "the name of the sampling preset used, recorded as a label",
        "continuation": "continue the prompt as plain text instead of answering it as a chat message "
                        "(local models; a server is always asked as a chat)",
    }

    def __post_init__(self) -> None:
        # JSON brings tuples back as lists; normalise so a request read from a
        # recipe equals the one that was submitted.
        object.__setattr__(self, "history", _tuple_of_pairs(self.history))
        stop = (self.stop,) if isinstance(self.stop, str) else self.stop
        object.__setattr__(self, "stop", tuple(str(s) for s in stop or ()))

    def validate(self) -> None:
        if not self.prompt.strip():
            raise StudioError("the prompt is empty: write a message first")
        if not 0.0 <= self.temperature <= 5.0:
            raise StudioError(f"temperature must be between 0 and 5, not {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise StudioError(f"top-p must be above 0 and at most 1, not {self.top_p}")
        if self.top_k < 0:
            raise StudioError(f"top-k must be 0 (off) or more, not {self.top_k}")
        if not 0.0 < self.repetition_penalty <= 5.0:
            raise StudioError(f"repetition penalty must be above 0 and at most 5, not {self.repetition_penalty}")
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise StudioError(f"max new tokens must be between 1 and {MAX_NEW_TOKENS}, not {self.max_new_tokens}")
        if self.context_length and self.context_length < MIN_CONTEXT:
            raise StudioError(f"context length must be 0 (the model's own) or at least {MIN_CONTEXT} tokens")
        if any(not s for s in self.stop):
            raise StudioError("a stop string cannot be empty")
        for role, _content in self.history:
            if role not in ROLES:
                raise StudioError(f"unknown role {role!r} in the conversation history")
        if self.seed < 0:
            raise StudioError(f"the seed must be 0 or more, not {self.seed}")

    def sampling(self) -> dict[str, Any]:
        """The settings that shape this reply, as stored with each turn."""
        return {
            "model_id": self.model_id, "seed": self.seed, "temperature": self.temperature,
            "top_p": self.top_p, "top_k": self.top_k, "repetition_penalty": self.repetition_penalty,
            "max_new_tokens": self.max_new_tokens, "context_length": self.context_length,
            "stop": list(self.stop), "preset": self.preset,
        }


@dataclass(frozen=True)
class ConversationRequest(Request):
    kind = "text-conversation"
    modality = "text"
    prompt: str = ""  # the title: what the library shows and searches
    conversation_id: str = ""
    system: str = ""
    turns: int = 0

    def describe(self) -> str:
        return self.prompt or "conversation"


@dataclass(frozen=True)
class DocumentRequest(Request):
    """The recipe of a document written in the Write view (with suggestions of
    ``model_id``); like a conversation, never run as a job."""

    kind = "text-document"
    modality = "text"
    prompt: str = ""  # the title: what the library shows and searches
    document_id: str = ""
    words: int = 0

    def describe(self) -> str:
        return self.prompt or "document"
