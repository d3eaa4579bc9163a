"""The Video workspace: a prompt, a video model, seed, frame count, frame
rate and size; the canvas shows preview frames while a job runs. Until a
video engine is registered the base class shows the notice and Generate
stays disabled."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QWidget

from studio.core.library import LibraryItem
from studio.qt.widgets.image_view import ImageView
from studio.qt.workspaces.base import Workspace


class VideoWorkspace(Workspace):
    name = "video"
    title = "Video"
    modality = "video"
    icon_name = "video"

    def build_form(self) -> None:
        self.add_engine_picker()
        self.add_prompt("Describe the shot: subject, motion, camera, style…")
        self.add_model_picker()
        self.add_seed()
        self.frames = QSpinBox()
        self.frames.setRange(1, 2000)
        self.frames.setValue(49)
        self.add_field("frames", "Frames", self.frames)
        self.fps = QSpinBox()
        self.fps.setRange(1, 120)
        self.fps.setValue(24)
        self.fps.setSuffix(" fps")
        self.add_field("fps", "Frame rate", self.fps)
        size = QWidget()
        row = QHBoxLayout(size)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for spin, value in ((self.width_spin, 768), (self.height_spin, 432)):
            spin.setRange(64, 4096)
            spin.setSingleStep(64)
            spin.setValue(value)
            spin.setSuffix(" px")
        times = QLabel("×")
        times.setProperty("dim", True)
        row.addWidget(self.width_spin, 1)
        row.addWidget(times)
        row.addWidget(self.height_spin, 1)
        self.form.add("width", self.width_spin)
        self.form.add("height", self.height_spin)
        self.add_row("Size", size)

    def build_output(self) -> QWidget:
        self.canvas = ImageView("Preview frames and the finished clip appear here.")
        return self.canvas

    def show_preview(self, payload: Any) -> None:
        if isinstance(payload, QImage):
            self.canvas.set_image(payload)

    def show_result(self, item: LibraryItem) -> None:
        self.canvas.set_placeholder(f"{item.path.name}\n{item.duration_s:.1f} s")
        self.canvas.clear()
