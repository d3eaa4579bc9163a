"""Writing suggestions: a few words that could come next in a document.

A suggestion is one short, greedy reply of the chosen text model through
the same backend a chat reply uses (transformers, llama.cpp, or an
OpenAI-compatible server: ``engine.backend_for``), so every text engine
can suggest. A local model simply continues the document's tail as plain
text (a ``continuation`` request: no chat template), so its first token is
already the next word. A server model is asked through its chat API to
continue the text; its reply is cleaned of what chat models add (quotes, a
repeat of the last words, a second line). Either is cut to ``MAX_WORDS``
words. Pieces stream to
``on_text`` as they arrive (the suggestion so far), and the cancel token
ends it within one token. Nothing is queued or stored."""

from __future__ import annotations

import re
from collections.abc import Callable

from studio.core.jobs import CancelToken, NullReporter
from studio.engines import context
from studio.engines.named import resolve
from studio.engines.text.requests import TextRequest

TAIL_CHARS = 400  # how much of the document before the cursor the model reads
MAX_WORDS = 8
MAX_NEW_TOKENS = 14
ECHO_TOKENS = 40  # small chat models often repeat the last sentence first: room to get past it
INSTRUCTION = "Continue this text with the next few words only:\n\n"


def continuation_for(model_id: str, before: str) -> TextRequest:
    """The request that continues ``before`` as plain text on a local model
    (the tail without trailing spaces: the model writes the next word's own)."""
    tail = before[-TAIL_CHARS:].strip()
    return TextRequest(prompt=tail or "…", model_id=model_id, temperature=0.0, max_new_tokens=MAX_NEW_TOKENS,
                       repetition_penalty=1.1, stop=("\n",), seed=0, continuation=True)


def clean_continuation(text: str, before: str) -> str:
    """A plain continuation as ghost text: its first line, at most ``MAX_WORDS``
    words, its leading space kept (none where ``before`` already ends in one,
    none inside a word being typed)."""
    text = text.split("\n", 1)[0]
    if not before or before[-1].isspace():
        text = text.lstrip()
    lead = text[: len(text) - len(text.lstrip())]
    words = re.findall(r"\S+\s*", text.lstrip())
    body = "".join(words[:MAX_WORDS]).rstrip()
    return lead[:1] + body if body else ""


def request_for(model_id: str, before: str) -> TextRequest:
    """The chat request that asks a server's ``model_id`` to continue ``before``."""
    tail = before[-TAIL_CHARS:].lstrip()
    last_sentence = re.split(r"(?<=[.!?])\s+", tail)[-1]
    echo = min(ECHO_TOKENS, 2 * len(last_sentence.split()))
    return TextRequest(prompt=INSTRUCTION + (tail if tail.strip() else "…"), model_id=model_id, temperature=0.0,
                       max_new_tokens=MAX_NEW_TOKENS + echo, repetition_penalty=1.1, stop=("\n",), seed=0)


def _after_echo(text: str, before: str) -> str | None:
    """``text`` less a repeat of the end of ``before``; None while ``text`` may
    still be repeating it (nothing new yet)."""
    low, end = text.lower(), before.lower()
    for size in range(min(len(end), len(low)), 3, -1):
        if low.startswith(end[-size:]):
            return text[size:]
    probe = low.strip()
    if probe and probe in end[-TAIL_CHARS:]:
        return None
    return text


def clean(suggestion: str, before: str) -> str:
    """What a chat model said, as a continuation of ``before``: one line, no
    quotes, without a repeat of the text's end, at most ``MAX_WORDS`` words."""
    text = suggestion.split("\n", 1)[0].strip().strip('"“”')
    text = _after_echo(text, before.rstrip())
    if text is None:
        return ""
    words = re.findall(r"\S+\s*", text.strip())
    text = "".join(words[:MAX_WORDS]).rstrip()
    if not text:
        return ""
    needs_space = bool(before) and not before[-1].isspace() and text[0] not in ",.;:!?)'’"
    return (" " if needs_space else "") + text


def suggest(model_id: str, before: str, cancel: CancelToken,
            on_text: Callable[[str], None] | None = None) -> str:
    """A continuation of ``before`` (cleaned; "" when the model offers none)."""
    from studio.engines.text.engine import _BACKENDS, backend_for
    from studio.engines.text.streaming import TextStream

    card = context.find_card(model_id, "text")
    backend = backend_for(card)
    local = backend != "server"
    request = continuation_for(model_id, before) if local else request_for(model_id, before)
    tidy = clean_continuation if local else clean

    def streamed(piece) -> None:
        if on_text is not None and not cancel.cancelled:
            shown = tidy(piece.full, before)
            if shown.strip():
                on_text(shown)

    stream = TextStream(None, streamed, request.stop)
    resolve(_BACKENDS[backend])(card, request, NullReporter(), cancel, stream)
    if stream.tokenizer is not None:
        stream.end()
    cancel.raise_if_cancelled()
    return tidy(stream.text, before)
