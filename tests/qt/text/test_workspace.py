"""The Text workspace in a real window, with a tiny random Llama chat model
on disk and the real job runner: streaming into the chat, Stop, failures
that give the question back, regenerate / edit / delete, presets and the
image-prompt hand-off, saving and reopening conversations, exports, and
the open conversation surviving a restart."""

from __future__ import annotations

import itertools
import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from studio.core.credentials import read_credentials
from studio.core.provenance import read_recipe
from studio.engines.text.conversation import Conversation
from studio.engines.text.presets import PresetStore, clean_image_prompt, format_stop, parse_stop
from tests.engines.text import tiny_models

TIMEOUT = 60000


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("text-models")
    tiny_models.build_llama(root / "tiny-llama")
    return root


@pytest.fixture
def open_text(open_window, studio_home, model_folder):
    settings = studio_home / "config" / "settings.json"
    if not settings.exists():
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({"models.folders": [str(model_folder)], "ui.workspace": "text"}))

    def _open():
        window = open_window(background=False)
        window.services.models.include_hf_cache = False
        window.services.models.refresh()
        workspace = window.workspaces["text"]
        workspace.set_model_cards(window.services.models.cards())
        card = next(c for c in window.services.models.cards("text") if c.name == "tiny-llama")
        workspace.form.set_value("model_id", card.id)
        workspace.seed_field.random_button.setChecked(False)
        workspace.seed_field.spin.setValue(3)
        return window, workspace

    return _open


@pytest.fixture
def text(open_text):
    return open_text()


def send(qtbot, window, workspace, prompt: str, max_tokens: int = 12):
    workspace.max_tokens.setValue(max_tokens)
    workspace.prompt_edit.setPlainText(prompt)
    with qtbot.waitSignal(window.runner.job_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(workspace.send_button, Qt.MouseButton.LeftButton)
    return finished.args[1]


def test_the_answer_streams_into_the_chat_then_shows_its_speed(qtbot, text):
    window, workspace = text
    seen: list[str] = []

    def watch(_job_id, _payload):  # after the workspace's own slot has drawn the preview
        if workspace.chat.streaming is not None:
            seen.append(workspace.chat.streaming.body.text())

    window.runner.set_max_fps(1000)  # the tiny model writes faster than the default preview rate
    window.runner.job_preview.connect(watch)
    assert workspace.notice.isHidden() and workspace.send_button.isEnabled()
    item = send(qtbot, window, workspace, "Tell me about the harbour", max_tokens=150)
    assert seen, "no streamed text reached the chat"
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(seen))
    answer = Conversation.from_json(item.path.read_bytes()).turns[-1]
    assert [m.body.text() for m in workspace.chat.messages] == ["Tell me about the harbour", answer.content]
    assert answer.content.startswith(seen[-1].rstrip("…")[:10])
    caption = workspace.chat.message(1).caption.text()
    assert "s to first token" in caption and "tokens/s" in caption and "seed 3" in caption
    assert workspace.prompt_edit.toPlainText() == ""
    assert workspace.send_button.isEnabled() and not workspace.stop_button.isEnabled()
    assert window.library_panel.item_ids()[0] == item.id


def test_stop_keeps_the_partial_answer(qtbot, text):
    window, workspace = text
    stopped: list[int] = []

    def stop_on_first_text(job_id, _payload):
        if not stopped:
            stopped.append(job_id)
            workspace.stop_button.click()

    window.runner.set_max_fps(1000)  # the first text arrives while the tiny model is still writing
    window.runner.job_preview.connect(stop_on_first_text)
    item = send(qtbot, window, workspace, "Write a very long story", max_tokens=230)
    assert stopped
    turn = workspace.conversation.turns[-1]
    assert turn.stopped and turn.content and turn.stats["tokens"] < 230
    assert Conversation.from_json(item.path.read_bytes()).turns[-1] == turn
    notice = workspace.chat.message(1).notice
    assert notice.isVisibleTo(workspace) and "Stopped" in notice.text()


