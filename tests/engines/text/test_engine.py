"""The text engine end to end on tiny random models, through the same path
as the GUI and the CLI (queue, engine, library): streaming order, seeds,
Stop, chat templates and the context limit."""

from __future__ import annotations

import itertools

import pytest

from studio.core.jobs import JobState, StudioError
from studio.engines.text import templating
from studio.engines.text.conversation import Conversation
from studio.engines.text.requests import TextRequest
from studio.engines.text.streaming import StreamedText
from tests.engines.text.conftest import Recorder, card_for, run_job
from tests.engines.text.tiny_models import build_tokenizer


def reply(item) -> Conversation:
    return Conversation.from_json(item.path.read_bytes())


def test_text_streams_in_order_and_the_stored_answer_is_what_was_shown(studio, tiny):
    card = card_for(studio, tiny.llama)
    state, item, recorder = run_job(studio, TextRequest(prompt="Tell me about the harbour", model_id=card.id,
                                                         max_new_tokens=40, seed=11))
    assert state is JobState.FINISHED
    *previews, closing = recorder.previews
    assert closing == "\n" and closing.closing and closing.full == previews[-1].full
    assert len(previews) > 3 and all(isinstance(p, StreamedText) and not p.closing for p in previews)
    for before, after in itertools.pairwise(previews):
        assert after.full.startswith(before.full) and after.full == before.full + after
        assert after.tokens >= before.tokens
    answer = reply(item).turns[-1]
    assert answer.role == "assistant"
    assert answer.content == previews[-1].full.strip()
    assert answer.stats["tokens"] == previews[-1].tokens <= 40
    assert answer.stats["ttft_s"] > 0 and answer.stats["tokens_per_s"] > 0
    assert item.recipe["stats"] == {**answer.stats, "prompt_tokens": item.recipe["stats"]["prompt_tokens"]}


def test_same_seed_and_settings_give_the_same_text_and_another_seed_does_not(studio, tiny):
    card = card_for(studio, tiny.gpt2)

    def answer(seed: int, temperature: float = 1.0) -> str:
        request = TextRequest(prompt="Write a story", model_id=card.id, max_new_tokens=24, seed=seed,
                              temperature=temperature, repetition_penalty=1.0)
        state, item, _ = run_job(studio, request)
        assert state is JobState.FINISHED
        return reply(item).turns[-1].content

    first = answer(5)
    assert first and answer(5) == first
    assert answer(6) != first
    # Temperature 0 is greedy: the seed no longer matters.
    assert answer(1, temperature=0.0) == answer(2, temperature=0.0)


def test_stop_ends_within_one_token_and_keeps_the_partial_answer(studio, tiny):
    card = card_for(studio, tiny.llama)
    recorder = Recorder(cancel_after_previews=3)
    request = TextRequest(prompt="Write a long story", model_id=card.id, max_new_tokens=150, seed=3)
    state, item, recorder = run_job(studio, request, recorder)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    assert studio.queue.jobs()[-1].state is JobState.FINISHED
    turn = reply(item).turns[-1]
    assert turn.stopped and item.recipe["stopped"] is True
    at_cancel = recorder.previews[2].tokens
    assert at_cancel <= turn.stats["tokens"] <= at_cancel + 1
    assert turn.content == recorder.previews[-1].full.strip() != ""


def test_cancel_before_the_first_word_stores_nothing(studio, tiny):
    card = card_for(studio, tiny.llama)
    recorder = Recorder()
    recorder.cancel.cancel()
    state, item, _ = run_job(studio, TextRequest(prompt="Hello", model_id=card.id), recorder)
    assert state is JobState.CANCELLED and item is None
    assert studio.library.items() == []


def test_the_models_chat_template_is_applied_with_system_and_history(studio, tiny):
    card = card_for(studio, tiny.llama)
    request = TextRequest(prompt="And now?", system="Be brief.", model_id=card.id, max_new_tokens=4,
                          history=(("user", "Hi"), ("assistant", "Hello!")))
    state, item, _ = run_job(studio, request)
    assert state is JobState.FINISHED
    expected = ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nAnd now?<|im_end|>\n"
                "<|im_start|>assistant\n")
    tokenizer = studio.models.get(card.id, lambda _c: None).tokenizer
    messages = templating.build_messages(request.system, request.history, request.prompt)
    assert templating.render(tokenizer, messages) == expected
    assert item.recipe["stats"]["prompt_tokens"] == len(templating.encode(tokenizer, expected))
    document = reply(item)
    assert [(t.role, t.content) for t in document.turns[:3]] == [
        ("user", "Hi"), ("assistant", "Hello!"), ("user", "And now?")]
    assert document.system == "Be brief."


