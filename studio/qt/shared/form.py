"""Workspace forms: each input is registered once under a name, and that one
registration gives it persistence (``forms.<workspace>.<name>`` in the
settings), "reuse settings" (a past request's fields are written back by
name) and request building (the names are the request's field names).

Also the two composite inputs every workspace shares: the model picker
(cards of one modality from the model manager) and the seed field (a number
plus a "random each time" toggle)."""

from __future__ import annotations

import random
from functools import partial
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLineEdit, QPlainTextEdit, QSpinBox, QToolButton,
    QWidget,
)

from studio.core.models.cards import ModelCard, human_size
from studio.core.settings import Settings
from studio.qt import theme

MAX_SEED = 2**31 - 1


class ModelPicker(QComboBox):
    """Models of one modality; keeps the wanted id even before discovery has
    found it (discovery runs after the window is up), so a saved choice is
    not lost to an empty list."""

    value_changed = Signal(str)

    def __init__(self, modality: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.modality = modality
        self._wanted = ""
        self._discovered = False
        self._cards: list[ModelCard] = []
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(14)
        self.currentIndexChanged.connect(self._on_index_changed)
        self._populate()

    def accepts(self, card: ModelCard) -> bool:
        """Whether ``card`` belongs in this picker (a subclass may widen or narrow it)."""
        return card.modality == self.modality

    def preferred(self, usable: list[ModelCard]) -> ModelCard | None:
        """The model a fresh profile starts with (discovery lists starter packs first)."""
        return usable[0] if usable else None

    def set_cards(self, cards: list[ModelCard]) -> None:
        self._cards = [card for card in cards if self.accepts(card)]
        self._discovered = True
        if not self._wanted:
            # Nothing chosen yet: start from a usable model (the starter packs
            # come first in discovery), so a new user can generate at once.
            usable = [card for card in self._cards if card.usable]
            first = self.preferred(usable)
            self._wanted = first.id if first else ""
        self._populate()
        if self._wanted:
            self.value_changed.emit(self.value())

    def _populate(self) -> None:
        self.blockSignals(True)
        self.clear()
        self.addItem("No model", "")
        for card in self._cards:
            self.addItem(f"{card.name}  ·  {card.format}  ·  {human_size(card.size_bytes)}", card.id)
            index = self.count() - 1
            self.setItemData(index, card.error or str(card.path), Qt.ItemDataRole.ToolTipRole)
        if self._wanted and self.findData(self._wanted) < 0:
            suffix = " (not found)" if self._discovered else ""
            self.addItem(f"{self._wanted}{suffix}", self._wanted)
        index = self.findData(self._wanted)
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)

    def value(self) -> str:
        data = self.currentData()
        return str(data) if data else ""

    def card(self) -> ModelCard | None:
        """The chosen model's card, once discovery has found it."""
        return next((card for card in self._cards if card.id == self.value()), None)

    def set_value(self, card_id: str) -> None:
        self._wanted = str(card_id or "")
        self._populate()
        self.value_changed.emit(self.value())

    def _on_index_changed(self, _index: int) -> None:
        self._wanted = self.value()
        self.value_changed.emit(self._wanted)