def test_a_failed_reply_gives_the_question_back(qtbot, text):
    window, workspace = text
    qtbot.mouseClick(workspace.send_button, Qt.MouseButton.LeftButton)
    assert workspace.error_text() == "the prompt is empty: write a message first"
    long_prompt = "the sea " * 120
    workspace.context_length.setValue(64)
    workspace.prompt_edit.setPlainText(long_prompt)
    with qtbot.waitSignal(window.runner.job_failed, timeout=TIMEOUT):
        qtbot.mouseClick(workspace.send_button, Qt.MouseButton.LeftButton)
        assert workspace.prompt_edit.toPlainText() == ""
        assert not workspace.send_button.isEnabled() and workspace.stop_button.isEnabled()
    assert "too long for the model's context of 64 tokens" in workspace.error_text()
    assert workspace.prompt_edit.toPlainText() == long_prompt
    assert workspace.conversation.turns == [] and workspace.chat.messages == []
    assert workspace.send_button.isEnabled()


def test_regenerate_edit_and_delete_turns(qtbot, text):
    window, workspace = text
    send(qtbot, window, workspace, "First question")
    send(qtbot, window, workspace, "Second question")
    before = workspace.conversation.turns[3].content
    workspace.seed_field.spin.setValue(99)
    with qtbot.waitSignal(window.runner.job_finished, timeout=TIMEOUT) as finished:
        workspace.chat.message(3).buttons["regenerate"].click()
    roles = [t.role for t in workspace.conversation.turns]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert workspace.conversation.turns[3].content != before
    assert workspace.conversation.turns[3].settings["seed"] == 99
    assert finished.args[1].request.history == workspace.conversation.history_before(2)

    workspace.chat.message(0).buttons["edit"].click()
    assert workspace.prompt_edit.toPlainText() == "First question" and workspace.edit_banner.isVisibleTo(workspace)
    assert "3 turns after it" in workspace.edit_banner.text()
    item = send(qtbot, window, workspace, "First question, put better")
    assert workspace.conversation.turns[0].content == "First question, put better"
    assert len(workspace.conversation.turns) == 2 and item.request.history == ()
    assert not workspace.edit_banner.isVisibleTo(workspace)

    workspace.chat.message(1).buttons["copy"].click()
    assert QGuiApplication.clipboard().text() == workspace.conversation.turns[1].content
    assert workspace.job_status.text() == "Copied to the clipboard"
    workspace.chat.message(1).buttons["delete"].click()
    assert [t.role for t in workspace.conversation.turns] == ["user"]
    assert len(workspace.chat.messages) == 1


def test_presets_fill_the_form_and_the_image_prompt_goes_to_the_image_workspace(qtbot, text, studio_home):
    window, workspace = text
    workspace.preset_bar.choose("image-prompt")
    preset = workspace.presets.get("image-prompt")
    assert workspace.system_edit.toPlainText() == preset.system
    assert workspace.temperature.value() == pytest.approx(0.8) and workspace.max_tokens.value() == 120
    assert workspace.stop_edit.text() == r"\n\n" and parse_stop(workspace.stop_edit.text()) == ("\n\n",)
    assert workspace.prompt_edit.placeholderText() == preset.placeholder
    workspace.seed_field.spin.setValue(5)
    workspace.prompt_edit.setPlainText("a lighthouse in a storm")
    with qtbot.waitSignal(window.runner.job_finished, timeout=TIMEOUT):
        qtbot.mouseClick(workspace.send_button, Qt.MouseButton.LeftButton)
    answer = workspace.conversation.turns[1]
    assert answer.settings["preset"] == "image-prompt" and answer.content
    workspace.chat.message(1).buttons["send"].click()
    image = window.workspaces["image"]
    assert window.current_workspace() is image
    assert image.prompt_edit.toPlainText() == clean_image_prompt(answer.content) != ""

    window.show_workspace("text")
    workspace.temperature.setValue(1.3)
    saved = workspace.preset_bar.save_as("Wild image prompts")
    assert workspace.preset_bar.combo.currentData() == saved.id == "wild-image-prompts"
    assert PresetStore(studio_home / "config").get(saved.id).temperature == pytest.approx(1.3)
    workspace.preset_bar.choose("email")
    original = workspace.presets.get("email")
    workspace.temperature.setValue(1.9)
    workspace.preset_bar.update_current()
    assert "(edited)" in workspace.preset_bar.combo.currentText()
    workspace.preset_bar.remove_current()
    assert workspace.temperature.value() == pytest.approx(original.temperature)
    assert workspace.preset_bar.combo.currentText() == original.title


