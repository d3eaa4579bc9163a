"""The Text workspace: a prompt, a chat model from the Models panel, seed,
length and temperature; the output pane shows the text as it streams (each
preview is a text delta) and then the stored result.

No text engine is registered yet, so the base class shows the notice and
keeps Generate disabled; the form already persists so nothing is lost when
one arrives."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDoubleSpinBox, QPlainTextEdit, QSpinBox, QWidget

from studio.core.library import LibraryItem
from studio.core.provenance import strip_text_header
from studio.qt.workspaces.base import Workspace


class TextWorkspace(Workspace):
    name = "text"
    title = "Text"
    modality = "text"
    icon_name = "text"

    def build_form(self) -> None:
        self.add_engine_picker()
        self.add_prompt("What should be written? A brief, a question, a first line…")
        self.add_model_picker()
        self.add_seed()
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 8192)
        self.max_tokens.setValue(256)
        self.add_field("max_tokens", "Max tokens", self.max_tokens, tooltip="Upper bound on the length of the reply")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setValue(0.7)
        self.add_field("temperature", "Temperature", self.temperature,
                       tooltip="Lower: focused and repeatable; higher: more varied")

    def build_output(self) -> QWidget:
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("Generated text streams here.")
        return self.output

    def show_preview(self, payload: Any) -> None:
        if isinstance(payload, str):
            self.output.moveCursor(self.output.textCursor().MoveOperation.End)
            self.output.insertPlainText(payload)

    def show_result(self, item: LibraryItem) -> None:
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            self._set_error(f"could not read {item.path.name}: {exc}")
            return
        self.output.setPlainText(strip_text_header(data).decode("utf-8", errors="replace"))
