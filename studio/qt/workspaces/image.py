"""The Image workspace: prompt, seed, steps and size on the left; the canvas
on the right shows each live preview while a job runs and then the image
the library stored, with a caption saying what it is.

The finished file is decoded in a background task (a large PNG takes a
while); a preview that arrives meanwhile from a newer job wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QImageReader
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from studio.core.library import LibraryItem
from studio.qt.widgets.image_view import ImageView
from studio.qt.workspaces.base import Workspace

MAX_SIDE = 4096


def read_image(path: Path) -> tuple[str, QImage]:
    """Decode an image file (runs in a background task)."""
    reader = QImageReader(str(path))
    image = reader.read()
    return str(path), image


class ImageWorkspace(Workspace):
    name = "image"
    title = "Image"
    modality = "image"
    icon_name = "image"

    def build_form(self) -> None:
        self.add_engine_picker()
        self.add_prompt("Describe the image: subject, style, light, colours…")
        self.add_model_picker()
        self.add_seed()
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setValue(20)
        self.add_field("steps", "Steps", self.steps, tooltip="More steps: slower, usually finer detail")
        self.width_spin = self._side_spin(512)
        self.height_spin = self._side_spin(512)
        size = QWidget()
        row = QHBoxLayout(size)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        times = QLabel("×")
        times.setProperty("dim", True)
        row.addWidget(self.width_spin, 1)
        row.addWidget(times)
        row.addWidget(self.height_spin, 1)
        self.form.add("width", self.width_spin)
        self.form.add("height", self.height_spin)
        self.add_row("Size", size)
        self.step_delay = QDoubleSpinBox()
        self.step_delay.setRange(0.0, 2.0)
        self.step_delay.setSingleStep(0.05)
        self.step_delay.setDecimals(2)
        self.step_delay.setSuffix(" s")
        self.step_delay.setValue(0.05)
        self.add_field("step_delay_s", "Step pause", self.step_delay,
                       tooltip="Test engine only: pause after each step so the live preview can be watched")

    def _side_spin(self, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(64, MAX_SIDE)
        spin.setSingleStep(64)
        spin.setValue(value)
        spin.setSuffix(" px")
        return spin

    def build_output(self) -> QWidget:
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.canvas = ImageView("Write a prompt and press Generate (Ctrl+Enter).\n"
                                "The live preview and the finished image appear here.")
        self.caption = QLabel()
        self.caption.setObjectName("hint")
        self.caption.setContentsMargins(16, 6, 16, 8)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.caption)
        self._pending_path = ""  # the file being decoded for the canvas
        self._pending_item: LibraryItem | None = None
        self.shown_path = ""  # the file on the canvas ("" while it shows a preview)
        return area

    def show_preview(self, payload: Any) -> None:
        if isinstance(payload, QImage):
            self._pending_path = ""  # a newer job is drawing: drop any result still decoding
            self.shown_path = ""
            self.canvas.set_image(payload)
            self.caption.setText(f"Preview · {payload.width()} × {payload.height()}")

    def show_result(self, item: LibraryItem) -> None:
        self._pending_path = str(item.path)
        self._pending_item = item
        self.ctx.tasks.run(read_image, item.path, finished=self._on_image_read)

    def _on_image_read(self, result: tuple[str, QImage]) -> None:
        path, image = result
        item = self._pending_item
        if path != self._pending_path or item is None:
            return
        self._pending_path = ""
        if image.isNull():
            self.caption.setText(f"Could not read {Path(path).name}")
            return
        self.canvas.set_image(image)
        self.shown_path = path
        steps = item.recipe.get("request", {}).get("steps")
        parts = [f"{image.width()} × {image.height()}", f"seed {item.seed}"]
        if steps:
            parts.append(f"{steps} steps")
        parts.append(Path(path).name)
        self.caption.setText("  ·  ".join(parts))

