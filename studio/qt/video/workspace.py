"""The Video workspace: generate clips on the left; on the right, the editor
(viewer, timeline, consistency graph and its operations).

The form builds a ``video`` request: the model decides what it does (a GAN
walks its latent space, an image diffusion model renders the prompt
keyframes, a video model makes the clip), so the model picker lists all
three kinds (frame interpolation models are offered only for retiming,
next to "Interpolate to"). Frames are previewed in the viewer as they are
made; a finished clip (or the part kept when a job is cancelled) lands at
the end of the first video track.

Consistency operations and exports run as jobs too (``video-edit``,
``video-export``): they show in the queue, report progress, can be
cancelled, and their results go to the library with their recipe. An
operation's result replaces its clip's media (one undo step) and is
measured again, so the graph shows before and after. Regenerating a frame
queues an ``image`` img2img job first; its result is handed to the editor,
which queues the propagation that puts it in the clip.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QImage, QShowEvent
from PySide6.QtWidgets import (
    QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QSizePolicy, QSpinBox, QVBoxLayout,
    QWidget,
)

from studio.core.jobs import Request, StudioError
from studio.core.library import LibraryItem
from studio.core.models.cards import ModelCard
from studio.engines import registry
from studio.qt.shared.form import ModelPicker
from studio.qt.shared.model_defaults import Follower, ModelDefaults, card_default, size_followers
from studio.qt.shared.workspace import Workspace
from studio.qt.video.timeline_editor import TimelineEditor
from studio.qt.video.timeline_tools import InterpolatorPicker

MEDIA_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".gif", ".png", ".jpg", ".jpeg", ".webp", ".wav", ".flac",
                  ".mp3", ".ogg", ".m4a"}


def makes_video(card: ModelCard) -> bool:
    """GANs, image diffusion models (keyframes) and video diffusion pipelines
    (not frame interpolators: they retime clips, they make none)."""
    if card.modality == "video":
        return not card.is_interpolator
    return card.modality == "image" and card.format in ("gan", "diffusers", "safetensors", "checkpoint")


class VideoModelPicker(ModelPicker):
    """Models that make clips: GANs, image diffusion models and video models
    (not frame interpolators); a usable one is chosen on a fresh profile."""

    def accepts(self, card: ModelCard) -> bool:
        return makes_video(card)

    def preferred(self, usable: list[ModelCard]) -> ModelCard | None:
        # A model that follows the prompt (a video model, or image diffusion
        # drawing keyframes) before a GAN, whose latent walk ignores it.
        follows = [card for card in usable if card.format != "gan"]
        return (follows or usable or [None])[0]


class VideoWorkspace(Workspace):
    name = "video"
    title = "Video"
    modality = "video"
    icon_name = "video"

    # --- form ------------------------------------------------------------------------------
    def build_form(self) -> None:
        self.add_prompt("Describe the shot; or give keyframes below")
        self.keyframes_edit = QPlainTextEdit()
        self.keyframes_edit.setPlaceholderText("0: a red fox in the snow\n48: a red fox at night, stars")
        self.keyframes_edit.setTabChangesFocus(True)
        self.keyframes_edit.setFixedHeight(72)
        self.add_field("keyframes", "Keyframes (frame: prompt)", self.keyframes_edit, in_request=False,
                       tooltip="Prompt keyframes for diffusion models: embeddings are interpolated between them")
        negative = QLineEdit()
        negative.setPlaceholderText("What to avoid")
        self.add_field("negative", "Negative prompt", negative)
        self.model_picker = VideoModelPicker("video")
        self.model_picker.setToolTip("A GAN (latent walk), an image diffusion model (keyframes) or a video model")
        self.add_field("model_id", "Model", self.model_picker)
        self.add_seed()
        self.frames = self._spin(0, 2000, 0, tip="0: up to the last keyframe (49 with none)")
        self.frames.setSpecialValueText("Auto")
        self.add_field("frames", "Frames", self.frames)
        self.add_field("fps", "Frame rate", self._spin(1, 120, 12, " fps"))
        self._add_size()
        steps = self.add_field("steps", "Steps", self._spin(1, 500, 20))
        cfg = self.add_field("cfg", "CFG scale", self._double(0, 50, 7.0, 0.5))
        followers = [*size_followers(self.width_spin, self.height_spin),
                     Follower("steps", steps, card_default("default_steps")),
                     Follower("cfg", cfg, card_default("default_guidance"))]
        self.model_defaults = ModelDefaults(self.form, self.settings, self.model_picker, followers)
        self.add_field("strength", "Chain strength", self._double(0, 0.95, 0.0, 0.05),
                       tooltip="Above 0: each frame image-to-image from the previous one (Deforum style)")
        self._add_camera()
        self.add_field("walk_speed", "GAN walk speed", self._double(0.01, 10, 0.25, 0.05, " loops/s"))
        init = QLineEdit()
        init.setPlaceholderText("Image file for image-to-video (optional)")
        self.add_field("init_image", "Init image", init)
        self._add_interpolation()
        self.add_field("deflicker", "Deflicker", self._double(0, 1, 0.0, 0.1),
                       tooltip="Deflicker the generated frames at this strength (0: off)")

    def _spin(self, low: int, high: int, value: int, suffix: str = "", tip: str = "") -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setSuffix(suffix)
        spin.setToolTip(tip)
        return spin

    def _double(self, low: float, high: float, value: float, step: float, suffix: str = "") -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setDecimals(2)
        spin.setValue(value)
        spin.setSuffix(suffix)
        return spin

    def _add_size(self) -> None:
        size = QWidget()
        row = QHBoxLayout(size)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.width_spin = self._spin(64, 2048, 512)
        self.height_spin = self._spin(64, 2048, 512)
        for spin in (self.width_spin, self.height_spin):
            spin.setSingleStep(64)
        times = QLabel("×")
        times.setProperty("dim", True)
        row.addWidget(self.width_spin, 1)
        row.addWidget(times)
        row.addWidget(self.height_spin, 1)
        self.form.add("width", self.width_spin)
        self.form.add("height", self.height_spin)
        self.add_row("Size", size)

    def _add_camera(self) -> None:
        camera = QWidget()
        # Two by two: four spin boxes in one row are wider than the form panel.
        grid = QGridLayout(camera)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for index, (name, low, high, value, step, tip) in enumerate((
                ("zoom", 0.5, 2.0, 1.0, 0.01, "Zoom per frame"), ("pan_x", -64, 64, 0.0, 1, "Pan right, px/frame"),
                ("pan_y", -64, 64, 0.0, 1, "Pan down, px/frame"), ("rotate", -30, 30, 0.0, 0.5, "Degrees/frame"))):
            spin = self._double(low, high, value, step)
            spin.setToolTip(tip)
            self.form.add(name, spin)
            grid.addWidget(spin, index // 2, index % 2)
        self.add_row("Camera: zoom, pan x, pan y, rotate", camera)

    def _add_interpolation(self) -> None:
        """The frame rate to retime to, and right under it how the in-between
        frames are made (one row would be wider than the form panel)."""
        self.interpolate_spin = self._spin(0, 120, 0, " fps", "Retime the clip to this frame rate (Off: keep it)")
        self.interpolate_spin.setSpecialValueText("Off")
        self.add_field("interpolate", "Interpolate to", self.interpolate_spin)
        self.interpolator_picker = InterpolatorPicker()
        self.add_field("interpolator", "In-between frames by", self.interpolator_picker)
        self.interpolate_spin.valueChanged.connect(self._update_interpolator)
        self._update_interpolator()

    def _update_interpolator(self) -> None:
        self.interpolator_picker.setEnabled(self.interpolate_spin.value() > 0)

    def keyframe_entries(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.keyframes_edit.toPlainText().splitlines() if line.strip())

    def build_request(self) -> Request:
        from studio.engines.video.requests import VideoRequest

        registry.load_request_types()
        names = {f.name for f in fields(VideoRequest)}
        values = {k: v for k, v in self.form.request_values().items() if k in names}
        if not values.get("interpolate"):
            values["interpolator"] = ""  # the choice is kept in the form for when retiming is turned on
        request = VideoRequest(**{**values, "keyframes": self.keyframe_entries()})
        request.validate()
        return request

    def apply_request(self, request: Request) -> None:
        super().apply_request(request)
        if request.kind == "video":
            self.keyframes_edit.setPlainText("\n".join(getattr(request, "keyframes", ())))
            self.save_form()

    def set_model_cards(self, cards: list[ModelCard]) -> None:
        self.model_picker.set_cards(cards)
        self.interpolator_picker.set_cards(cards)
        self.editor.set_model_cards(cards)

    # --- output ----------------------------------------------------------------------------
    def build_output(self) -> QWidget:
        area = QWidget()
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.editor = TimelineEditor(self.ctx.tasks, self.ctx.services.paths.data / "video")
        self.editor.library_items = self._library_items
        layout.addWidget(self.editor, 1)
        self.message_label = QLabel()
        self.message_label.setObjectName("hint")
        self.message_label.setContentsMargins(12, 2, 12, 6)
        # A long message is cut, not allowed to widen the window.
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.message_label)
        self.editor.message.connect(self.show_message)
        self.editor.edit_requested.connect(self.submit_edit)
        self.editor.export_requested.connect(self.submit_export)
        self.editor.keyframes.regenerate_requested.connect(self.submit_regeneration)
        self._edit_jobs: dict[int, int] = {}  # job id -> clip id
        self._regenerate_jobs: dict[int, Any] = {}  # job id -> RegeneratePlan
        self._export_jobs: dict[int, Any] = {}  # job id -> request
        self._closing_watched = False
        return area

    def show_message(self, text: str) -> None:
        self.message_label.setText(text)

    def _library_items(self) -> list[LibraryItem]:
        return self.ctx.services.library.items(limit=60)

    # --- jobs ------------------------------------------------------------------------------
    def submit_edit(self, request, clip_id: int) -> None:
        job = self._submit(request)
        self._edit_jobs[job.id] = clip_id
        self.show_message(f"{request.operation.title()} queued (job {job.id})")

    def submit_regeneration(self, request, plan) -> None:
        job = self._submit(request)
        self._regenerate_jobs[job.id] = plan
        self.show_message(f"Regenerating frame {plan.frame} (job {job.id})")

    def submit_export(self, request) -> None:
        job = self._submit(request)
        self._export_jobs[job.id] = request
        self.show_message(f"Export to {request.format.upper()} queued (job {job.id})")

    def _submit(self, request):
        job = self.runner.submit(request)
        self._jobs.append(job.id)
        self._update_buttons()
        return job

    def show_preview(self, payload: Any) -> None:
        if isinstance(payload, QImage):
            self.editor.show_preview(payload)

    def _on_job_finished(self, job_id: int, item: LibraryItem) -> None:
        plan = self._regenerate_jobs.pop(job_id, None)
        if plan is not None:
            if self._end_job(job_id):
                self.job_status.setText(f"Job {job_id} finished")
            self.editor.keyframes.regenerated(plan, item.path)
            return
        clip_id = self._edit_jobs.pop(job_id, None)
        export = self._export_jobs.pop(job_id, None)
        if clip_id is None and export is None:
            super()._on_job_finished(job_id, item)
            return
        if self._end_job(job_id):
            self.job_status.setText(f"Job {job_id} finished")
        if clip_id is not None:
            change = item.recipe.get("consistency", {})
            try:
                self.editor.edit_finished(clip_id, item.path)
            except StudioError as exc:  # the clip was deleted while the job ran
                self.show_message(str(exc))
                return
            if change:
                self.show_message(f"{item.recipe.get('operation', 'Edit')}: mean warp error "
                                  f"{change['mean_warp_error_before']:.2f} → {change['mean_warp_error_after']:.2f}")
        else:
            where = export.destination or str(item.path)
            self.show_message(f"Exported {Path(where).name} (also in the library)")

    def _on_job_failed(self, job_id: int, message: str, details: str) -> None:
        self._edit_jobs.pop(job_id, None)
        self._export_jobs.pop(job_id, None)
        plan = self._regenerate_jobs.pop(job_id, None)
        super()._on_job_failed(job_id, message, details)
        if plan is not None:
            self.editor.keyframes.regeneration_ended(plan, f"the image job failed: {message}")

    def _on_job_cancelled(self, job_id: int) -> None:
        self._edit_jobs.pop(job_id, None)
        self._export_jobs.pop(job_id, None)
        plan = self._regenerate_jobs.pop(job_id, None)
        super()._on_job_cancelled(job_id)
        if plan is not None:
            self.editor.keyframes.regeneration_ended(plan, "the image job was cancelled")

    def show_result(self, item: LibraryItem) -> None:
        """A generated clip: onto the timeline, at the end of the first video track."""
        try:
            self.editor.add_media(item.path)
        except StudioError as exc:
            self.show_message(str(exc))
            return
        frames = item.recipe.get("frames", "?")
        note = " (cancelled: the frames made so far were kept)" if item.recipe.get("partial") else ""
        self.show_message(f"Added {item.path.name}: {frames} frames{note}")

    def show_item(self, item: LibraryItem) -> None:
        """A library item chosen in the Library panel: a clip, image or sound onto the timeline."""
        suffix = item.path.suffix.lower()
        if suffix == ".otio":
            self.editor.open_project(item.path)
        elif suffix in MEDIA_SUFFIXES:
            self.editor.import_files([str(item.path)])

    # --- life cycle -------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._closing_watched:
            self._closing_watched = True
            self.window().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is self.window():
            self.editor.shutdown()  # no sound stream or media decode may outlive the window
        return super().eventFilter(watched, event)
