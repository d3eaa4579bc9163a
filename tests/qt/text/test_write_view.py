"""The Write view beside Chat: after a pause in typing a suggestion shows as
ghost text; Tab takes a word, Ctrl+Right the rest, typing on dismisses it
and cancels the request in flight; documents are saved in the library and
reopen in the view; the real engine suggests with a tiny model."""

from __future__ import annotations

import json
import time

import pytest
from PySide6.QtCore import Qt

from studio.engines.text.requests import DocumentRequest
from tests.engines.text import tiny_models

TIMEOUT = 60000


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("write-models")
    tiny_models.build_llama(root / "tiny-llama")
    return root


@pytest.fixture
def write(open_window, studio_home, model_folder, qtbot):
    settings = studio_home / "config" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"models.folders": [str(model_folder)], "ui.workspace": "text"}))
    window = open_window(background=False)
    window.services.models.include_hf_cache = False
    window.services.models.refresh()
    workspace = window.workspaces["text"]
    workspace.set_model_cards(window.services.models.cards())
    card = next(c for c in window.services.models.cards("text") if c.name == "tiny-llama")
    workspace.form.set_value("model_id", card.id)
    workspace.text_pages.setCurrentWidget(workspace.write_view)
    view = workspace.write_view
    view.editor.setFocus()
    return window, workspace, view


class FakeModel:
    """Streams its words one at a time; can wait until cancelled."""

    def __init__(self, words=("quick", "brown", "fox"), hold: bool = False) -> None:
        self.words, self.hold = words, hold
        self.calls: list[str] = []
        self.cancelled = 0

    def __call__(self, model_id, before, cancel, on_text):
        self.calls.append(before)
        if self.hold:
            while not cancel.cancelled:
                time.sleep(0.01)
            self.cancelled += 1
            return ""
        text = ""
        for word in self.words:
            text += " " + word
            on_text(text)
        return text


def test_ghost_text_appears_is_taken_by_tab_and_vanishes_on_typing(write, qtbot):
    _window, _workspace, view = write
    view.suggester = FakeModel()
    qtbot.keyClicks(view.editor, "The")
    qtbot.waitUntil(lambda: view.editor.ghost == " quick brown fox", timeout=TIMEOUT)
    assert view.suggester.calls == ["The"]
    assert view.latencies_ms and view.latencies_ms[0] >= 0
    qtbot.keyClick(view.editor, Qt.Key.Key_Tab)
    assert view.editor.toPlainText() == "The quick"
    assert view.editor.ghost == " brown fox"
    qtbot.keyClick(view.editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert view.editor.toPlainText() == "The quick brown fox"
    assert view.editor.ghost == ""
    # A new pause, a new suggestion; typing on dismisses it.
    qtbot.waitUntil(lambda: view.editor.ghost != "", timeout=TIMEOUT)
    qtbot.keyClicks(view.editor, " j")
    assert view.editor.ghost == ""
    assert view.editor.toPlainText() == "The quick brown fox j"


def test_typing_again_cancels_the_suggestion_in_flight(write, qtbot):
    _window, _workspace, view = write
    model = view.suggester = FakeModel(hold=True)
    qtbot.keyClicks(view.editor, "Once upon")
    qtbot.waitUntil(lambda: view.slot.running_key() is not None, timeout=TIMEOUT)
    qtbot.keyClicks(view.editor, " a")
    qtbot.waitUntil(lambda: model.cancelled >= 1, timeout=5000)  # cancelled the moment the person typed
    assert view.editor.ghost == ""
    view.slot.cancel()
    qtbot.waitUntil(lambda: view.slot.running_key() is None, timeout=5000)


def test_no_suggestion_mid_line_and_esc_dismisses(write, qtbot):
    _window, _workspace, view = write
    model = view.suggester = FakeModel()
    view.editor.setPlainText("first line\nsecond")
    cursor = view.editor.textCursor()
    cursor.setPosition(3)
    view.editor.setTextCursor(cursor)
    view.ask()
    qtbot.wait(100)
    assert model.calls == []  # text after the cursor: nothing to continue there
    view.editor.moveCursor(cursor.MoveOperation.End)
    view.ask()
    qtbot.waitUntil(lambda: view.editor.ghost != "", timeout=TIMEOUT)
    qtbot.keyClick(view.editor, Qt.Key.Key_Escape)
    assert view.editor.ghost == "" and view.editor.toPlainText() == "first line\nsecond"


def test_documents_are_saved_in_the_library_and_reopen_here(write, qtbot):
    window, workspace, view = write
    view.suggester = FakeModel()
    view.title_edit.setText("Harbour notes")
    view.editor.setPlainText("The harbour was quiet.")
    item = view.save()
    assert item.kind == DocumentRequest.kind and item.prompt == "Harbour notes"
    again = view.save()  # one saved copy per document
    ids = [i.id for i in window.services.library.items(modality="text")]
    assert again.id in ids and item.id not in ids
    view.new_document()
    workspace.text_pages.setCurrentIndex(0)
    workspace.show_item(window.services.library.get(again.id))
    assert workspace.text_pages.currentWidget() is view
    assert view.editor.toPlainText() == "The harbour was quiet." and view.title_edit.text() == "Harbour notes"


def test_the_text_engine_suggests_with_a_tiny_model(write, qtbot):
    _window, _workspace, view = write
    from studio.qt.text.write_view import engine_suggester

    view.suggester = engine_suggester
    outcomes = []
    view.slot.finished.connect(lambda key, text: outcomes.append(("finished", text)))
    view.slot.failed.connect(lambda key, message: outcomes.append(("failed", message)))
    qtbot.keyClicks(view.editor, "Hello there")
    qtbot.waitUntil(lambda: bool(outcomes), timeout=TIMEOUT)
    assert outcomes[0][0] == "finished", outcomes
