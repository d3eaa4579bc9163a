"""The composer under the chat transcript: where the person writes, with
Send and Stop beside it.

Enter sends and Shift+Enter starts a new line, as in every chat tool
(Ctrl+Enter, the window's Generate shortcut, sends too). The first time the
box gets the focus ``first_focus`` is emitted, so the workspace can prepare
the engine while the person is still typing."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from studio.qt import theme

PLACEHOLDER = "Write a message… (Enter sends, Shift+Enter starts a new line)"


class ChatComposer(QFrame):
    send_requested = Signal()
    stop_requested = Signal()
    first_focus = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatComposer")
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 8, 16, 12)
        row.setSpacing(8)
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setFixedHeight(84)
        self.edit.installEventFilter(self)
        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.setToolTip("Send (Enter or Ctrl+Enter)")
        theme.set_icon(self.send_button, "play", "on_accent")
        self.send_button.clicked.connect(self.send_requested)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the answer, keeping what was written (Esc)")
        theme.set_icon(self.stop_button, "stop")
        self.stop_button.clicked.connect(self.stop_requested)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addWidget(self.edit, 1)
        row.addLayout(buttons)
        self._focused = False

    def set_placeholder(self, text: str) -> None:
        self.edit.setPlaceholderText(text or PLACEHOLDER)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit:
            if event.type() == QEvent.Type.FocusIn and not self._focused:
                self._focused = True
                self.first_focus.emit()
            elif (event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                  and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
                self.send_requested.emit()
                return True
        return super().eventFilter(watched, event)
