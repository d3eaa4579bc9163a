"""The A1111 prompt syntax, parsed without any model: attention weights and
LoRA tags.

- ``(word)`` multiplies the weight of ``word`` by 1.1, ``((word))`` by 1.21;
  ``[word]`` divides it by 1.1; ``(word:1.3)`` sets 1.3 (nested groups
  multiply); ``\\(`` and ``\\)`` are literal brackets.
- ``BREAK`` (upper case, on its own) starts a new 75-token chunk.
- ``<lora:name:0.8>`` (or ``<lyco:...>``) asks for a LoRA at that weight
  (1.0 when the weight is left out); the tag is removed from the text.

``parse_weighted`` gives the text as fragments with weights, the shape the
prompt encoder (``embeddings``) turns into weighted token embeddings."""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUND_UP = 1.1
SQUARE_DOWN = 1 / 1.1
BREAK = "BREAK"
_LORA_TAG = re.compile(r"<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>", re.IGNORECASE)
_WEIGHT_SUFFIX = re.compile(r":\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$")


@dataclass(frozen=True)
class Fragment:
    text: str
    weight: float = 1.0

    @property
    def is_break(self) -> bool:
        return self.text == BREAK and self.weight == -1.0


BREAK_FRAGMENT = Fragment(BREAK, -1.0)


def extract_loras(prompt: str) -> tuple[str, list[tuple[str, float]]]:
    """The prompt without its LoRA tags, and the (name, weight) pairs they asked for."""
    found: list[tuple[str, float]] = []

    def take(match: re.Match) -> str:
        name = match.group(1).strip()
        raw = (match.group(2) or "").strip()
        try:
            weight = float(raw) if raw else 1.0
        except ValueError:
            weight = 1.0
        found.append((name, weight))
        return ""

    text = _LORA_TAG.sub(take, prompt)
    return re.sub(r"[ \t]{2,}", " ", text).strip(" ,\t"), found


def merge_loras(*groups: list[tuple[str, float]] | tuple) -> list[tuple[str, float]]:
    """One weight per LoRA name (later groups win), in first-seen order."""
    merged: dict[str, float] = {}
    for group in groups:
        for name, weight in group:
            merged[str(name)] = float(weight)
    return list(merged.items())


def _tokens(text: str) -> list[str]:
    """Split into brackets, escapes and plain runs."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
        elif ch in "()[]":
            out.append(ch)
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in "()[]\\":
                j += 1
            if j == i:  # a lone trailing backslash
                j = i + 1
            out.append(text[i:j])
            i = j
    return out


def parse_weighted(prompt: str) -> list[Fragment]:
    """Fragments with their weights; neighbours of equal weight are merged.

    Unbalanced brackets are forgiven the way A1111 forgives them: an
    unclosed group applies its multiplier to the end of the prompt."""
    pieces: list[tuple[str, float]] = []
    # Each open group remembers where its text starts and how it multiplies.
    stack: list[tuple[str, int]] = []
    for token in _tokens(prompt):
        if token.startswith("\\") and len(token) == 2:
            pieces.append((token[1], 1.0))
        elif token in "([":
            stack.append((token, len(pieces)))
        elif token == ")" and stack and stack[-1][0] == "(":
            _, start = stack.pop()
            _close_group(pieces, start, ROUND_UP)
        elif token == "]" and stack and stack[-1][0] == "[":
            _, start = stack.pop()
            _close_group(pieces, start, SQUARE_DOWN)
        elif token in ")]":
            pieces.append((token, 1.0))  # a stray closing bracket is plain text
        else:
            pieces.append((token, 1.0))
    for kind, start in reversed(stack):
        _close_group(pieces, start, ROUND_UP if kind == "(" else SQUARE_DOWN)
    return _merge(_split_breaks(pieces))


def _close_group(pieces: list[tuple[str, float]], start: int, default: float) -> None:
    """Apply a group's multiplier to pieces[start:], reading ``:1.3`` at its end."""
    multiplier = default
    if start < len(pieces):
        last_text, last_weight = pieces[-1]
        match = _WEIGHT_SUFFIX.search(last_text)
        if match and default == ROUND_UP:
            multiplier = float(match.group(1))
            pieces[-1] = (last_text[:match.start()], last_weight)
    for index in range(start, len(pieces)):
        text, weight = pieces[index]
        pieces[index] = (text, weight * multiplier)


def _split_breaks(pieces: list[tuple[str, float]]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for text, weight in pieces:
        parts = re.split(r"\s*\bBREAK\b\s*", text)
        for index, part in enumerate(parts):
            if index:
                out.append((BREAK, -1.0))
            if part:
                out.append((part, weight))
    return out


def _merge(pieces: list[tuple[str, float]]) -> list[Fragment]:
    merged: list[list] = []
    for text, weight in pieces:
        if merged and weight != -1.0 and merged[-1][1] == weight:
            merged[-1][0] += text
        else:
            merged.append([text, weight])
    fragments = [Fragment(text, round(weight, 6)) for text, weight in merged if text]
    return fragments or [Fragment("", 1.0)]


def plain_text(prompt: str) -> str:
    """The prompt with weights and LoRA tags removed, for models that take plain text."""
    text, _ = extract_loras(prompt)
    return " ".join(f.text.strip() for f in parse_weighted(text) if not f.is_break and f.text.strip())


def has_weights(fragments: list[Fragment]) -> bool:
    return any(f.is_break or f.weight != 1.0 for f in fragments)