class SeedField(QWidget):
    """A seed number and a toggle: when "random" is on, each Generate rolls a
    new seed and shows it, so any result can be made again by locking it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.spin = QSpinBox()
        self.spin.setRange(0, MAX_SEED)
        self.spin.setAccelerated(True)
        # Ten digits' worth of size hint is wider than the form panels; any seed still fits in this.
        self.spin.setMinimumWidth(100)
        self.random_button = QToolButton()
        self.random_button.setCheckable(True)
        self.random_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.random_button.setChecked(True)
        self.random_button.setToolTip("Random seed on every Generate (turn off to lock the seed)")
        self.random_button.toggled.connect(self._on_random_toggled)
        layout.addWidget(self.spin, 1)
        layout.addWidget(self.random_button)
        self._on_random_toggled(True)

    def _on_random_toggled(self, on: bool) -> None:
        theme.set_icon(self.random_button, "dice" if on else "lock", "accent" if on else "")
        self.random_button.setText("Random" if on else "Locked")

    def is_random(self) -> bool:
        return self.random_button.isChecked()

    def roll(self) -> int:
        """Pick a new seed if random is on; return the seed to use."""
        if self.is_random():
            self.spin.setValue(random.randint(0, MAX_SEED))
        return self.spin.value()


@dataclass
class Field:
    name: str
    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]
    changed: SignalInstance
    in_request: bool  # passed to the request (False: only remembered, like "random seed")


def _adapter(widget: QWidget) -> tuple[Callable[[], Any], Callable[[Any], None], SignalInstance]:
    if isinstance(widget, ModelPicker):
        return widget.value, widget.set_value, widget.value_changed
    if isinstance(widget, QPlainTextEdit):
        return widget.toPlainText, lambda v: widget.setPlainText(str(v)), widget.textChanged
    if isinstance(widget, QLineEdit):
        return widget.text, lambda v: widget.setText(str(v)), widget.textChanged
    if isinstance(widget, QCheckBox) or (isinstance(widget, QToolButton) and widget.isCheckable()):
        return widget.isChecked, lambda v: widget.setChecked(bool(v)), widget.toggled
    if isinstance(widget, QDoubleSpinBox):
        return widget.value, lambda v: widget.setValue(float(v)), widget.valueChanged
    if isinstance(widget, QSpinBox):
        return widget.value, lambda v: widget.setValue(int(v)), widget.valueChanged
    if isinstance(widget, QComboBox):
        def set_combo(value: Any) -> None:
            index = widget.findData(value)
            if index >= 0:
                widget.setCurrentIndex(index)
        return widget.currentData, set_combo, widget.currentIndexChanged
    raise TypeError(f"no form adapter for {type(widget).__name__}")


class Form(QObject):
    """The named inputs of one workspace."""

    value_changed = Signal(str)  # field name

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.fields: dict[str, Field] = {}
        self.applying = False  # True while saved or reused values are being put in the form

    def add(self, name: str, widget: QWidget, in_request: bool = True) -> QWidget:
        if name in self.fields:
            raise ValueError(f"form {self.name!r} already has a field {name!r}")
        get, set_, changed = _adapter(widget)
        self.fields[name] = Field(name, widget, get, set_, changed, in_request)
        changed.connect(partial(self._on_changed, name))
        widget.setObjectName(f"{self.name}.{name}")
        return widget

    def add_seed(self, seed: SeedField) -> SeedField:
        self.add("seed", seed.spin)
        self.add("seed_random", seed.random_button, in_request=False)
        return seed

    def _on_changed(self, name: str, *_args: Any) -> None:
        self.value_changed.emit(name)

    def widget(self, name: str) -> QWidget:
        return self.fields[name].widget

    def value(self, name: str) -> Any:
        return self.fields[name].get()

    def set_value(self, name: str, value: Any) -> bool:
        field = self.fields.get(name)
        if field is None:
            return False
        try:
            field.set(value)
        except (TypeError, ValueError):  # a stale or hand-edited setting must not break the form
            return False
        return True

    def request_values(self) -> dict[str, Any]:
        return {f.name: f.get() for f in self.fields.values() if f.in_request}

    def values(self) -> dict[str, Any]:
        return {f.name: f.get() for f in self.fields.values()}

    def set_values(self, values: dict[str, Any]) -> list[str]:
        """Apply the known keys of ``values``; return the names applied."""
        self.applying = True
        try:
            return [name for name, value in values.items() if self.set_value(name, value)]
        finally:
            self.applying = False

    # --- persistence ---------------------------------------------------------
    def settings_prefix(self) -> str:
        return f"forms.{self.name}"

    def load(self, settings: Settings) -> None:
        self.set_values(settings.section(self.settings_prefix()))

    def save(self, settings: Settings) -> None:
        prefix = self.settings_prefix()
        settings.update({f"{prefix}.{name}": value for name, value in self.values().items()})