def test_save_reopen_exactly_and_export(qtbot, text, tmp_path):
    window, workspace = text
    item = send(qtbot, window, workspace, "Plan a day by the sea")
    workspace.title_edit.setText("Seaside plans")
    workspace.title_edit.editingFinished.emit()
    saved = workspace.save_conversation()
    assert saved.kind == "text-conversation" and saved.prompt == "Seaside plans"
    assert saved.id in window.library_panel.item_ids()
    document = workspace.conversation.to_document()

    workspace.new_conversation()
    assert workspace.chat.messages == [] and workspace.title_edit.text() == ""
    window.show_library_item(saved)
    assert workspace.conversation.to_document() == document
    assert workspace.title_edit.text() == "Seaside plans" and len(workspace.chat.messages) == 2

    resaved = workspace.save_conversation()  # one saved copy per conversation: the latest
    ids = [i.id for i in window.services.library.items()]
    assert resaved.id in ids and saved.id not in ids and item.id in ids

    markdown = workspace.export_markdown(tmp_path / "plans.md")
    exported = workspace.export_json(tmp_path / "plans.json")
    text_md = markdown.read_text()
    assert "# Seaside plans" in text_md and "### Assistant" in text_md and "tokens/s" in text_md
    assert read_recipe(markdown)["ai_generated"] is True
    assert read_recipe(exported)["request"]["kind"] == "text-conversation"
    for path in (markdown, exported):  # Content Credentials in a sidecar beside each exported file
        found = read_credentials(path, window.services.paths.config)
        assert found.state == "valid" and found.sidecar, (path.name, found.reason)
        assert found.recipe["request"]["kind"] == "text-conversation"
    assert Conversation.from_json(exported.read_bytes()).to_document() == document

    # A reply from the Library opens as the conversation up to that reply.
    window.show_library_item(item)
    assert [t.content for t in workspace.conversation.turns] == [t["content"] for t in document["turns"]]


def test_reuse_settings_of_a_reply_restores_its_form(qtbot, text):
    window, workspace = text
    workspace.stop_edit.setText(r"END | \n\n")
    item = send(qtbot, window, workspace, "Summarise the tides")
    workspace.stop_edit.setText("")
    workspace.temperature.setValue(1.7)
    window.reuse_settings(item)
    assert workspace.prompt_edit.toPlainText() == "Summarise the tides"
    assert parse_stop(workspace.stop_edit.text()) == ("END", "\n\n") == item.request.stop
    assert workspace.temperature.value() == pytest.approx(item.request.temperature)
    assert format_stop(("a\tb",)) == r"a\tb"


def test_the_open_conversation_survives_a_restart(qtbot, open_text):
    window, workspace = open_text()
    send(qtbot, window, workspace, "Remember this harbour")
    turns = workspace.conversation.to_document()["turns"]
    window.close()
    _second, reopened = open_text()
    assert reopened.conversation.to_document()["turns"] == turns
    assert reopened.chat.message(0).body.text() == "Remember this harbour"
    assert reopened.title_edit.text() == "Remember this harbour"


def test_the_transcript_follows_a_theme_switch(qtbot, text):
    from PySide6.QtWidgets import QApplication

    from studio.qt import theme

    _window, workspace = text
    assert theme.THEMES["dark"].panel in workspace.chat.styleSheet()
    theme.apply_theme(QApplication.instance(), "light")
    qtbot.waitUntil(lambda: theme.THEMES["light"].panel in workspace.chat.styleSheet(), timeout=3000)


def test_the_starter_model_is_chosen_when_none_is_and_no_model_is_a_clear_message(qtbot, open_window, studio_home):
    window = open_window(background=False)
    window.services.models.include_hf_cache = False
    cards = window.services.models.refresh()
    workspace = window.show_workspace("text")
    qtbot.waitUntil(workspace.isVisible)
    workspace.set_model_cards(cards)
    usable = [c.id for c in cards if c.modality == "text" and c.usable]
    expected = "smollm2-135m-instruct" if "smollm2-135m-instruct" in usable else (usable[0] if usable else "")
    assert workspace.model_picker.value() == expected
    workspace.model_picker.setCurrentIndex(0)  # "No model"
    workspace.prompt_edit.setPlainText("Hello")
    assert workspace.generate() is None
    assert workspace.error_text() == "choose a text model in the Model list first"
    assert workspace.prompt_edit.toPlainText() == "Hello"
