"""The Text workspace's Write view, beside Chat: a plain document editor
where, after a short pause in typing, the chosen text model proposes a
continuation, shown as grey ghost text at the cursor.

Tab accepts the next word of the suggestion, Ctrl+Right all of it, Esc
dismisses it, and typing on dismisses it too. A suggestion is asked for
through the runner's latest-wins live slot (never the persistent queue)
and is cancelled the moment the person types again; its words appear as
they stream in. Any text engine can suggest (``studio.engines.text.
suggest``). Save puts the document in the library (one saved copy per
document, the latest), where it reopens here."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetricsF, QKeyEvent, QPainter, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import Artifact, StudioError
from studio.engines.text.document import Document
from studio.engines.text.requests import DocumentRequest
from studio.qt.live_slot import LiveSlot

PAUSE_MS = 350  # a pause in typing this long asks for a suggestion
Suggester = Callable[[str, str, Any, Callable[[str], None]], str]  # (model id, text before, cancel, on_text)


def engine_suggester(model_id: str, before: str, cancel: Any, on_text: Callable[[str], None]) -> str:
    from studio.engines.text.suggest import suggest

    return suggest(model_id, before, cancel, on_text)


class GhostEdit(QPlainTextEdit):
    """A plain text editor that draws a suggestion in grey after the cursor."""

    ghost_accepted = Signal(str)  # the text taken in
    typed = Signal()  # the person changed the text (not by accepting)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ghost = ""
        self._accepting = False
        self.setObjectName("writeEditor")
        self.setPlaceholderText("Write here. Pause, and a suggestion appears in grey: Tab takes a word, "
                                "Ctrl+Right all of it, typing on ignores it.")
        self.textChanged.connect(self._on_text_changed)

    def set_ghost(self, text: str) -> None:
        if text != self.ghost:
            self.ghost = text
            self.viewport().update()

    def accept_word(self) -> str:
        match = re.match(r"\s*\S+", self.ghost)
        return self._accept(match.group(0) if match else "")

    def accept_all(self) -> str:
        return self._accept(self.ghost)

    def _accept(self, piece: str) -> str:
        if not piece:
            return ""
        rest = self.ghost[len(piece):]
        self._accepting = True
        try:
            cursor = self.textCursor()
            cursor.insertText(piece)
            self.setTextCursor(cursor)
        finally:
            self._accepting = False
        self.set_ghost(rest if rest.strip() else "")
        self.ghost_accepted.emit(piece)
        return piece

    def _on_text_changed(self) -> None:
        if not self._accepting:
            self.set_ghost("")
            self.typed.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.ghost:
            key, mods = event.key(), event.modifiers()
            if key == Qt.Key.Key_Tab and not mods & ~Qt.KeyboardModifier.KeypadModifier:
                self.accept_word()
                return
            if key == Qt.Key.Key_Right and mods & Qt.KeyboardModifier.ControlModifier:
                self.accept_all()
                return
            if key == Qt.Key.Key_Escape:
                self.set_ghost("")
                return
        super().keyPressEvent(event)

    def event(self, event) -> bool:
        # The window's shortcuts (Esc cancels jobs) must not take the keys a suggestion answers to.
        if event.type() == QEvent.Type.ShortcutOverride and self.ghost and event.key() in (
                Qt.Key.Key_Escape, Qt.Key.Key_Tab, Qt.Key.Key_Right):
            event.accept()
            return True
        return super().event(event)

    def focusNextPrevChild(self, forward: bool) -> bool:  # Tab is ours while a suggestion shows
        return False if self.ghost else super().focusNextPrevChild(forward)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self.ghost:
            return
        painter = QPainter(self.viewport())
        painter.setFont(self.font())
        colour = QColor(self.palette().text().color())
        colour.setAlpha(110)
        painter.setPen(colour)
        metrics = QFontMetricsF(self.font())
        rect = self.cursorRect()
        x, y = float(rect.right() + 1), float(rect.top())
        left = self.document().documentMargin() + self.contentOffset().x()
        width = self.viewport().width() - 4.0
        for word in re.findall(r"\s*\S+", self.ghost):
            advance = metrics.horizontalAdvance(word)
            if x + advance > width and x > left + 1:
                x, y, word = left, y + metrics.lineSpacing(), word.lstrip()
                advance = metrics.horizontalAdvance(word)
            painter.drawText(QRectF(x, y, advance + 2, metrics.lineSpacing()), Qt.AlignmentFlag.AlignLeft, word)
            x += advance
        painter.end()


class WriteView(QWidget):
    """The document, its title, Save / New, and the suggestion loop."""

    suggestion_shown = Signal(str)
    _streamed = Signal(object, str)  # key, suggestion so far (from the worker thread)

    def __init__(self, workspace: Any, suggester: Suggester | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws = workspace
        self.suggester = suggester or engine_suggester
        self.document = Document()
        self.saved_item: int | None = None
        self.enabled = True
        self._key: tuple | None = None  # what the suggestion being asked for continues
        self._first_shown = False
        self.paused_at = 0.0  # when the last typing pause ended (a suggestion was asked for)
        self.latencies_ms: list[float] = []  # pause end -> first ghost word shown
        self.slot = LiveSlot("suggest", self)
        self.ws.runner.add_live_slot(self.slot)
        self._build()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PAUSE_MS)
        self._timer.timeout.connect(self.ask)
        self.editor.typed.connect(self._on_typed)
        self.editor.cursorPositionChanged.connect(self._on_cursor_moved)
        self.editor.ghost_accepted.connect(self._on_accepted)
        self.slot.finished.connect(self._on_finished)
        self.slot.failed.connect(self._on_failed)
        self._streamed.connect(self._on_streamed)

    def _build(self) -> None:
        column = QVBoxLayout(self)
        column.setContentsMargins(16, 10, 16, 8)
        column.setSpacing(6)
        header = QHBoxLayout()
        self.title_edit = QLineEdit()
        self.title_edit.setPlaceholderText("Untitled document")
        self.new_button = QPushButton("New document")
        self.new_button.clicked.connect(self.new_document)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save this document in the Library")
        self.save_button.clicked.connect(self.save)
        header.addWidget(self.title_edit, 1)
        header.addWidget(self.new_button)
        header.addWidget(self.save_button)
        column.addLayout(header)
        self.editor = GhostEdit()
        column.addWidget(self.editor, 1)
        self.status = QLabel()
        self.status.setProperty("dim", True)
        column.addWidget(self.status)

    # --- the suggestion loop --------------------------------------------------------
    def _on_typed(self) -> None:
        self.slot.cancel()  # the suggestion in flight is for text that no longer is
        self._key = None
        if self.enabled:
            self._timer.start()

    def _on_accepted(self, _piece: str) -> None:
        self._key = None
        if not self.editor.ghost and self.enabled:  # all of it taken: the next one after a pause
            self._timer.start()

    def _on_cursor_moved(self) -> None:
        if self.editor._accepting:
            return
        if self.editor.ghost and self._key is not None and self._key[1] != self.editor.textCursor().position():
            self.editor.set_ghost("")
            self.slot.cancel()
            self._key = None

    def ask(self) -> None:
        """Ask the model for a continuation at the cursor (the end of a line only)."""
        cursor = self.editor.textCursor()
        block_rest = cursor.block().text()[cursor.positionInBlock():]
        before = self.editor.toPlainText()[: cursor.position()]
        model_id = self.ws.model_picker.value()
        if not self.enabled or block_rest.strip() or not before.strip() or not model_id:
            return
        self.paused_at = time.perf_counter()
        key = (len(before), cursor.position(), hash(before))
        self._key = key
        self._first_shown = False

        def work(cancel: Any) -> str:
            return self.suggester(model_id, before, cancel, lambda text: self._streamed.emit(key, text))

        self.slot.submit(key, work)
        self.status.setText("Suggesting…")

    def _on_streamed(self, key: tuple, text: str) -> None:
        if key != self._key or not text.strip():
            return
        if not self._first_shown:
            self._first_shown = True
            self.latencies_ms.append((time.perf_counter() - self.paused_at) * 1000.0)
        self.editor.set_ghost(text)
        self.suggestion_shown.emit(text)

    def _on_finished(self, key: tuple, text: str) -> None:
        if key != self._key:
            return
        self._on_streamed(key, text)
        self.status.setText("Tab: next word · Ctrl+Right: all · keep typing to ignore" if text.strip()
                            else "No suggestion")

    def _on_failed(self, key: tuple, message: str) -> None:
        if key == self._key:
            self.status.setText(f"No suggestion: {message}")

    # --- documents ------------------------------------------------------------------
    def new_document(self) -> None:
        self.slot.cancel()
        self.document = Document()
        self.saved_item = None
        self.title_edit.clear()
        self.editor.setPlainText("")
        self._timer.stop()

    def open_document(self, document: Document, item_id: int | None = None) -> None:
        self.slot.cancel()
        self.document, self.saved_item = document, item_id
        self.title_edit.setText(document.title)
        self.editor.setPlainText(document.text)
        self._timer.stop()
        self.editor.moveCursor(QTextCursor.MoveOperation.End)

    def save(self) -> Any:
        """Store the document in the library, replacing its earlier saved copy."""
        document = self.document
        document.title, document.text = self.title_edit.text().strip(), self.editor.toPlainText()
        document.model_id = self.ws.model_picker.value()
        if not document.text.strip():
            self.status.setText("There is nothing to save yet")
            return None
        library = self.ws.ctx.services.library
        request = DocumentRequest(prompt=document.display_title(), model_id=document.model_id,
                                  document_id=document.id, words=document.word_count())
        item = library.add(request, Artifact(document.to_json(), ".json"))
        if self.saved_item is not None:
            try:
                library.delete(self.saved_item)
            except StudioError:
                pass  # deleted from the Library already
        self.saved_item = item.id
        panel = getattr(self.window(), "library_panel", None)
        if panel is not None:
            panel.reload()
        self.status.setText(f"Saved “{document.display_title()}” in the Library")
        return item


def add_write_view(workspace: Any, chat: QWidget) -> QWidget:
    """Put the Write view beside the chat (tabs), and route documents from the
    Library to it; returns the widget that replaces ``chat``."""
    tabs = QTabWidget()
    tabs.setObjectName("textPages")
    tabs.setDocumentMode(True)
    workspace.write_view = WriteView(workspace)
    tabs.addTab(chat, "Chat")
    tabs.addTab(workspace.write_view, "Write")
    workspace.text_pages = tabs
    _route_documents(workspace, tabs)
    return tabs


def _route_documents(workspace: Any, tabs: QTabWidget) -> None:
    show_item, apply_request = workspace.show_item, workspace.apply_request

    def show(item: Any) -> None:
        if item.kind != DocumentRequest.kind:
            tabs.setCurrentIndex(0)
            show_item(item)
            return
        try:
            workspace.write_view.open_document(Document.from_json(item.path.read_bytes()), item.id)
            tabs.setCurrentWidget(workspace.write_view)
        except (OSError, StudioError) as exc:
            workspace._set_error(f"could not open {item.path.name}: {exc}")

    def apply(request: Any) -> None:
        if isinstance(request, DocumentRequest):
            workspace.form.set_values({"model_id": request.model_id})
            tabs.setCurrentWidget(workspace.write_view)
            return
        apply_request(request)

    workspace.show_item, workspace.apply_request = show, apply
