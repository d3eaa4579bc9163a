"""A one-line status text that changes often without re-laying out the window.

A QLabel in a layout asks its parents to lay out again whenever its text
changes (its size hint may have changed); a workspace's "Job 12: step 13 of
30" line changes several times a second while a job runs, and each change
re-ran the layout of the whole window and repainted most of it. Here the
label sits in a box of fixed height without a layout of its own, so a new
text only repaints the label. Text too long for the line is elided, and the
whole of it is the tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class StatusLine(QWidget):
    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setObjectName(object_name)  # the theme styles the label by name
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self._text = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.label.fontMetrics().height() + 4)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(self.label.sizeHint().width(), self.height())

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, so callers need not change
        if text != self._text:
            self._text = text
            self._show()

    def resizeEvent(self, event: QResizeEvent) -> None:
        self.label.setGeometry(self.rect())
        self._show()
        super().resizeEvent(event)

    def _show(self) -> None:
        width = max(0, self.label.contentsRect().width())  # inside the theme's padding
        shown = self.label.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideRight, width)
        self.label.setText(shown)
        self.setToolTip(self._text if shown != self._text else "")
