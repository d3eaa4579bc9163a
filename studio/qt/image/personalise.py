"""The Image workspace's Personalise dialog: teach a model a subject or style with a LoRA.

The person drops pictures (or picks a folder), types or edits a caption
per picture in a table (a same-named .txt fills it in; a template with
``[trigger]`` captions the rest), names the LoRA, and presses Train. The
dialog builds a ``LoraTrainRequest`` and the workspace submits and follows
it like any job: the canvas shows the sample beside the loss curve, the
status line the loss and time left, Cancel keeps the last checkpoint and
submitting the same settings again resumes from it. The finished LoRA
appears in the LoRA list at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import StudioError
from studio.engines.image.personalise_requests import LoraTrainRequest

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class PictureTable(QTableWidget):
    """File and caption per picture; accepts dropped files and folders."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setObjectName("personalisePictures")
        self.setHorizontalHeaderLabels(["Picture", "Caption"])
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)

    def add_paths(self, paths: list[Path]) -> None:
        known = set(self.paths())
        for path in paths:
            if path.is_dir():
                self.add_paths(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES or str(path) in known:
                continue
            sidecar = path.with_suffix(".txt")
            caption = sidecar.read_text(encoding="utf-8", errors="replace").strip() if sidecar.is_file() else ""
            row = self.rowCount()
            self.insertRow(row)
            name = QTableWidgetItem(path.name)
            name.setData(Qt.ItemDataRole.UserRole, str(path))
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.setItem(row, 0, name)
            self.setItem(row, 1, QTableWidgetItem(caption))
            known.add(str(path))

    def paths(self) -> list[str]:
        return [self.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(self.rowCount())]

    def captions(self) -> list[str]:
        return [(self.item(r, 1).text() if self.item(r, 1) else "").strip() for r in range(self.rowCount())]

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:
        self.add_paths([Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()])
        event.acceptProposedAction()


def _spin(maximum: int, default_text: str = "Default") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, maximum)
    spin.setSpecialValueText(default_text)
    return spin


