"""The chat transcript of the Text workspace: one bubble per turn, the
answer being written growing in place, and each turn's actions.

A bubble shows who spoke, the text (answers rendered as Markdown, the
user's words as typed), and under an answer its speed and settings and any
notice (earlier turns left out to fit the context, a stopped answer).
Actions are signals carrying the turn's index; the workspace decides what
they do to the conversation. Copy is handled here (the clipboard needs no
conversation).

Colours come from the current theme and are re-applied when the palette
changes, so a theme switch restyles the transcript in place."""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.engines.text.conversation import Conversation, Turn, describe_turn
from studio.qt import theme

BUBBLE_MAX_WIDTH = 760


def _mix(a: str, b: str, amount: float) -> str:
    first, second = QColor(a), QColor(b)
    mixed = QColor(
        round(first.red() + (second.red() - first.red()) * amount),
        round(first.green() + (second.green() - first.green()) * amount),
        round(first.blue() + (second.blue() - first.blue()) * amount),
    )
    return mixed.name()


def chat_style() -> str:
    t = theme.current()
    return f"""
QWidget#chatList {{ background: {t.base}; }}
QFrame#chatUser {{ background: {_mix(t.base, t.accent, 0.22)}; border: 1px solid {_mix(t.base, t.accent, 0.4)};
    border-radius: 10px; }}
QFrame#chatAssistant {{ background: {t.panel}; border: 1px solid {t.border}; border-radius: 10px; }}
QFrame#chatAssistant[streaming="true"] {{ border: 1px solid {t.accent}; }}
QLabel#chatRole {{ color: {t.dim}; font-weight: 600; font-size: 9pt; }}
QTextBrowser#chatBody {{ color: {t.text}; background: transparent; border: none; padding: 0; font-size: 10.5pt;
    selection-background-color: {t.accent}; selection-color: {t.on_accent}; }}
QLabel#chatCaption {{ color: {t.dim}; font-size: 8.5pt; }}
QLabel#chatNotice {{ color: {t.warning}; font-size: 8.5pt; }}
QLabel#chatEmpty {{ color: {t.dim}; font-size: 11pt; }}
QToolButton#chatAction {{ background: transparent; border: none; color: {t.dim}; padding: 2px 6px;
    font-size: 8.5pt; }}
QToolButton#chatAction:hover {{ color: {t.text}; background: {t.alternate}; border-radius: 4px; }}
"""


