"""The "Regenerate frame" dialog of the video editor: the playhead's frame,
and the few image-to-image settings a keyframe redraw needs (prompt,
negative prompt, image diffusion model, strength, steps, seed) plus whether
the new frame is carried to its neighbours.

The dialog only collects a ``RegenerateChoice``; the editor writes the
frame, queues the image job and applies its result. GANs are not offered:
they have no image-to-image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QPlainTextEdit, QSpinBox, QVBoxLayout, QWidget,
)

from studio.core.models.cards import ModelCard
from studio.qt.shared.form import ModelPicker, SeedField
from studio.qt.shared.image_view import ImageView

DIFFUSION_FORMATS = ("diffusers", "safetensors", "checkpoint")
DEFAULT_STRENGTH = 0.45
DEFAULT_STEPS = 20
PREVIEW_SIZE = (320, 240)
MAX_GENERATION_SIDE = 1024


def redraws_images(card: ModelCard) -> bool:
    """An image diffusion model: one that can run image-to-image."""
    return card.modality == "image" and card.format in DIFFUSION_FORMATS


def generation_size(width: int, height: int, native: Any = None) -> tuple[int, int]:
    """The size to redraw a ``width`` x ``height`` frame at: the frame's
    aspect, its longer side the model's native one (or the frame's own,
    capped), in multiples of 8 of at least 64. The propagation job scales
    the result back to the clip's size."""
    longest = max(width, height, 1)
    if isinstance(native, (list, tuple)) and len(native) == 2:
        side = max(int(native[0]), int(native[1]))
    else:
        side = min(longest, MAX_GENERATION_SIDE)
    scale = side / longest
    return max(64, round(width * scale / 8) * 8), max(64, round(height * scale / 8) * 8)


@dataclass(frozen=True)
class RegenerateChoice:
    prompt: str
    negative: str = ""
    model_id: str = ""
    strength: float = DEFAULT_STRENGTH
    steps: int = DEFAULT_STEPS
    seed: int = 0
    seed_random: bool = True
    carry: bool = True  # carry the new frame to the neighbouring frames


