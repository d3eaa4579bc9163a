"""Turning the token ids of a generation into visible text as they come.

``TextStream`` is a transformers streamer (``generate`` calls ``put`` with
each new token and ``end`` at the end); engines that receive text rather
than ids (llama.cpp, a server) call ``put_text`` instead. It decodes incrementally, skipping
special tokens so they never reach the screen, holds back text that might
be the start of a stop string, cuts the answer at a stop string, and times
the first token and the rate after it.

Each piece of new text is handed on as a ``StreamedText``: a ``str`` (the
delta, which the CLI prints as it arrives) that also carries the whole
answer so far in ``.full`` (and the token count and time, for a live
speed readout). The job runner coalesces previews to a frame
rate, keeping only the newest; a consumer that shows ``.full`` therefore
never loses text however many deltas were dropped in between.

No torch import here: the GUI imports ``StreamedText`` on its start-up path."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


class StreamedText(str):
    """A text delta that also knows the whole answer so far, how many tokens
    it took and how long since generation started."""

    full: str
    tokens: int
    elapsed_s: float
    closing: bool  # the line break that ends a stream (``full`` is unchanged by it)

    def __new__(cls, delta: str, full: str, tokens: int = 0, elapsed_s: float = 0.0,
                closing: bool = False) -> StreamedText:
        text = super().__new__(cls, delta)
        text.full = full
        text.tokens = tokens
        text.elapsed_s = elapsed_s
        text.closing = closing
        return text


class TextStream:
    """A streamer for ``model.generate(..., streamer=...)``."""

    def __init__(self, tokenizer: Any, on_text: Callable[[StreamedText], None],
                 stop_strings: Sequence[str] = (), clock: Callable[[], float] = time.perf_counter) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.stop_strings = tuple(s for s in stop_strings if s)
        self.clock = clock
        self.started = clock()
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.ids: list[int] = []
        self.text = ""  # visible text so far (special tokens skipped, cut at a stop string)
        self.emitted = 0  # how much of ``text`` has been handed on
        self.stop_string_hit = False
        self._text_tokens = 0  # tokens that came as text (``put_text``), not ids
        self._prompt_seen = False
        self._prefix_offset = 0
        self._read_offset = 0

    # --- the streamer protocol -------------------------------------------------
    def put(self, value: Any) -> None:
        ids = value.tolist() if hasattr(value, "tolist") else list(value)
        if ids and isinstance(ids[0], list):  # a batch of one
            ids = ids[0]
        if not self._prompt_seen:  # generate first passes the prompt itself
            self._prompt_seen = True
            return
        now = self.clock()
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        if self.stop_string_hit:
            return  # generation ends on the next step; nothing after the stop string is shown
        for token in ids:
            self.ids.append(int(token))
            self._decode_step()

    def put_text(self, piece: str, tokens: int = 1) -> None:
        """A piece of already-decoded text (from llama.cpp or a server's
        stream), counted as ``tokens`` tokens; stop strings apply as for ids."""
        now = self.clock()
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        if self.stop_string_hit:
            return
        self._text_tokens += tokens
        self.text += piece
        self._check_stop_strings()

    def end(self) -> None:
        if self.stop_string_hit:
            return
        # Whatever is still waiting for the rest of a character will not get
        # it: show it as the tokenizer decodes it.
        prefix = self._decode(self.ids[self._prefix_offset:self._read_offset])
        window = self._decode(self.ids[self._prefix_offset:])
        if len(window) > len(prefix):
            self.text += window[len(prefix):]
            self._prefix_offset = self._read_offset = len(self.ids)
        self._check_stop_strings()
        if not self.stop_string_hit:
            self._emit(len(self.text))

    def closing_line(self) -> StreamedText:
        """A last delta, a line break, so that whatever a terminal prints after
        the streamed answer starts on a line of its own. It adds nothing to
        the answer: its ``full`` is the text as it was."""
        elapsed = (self.last_token_at or self.started) - self.started
        return StreamedText("\n", self.text, self.tokens, elapsed, closing=True)

    # --- statistics ------------------------------------------------------------------
    @property
    def tokens(self) -> int:
        return len(self.ids) + self._text_tokens

    def stats(self) -> dict[str, float | int]:
        """Time to first token, tokens, and tokens per second (over the whole
        generation, from its start to the last token)."""
        end = self.last_token_at or self.clock()
        seconds = max(end - self.started, 1e-9)
        stats: dict[str, float | int] = {"tokens": self.tokens, "seconds": round(seconds, 4)}
        if self.first_token_at is not None:
            stats["ttft_s"] = round(self.first_token_at - self.started, 4)
            stats["tokens_per_s"] = round(self.tokens / seconds, 2)
        return stats

    # --- decoding --------------------------------------------------------------------
    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _decode_step(self) -> None:
        # Decode a window that starts a few tokens back, so multi-byte characters
        # split across tokens and tokenizers that drop a leading space at the
        # start of a sequence both come out right (the window and its prefix
        # are decoded the same way, and only the difference is new).
        prefix = self._decode(self.ids[self._prefix_offset:self._read_offset])
        window = self._decode(self.ids[self._prefix_offset:])
        if len(window) <= len(prefix) or window.endswith("\ufffd"):
            return  # an incomplete character: wait for the next token
        self.text += window[len(prefix):]
        self._prefix_offset, self._read_offset = self._read_offset, len(self.ids)
        self._check_stop_strings()

    def _check_stop_strings(self) -> None:
        if not self.stop_strings:
            self._emit(len(self.text))
            return
        longest = max(len(s) for s in self.stop_strings)
        search_from = max(0, self.emitted - longest)
        cut = min((i for i in (self.text.find(s, search_from) for s in self.stop_strings) if i >= 0),
                  default=-1)
        if cut >= 0:
            self.text = self.text[:cut]
            self.stop_string_hit = True
            self._emit(cut)
            return
        self._emit(len(self.text) - self._held_back())

    def _held_back(self) -> int:
        """Length of the longest end of the text that could begin a stop string."""
        held = 0
        for stop in self.stop_strings:
            for size in range(min(len(stop) - 1, len(self.text)), held, -1):
                if self.text.endswith(stop[:size]):
                    held = size
                    break
        return held

    def _emit(self, upto: int) -> None:
        if upto > self.emitted:
            delta = self.text[self.emitted:upto]
            self.emitted = upto
            elapsed = (self.last_token_at or self.started) - self.started
            self.on_text(StreamedText(delta, self.text[:upto], self.tokens, elapsed))