class PersonaliseDialog(QDialog):
    def __init__(self, workspace: Any, cards: list[Any], current_model: str = "") -> None:
        super().__init__(workspace)
        self.workspace = workspace
        self.setObjectName("personaliseDialog")
        self.setWindowTitle("Personalise: train a LoRA")
        self.resize(720, 560)
        layout = QVBoxLayout(self)
        intro = QLabel("Teach the model your subject or style from 5-50 pictures. Each picture needs a caption: "
                       "a same-named .txt, one typed below, or the template. The result is a LoRA in your "
                       "models folder, used as <lora:NAME:1>.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(self._build_fields(cards, current_model))
        layout.addLayout(self._build_picture_buttons())
        self.table = PictureTable()
        layout.addWidget(self.table, 1)
        layout.addLayout(self._build_settings())
        self.error = QLabel()
        self.error.setObjectName("personaliseError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.train_button = buttons.addButton("Train", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.train)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _build_fields(self, cards: list[Any], current_model: str) -> QFormLayout:
        from PySide6.QtWidgets import QComboBox

        form = QFormLayout()
        self.model_combo = QComboBox()
        for card in cards:
            self.model_combo.addItem(card.name, card.id)
        index = self.model_combo.findData(current_model)
        self.model_combo.setCurrentIndex(max(0, index))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("my-mug")
        self.trigger_edit = QLineEdit()
        self.trigger_edit.setPlaceholderText("sks")
        self.template_edit = QLineEdit()
        self.template_edit.setPlaceholderText("a photo of [trigger] mug")
        form.addRow("Base model", self.model_combo)
        form.addRow("LoRA name", self.name_edit)
        form.addRow("Trigger word", self.trigger_edit)
        form.addRow("Caption template", self.template_edit)
        return form

    def _build_picture_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        add_folder = QPushButton("Add folder…")
        add_files = QPushButton("Add pictures…")
        clear = QPushButton("Clear")
        add_folder.clicked.connect(self.browse_folder)
        add_files.clicked.connect(self.browse_files)
        clear.clicked.connect(lambda: self.table.setRowCount(0))
        for button in (add_folder, add_files, clear):
            row.addWidget(button)
        row.addWidget(QLabel("or drop pictures on the table"))
        row.addStretch(1)
        return row

    def _build_settings(self) -> QFormLayout:
        form = QFormLayout()
        self.rank_spin, self.steps_spin = _spin(256), _spin(100_000)
        self.resolution_spin, self.batch_spin = _spin(2048, "Model's size"), _spin(64)
        self.every_spin = _spin(100_000)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(0.0, 1.0)
        self.lr_spin.setSingleStep(0.0001)
        self.lr_spin.setSpecialValueText("Default")
        self.text_encoder_check = QCheckBox("Also train the text encoder")
        self.text_encoder_check.setChecked(True)
        self.prior_check = QCheckBox("Keep what the model knows")
        self.prior_check.setToolTip("Prior preservation: each step also learns pictures of what the model already "
                                    "draws, so the LoRA does not make it forget the rest")
        self.prior_check.setChecked(True)
        self.sample_edit = QLineEdit()
        self.sample_edit.setPlaceholderText("a photo of sks mug on a table (drawn every N steps while training)")
        row = QHBoxLayout()
        for label, widget in (("Rank", self.rank_spin), ("Steps", self.steps_spin), ("Batch", self.batch_spin),
                              ("Resolution", self.resolution_spin)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        form.addRow(row)
        lr_row = QHBoxLayout()
        lr_row.addWidget(self.lr_spin)
        lr_row.addWidget(self.text_encoder_check)
        lr_row.addWidget(self.prior_check)
        form.addRow("Learning rate", lr_row)
        sample_row = QHBoxLayout()
        sample_row.addWidget(self.sample_edit, 1)
        sample_row.addWidget(QLabel("every"))
        sample_row.addWidget(self.every_spin)
        form.addRow("Sample prompt", sample_row)
        return form

    def browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of training pictures", str(Path.home()))
        if folder:
            self.table.add_paths([Path(folder)])

    def browse_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Training pictures", str(Path.home()),
                                                "Images (*.png *.jpg *.jpeg *.webp *.bmp)")
        self.table.add_paths([Path(p) for p in paths])

    def build_request(self) -> LoraTrainRequest:
        request = LoraTrainRequest(
            model_id=str(self.model_combo.currentData() or ""), name=self.name_edit.text().strip(),
            images=tuple(self.table.paths()), captions=tuple(self.table.captions()),
            caption_template=self.template_edit.text().strip(), trigger=self.trigger_edit.text().strip(),
            prompt=self.sample_edit.text().strip(), rank=self.rank_spin.value(),
            learning_rate=float(self.lr_spin.value()), steps=self.steps_spin.value(),
            resolution=self.resolution_spin.value(), batch=self.batch_spin.value(),
            train_text_encoder=self.text_encoder_check.isChecked(), sample_every=self.every_spin.value(),
            prior_preservation=self.prior_check.isChecked(),
        )
        request.validate()
        return request

    def train(self) -> None:
        try:
            request = self.build_request()
        except StudioError as exc:
            self.error.setText(str(exc))
            return
        self.workspace.submit(request)
        self.accept()


def open_personalise(workspace: Any) -> PersonaliseDialog:
    """Open the dialog for ``workspace`` (its diffusion models, its chosen one first)."""
    cards = [c for c in getattr(workspace, "_diffusion_cards", []) if c.format in ("diffusers", "safetensors")]
    current = ""
    picker = getattr(workspace, "model_picker", None)
    if picker is not None and hasattr(picker, "value"):
        current = str(picker.value() or "")
    dialog = PersonaliseDialog(workspace, cards, current)
    dialog.open()
    workspace.personalise_dialog = dialog
    return dialog


def add_personalise_button(workspace: Any) -> QPushButton:
    """A "Personalise…" button under the form's prompt builder button."""
    button = QPushButton("Personalise…")
    button.setObjectName("personaliseButton")
    button.setToolTip("Train a LoRA on your own pictures (a subject, a product, a style)")
    button.clicked.connect(lambda: open_personalise(workspace))
    row = _layout_holding(workspace.form_layout, workspace.builder_button)
    if row is not None:
        row.insertWidget(row.indexOf(workspace.builder_button) + 1, button)
    else:
        workspace.form_layout.addWidget(button)
    return button


def _layout_holding(layout: Any, widget: QWidget) -> Any:
    """The (nested) layout that holds ``widget`` directly, or None."""
    if layout.indexOf(widget) >= 0:
        return layout
    for i in range(layout.count()):
        child = layout.itemAt(i).layout()
        if child is not None:
            found = _layout_holding(child, widget)
            if found is not None:
                return found
    return None