def test_a_base_model_without_a_template_gets_a_plain_transcript(tmp_path):
    tokenizer = build_tokenizer(tmp_path, chat_template=None)
    messages = templating.build_messages("Be kind.", [("user", "Hi"), ("assistant", "Hello")], "Bye")
    assert templating.render(tokenizer, messages) == "Be kind.\n\nUser: Hi\nAssistant: Hello\nUser: Bye\nAssistant:"


def test_a_template_without_a_system_role_gets_it_in_the_first_user_message(tmp_path):
    template = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
                "{% endif %}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>")
    tokenizer = build_tokenizer(tmp_path, chat_template=template)
    messages = templating.build_messages("Be kind.", [], "Hi")
    assert templating.render(tokenizer, messages) == "<user>Be kind.\n\nHi<assistant>"


def test_history_beyond_the_context_drops_the_oldest_turns_with_a_notice(studio, tiny):
    card = card_for(studio, tiny.llama)
    history = tuple((role, f"{role} turn {i}: " + "the harbour was quiet at dawn " * 3)
                    for i in range(6) for role in ("user", "assistant"))
    request = TextRequest(prompt="Go on", model_id=card.id, history=history, max_new_tokens=16,
                          context_length=160, seed=1)
    state, item, _ = run_job(studio, request)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    dropped = item.recipe["dropped_messages"]
    assert 0 < dropped < len(history) and dropped % 2 == 0  # whole exchanges, so the rest starts with the user
    assert item.recipe["stats"]["prompt_tokens"] <= 160 - 16
    turn = reply(item).turns[-1]
    assert f"{dropped} earlier messages left out" in turn.notice
    assert len(reply(item).turns) == len(history) + 2  # the conversation itself keeps every turn


def test_a_prompt_longer_than_the_context_is_a_clear_error(studio, tiny):
    card = card_for(studio, tiny.llama)
    request = TextRequest(prompt="the sea " * 200, model_id=card.id, context_length=64)
    state, item, _ = run_job(studio, request)
    assert state is JobState.FAILED and item is None
    error = studio.queue.jobs()[-1].error
    assert "too long for the model's context of 64 tokens" in error
    assert studio.library.items() == []


def test_an_answer_that_would_overflow_the_context_is_shortened_with_a_notice(studio, tiny):
    card = card_for(studio, tiny.gpt2)  # 128 positions
    request = TextRequest(prompt="Hi", model_id=card.id, max_new_tokens=500, seed=2, temperature=1.0)
    state, item, _ = run_job(studio, request)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    turn = reply(item).turns[-1]
    room = 128 - item.recipe["stats"]["prompt_tokens"]
    assert f"answer limited to {room} tokens" in turn.notice
    assert turn.stats["tokens"] <= room


def test_an_empty_prompt_is_refused_before_anything_loads(studio, tiny):
    with pytest.raises(StudioError, match="prompt is empty"):
        TextRequest(prompt="  \n").validate()
    state, _item, _ = run_job(studio, TextRequest(prompt="", model_id=card_for(studio, tiny.gpt2).id))
    assert state is JobState.FAILED
    assert "prompt is empty" in studio.queue.jobs()[-1].error
    assert not studio.models.is_loaded(card_for(studio, tiny.gpt2).id)


@pytest.mark.parametrize("field, value, message", [
    ("temperature", -1.0, "temperature"), ("top_p", 0.0, "top-p"), ("max_new_tokens", 0, "max new tokens"),
    ("context_length", 8, "context length"), ("stop", ("",), "stop string"),
])
def test_out_of_range_settings_are_refused(field, value, message):
    with pytest.raises(StudioError, match=message):
        TextRequest(prompt="hi", **{field: value}).validate()


def test_a_request_read_back_from_its_recipe_is_the_same_request(studio, tiny):
    card = card_for(studio, tiny.gpt2)
    request = TextRequest(prompt="Hi", model_id=card.id, max_new_tokens=3, stop=("END", "\n\n"),
                          history=(("user", "a"), ("assistant", "b")), title="Chat", conversation_id="c-1")
    state, item, _ = run_job(studio, request)
    assert state is JobState.FINISHED
    assert item.request == request
    assert studio.queue.jobs()[-1].request == request
