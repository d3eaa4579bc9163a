"""The Image workspace's form: which inputs it has, how they are laid out,
and which of them show for the chosen engine and mode.

Every input is registered with the workspace's ``Form`` under its request
field name (``steps``, ``cfg``, ``init_image``, ``outpaint_left`` ...), so
persistence, "reuse settings" and request building come from ``base``. Rows
are built in containers so a mode can hide a whole row, label included."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QMenu, QPushButton,
    QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from studio.engines.image.requests import MODE_LABELS, PREVIEW_LABELS, SCHEDULERS, snap8
from studio.engines.image.schedulers import fits_lcm
from studio.qt.image.prompt_builder_loras import LoraPicker
from studio.qt.shared.model_defaults import Follower, ModelDefaults, card_default, size_followers

MAX_SIDE = 4096
OWN_CONTROLS = ("gan", "upscale")  # engines started from their own controls, not the engine picker


class ImageForm:
    """The form half of ``ImageWorkspace`` (a mixin over ``Workspace``)."""

    # --- form ------------------------------------------------------------------------
    def build_form(self) -> None:
        # Registry order: the pattern engine (no model needed) stays first, the default of a fresh profile.
        self.engines = [entry for entry in self.engines if entry.kind not in OWN_CONTROLS]
        self.add_engine_picker()
        self.add_model_picker()
        self.mode_combo = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, mode)
        self._field("mode", "Mode", self.mode_combo)

        self.add_prompt("Describe the image: subject, composition, light, colour, style…  (word:1.3) weights, "
                        "<lora:name:0.8> adds a LoRA")
        tools = QHBoxLayout()
        self.builder_button = QPushButton("Prompt builder…")
        self.builder_button.setToolTip("Compose the prompt from guides and style presets")
        self.builder_button.clicked.connect(self.open_prompt_builder)
        tools.addWidget(self.builder_button)
        tools.addStretch(1)
        self.form_layout.addLayout(tools)
        self.negative_edit = self.add_prompt("What the image must not show", label="Negative prompt", name="negative")
        self.negative_edit.setFixedHeight(56)
        self.loras = LoraPicker()
        self._rows["loras"] = self._row("LoRAs", self.loras)

        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setValue(25)
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(0.0, 30.0)
        self.cfg.setSingleStep(0.5)
        self.cfg.setValue(7.0)
        self.form.add("steps", self.steps)
        self.form.add("cfg", self.cfg)
        self._rows["steps"] = self._pair("Steps", self.steps, "CFG scale", self.cfg)
        self._rows["cfg"] = self._rows["steps"]
        self.width_spin = self._side_spin(512)
        self.height_spin = self._side_spin(512)
        self.form.add("width", self.width_spin)
        self.form.add("height", self.height_spin)
        self._row("Size", self._size_row())
        self.add_seed()
        self.scheduler_combo = QComboBox()
        for name in SCHEDULERS:
            self.scheduler_combo.addItem(name if name != "Default" else "Model default", name)
        self._field("scheduler", "Sampler", self.scheduler_combo)
        self.batch_count = QSpinBox()
        self.batch_count.setRange(1, 16)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 8)
        self.form.add("batch_count", self.batch_count)
        self.form.add("batch_size", self.batch_size)
        self._rows["batch"] = self._pair("Batch count", self.batch_count, "Batch size", self.batch_size)

        self._build_init_rows()
        self._build_hires_rows()
        self._build_advanced_rows()
        self.step_delay = QDoubleSpinBox()
        self.step_delay.setRange(0.0, 2.0)
        self.step_delay.setSingleStep(0.05)
        self.step_delay.setDecimals(2)
        self.step_delay.setSuffix(" s")
        self.step_delay.setValue(0.05)
        self._rows["step_delay"] = self._field(
            "step_delay_s", "Step pause", self.step_delay,
            tooltip="Test engine only: pause after each step so the live preview can be watched")
        followers = [*size_followers(self.width_spin, self.height_spin),
                     Follower("steps", self.steps, card_default("default_steps")),
                     Follower("cfg", self.cfg, card_default("default_guidance"))]
        self.model_defaults = ModelDefaults(self.form, self.settings, self.model_picker, followers,
                                            self.size_presets)

    def _build_init_rows(self) -> None:
        self.init_edit = QLineEdit()
        self.init_edit.setPlaceholderText("Drop an image on the canvas, or browse")
        browse = QToolButton()
        browse.setText("Browse…")
        browse.clicked.connect(self.browse_init)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.setSpacing(4)
        line.addWidget(self.init_edit, 1)
        line.addWidget(browse)
        self.form.add("init_image", self.init_edit)
        self._rows["init"] = self._row("Init image", row)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.01, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(0.75)
        self.mask_blur = QSpinBox()
        self.mask_blur.setRange(0, 64)
        self.mask_blur.setValue(4)
        self.mask_blur.setSuffix(" px")
        self.form.add("strength", self.strength)
        self.form.add("mask_blur", self.mask_blur)
        self._rows["strength"] = self._pair("Strength", self.strength, "Mask blur", self.mask_blur)
        self.strength.setToolTip("How much may change: 0.3 keeps the picture, 1 repaints it")
        sides = QWidget()
        grid = QGridLayout(sides)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.outpaint: dict[str, QSpinBox] = {}
        for index, side in enumerate(("left", "right", "up", "down")):
            spin = QSpinBox()
            spin.setRange(0, 2048)
            spin.setSingleStep(64)
            spin.setSuffix(" px")
            spin.setPrefix(f"{side.title()}  ")
            self.form.add(f"outpaint_{side}", spin)
            self.outpaint[side] = spin
            grid.addWidget(spin, index // 2, index % 2)
        self._rows["outpaint"] = self._row("Extend the canvas by", sides)

    def _build_hires_rows(self) -> None:
        self.hires = QCheckBox("Hires fix: upscale, then refine")
        self.hires.setToolTip("Generate at the size above, enlarge it, and repaint details at low strength")
        self.form.add("hires_fix", self.hires)
        self.form_layout.addWidget(self.hires)
        self.hires_scale = QDoubleSpinBox()
        self.hires_scale.setRange(1.25, 4.0)
        self.hires_scale.setSingleStep(0.25)
        self.hires_scale.setValue(2.0)
        self.hires_scale.setSuffix(" x")
        self.hires_strength = QDoubleSpinBox()
        self.hires_strength.setRange(0.05, 1.0)
        self.hires_strength.setSingleStep(0.05)
        self.hires_strength.setValue(0.45)
        self.form.add("hires_scale", self.hires_scale)
        self.form.add("hires_strength", self.hires_strength)
        self._rows["hires"] = self._pair("Upscale by", self.hires_scale, "Strength", self.hires_strength)
        self.hires.toggled.connect(self._rows["hires"].setVisible)

    def _build_advanced_rows(self) -> None:
        self.preview_combo = QComboBox()
        for mode, label in PREVIEW_LABELS.items():
            self.preview_combo.addItem(label, mode)
        self.preview_combo.setCurrentIndex(1)
        self.preview_every = QSpinBox()
        self.preview_every.setRange(1, 50)
        self.preview_every.setValue(5)
        self.preview_every.setToolTip("Full decode: every how many steps")
        self.form.add("preview", self.preview_combo)
        self.form.add("preview_every", self.preview_every)
        self._rows["preview"] = self._pair("Live preview", self.preview_combo, "Every N", self.preview_every, 3)
        self.offload = QCheckBox("CPU offload")
        self.offload.setToolTip("GPU only: slower, but needs far less GPU memory")
        self.form.add("cpu_offload", self.offload)
        self.form_layout.addWidget(self.offload)
        self._rows["offload"] = self.offload

    def _row(self, label: str, widget: QWidget) -> QWidget:
        """A labelled input in a container the form can hide as a whole."""
        container = QWidget()
        column = QVBoxLayout(container)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        title = QLabel(label)
        title.setObjectName("fieldLabel")
        title.setBuddy(widget)
        column.addWidget(title)
        column.addWidget(widget)
        self.form_layout.addWidget(container)
        return container

    def _field(self, name: str, label: str, widget: QWidget, tooltip: str = "") -> QWidget:
        self.form.add(name, widget)
        if tooltip:
            widget.setToolTip(tooltip)
        return self._row(label, widget)

    def _pair(self, first_label: str, first: QWidget, second_label: str, second: QWidget,
              stretch: int = 1) -> QWidget:
        """Two small labelled inputs side by side."""
        container = QWidget()
        grid = QGridLayout(container)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        for column, (label, widget) in enumerate(((first_label, first), (second_label, second))):
            title = QLabel(label)
            title.setObjectName("fieldLabel")
            title.setBuddy(widget)
            grid.addWidget(title, 0, column)
            grid.addWidget(widget, 1, column)
        grid.setColumnStretch(0, stretch)
        grid.setColumnStretch(1, 1)
        self.form_layout.addWidget(container)
        return container

    def _side_spin(self, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(64, MAX_SIDE)
        spin.setSingleStep(64)
        spin.setValue(value)
        spin.setSuffix(" px")
        spin.editingFinished.connect(self._snap_sizes)
        return spin

    def _size_row(self) -> QWidget:
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.setSpacing(4)
        times = QLabel("×")
        times.setProperty("dim", True)
        presets = QToolButton()
        presets.setText("Presets")
        presets.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.size_presets = QMenu(presets)  # filled for the chosen model (ModelDefaults)
        presets.setMenu(self.size_presets)
        line.addWidget(self.width_spin, 1)
        line.addWidget(times)
        line.addWidget(self.height_spin, 1)
        line.addWidget(presets)
        return row

    def _snap_sizes(self) -> None:
        """Sizes are multiples of 8 (the latents are an eighth of the picture)."""
        for spin in (self.width_spin, self.height_spin):
            if spin.value() % 8:
                spin.setValue(snap8(spin.value()))

    # --- what is shown when -------------------------------------------------------------
    @property
    def mode(self) -> str:
        return str(self.mode_combo.currentData() or "txt2img")

    def is_diffusion(self) -> bool:
        entry = self.current_engine()
        return entry is not None and entry.kind == "image"

    def _on_engine_changed(self, *_args: Any) -> None:
        diffusion = self.is_diffusion()
        self._rows["step_delay"].setVisible(not diffusion)
        for widget in (self.mode_combo, self.negative_edit, self.builder_button, self.loras, self.cfg,
                       self.scheduler_combo, self.batch_count, self.hires, self.preview_combo, self.offload):
            widget.setEnabled(diffusion)
        self._on_mode_changed()

    def _on_mode_changed(self, *_args: Any) -> None:
        mode = self.mode if self.is_diffusion() else "txt2img"
        self._rows["init"].setVisible(mode != "txt2img")
        self._rows["strength"].setVisible(mode in ("img2img", "inpaint"))
        self.mask_blur.setEnabled(mode == "inpaint")
        self._rows["outpaint"].setVisible(mode == "outpaint")
        self._rows["hires"].setVisible(self.hires.isChecked())
        self.output.set_mask_mode(mode == "inpaint")
        if mode != "txt2img":
            self._show_init()

    def _update_lcm(self, *_args: Any) -> None:
        names = [self.model_picker.currentText(), *self.loras.row_names(), self.prompt_edit.toPlainText()]
        item = self.scheduler_combo.model().item(self.scheduler_combo.findData("LCM"))
        if item is not None:
            item.setEnabled(fits_lcm(*names))

    def _on_loras_changed(self) -> None:
        self._update_lcm()
        self._on_form_changed("loras")

