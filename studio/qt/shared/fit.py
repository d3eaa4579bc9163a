"""Keeping every workspace inside a small screen (1366x768): a row of tools
that scrolls sideways instead of widening the window, and a scroll area
that lets an output panel shrink below what its contents ask for."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QFrame, QScrollArea, QSizePolicy, QWidget


class OverflowRow(QScrollArea):
    """A horizontal row (a toolbar, a transport) that keeps its natural
    height and, where the panel is narrower than the row, scrolls sideways
    (wheel or a thin bar) instead of pushing the window wider."""

    def __init__(self, row: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("overflowRow")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setWidget(row)
        row.installEventFilter(self)
        self._fit_height()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize):
            self._fit_height()
        return False

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        row = self.widget()
        if row is None:
            return
        needs_bar = row.minimumSizeHint().width() > self.viewport().width() > 0
        bar = self.horizontalScrollBar().sizeHint().height() if needs_bar else 0
        self.setFixedHeight(row.sizeHint().height() + bar)

    def minimumSizeHint(self):  # noqa: N802 - Qt's name
        hint = super().minimumSizeHint()
        hint.setWidth(min(hint.width(), 120))
        return hint


def shrinkable(panel: QWidget) -> QScrollArea:
    """``panel`` in a frameless scroll area: it fills the space it is given
    and scrolls only when that space is below its minimum size."""
    scroll = QScrollArea()
    scroll.setObjectName("shrinkable")
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidgetResizable(True)
    scroll.setWidget(panel)
    return scroll


def fit_form(body: QWidget, min_width: int = 64) -> None:
    """Let every spin box and drop-down of a form narrow with its panel:
    their natural widths (from their longest value or item) would otherwise
    add up wider than the panel and push inputs under its edge. A narrowed
    drop-down elides its text."""
    for spin in body.findChildren(QAbstractSpinBox):
        spin.setMinimumWidth(min_width)
    for combo in body.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(min(combo.minimumContentsLength() or 8, 8))