class ChatText(QTextBrowser):
    """The text of a turn: selectable, Markdown for answers, and exactly as
    tall as its text at the width it is given (a word-wrapped QLabel in a
    scrolling column is sized for some other width and clips long answers)."""

    def __init__(self, markdown: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatBody")
        self.markdown = markdown
        self._source = ""
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().setDocumentMargin(0)
        self.setFixedHeight(self.fontMetrics().height())

    def setText(self, text: str) -> None:  # the QLabel spelling, which callers expect
        self._source = text
        if self.markdown:
            self.setMarkdown(text)
        else:
            self.setPlainText(text)
        self._fit()

    def text(self) -> str:
        return self._source

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        document = self.document()
        document.setTextWidth(self.viewport().width())
        height = math.ceil(document.size().height()) + self.contentsMargins().top() + self.contentsMargins().bottom()
        if height != self.height():
            self.setFixedHeight(max(height, self.fontMetrics().height()))


class ChatMessage(QFrame):
    """One turn: role, text, caption, notice and action buttons."""

    action_triggered = Signal(str, int)  # action name, turn index

    def __init__(self, index: int, turn: Turn, can_send_to: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.turn = turn
        self.is_user = turn.role == "user"
        self.setObjectName("chatUser" if self.is_user else "chatAssistant")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 10)
        layout.setSpacing(4)

        header = QHBoxLayout()
        header.setSpacing(2)
        self.role_label = QLabel("You" if self.is_user else "Assistant")
        self.role_label.setObjectName("chatRole")
        header.addWidget(self.role_label)
        header.addStretch(1)
        self.buttons: dict[str, QToolButton] = {}
        actions = [("copy", "Copy", ""), ("edit", "Edit", "")] if self.is_user else [("copy", "Copy", "")]
        if not self.is_user:
            if can_send_to:
                actions.append(("send", f"Send to {can_send_to.title()}", can_send_to))
            actions.append(("regenerate", "Regenerate", "retry"))
        actions.append(("delete", "Delete", "trash"))
        for name, text, icon_name in actions:
            button = QToolButton()
            button.setObjectName("chatAction")
            button.setText(text)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            if icon_name:
                theme.set_icon(button, icon_name)
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.clicked.connect(self._on_button)
            button.setProperty("action", name)
            header.addWidget(button)
            self.buttons[name] = button
        layout.addLayout(header)

        self.body = ChatText(markdown=not self.is_user)
        layout.addWidget(self.body)

        self.caption = QLabel()
        self.caption.setObjectName("chatCaption")
        self.caption.setWordWrap(True)
        self.notice = QLabel()
        self.notice.setObjectName("chatNotice")
        self.notice.setWordWrap(True)
        layout.addWidget(self.caption)
        layout.addWidget(self.notice)
        self.set_turn(turn)

    def set_turn(self, turn: Turn) -> None:
        self.turn = turn
        self.body.setText(turn.content or ("…" if not self.is_user else ""))
        caption = "" if self.is_user else describe_turn(turn, mark_stopped=False)
        self.caption.setText(caption)
        self.caption.setVisible(bool(caption))
        notices = [turn.notice] if turn.notice else []
        if turn.stopped:
            notices.append("stopped before the end of the answer")
        self.notice.setText(" ".join(n[0].upper() + n[1:].rstrip(".") + "." for n in notices))
        self.notice.setVisible(bool(notices))
        for button in self.buttons.values():
            button.setEnabled(True)
        self.setProperty("streaming", False)
        self._restyle()

    def set_streaming(self, text: str, tokens: int, elapsed_s: float) -> None:
        """Show the answer so far while it is being written."""
        self.body.setText(text or "…")
        speed = f" · {tokens / elapsed_s:.1f} tokens/s" if elapsed_s > 0 and tokens > 1 else ""
        self.caption.setText(f"Writing… {tokens} tokens{speed}")
        self.caption.setVisible(True)
        if not self.property("streaming"):
            self.setProperty("streaming", True)
            self._restyle()
        for button in self.buttons.values():
            button.setEnabled(False)

    def set_status(self, message: str) -> None:
        """What happens before the first word (loading or converting the model)."""
        self.caption.setText(message)
        self.caption.setVisible(bool(message))

    def text(self) -> str:
        return self.turn.content

    def _restyle(self) -> None:
        self.style().unpolish(self)
        self.style().polish(self)

    def _on_button(self) -> None:
        name = self.sender().property("action")
        if name == "copy":
            QGuiApplication.clipboard().setText(self.turn.content)
        self.action_triggered.emit(name, self.index)


class ChatView(QScrollArea):
    """The transcript: a column of bubbles, users on the right."""

    action_triggered = Signal(str, int)  # action name, turn index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list = QWidget()
        self.list.setObjectName("chatList")
        self.column = QVBoxLayout(self.list)
        self.column.setContentsMargins(24, 16, 24, 16)
        self.column.setSpacing(10)
        self.empty = QLabel("Start a conversation: pick a model and a task on the left,\n"
                            "write below and press Send (Ctrl+Enter).")
        self.empty.setObjectName("chatEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.column.addStretch(1)
        self.column.addWidget(self.empty)
        self.column.addStretch(1)
        self.setWidget(self.list)
        self.messages: list[ChatMessage] = []
        self.streaming: ChatMessage | None = None
        self._send_targets: dict[int, str] = {}
        self._follow = True
        self._theme_name = theme.current().name
        # Zero-delay timers owned by the view (they go with it, so none fires on
        # a deleted view): scroll once the layout has taken new content in;
        # restyle once a theme switch has finished.
        self._scroll_timer = self._deferred(self._to_bottom)
        self._theme_timer = self._deferred(self._follow_theme)
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.setStyleSheet(chat_style())

    def _deferred(self, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(0)
        timer.timeout.connect(slot)
        return timer

    # --- content ---------------------------------------------------------------
    def set_conversation(self, conversation: Conversation, send_targets: dict[int, str] | None = None) -> None:
        """Show every turn of ``conversation`` (``send_targets`` maps an answer's
        index to the workspace it can be sent to)."""
        self._send_targets = dict(send_targets or {})
        for message in self.messages:
            self._remove_row(message.parentWidget())
        self.messages = []
        self.streaming = None
        for index, turn in enumerate(conversation.turns):
            self._add(index, turn)
        self._update_empty()
        self._follow = True
        self._scroll_to_end()

    def begin_answer(self, index: int) -> ChatMessage:
        """A new answer bubble for the reply being written."""
        self.streaming = self._add(index, Turn("assistant", ""))
        self.streaming.set_streaming("", 0, 0.0)
        self._update_empty()
        self._follow = True
        self._scroll_to_end()
        return self.streaming

    def show_streaming(self, text: str, tokens: int, elapsed_s: float) -> None:
        if self.streaming is not None:
            self.streaming.set_streaming(text, tokens, elapsed_s)

    def show_status(self, message: str) -> None:
        if self.streaming is not None:
            self.streaming.set_status(message)

    def drop_streaming(self) -> None:
        if self.streaming is not None:
            self.messages.remove(self.streaming)
            self._remove_row(self.streaming.parentWidget())
            self.streaming = None
            self._update_empty()

    def message(self, index: int) -> ChatMessage:
        return self.messages[index]

    def texts(self) -> list[str]:
        return [m.body.text() for m in self.messages]

    def _add(self, index: int, turn: Turn) -> ChatMessage:
        message = ChatMessage(index, turn, self._send_targets.get(index, ""))
        message.setMaximumWidth(BUBBLE_MAX_WIDTH)
        message.action_triggered.connect(self.action_triggered)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        if message.is_user:
            line.addStretch(1)
            line.addWidget(message, 4)
        else:
            line.addWidget(message, 6)
            line.addStretch(1)
        self.column.insertWidget(self.column.count() - 1, row)
        row.show()  # now, not when the layout gets round to it: the reply is on screen at once
        self.messages.append(message)
        return message

    def _remove_row(self, row: QWidget) -> None:
        self.column.removeWidget(row)
        row.hide()  # at once: the deletion itself waits for the event loop
        row.deleteLater()

    def _update_empty(self) -> None:
        self.empty.setVisible(not self.messages)

    # --- following the end ---------------------------------------------------------
    def _on_scrolled(self, value: int) -> None:
        # Stay pinned to the end while the reader is there; scrolling up to
        # reread stops the pinning until they come back down.
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    def _on_range_changed(self, _low: int, _high: int) -> None:
        if self._follow:
            self._scroll_to_end()

    def _scroll_to_end(self) -> None:
        self._scroll_timer.start()

    def _to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    # --- theme -------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        # A theme switch sets the application's palette and style sheet (either
        # event may be the one that reaches a widget with its own style sheet)
        # before the theme module names the new theme: look once it has.
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._theme_timer.start()
        super().changeEvent(event)

    def _follow_theme(self) -> None:
        if theme.current().name != self._theme_name:
            self._theme_name = theme.current().name
            self.setStyleSheet(chat_style())
