"""The Text workspace's Personalise dialog: a LoRA trained on the person's own writing.

The person picks the base model, a folder of their .txt/.md files and a
name; Train submits a ``TextLoraTrainRequest`` to the queue (the Queue
panel shows the loss, the time left and Cancel, which keeps a checkpoint
that the same job resumes from). When it ends the adapter is a model of its
own in this workspace's picker, "BASE + NAME", and the job's result says
the held-out perplexity before and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from studio.core.jobs import StudioError
from studio.engines.text.personalise_requests import TextLoraTrainRequest


class TextPersonaliseDialog(QDialog):
    def __init__(self, workspace: Any, cards: list[Any], current: str = "") -> None:
        super().__init__(workspace)
        self.workspace = workspace
        self.setObjectName("textPersonaliseDialog")
        self.setWindowTitle("Personalise: write in your voice")
        layout = QVBoxLayout(self)
        intro = QLabel("Train a LoRA on your own writing (a folder of .txt and .md files). The last tenth is "
                       "held out to measure perplexity before and after. The result is a variant of the base "
                       "model in the model list.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.model_combo = QComboBox()
        for card in cards:
            self.model_combo.addItem(card.name, card.id)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(current)))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("my-voice")
        self.folder_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        defaults = TextLoraTrainRequest()
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 100_000)
        self.steps_spin.setValue(defaults.steps)
        self.rank_spin = QSpinBox()
        self.rank_spin.setRange(1, 256)
        self.rank_spin.setValue(defaults.rank)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(0.000001, 1.0)
        self.lr_spin.setValue(defaults.learning_rate)
        form.addRow("Base model", self.model_combo)
        form.addRow("Name", self.name_edit)
        form.addRow("Your writing", folder_row)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Rank", self.rank_spin)
        form.addRow("Learning rate", self.lr_spin)
        layout.addLayout(form)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton("Train", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.train)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of your writing", str(Path.home()))
        if folder:
            self.folder_edit.setText(folder)

    def build_request(self) -> TextLoraTrainRequest:
        request = TextLoraTrainRequest(
            model_id=str(self.model_combo.currentData() or ""), name=self.name_edit.text().strip(),
            folder=self.folder_edit.text().strip(), steps=self.steps_spin.value(), rank=self.rank_spin.value(),
            learning_rate=float(self.lr_spin.value()),
        )
        request.validate()
        return request

    def train(self) -> None:
        try:
            request = self.build_request()
        except StudioError as exc:
            self.error.setText(str(exc))
            return
        self.job = self.workspace.runner.submit(request)  # the Queue panel follows it
        self.accept()


def open_text_personalise(workspace: Any) -> TextPersonaliseDialog:
    cards = [c for c in workspace.ctx.services.models.cards("text") if c.format in ("gguf", "transformers")]
    current = str(workspace.model_picker.value() or "") if hasattr(workspace, "model_picker") else ""
    dialog = TextPersonaliseDialog(workspace, cards, current)
    dialog.open()
    workspace.personalise_dialog = dialog
    return dialog


def add_text_personalise_button(workspace: Any) -> QPushButton:
    """A "Personalise…" button at the end of the Text workspace's form."""
    button = QPushButton("Personalise…")
    button.setObjectName("textPersonaliseButton")
    button.setToolTip("Train a LoRA on your own writing; it becomes a variant of the model")
    button.clicked.connect(lambda: open_text_personalise(workspace))
    workspace.form_layout.addWidget(button)
    return button
