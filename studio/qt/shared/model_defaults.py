"""Form fields that follow the chosen model: its native picture size (and
steps and guidance where its card gives them), unless the person has set
their own value for that model, which is remembered per model.

A new user's first Generate then runs the model at the size it was made
for (the 64-pixel starter at 64, not at 512), and switching models never
carries one model's size to another. Values put in by the form itself
(saved settings on start, Reuse settings) are left alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractSpinBox, QMenu

from studio.core.models.cards import ModelCard
from studio.core.models.sizes import native_size, size_presets
from studio.core.settings import Settings
from studio.qt.shared.form import Form, ModelPicker


@dataclass
class Follower:
    field: str  # the form's field name
    widget: QAbstractSpinBox
    from_card: Callable[[ModelCard], Any]  # the model's own value, or None


def size_followers(width: QAbstractSpinBox, height: QAbstractSpinBox) -> list[Follower]:
    def side(index: int) -> Callable[[ModelCard], Any]:
        return lambda card: (native_size(card) or (None, None))[index]

    return [Follower("width", width, side(0)), Follower("height", height, side(1))]


def card_default(key: str) -> Callable[[ModelCard], Any]:
    """A card's ``default_steps`` / ``default_guidance`` (model.json)."""
    return lambda card: card.extra.get(key) if isinstance(card.extra.get(key), (int, float)) else None


class ModelDefaults(QObject):
    def __init__(self, form: Form, settings: Settings, picker: ModelPicker, followers: list[Follower],
                 presets: QMenu | None = None) -> None:
        super().__init__(form)
        self.form = form
        self.settings = settings
        self.picker = picker
        self.followers = followers
        self.presets = presets
        self.key = f"forms.{form.name}.by_model"
        self._applying = False
        picker.value_changed.connect(self._on_model_changed)
        for follower in followers:
            follower.widget.editingFinished.connect(lambda f=follower: self.remember(f.field))
        if presets is not None:
            presets.triggered.connect(self._on_preset)
            self._fill_presets(None)

    def own_values(self, model_id: str) -> dict[str, Any]:
        chosen = self.settings.get(self.key) or {}
        values = chosen.get(model_id) if isinstance(chosen, dict) else None
        return values if isinstance(values, dict) else {}

    def remember(self, *fields: str) -> None:
        """The person set these fields: keep their values for the current model."""
        model_id = self.picker.value()
        if self._applying or self.form.applying or not model_id:
            return
        chosen = dict(self.settings.get(self.key) or {})
        values = dict(self.own_values(model_id))
        values.update({name: self.form.value(name) for name in fields})
        chosen[model_id] = values
        self.settings.set(self.key, chosen)

    def _on_model_changed(self, model_id: str) -> None:
        card = self.picker.card()
        self._fill_presets(card)
        if self.form.applying or card is None:
            return  # saved or reused values win; an unknown model keeps the form as it is
        own = self.own_values(model_id)
        self._applying = True
        try:
            for follower in self.followers:
                value = own.get(follower.field, follower.from_card(card))
                if value is not None:
                    self.form.set_value(follower.field, value)
        finally:
            self._applying = False

    def _fill_presets(self, card: ModelCard | None) -> None:
        if self.presets is None:
            return
        self.presets.clear()
        for label, width, height in size_presets(native_size(card)):
            action = self.presets.addAction(label)
            action.setData((width, height))

    def _on_preset(self, action: QAction) -> None:
        width, height = action.data()
        self.form.set_value("width", width)
        self.form.set_value("height", height)
        self.remember("width", "height")
