"""The Audio workspace: speech, music and sound effects from a prompt, a
voice or music model, seed and duration. The output area will hold the
waveform and the player; until an audio engine is registered the base class
shows the notice and Generate stays disabled."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QVBoxLayout, QWidget

from studio.core.library import LibraryItem
from studio.qt.workspaces.base import Workspace


class AudioWorkspace(Workspace):
    name = "audio"
    title = "Audio"
    modality = "audio"
    icon_name = "audio"

    def build_form(self) -> None:
        self.add_engine_picker()
        self.add_prompt("Words to speak, or the music or sound to make…")
        self.add_model_picker()
        self.add_seed()
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.5, 600.0)
        self.duration.setSingleStep(0.5)
        self.duration.setValue(5.0)
        self.duration.setSuffix(" s")
        self.add_field("duration_s", "Duration", self.duration, tooltip="Length of music or sound effects")

    def build_output(self) -> QWidget:
        area = QWidget()
        area.setObjectName("audioOutput")
        layout = QVBoxLayout(area)
        layout.setContentsMargins(24, 24, 24, 24)
        self.output_label = QLabel("The waveform and player of each result appear here.")
        self.output_label.setObjectName("hint")
        self.output_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.output_label.setWordWrap(True)
        layout.addWidget(self.output_label, 1)
        return area

    def show_result(self, item: LibraryItem) -> None:
        self.output_label.setText(f"{item.path.name}\n{item.duration_s:.1f} s · seed {item.seed}")
