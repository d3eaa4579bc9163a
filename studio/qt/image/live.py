"""Live mode of the Image workspace: while the "Live" toggle is on, every
change of the prompt, a slider (seed, strength, CFG, a LoRA weight) or the
paint layer redraws the picture, and "Keep" puts the frame shown into the
library with its recipe.

How a change becomes a frame: changes in one pass of the event loop are
gathered by a zero-length timer into one state (the form as an
``ImageRequest`` at the live settings, plus the paint layer's picture). A
state equal to the one wanted last is dropped (unchanged state is never
regenerated). A new state goes to the runner's live slot (latest wins, not
the persistent queue) and cancels the frame in flight at its next step,
except when that frame is more than half done (by the time recent frames
took), is itself the restart of a cancelled frame, changes come faster than
frames (a slider being dragged: ``DRAG_CHANGES`` within two frames' time),
or the canvas has not changed for ``MAX_FRAME_GAP_S``: then the frame in
flight finishes first and the newest state follows it. Restarting a frame
that is nearly done would show the new state only slightly sooner, and a
slider dragged without pause would show no picture at all; this way frames
keep coming while it moves, each at most about one and a half frame times
behind the hand. The seed is the form's, held
while live, so frames differ only by what was changed.

Each frame is painted when it arrives, with the strokes over it; the paint
layer itself is drawn on every mouse move by the canvas, never waiting for
the model."""

from __future__ import annotations

import hashlib
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QSpinBox, QToolBar, QToolButton, QWidget

from studio.core.jobs import Request, StudioError
from studio.engines import registry
from studio.engines.image.requests import ImageRequest
from studio.qt.image.paint_layer import PaintBar, PaintLayer
from studio.qt.live_slot import LiveSlot
from studio.qt.shared.qimage import array_to_qimage

if TYPE_CHECKING:  # numpy is imported on first use: the window shows without it
    import numpy as np

MAX_FRAME_GAP_S = 0.35  # past this without a new frame, the one in flight is let finish
DRAG_CHANGES = 3  # this many changes within two frames' time are a slider being dragged
COALESCE_MS = 0


@dataclass(frozen=True)
class LiveState:
    request: ImageRequest
    layer_digest: str  # "" for an empty layer


@dataclass
class Shown:
    """The frame on the canvas and what made it."""

    frame: Any  # studio.engines.image.live.LiveFrame
    layer: np.ndarray | None
    state: LiveState
    image: QImage


def render_work(request: ImageRequest, layer: np.ndarray | None, cancel) -> tuple[Any, QImage, Any]:
    """Runs on the runner's worker: one frame, its QImage (made off the GUI thread) and its layer."""
    import numpy as np

    from studio.engines.image.live import render

    frame = render(request, layer, cancel)
    return frame, array_to_qimage(np.ascontiguousarray(frame.pixels)), layer