class DiffusionModelPicker(ModelPicker):
    """Image diffusion models only (the starter model included)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("image", parent)

    def set_cards(self, cards: list[ModelCard]) -> None:
        super().set_cards([card for card in cards if redraws_images(card)])


class RegenerateDialog(QDialog):
    def __init__(self, frame: QImage | None, title: str, frame_size: tuple[int, int] | None, cards: list[ModelCard],
                 choice: RegenerateChoice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("regenerateDialog")
        self.setWindowTitle("Regenerate frame")
        self.setMinimumWidth(780)
        self.frame_size = frame_size
        self.cards = {card.id: card for card in cards}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(12)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addLayout(self._build_preview(frame, title), 0)
        body.addLayout(self._build_form(cards, choice), 1)
        layout.addLayout(body)
        self.carry = QCheckBox("Carry the new frame to the neighbouring frames")
        self.carry.setToolTip("Propagate the regenerated frame along the clip by optical flow (between In and Out "
                              "when they are set); off: replace only this frame")
        self.carry.setChecked(choice.carry)
        layout.addWidget(self.carry)
        self.problem = QLabel()
        self.problem.setObjectName("hint")
        self.problem.setWordWrap(True)
        # A line is kept for the message, so the dialog does not jump when one appears.
        self.problem.setMinimumHeight(self.problem.fontMetrics().height())
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Regenerate")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.prompt.textChanged.connect(self._update)
        self.model_picker.value_changed.connect(self._update)
        self.steps.valueChanged.connect(self._update)
        self.strength.valueChanged.connect(self._update)
        self._update()
        self.prompt.setFocus()

    def _build_preview(self, frame: QImage | None, title: str) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(6)
        self.preview = ImageView("The frame is not ready yet")
        self.preview.setFixedSize(*PREVIEW_SIZE)
        self.preview.set_image(frame)
        caption = QLabel(title)
        caption.setObjectName("hint")
        caption.setWordWrap(True)
        caption.setMaximumWidth(PREVIEW_SIZE[0])
        column.addWidget(self.preview)
        column.addWidget(caption)
        column.addStretch(1)
        return column

    def _build_form(self, cards: list[ModelCard], choice: RegenerateChoice) -> QFormLayout:
        form = QFormLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        self.prompt = QPlainTextEdit(choice.prompt)
        self.prompt.setPlaceholderText("What the frame should show")
        self.prompt.setTabChangesFocus(True)
        self.prompt.setFixedHeight(72)
        form.addRow("Prompt", self.prompt)
        self.negative = QLineEdit(choice.negative)
        self.negative.setPlaceholderText("What to avoid")
        form.addRow("Negative prompt", self.negative)
        self.model_picker = DiffusionModelPicker()
        self.model_picker.setToolTip("Image diffusion models found on this computer (GANs cannot redraw a picture)")
        self.model_picker.set_value(choice.model_id)
        self.model_picker.set_cards(cards)
        form.addRow("Model", self.model_picker)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.05, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(choice.strength)
        self.strength.setToolTip("How far the frame may change: low keeps its layout, 1 redraws it from noise")
        form.addRow("Strength", self.strength)
        self.steps = QSpinBox()
        self.steps.setRange(1, 150)
        self.steps.setValue(choice.steps)
        self.steps.setToolTip("Sampling steps; image-to-image runs about steps × strength of them")
        form.addRow("Steps", self.steps)
        self.seed = SeedField()
        self.seed.spin.setValue(choice.seed)
        self.seed.random_button.setChecked(choice.seed_random)
        form.addRow("Seed", self.seed)
        self.size_label = QLabel()
        self.size_label.setObjectName("hint")
        self.size_label.setWordWrap(True)
        form.addRow("Size", self.size_label)
        return form

    def generation_size(self) -> tuple[int, int] | None:
        if self.frame_size is None:
            return None
        card = self.cards.get(self.model_picker.value())
        return generation_size(*self.frame_size, card.extra.get("native_size") if card is not None else None)

    def choice(self) -> RegenerateChoice:
        """The settings as chosen (a random seed is rolled here, so the job's seed is the one shown)."""
        seed = self.seed.roll()
        return RegenerateChoice(prompt=self.prompt.toPlainText().strip(), negative=self.negative.text().strip(),
                                model_id=self.model_picker.value(), strength=round(self.strength.value(), 2),
                                steps=self.steps.value(), seed=seed, seed_random=self.seed.is_random(),
                                carry=self.carry.isChecked())

    def problem_text(self) -> str:
        if not self.model_picker.value():
            if self.model_picker.count() <= 1:
                return "No image diffusion model was found: add one in Settings (the starter model needs none)"
            return "Choose an image diffusion model"
        if not self.prompt.toPlainText().strip():
            return "Describe what the frame should show"
        if int(self.steps.value() * self.strength.value()) < 1:
            return "Steps × strength leave no step to run: raise the steps or the strength"
        return ""

    def _update(self, *_args) -> None:
        size = self.generation_size()
        if size is None or self.frame_size is None:
            self.size_label.setText("The frame's own size")
        elif size == tuple(self.frame_size):
            self.size_label.setText(f"{size[0]} × {size[1]}, the frame's size")
        else:
            self.size_label.setText(f"Redrawn at {size[0]} × {size[1]} for this model, then scaled to the "
                                    f"clip's {self.frame_size[0]} × {self.frame_size[1]}")
        problem = self.problem_text()
        self.problem.setText(problem)
        self.ok_button.setEnabled(not problem)

    def accept(self) -> None:
        if self.problem_text():
            return
        super().accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # Esc closes the dialog, never the window's Cancel action
        if event.key() == Qt.Key.Key_Escape:
            self.reject()
            return
        super().keyPressEvent(event)
