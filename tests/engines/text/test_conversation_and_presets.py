"""Conversations saved in the library reopen exactly (every turn with its
settings and speed) and export to Markdown and JSON; presets are editable,
savable, resettable, and survive a damaged presets file."""

from __future__ import annotations

import json

import pytest

from studio.core.jobs import Artifact, StudioError
from studio.core.provenance import RECIPE_KEY, read_recipe
from studio.engines.text.conversation import Conversation, Turn, describe_turn, title_from
from studio.engines.text.presets import (
    BUILTIN_PRESETS,
    Preset,
    PresetStore,
    clean_image_prompt,
    format_stop,
    parse_stop,
)
from studio.engines.text.requests import ConversationRequest


def sample_conversation() -> Conversation:
    return Conversation(
        title="Harbour story", model_id="smollm2-135m-instruct", system="Be vivid.", preset="story",
        turns=[
            Turn("user", "Write about a harbour at dawn."),
            Turn("assistant", "Boats rock against the pier…",
                 settings={"temperature": 1.0, "seed": 7, "top_p": 0.95, "stop": ["\n\n"]},
                 stats={"ttft_s": 0.12, "tokens_per_s": 31.5, "tokens": 60}),
            Turn("user", "Shorter, please — and in **bold**."),
            Turn("assistant", "**Boats. Gulls. Dawn.**", settings={"temperature": 0.2, "seed": 8},
                 stats={"ttft_s": 0.1, "tokens_per_s": 30.0, "tokens": 9}, stopped=True,
                 notice="2 earlier messages left out to fit the model's context of 64 tokens"),
        ])


def test_a_saved_conversation_reopens_exactly_from_the_library(services):
    conversation = sample_conversation()
    request = ConversationRequest(prompt=conversation.title, model_id=conversation.model_id,
                                  conversation_id=conversation.id, system=conversation.system, turns=4)
    item = services.library.add(request, Artifact(conversation.to_json(), ".json"))
    assert item.path.suffix == ".json" and item.modality == "text"
    assert item.request == request  # the library index gives back the recipe's request type
    assert read_recipe(item.path)["request"]["kind"] == "text-conversation"
    reopened = Conversation.from_json(item.path.read_bytes())
    assert reopened == conversation
    assert reopened.to_document() == conversation.to_document()
    assert json.loads(item.path.read_text())[RECIPE_KEY]["ai_generated"] is True
    assert services.library.items(search="Harbour")[0].id == item.id


def test_markdown_export_has_every_turn_and_the_speed_under_each_answer():
    markdown = sample_conversation().to_markdown()
    assert markdown.startswith("# Harbour story\n")
    assert markdown.count("### You") == 2 and markdown.count("### Assistant") == 2
    assert "> Be vivid." in markdown
    assert "<sub>0.12 s to first token · 31.5 tokens/s · 60 tokens · temperature 1 · seed 7</sub>" in markdown
    assert "stopped" in markdown.splitlines()[-1]
    assert "AI-generated" in markdown


def test_documents_that_are_not_conversations_are_refused_clearly():
    with pytest.raises(StudioError, match="not a Studio conversation"):
        Conversation.from_json(b'{"hello": 1}')
    with pytest.raises(StudioError, match="not valid JSON"):
        Conversation.from_json(b"{broken")
    with pytest.raises(StudioError, match="newer Studio"):
        Conversation.from_json(b'{"studio:conversation": 99, "turns": []}')
    with pytest.raises(StudioError, match="role"):
        Conversation.from_json(b'{"studio:conversation": 1, "turns": [{"role": "robot"}]}')


def test_history_and_truncation_follow_the_turns():
    conversation = sample_conversation()
    assert conversation.history_before(2) == (("user", "Write about a harbour at dawn."),
                                              ("assistant", "Boats rock against the pier…"))
    assert conversation.last_user_index() == 2
    dropped = conversation.truncate(2)
    assert [t.role for t in dropped] == ["user", "assistant"] and len(conversation.turns) == 2


def test_titles_and_captions():
    assert title_from("  Write   a short poem about   the sea ") == "Write a short poem about the sea"
    assert title_from("word " * 40).endswith("…") and len(title_from("word " * 40)) <= 61
    assert Conversation(turns=[Turn("user", "Plan a trip")]).display_title() == "Plan a trip"
    assert describe_turn(Turn("assistant", "x")) == ""


def test_builtin_presets_cover_the_common_tasks():
    ids = {p.id for p in BUILTIN_PRESETS}
    assert {"writing", "social", "email", "summary", "code", "translate", "story", "support",
            "image-prompt"} <= ids
    image = next(p for p in BUILTIN_PRESETS if p.id == "image-prompt")
    assert image.send_to == "image"
    assert all(p.system and 0 <= p.temperature <= 2 and p.max_new_tokens > 0 for p in BUILTIN_PRESETS)


def test_presets_are_editable_savable_and_resettable(tmp_path):
    store = PresetStore(tmp_path)
    original = store.get("email")
    edited = Preset(**{**original.to_dict(), "stop": (), "temperature": 0.1, "system": "Write in French."})
    store.save(edited)
    store.save(Preset("my-haiku", "Haiku", "Answer in haiku only.", temperature=1.2))
    reopened = PresetStore(tmp_path)
    assert reopened.get("email") == edited and reopened.is_modified("email")
    assert reopened.get("my-haiku").title == "Haiku"
    assert [p.id for p in reopened.all()][-1] == "my-haiku"
    reopened.remove("email")
    assert PresetStore(tmp_path).get("email") == original
    reopened.remove("my-haiku")
    with pytest.raises(StudioError):
        PresetStore(tmp_path).get("my-haiku")


def test_a_damaged_presets_file_keeps_the_builtins_and_is_set_aside(tmp_path):
    (tmp_path / "text-presets.json").write_text("[{not json")
    store = PresetStore(tmp_path)
    assert len(store.all()) == len(BUILTIN_PRESETS)
    assert (tmp_path / "text-presets.json.bad").exists()


def test_stop_strings_as_typed_and_answers_as_image_prompts():
    assert parse_stop(r" \n\n | THE END |  ") == ("\n\n", "THE END")
    assert format_stop(("\n\n", "THE END")) == r"\n\n | THE END"
    assert parse_stop(format_stop(("a\tb", "x"))) == ("a\tb", "x")
    assert clean_image_prompt('Prompt: "A lighthouse at dusk, oil painting"\n\nHope this helps!') == \
        "A lighthouse at dusk, oil painting"
    assert clean_image_prompt("\n\n  misty   harbour, dawn light \n") == "misty harbour, dawn light"
