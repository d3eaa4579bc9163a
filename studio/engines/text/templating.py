"""From a conversation to the prompt's token ids, within the context.

The model's own chat template is used when it has one (transformers reads
it from the tokenizer files, or from a GGUF's ``tokenizer.chat_template``);
a template that refuses a system role gets the system prompt folded into
the first user message; a model without a template (a base model) gets a
plain "User: / Assistant:" transcript.

When the conversation does not fit in the context with room for the
answer, the oldest turns are left out (never the system prompt or the new
prompt) and a notice says so; if the new prompt alone cannot fit, that is a
clear error, not a crash deep in the model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from studio.core.jobs import StudioError

log = logging.getLogger(__name__)

MIN_ANSWER_TOKENS = 16  # less room than this for the answer is not worth generating
FALLBACK_NAMES = {"user": "User", "assistant": "Assistant", "system": "System"}


def build_messages(system: str, history: Sequence[tuple[str, str]], prompt: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system.strip() else []
    messages += [{"role": role, "content": content} for role, content in history if role != "system"]
    messages.append({"role": "user", "content": prompt})
    return messages


def render(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text for ``messages``, ending where the answer begins."""
    if getattr(tokenizer, "chat_template", None):
        try:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception as exc:  # noqa: BLE001 - jinja raises its own error types from inside templates
            if messages and messages[0]["role"] == "system":
                folded = _fold_system(messages)
                try:
                    return tokenizer.apply_chat_template(folded, tokenize=False, add_generation_prompt=True)
                except Exception as folded_exc:  # noqa: BLE001
                    log.info("chat template refused the folded system prompt too: %s", folded_exc)
            raise StudioError(f"the model's chat template failed: {exc}") from exc
    return _transcript(messages)


def _fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Put the system prompt at the head of the first user message (for
    templates, such as Gemma's, that accept no system role)."""
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    for message in rest:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}"
            break
    return rest


def _transcript(messages: list[dict[str, str]]) -> str:
    parts = []
    for message in messages:
        if message["role"] == "system":
            parts.append(message["content"].strip() + "\n")
        else:
            parts.append(f"{FALLBACK_NAMES[message['role']]}: {message['content'].strip()}")
    return "\n".join(parts) + "\nAssistant:"


def encode(tokenizer: Any, text: str) -> list[int]:
    # The template already wrote any begin-of-text marker; adding special
    # tokens again would double it.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class FittedPrompt:
    ids: list[int]
    dropped: int  # history messages left out
    max_new_tokens: int
    notice: str


def fit_request(tokenizer: Any, request: Any, context: int) -> FittedPrompt:
    """``fit`` for a ``TextRequest``: its conversation, or for a continuation
    its prompt as plain text (the end of it that fits)."""
    if getattr(request, "continuation", False):
        return fit_text(tokenizer, request.prompt, context, request.max_new_tokens)
    return fit(tokenizer, request.system, request.history, request.prompt, context, request.max_new_tokens)


def fit_text(tokenizer: Any, text: str, context: int, max_new_tokens: int) -> FittedPrompt:
    """Plain text to be continued, without a chat template: its last tokens
    that leave ``max_new_tokens`` of the context free."""
    ids = encode(tokenizer, text)
    budget = max(1, context - max_new_tokens)
    notice = "" if len(ids) <= budget else f"only the last {budget} tokens of the text were read"
    return FittedPrompt(ids[-budget:], 0, max_new_tokens, notice)


def fit(tokenizer: Any, system: str, history: Sequence[tuple[str, str]], prompt: str,
        context: int, max_new_tokens: int) -> FittedPrompt:
    """The prompt's ids with as much history as fits in ``context`` tokens
    while leaving ``max_new_tokens`` for the answer."""
    history = [pair for pair in history if pair[0] != "system"]
    budget = context - max_new_tokens
    dropped = 0
    while True:
        ids = encode(tokenizer, render(tokenizer, build_messages(system, history[dropped:], prompt)))
        if len(ids) <= budget or dropped >= len(history):
            break
        dropped += 1
        # Templates that insist on alternating turns must start with the user.
        while dropped < len(history) and history[dropped][0] == "assistant":
            dropped += 1
    notices = []
    if dropped:
        notices.append(f"{dropped} earlier message{'s' if dropped != 1 else ''} left out to fit the "
                       f"model's context of {context} tokens")
    if len(ids) > budget:
        room = context - len(ids)
        if room < MIN_ANSWER_TOKENS:
            what = "the prompt and system prompt are" if system.strip() else "the prompt is"
            raise StudioError(
                f"{what} {len(ids)} tokens, too long for the model's context of {context} tokens "
                f"(with room for an answer); shorten the prompt")
        notices.append(f"answer limited to {room} tokens to fit the context")
        max_new_tokens = room
    return FittedPrompt(ids, dropped, max_new_tokens, "; ".join(notices))