class LiveBar(QToolBar):
    """The Live toggle, its step count, Keep, and the live status."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveToolbar")
        self.setMovable(False)
        self.live_button = QToolButton()
        self.live_button.setText("Live")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Redraw the picture at every change of the prompt, the sliders or the paint")
        self.steps = QSpinBox()
        self.steps.setRange(1, 50)
        self.steps.setPrefix("Steps ")
        self.steps.setToolTip("Steps per live frame (set from the model; fewer is faster, more follows better)")
        self.keep_button = QToolButton()
        self.keep_button.setText("Keep")
        self.keep_button.setToolTip("Put the picture shown into the Library, with the recipe that makes it")
        self.keep_button.setEnabled(False)
        self.status = QLabel()
        self.status.setProperty("dim", True)
        for widget in (self.live_button, self.steps, self.keep_button, self.status):
            self.addWidget(widget)


class LiveMode(QObject):
    """Follows an ``ImageWorkspace``'s form and paint layer and draws live frames."""

    frame_shown = Signal(object)  # Shown
    kept = Signal(object)  # LibraryItem

    def __init__(self, workspace: Any) -> None:
        super().__init__(workspace)
        self.ws = workspace
        self.on = False
        self.layer = PaintLayer(self)
        self.bar = LiveBar()
        self.paint_bar = PaintBar(self.layer)
        self.paint_bar.setVisible(False)
        self.slot = LiveSlot("image", self)
        self.ws.runner.add_live_slot(self.slot)
        self.shown: Shown | None = None
        self.wanted: LiveState | None = None
        self._changed_at: float | None = None  # first change not yet submitted
        self._submitted: dict[LiveState, float] = {}  # state -> when the change behind it was made
        self.latencies_ms: list[float] = []  # change -> frame painted
        self.frames = 0
        self._last_frame_at = 0.0
        self._step_s = 0.0
        self._restarted = False  # a frame was cancelled for a newer state since the last one shown
        self._submits: deque[float] = deque(maxlen=DRAG_CHANGES)  # when the latest states were submitted
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(COALESCE_MS)
        self._timer.timeout.connect(self.submit)
        self._connect()

    def _connect(self) -> None:
        layout = self.ws.output.layout()
        layout.insertWidget(1, self.bar)
        layout.insertWidget(2, self.paint_bar)
        self.bar.live_button.toggled.connect(self.set_on)
        self.bar.keep_button.clicked.connect(self.keep)
        self.bar.steps.valueChanged.connect(self.changed)
        self.ws.form.value_changed.connect(self.changed)
        self.ws.loras.value_changed.connect(self.changed)
        self.ws.model_picker.value_changed.connect(self._on_model_changed)
        self.layer.changed.connect(self.changed)
        self.ws.mode_combo.currentIndexChanged.connect(self._keep_layer_on_canvas)
        self.slot.finished.connect(self._on_frame)
        self.slot.failed.connect(self._on_failed)
        self._on_model_changed()

    # --- on / off ---------------------------------------------------------------------
    def set_on(self, on: bool) -> None:
        if on == self.on:
            return
        self.on = on
        if self.bar.live_button.isChecked() != on:
            self.bar.live_button.setChecked(on)
        self.paint_bar.setVisible(on)
        canvas = self.ws.canvas
        if on:
            self.ws.pages.setCurrentWidget(self.ws.output)
            self.ws.output.set_mask_mode(False)
            self.ws._rows["strength"].setVisible(True)  # how much of the painting the frame may change
            self._fit_layer()
            canvas.set_mask(self.layer)
            self.wanted = None
            self.changed()
        else:
            self.slot.cancel()
            self._timer.stop()
            canvas.set_mask(None)
            self.ws._on_mode_changed()  # the mode's own rows and canvas tools again
            self.bar.status.setText("")
            self._submitted.clear()

    def _keep_layer_on_canvas(self, *_args: Any) -> None:
        """The mode's own canvas set-up (the inpainting mask) must not take the paint layer away."""
        if self.on:
            self.ws.output.set_mask_mode(False)
            self.ws._rows["strength"].setVisible(True)
            self.ws.canvas.set_mask(self.layer)

    def _fit_layer(self) -> None:
        width, height = self.ws.width_spin.value(), self.ws.height_spin.value()
        self.layer.resize_to(width, height)
        image = self.ws.canvas.image()
        if image is None or image.size() != self.layer.image.size():
            blank = QImage(width, height, QImage.Format.Format_RGB32)
            blank.fill(0xFFFFFFFF)
            self.ws.canvas.set_image(blank)

    def _on_model_changed(self, *_args: Any) -> None:
        from studio.engines.image.live import live_settings

        card = next((c for c in self.ws._diffusion_cards if c.id == self.ws.model_picker.value()), None)
        settings = live_settings(card, None, tuple(self.ws.loras.row_names()), self._installed_loras())
        self.bar.steps.blockSignals(True)
        self.bar.steps.setValue(int(settings["steps"]))
        self.bar.steps.blockSignals(False)
        self.changed()

    def _installed_loras(self) -> tuple[str, ...]:
        cards = self.ws.ctx.services.models.cards("image")
        return tuple(name for c in cards if c.format == "lora" for name in (c.name, c.id, Path(c.path).stem))

    # --- changes -> frames ------------------------------------------------------------
    def changed(self, *_args: Any) -> None:
        if not self.on:
            return
        if self._changed_at is None:
            self._changed_at = time.perf_counter()
        if not self._timer.isActive():
            self._timer.start()

    def state(self) -> tuple[LiveState, np.ndarray | None]:
        """The form and the layer as they are now (raises StudioError for an unusable form)."""
        from studio.engines.image.live import live_request, live_settings, steps_for_strength, with_loras

        entry = self.ws.current_engine()
        if entry is None or entry.kind != "image":
            raise StudioError("live mode draws with the Diffusion engine: choose it above")
        registry.load_request_types()
        values = {**self.ws.form.request_values(), "kind": "image", "loras": self.ws.loras.value()}
        values.update(init_image="", mask="", mode="txt2img")
        request = Request.from_dict(values)
        card = next((c for c in self.ws._diffusion_cards if c.id == request.model_id), None)
        settings = live_settings(card, None, tuple(name for name, _w in request.loras), self._installed_loras())
        settings["steps"] = self.bar.steps.value()
        if "loras" in settings:
            settings["loras"] = with_loras(tuple(request.loras), settings["loras"])
        if "cfg" not in settings:
            settings["cfg"] = request.cfg
        layer = self.layer.picture()
        if layer is not None:
            settings["steps"] = steps_for_strength(settings["steps"], request.strength)
        digest = hashlib.blake2b(layer.tobytes(), digest_size=16).hexdigest() if layer is not None else ""
        request = live_request(replace(request, **settings), layer is not None)
        return LiveState(request, digest), layer

    def submit(self) -> None:
        if not self.on:
            return
        changed_at, self._changed_at = self._changed_at, None
        self.layer.resize_to(self.ws.width_spin.value(), self.ws.height_spin.value())  # a new size: scaled
        try:
            state, layer = self.state()
            if not state.request.prompt.strip():
                raise StudioError("write a prompt to start drawing")
        except StudioError as exc:
            self.bar.status.setText(str(exc))
            return
        if state == self.wanted:
            return  # unchanged: never drawn twice
        self.wanted = state
        self._submitted[state] = changed_at if changed_at is not None else time.perf_counter()
        self._submits.append(time.perf_counter())
        let_finish = self._let_finish(state)
        if not let_finish and self.slot.running_key() is not None:
            self._restarted = True
        self.slot.submit(state, partial(render_work, state.request, layer), cancel_running=not let_finish)

    def _let_finish(self, state: LiveState) -> bool:
        """Whether the frame in flight should finish before the newer ``state`` is drawn."""
        if self.shown is None:
            return False
        if time.perf_counter() - self._last_frame_at > MAX_FRAME_GAP_S:
            return True  # starved: show something
        if self._restarted:
            return True  # one restart per frame shown: changes faster than frames would restart forever
        if self._dragging(state):
            return True  # frames back to back while a slider moves: each restart would only lose work
        since, running = self.slot.running_since(), self.slot.running_key()
        if since is None or not isinstance(running, LiveState) or not self._step_s:
            return False
        return time.monotonic() - since > self._expected_s(running) / 2

    def _dragging(self, state: LiveState) -> bool:
        """Changes coming faster than frames: the last ``DRAG_CHANGES`` within two frames' time."""
        if len(self._submits) < DRAG_CHANGES or not self._step_s:
            return False
        return self._submits[-1] - self._submits[0] < 2 * self._expected_s(state)

    def _expected_s(self, state: LiveState) -> float:
        """How long a frame of ``state`` should take, from the time recent frames took a step."""
        steps = state.request.steps
        if state.layer_digest:  # image to image runs only the strength's share of the steps
            steps = max(1, int(steps * state.request.strength))
        return self._step_s * steps

    def _on_frame(self, state: LiveState, result: tuple[Any, QImage, Any]) -> None:
        frame, image, layer = result
        now = time.perf_counter()
        self.frames += 1
        self._last_frame_at = now
        self._restarted = False
        # The time a step takes on the worker, smoothed: how far along the frame in flight is.
        step_s = frame.seconds / max(1, frame.steps_run)
        self._step_s = step_s if not self._step_s else 0.7 * self._step_s + 0.3 * step_s
        for other in [s for s in self._submitted if s == state or self._older(s, state)]:
            self.latencies_ms.append((now - self._submitted.pop(other)) * 1000.0)
        self.shown = Shown(frame, layer, state, image)
        if not self.on:
            return
        self.ws.canvas.set_image(image, keep_view=True)
        self.ws.shown_path, self.ws.shown_item = "", None
        self.ws.output.set_result_actions(False)
        self.bar.keep_button.setEnabled(True)
        steps = f"{frame.steps_run} step{'s' if frame.steps_run != 1 else ''}"
        self.bar.status.setText(f"{steps} · {frame.seconds * 1000:.0f} ms · seed {frame.request.seed}")
        self.frame_shown.emit(self.shown)

    def _older(self, other: LiveState, state: LiveState) -> bool:
        """A change submitted before ``state``'s: this frame is the first to reflect it."""
        return self._submitted[other] <= self._submitted.get(state, 0.0)

    def _on_failed(self, _state: LiveState, message: str) -> None:
        self.bar.status.setText(message)

    # --- keep -----------------------------------------------------------------------
    def keep(self) -> Any:
        """Store the frame shown, exactly, with the recipe that makes it again."""
        from studio.engines.image.live import keep_artifact

        shown = self.shown
        if shown is None:
            return None
        init, warning = "", ""
        if shown.layer is not None:
            folder = self.ws.ctx.services.paths.data / "live-layers"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"layer-{time.strftime('%Y%m%d-%H%M%S')}-{shown.state.layer_digest[:10]}.png"
            from PIL import Image

            from studio.core import credentials

            Image.fromarray(shown.layer).save(path)
            # The layer is what the person painted (the kept frame names it as its parent).
            warning = credentials.sign_written(path, {"title": "Live paint layer", "kind": "live-layer"},
                                               source_type=credentials.HUMAN_SOURCE_TYPE)
            init = str(path)
        try:
            artifact = keep_artifact(shown.frame, init)
            item = self.ws.ctx.services.library.add(artifact.request, artifact)
        except StudioError as exc:
            self.bar.status.setText(str(exc))
            return None
        panel = getattr(self.ws.window(), "library_panel", None)
        if panel is not None:
            panel.reload()
        note = f" (paint layer: {warning})" if warning else ""
        self.bar.status.setText(f"Kept in the Library: {item.path.name}{note}")
        self.kept.emit(item)
        return item
