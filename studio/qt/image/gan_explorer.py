"""The GAN explorer: a GAN generator rendered live while the user drags
latent sliders (principal or random directions), morphs from one seed to
another, or looks at a grid of neighbouring seeds; Save keeps the frame on
screen in the library through a GAN job, which renders the same frame.

Frames render on the window's task pool, one at a time: while one renders,
further slider moves only mark the view stale, and the newest settings are
rendered next (latest wins), so dragging never queues up work and the GUI
thread only receives finished QImages."""

from __future__ import annotations

import random
import statistics
import time
from collections import deque
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QSpinBox,
    QToolButton, QVBoxLayout, QWidget,
)

from studio.core.models.cards import ModelCard
from studio.engines.image.requests import GanRequest
from studio.qt import theme
from studio.qt.image.canvas_view import CanvasView
from studio.qt.shared.qimage import array_to_qimage
from studio.qt.tasks import Tasks

SLIDERS = 6
SLIDER_RANGE = 3.0  # latent units either way
SLIDER_STEPS = 300
MAX_SEED = 2**31 - 1
VIEW_SCALE = 4


def render_frame(request: GanRequest) -> tuple[GanRequest, Any, float]:
    """Render one frame (runs in the task pool): the request, a QImage, milliseconds.

    One intra-op thread: a 64 px generator is too small to share between
    cores, and on a busy machine a second thread only waits for the other
    (the setting is per thread: the job runner's worker keeps its own)."""
    import torch

    from studio.engines import context
    from studio.engines.image.gan import loaded_generator, render_request

    model = loaded_generator(context.find_card(request.model_id, "image"))
    model.directions(request.directions)  # computed once per model, not part of a frame
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        pixels = render_request(model, request)
        elapsed = (time.perf_counter() - started) * 1000.0
    finally:
        torch.set_num_threads(threads)
    return request, array_to_qimage(pixels), elapsed


