"""The prompt builder: a dialog with one line per guide designers brief an
image with (subject, composition, lighting, colour, perspective, texture,
style), each with suggestions to pick or words to type, and the style
presets (photo, watercolor, comic, 3D render, logo, UI element, product and
interior mockups). The composed prompt shows live and stays editable; Use
puts it in the workspace's prompt box (and the preset's negative words in
the negative box), where it is ordinary text again."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.engines.image.prompt_guides import GUIDE_ORDER, GUIDES, STYLE_PRESETS, compose, preset_named
from studio.qt import theme


class PromptBuilder(QDialog):
    """Emits ``prompt_built(prompt, negative_additions, width, height)`` on Use (0 x 0: keep the size)."""

    prompt_built = Signal(str, str, int, int)

    def __init__(self, subject: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptBuilder")
        self.setWindowTitle("Prompt builder")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        intro = QLabel("Describe the picture guide by guide; pick a suggestion or type your own words. "
                       "Leave a guide empty to skip it.")
        intro.setObjectName("hint")
        intro.setWordWrap(True)
        layout.addWidget(intro)

        guides = QFormLayout()
        guides.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        guides.setHorizontalSpacing(10)
        self.inputs: dict[str, QComboBox] = {}
        self.preset_buttons: dict[str, QPushButton] = {}
        self._negative = ""
        for key in GUIDE_ORDER:
            label, hint, suggestions = GUIDES[key]
            combo = QComboBox()
            combo.setEditable(True)
            combo.setObjectName(f"guide-{key}")
            combo.addItem("")
            combo.addItems(list(suggestions))
            combo.setCurrentIndex(0)
            combo.lineEdit().setPlaceholderText(hint)
            combo.setToolTip(hint)
            combo.currentTextChanged.connect(self._update)
            self.inputs[key] = combo
            guides.addRow(label, combo)
        layout.addLayout(guides)

        layout.addWidget(QLabel("Style preset"))
        presets = QGridLayout()
        presets.setSpacing(6)
        self.preset_group = QButtonGroup(self)
        self.preset_group.setExclusive(False)
        for index, preset in enumerate(STYLE_PRESETS):
            button = QPushButton(preset.name)
            button.setCheckable(True)
            button.setToolTip(f"{preset.positive}\nNegative: {preset.negative}")
            self.preset_group.addButton(button)
            self.preset_buttons[preset.name] = button
            presets.addWidget(button, index // 4, index % 4)
        self.preset_group.buttonToggled.connect(self._on_preset_toggled)
        colours = theme.current()
        self.setStyleSheet(f"QPushButton:checked {{ background: {colours.accent}; border-color: {colours.accent}; "
                           f"color: {colours.on_accent}; }}")
        layout.addLayout(presets)

        layout.addWidget(QLabel("Prompt (editable)"))
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("builtPrompt")
        self.preview.setFixedHeight(90)
        layout.addWidget(self.preview)
        self.negative_label = QLabel()
        self.negative_label.setObjectName("hint")
        self.negative_label.setWordWrap(True)
        layout.addWidget(self.negative_label)

        buttons = QDialogButtonBox()
        self.use_button = buttons.addButton("Use this prompt", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setObjectName("primary")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if subject:
            self.inputs["subject"].setEditText(subject)
        self._update()

    # --- state ---------------------------------------------------------------------
    def choices(self) -> dict[str, str]:
        return {key: combo.currentText() for key, combo in self.inputs.items()}

    def preset(self) -> str:
        return next((name for name, button in self.preset_buttons.items() if button.isChecked()), "")

    def set_choice(self, key: str, text: str) -> None:
        self.inputs[key].setEditText(text)

    def set_preset(self, name: str) -> None:
        for preset_name, button in self.preset_buttons.items():
            button.setChecked(preset_name == name)

    def _on_preset_toggled(self, button: QPushButton, checked: bool) -> None:
        if checked:  # one preset at a time, but any may be switched off again
            for other in self.preset_buttons.values():
                if other is not button and other.isChecked():
                    other.blockSignals(True)
                    other.setChecked(False)
                    other.blockSignals(False)
        self._update()

    def _update(self, *_args) -> None:
        if not hasattr(self, "preview"):
            return  # still being built
        prompt, self._negative = compose(self.choices(), self.preset())
        self.preview.setPlainText(prompt)
        self.negative_label.setText(f"Added to the negative prompt: {self._negative}" if self._negative else "")

    def accept(self) -> None:
        preset = preset_named(self.preset())
        width, height = preset.size if preset is not None else (0, 0)
        self.prompt_built.emit(self.preview.toPlainText().strip(), self._negative, width, height)
        super().accept()
