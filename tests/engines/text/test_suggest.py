"""Writing suggestions: the cleaning of what a chat model says into a
continuation, and a suggestion from every backend on tiny models
(transformers, llama.cpp, an OpenAI-compatible server), cancellable."""

from __future__ import annotations

import importlib.util

import pytest

from studio.core.jobs import Cancelled, CancelToken
from studio.engines.text import suggest
from studio.engines.text.engine import backend_for
from tests.engines.text.conftest import card_for


def test_clean_drops_a_repeat_of_the_text_quotes_and_extra_lines():
    before = "The harbour was quiet. Boats rocked while the"
    assert suggest.clean("Boats rocked while the gulls circled overhead.\nMore", before) == \
        " gulls circled overhead."
    assert suggest.clean('"gulls circled"', before) == " gulls circled"
    assert suggest.clean("The harbour was", before) == ""  # still repeating: nothing new yet
    assert suggest.clean("one two three four five six seven eight nine ten", "x ") == \
        "one two three four five six seven eight"
    assert suggest.clean(", and more", "word") == ", and more"


def test_the_request_is_greedy_short_and_reads_the_tail():
    request = suggest.request_for("m", "a" * 2000 + " end of it")
    assert request.temperature == 0.0 and request.stop == ("\n",)
    assert request.prompt.endswith(" end of it") and len(request.prompt) < suggest.TAIL_CHARS + 100
    assert request.max_new_tokens <= suggest.MAX_NEW_TOKENS + suggest.ECHO_TOKENS


def test_a_local_continuation_keeps_the_models_own_spacing():
    assert suggest.clean_continuation(" your hard work this year and every year after", "Thank you all for") == \
        " your hard work this year and every year"  # eight words
    assert suggest.clean_continuation(" your help", "Thank you all for ") == "your help"  # the space is typed
    assert suggest.clean_continuation("et today.\nNext", "The harbour was qui") == "et today."  # inside a word
    assert suggest.clean_continuation("\nNothing", "Text") == ""


def test_a_continuation_request_is_the_plain_tail_without_trailing_space():
    request = suggest.continuation_for("m", "b" * 2000 + " the end of it ")
    assert request.continuation and request.temperature == 0.0
    assert request.prompt.endswith("the end of it") and len(request.prompt) <= suggest.TAIL_CHARS
    assert request.max_new_tokens == suggest.MAX_NEW_TOKENS


def test_a_continuation_is_fitted_as_plain_text_not_a_chat(tiny):
    from transformers import AutoTokenizer

    from studio.engines.text import templating
    from studio.engines.text.requests import TextRequest

    tokenizer = AutoTokenizer.from_pretrained(str(tiny.llama))
    text = "Once upon a time, a small fox"
    plain = templating.fit_request(tokenizer, TextRequest(prompt=text, continuation=True, max_new_tokens=8), 512)
    chat = templating.fit_request(tokenizer, TextRequest(prompt=text, max_new_tokens=8), 512)
    assert plain.ids == templating.encode(tokenizer, text)
    assert chat.ids != plain.ids
    short = templating.fit_request(tokenizer, TextRequest(prompt=text * 40, continuation=True, max_new_tokens=8), 64)
    assert len(short.ids) == 56 and short.notice and short.ids == templating.encode(tokenizer, text * 40)[-56:]


@pytest.mark.parametrize("which", ["transformers", "llama.cpp"])
def test_every_local_backend_suggests_and_streams(studio, tiny, which):
    if which == "llama.cpp" and importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    card = card_for(studio, tiny.llama if which == "transformers" else tiny.gguf)
    assert backend_for(card) == which
    seen: list[str] = []
    text = suggest.suggest(card.id, "Once upon a time", CancelToken(), seen.append)
    assert isinstance(text, str)
    assert all(piece.strip() for piece in seen)
    assert not text or seen  # a suggestion streamed before it was returned


def test_a_cancelled_suggestion_raises_cancelled(studio, tiny):
    card = card_for(studio, tiny.llama)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        suggest.suggest(card.id, "Once upon a time", token)


def test_a_server_model_suggests(services, tmp_path, monkeypatch):
    from studio.core import servers
    from tests.helpers import llama_server

    reason = llama_server.why_unavailable()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("STUDIO_SECRETS", "file")
    services.models.include_hf_cache = False
    running = llama_server.start_llama_server(tmp_path, api_key="k-123")
    try:
        servers.ServerStore(services.settings).add("box", running.api_url, api_key="k-123")
        services.models.refresh()
        card = next(c for c in services.models.cards("text") if c.format == "openai-server")
        assert backend_for(card) == "server"
        assert isinstance(suggest.suggest(card.id, "Once upon a time", CancelToken()), str)
    finally:
        running.stop()