class GanExplorer(QWidget):
    save_requested = Signal(object)  # GanRequest
    frame_shown = Signal(float)  # render milliseconds

    def __init__(self, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ganExplorer")
        self.tasks = tasks
        self._busy = False
        self._stale = False
        self.frames = 0
        self.last_ms = 0.0
        self.frame_times: deque[float] = deque(maxlen=200)  # render milliseconds of the latest frames
        self.last_error = ""
        self._build()
        self._update_enabled()

    # --- layout --------------------------------------------------------------------
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        controls = QFrame()
        controls.setObjectName("formPanel")
        controls.setFixedWidth(290)
        form = QVBoxLayout(controls)
        form.setContentsMargins(12, 12, 12, 12)
        form.setSpacing(10)
        form.addLayout(self._build_fields())
        form.addLayout(self._build_sliders())
        form.addLayout(self._build_morph())
        form.addStretch(1)
        outer.addWidget(controls)
        outer.addLayout(self._build_view(), 1)

    def _build_fields(self) -> QFormLayout:
        """Generator, seed, direction set and how many pictures to show."""
        fields = QFormLayout()
        fields.setSpacing(8)
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("ganModel")
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        fields.addRow("Generator", self.model_combo)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_spin.valueChanged.connect(self.schedule)
        dice = QToolButton()
        dice.setToolTip("A random seed")
        theme.set_icon(dice, "dice", "accent")
        dice.clicked.connect(self.roll_seed)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(dice)
        fields.addRow("Seed", seed_row)
        self.directions_combo = QComboBox()
        self.directions_combo.addItem("Principal", "principal")
        self.directions_combo.setItemData(0, "The directions that change the picture most come first",
                                          Qt.ItemDataRole.ToolTipRole)
        self.directions_combo.addItem("Random", "random")
        self.directions_combo.currentIndexChanged.connect(self.schedule)
        reset = QToolButton()
        reset.setText("Centre")
        reset.setToolTip("Put every slider (and the morph) back in the middle")
        reset.clicked.connect(self.reset_sliders)
        directions_row = QHBoxLayout()
        directions_row.addWidget(self.directions_combo, 1)
        directions_row.addWidget(reset)
        fields.addRow("Directions", directions_row)
        self.grid_combo = QComboBox()
        for size in (1, 3, 4):
            self.grid_combo.addItem("Single picture" if size == 1 else f"Grid {size} x {size} of seeds", size)
        self.grid_combo.currentIndexChanged.connect(self.schedule)
        fields.addRow("Show", self.grid_combo)
        return fields

    def _build_sliders(self) -> QGridLayout:
        """One slider per latent direction."""
        sliders = QGridLayout()
        sliders.setHorizontalSpacing(8)
        sliders.setVerticalSpacing(6)
        self.sliders: list[QSlider] = []
        for index in range(SLIDERS):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setObjectName(f"ganDirection{index + 1}")
            slider.setRange(-SLIDER_STEPS // 2, SLIDER_STEPS // 2)
            slider.valueChanged.connect(self.schedule)
            sliders.addWidget(QLabel(f"Direction {index + 1}"), index, 0)
            sliders.addWidget(slider, index, 1)
            self.sliders.append(slider)
        return sliders

    def _build_morph(self) -> QFormLayout:
        """The second seed and how far towards it the picture is morphed."""
        morph = QFormLayout()
        morph.setSpacing(8)
        self.morph_seed = QSpinBox()
        self.morph_seed.setRange(0, MAX_SEED)
        self.morph_seed.setValue(1)
        self.morph_seed.valueChanged.connect(self.schedule)
        self.morph_slider = QSlider(Qt.Orientation.Horizontal)
        self.morph_slider.setObjectName("ganMorph")
        self.morph_slider.setRange(0, 100)
        self.morph_slider.valueChanged.connect(self.schedule)
        morph.addRow("Morph to seed", self.morph_seed)
        morph.addRow("Morph", self.morph_slider)
        return morph

    def _build_view(self) -> QVBoxLayout:
        """The canvas, with the frame's information, licence and Save below it."""
        view_side = QVBoxLayout()
        view_side.setContentsMargins(0, 0, 0, 0)
        view_side.setSpacing(0)
        self.view = CanvasView("Choose a GAN generator: the DCGAN faces starter or one with a model card.")
        view_side.addWidget(self.view, 1)
        bar = QHBoxLayout()
        bar.setContentsMargins(16, 6, 12, 8)
        bar.setSpacing(10)
        self.info = QLabel()
        self.info.setObjectName("hint")
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long text never widens
        self.licence_label = QLabel()
        self.licence_label.setObjectName("hint")
        self.save_button = QPushButton("Save to library")
        self.save_button.setObjectName("primary")
        self.save_button.setToolTip("Keep this frame (or grid) in the library, with the settings that make it")
        self.save_button.clicked.connect(self._on_save)
        bar.addWidget(self.info, 1)
        bar.addWidget(self.licence_label)
        bar.addWidget(self.save_button)
        view_side.addLayout(bar)
        return view_side

    # --- models ----------------------------------------------------------------------
    def set_cards(self, cards: list[ModelCard]) -> None:
        gans = [c for c in cards if c.format == "gan" or "generator" in c.extra]
        wanted = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for card in gans:
            self.model_combo.addItem(card.name, card.id)
            self.model_combo.setItemData(self.model_combo.count() - 1, card.licence, Qt.ItemDataRole.ToolTipRole)
        index = self.model_combo.findData(wanted)
        self.model_combo.setCurrentIndex(max(index, 0))
        self.model_combo.blockSignals(False)
        self._cards = {c.id: c for c in gans}
        self._update_enabled()
        self._on_model_changed()

    def _on_model_changed(self, *_args: Any) -> None:
        card = getattr(self, "_cards", {}).get(self.model_combo.currentData())
        licence = card.licence if card is not None else ""
        short = licence.split(" (")[0]
        self.licence_label.setText(f"Licence: {short}" if licence else "")
        self.licence_label.setToolTip(licence)
        self.schedule()

    def _update_enabled(self) -> None:
        has = self.model_combo.count() > 0
        for widget in (self.save_button, self.seed_spin, self.directions_combo, self.grid_combo, self.morph_seed,
                       self.morph_slider, *self.sliders):
            widget.setEnabled(has)

    # --- the frame's settings ----------------------------------------------------------
    def offsets(self) -> tuple[float, ...]:
        return tuple(round(s.value() * (2 * SLIDER_RANGE / SLIDER_STEPS), 4) for s in self.sliders)

    def current_request(self) -> GanRequest | None:
        model_id = self.model_combo.currentData()
        if not model_id:
            return None
        morph = self.morph_slider.value() / 100.0
        return GanRequest(model_id=model_id, seed=self.seed_spin.value(), prompt=f"GAN seed {self.seed_spin.value()}",
                          directions=self.directions_combo.currentData(), offsets=self.offsets(),
                          morph_seed=self.morph_seed.value() if morph > 0 else -1, morph=morph,
                          grid=int(self.grid_combo.currentData()), scale=1)

    def apply(self, request: GanRequest) -> None:
        """Show the frame a past GAN job saved ("reuse settings")."""
        index = self.model_combo.findData(request.model_id)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)
        self.seed_spin.setValue(request.seed)
        self.directions_combo.setCurrentIndex(max(0, self.directions_combo.findData(request.directions)))
        self.grid_combo.setCurrentIndex(max(0, self.grid_combo.findData(request.grid)))
        for slider, offset in zip(self.sliders, list(request.offsets) + [0.0] * SLIDERS):
            slider.setValue(round(offset / (2 * SLIDER_RANGE / SLIDER_STEPS)))
        if request.morph_seed >= 0:
            self.morph_seed.setValue(request.morph_seed)
        self.morph_slider.setValue(round(request.morph * 100))
        self.schedule()

    def roll_seed(self) -> None:
        self.seed_spin.setValue(random.randint(0, MAX_SEED))

    def reset_sliders(self) -> None:
        for slider in self.sliders:
            slider.blockSignals(True)
            slider.setValue(0)
            slider.blockSignals(False)
        self.morph_slider.setValue(0)
        self.schedule()

    # --- rendering (latest wins) ----------------------------------------------------------
    def schedule(self, *_args: Any) -> None:
        request = self.current_request()
        if request is None or not self.isVisible():
            self._stale = request is not None
            return
        if self._busy:
            self._stale = True
            return
        self._busy = True
        self._stale = False
        if self.tasks.run(render_frame, request, finished=self._on_frame, failed=self._on_failed) is None:
            self._busy = False  # the window is closing

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale or not self.view.has_image():
            self.schedule()

    def _on_frame(self, result: tuple[GanRequest, Any, float]) -> None:
        request, image, elapsed = result
        self._busy = False
        self.frames += 1
        self.last_ms = elapsed
        self.frame_times.append(elapsed)
        self.last_error = ""
        keep = self.view.has_image() and self.view.image().size() == image.size()
        self.view.set_image(image, keep_view=keep)
        what = "grid" if request.grid > 1 else "frame"
        median = statistics.median(self.frame_times)
        self.info.setText(f"{what} {elapsed:.1f} ms · median {median:.1f} ms")
        self.info.setToolTip(f"seed {request.seed}" + (f", morphing to {request.morph_seed} at {request.morph:.0%}"
                                                       if request.morph_seed >= 0 else ""))
        self.frame_shown.emit(elapsed)
        if self._stale:
            self.schedule()

    def _on_failed(self, message: str, _details: str) -> None:
        self._busy = False
        self.last_error = message
        self.info.setText(f"Cannot render: {message}")

    def _on_save(self) -> None:
        request = self.current_request()
        if request is not None:
            self.save_requested.emit(request)
