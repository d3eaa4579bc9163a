"""The text stream: incremental decoding that equals a full decode in every
script, special tokens never shown, stop strings cut (and never flash on
screen), and the timing figures."""

from __future__ import annotations

import random

import pytest

from studio.engines.text.streaming import StreamedText, TextStream
from tests.engines.text import tiny_models


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return tiny_models.build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def feed(stream: TextStream, ids: list[int]) -> None:
    stream.put([[5, 6, 7]])  # generate hands over the prompt first
    for token in ids:
        stream.put([token])
    stream.end()


def test_deltas_add_up_to_the_full_decode_in_every_script(tokenizer):
    text = "Café, naïve 東京 🙂 and plain words. def add(a, b): return a + b"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    deltas: list[StreamedText] = []
    stream = TextStream(tokenizer, deltas.append)
    feed(stream, ids)
    assert stream.text == text == tokenizer.decode(ids)
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas), "a split character was shown half-decoded"
    # Each delta also carries the whole answer so far: a consumer that keeps
    # only the newest one still has everything.
    assert [d.full for d in deltas] == [text[:len(d.full)] for d in deltas]
    assert deltas[-1].full == text
    assert deltas[-1].tokens == len(ids)
    assert len(deltas) > 5


def test_random_token_ids_stream_to_exactly_what_a_full_decode_gives(tokenizer):
    rng = random.Random(4)
    ids = [rng.randrange(len(tokenizer)) for _ in range(300)]
    deltas: list[str] = []
    stream = TextStream(tokenizer, deltas.append)
    feed(stream, ids)
    expected = tokenizer.decode(ids, skip_special_tokens=True)
    assert stream.text == expected
    assert "".join(deltas) == expected


def test_special_tokens_never_reach_the_text(tokenizer):
    ids = (tokenizer("Hello", add_special_tokens=False)["input_ids"]
           + tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|im_start|>"])
           + tokenizer(" world", add_special_tokens=False)["input_ids"])
    deltas: list[str] = []
    stream = TextStream(tokenizer, deltas.append)
    feed(stream, ids)
    assert stream.text == "Hello world"
    assert "<|" not in "".join(deltas)
    assert stream.tokens == len(ids)


def test_a_stop_string_cuts_the_answer_and_is_never_shown(tokenizer):
    ids = tokenizer("The harbour END and the rest", add_special_tokens=False)["input_ids"]
    deltas: list[str] = []
    stream = TextStream(tokenizer, deltas.append, stop_strings=("END",))
    stream.put([[1]])
    for token in ids:
        stream.put([token])
        assert "E" not in "".join(deltas), "the start of the stop string was shown before it was complete"
    stream.end()
    assert stream.stop_string_hit
    assert stream.text == "The harbour "
    assert "".join(deltas) == "The harbour "


def test_text_held_back_for_a_possible_stop_string_is_released(tokenizer):
    text = "one\ntwo\nthree"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    deltas: list[str] = []
    stream = TextStream(tokenizer, deltas.append, stop_strings=("\n\n",))
    feed(stream, ids)
    assert not stream.stop_string_hit
    assert "".join(deltas) == stream.text == text


def test_timing_figures_come_from_the_clock(tokenizer):
    ticks = iter([10.0, 10.5, 10.6, 10.7, 10.8])
    stream = TextStream(tokenizer, lambda _t: None, clock=lambda: next(ticks))
    stream.put([[1, 2]])
    for token in (40, 41, 42, 43):
        stream.put([token])
    stats = stream.stats()
    assert stats["ttft_s"] == pytest.approx(0.5)
    assert stats["seconds"] == pytest.approx(0.8)
    assert stats["tokens_per_s"] == pytest.approx(stream.tokens / 0.8, rel=1e-3)


def test_streamed_text_is_a_str_delta_with_the_full_text():
    piece = StreamedText("lo", "Hello", tokens=3, elapsed_s=0.25)
    assert isinstance(piece, str) and piece == "lo"
    assert piece.full == "Hello" and piece.tokens == 3 and piece.elapsed_s == 0.25
