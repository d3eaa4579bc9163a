"""The Image workspace: diffusion with live previews, image-to-image,
inpainting and outpainting on the canvas, LoRAs, a prompt builder, and the
GAN explorer.

Left, the form: engine and model, mode, prompt and negative prompt (A1111
weighting and ``<lora:...>`` tags), LoRAs, steps, CFG, size, seed, sampler,
batches, the image-to-image inputs of the chosen mode, hires fix, and
preview / memory options. Right, two pages: the canvas (each live preview,
then the stored image, with the canvas toolbar, mask tools while
inpainting and the batch strip) and the GAN explorer.

The form's inputs are request fields by name (see ``base``); the LoRA list
and the painted mask are added here when the request is built. Images
(results, init images, batch thumbnails) are decoded in background tasks; a
preview from a newer job wins over a result still decoding."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtGui import QCursor, QGuiApplication, QImage, QImageReader
from PySide6.QtWidgets import QFileDialog, QMenu, QScrollArea, QTabWidget, QWidget

from studio.core import credentials, provenance
from studio.core.jobs import Job, Request, StudioError
from studio.core.library import LibraryItem
from studio.core.models.cards import ModelCard
from studio.engines import registry
from studio.engines.image.prompt_guides import merge_negative
from studio.engines.image.requests import GanRequest, ImageRequest, UpscaleRequest, snap8
from studio.qt.image.canvas_panel import CanvasPanel
from studio.qt.image.form import MAX_SIDE, ImageForm
from studio.qt.image.gan_explorer import VIEW_SCALE, GanExplorer
from studio.qt.image.live import LiveMode
from studio.qt.image.personalise import add_personalise_button
from studio.qt.image.prompt_builder import PromptBuilder
from studio.qt.image.prompt_builder_loras import lora_names
from studio.qt.shared.qimage import pixels_to_qimage, thumbnail_pixels
from studio.qt.shared.workspace import Workspace, WorkspaceContext

log = logging.getLogger(__name__)

VARIATIONS = 4
STATUS_INTERVAL_S = 0.5


def read_image(path: Path) -> tuple[str, QImage]:
    """Decode an image file (runs in a background task)."""
    return str(path), QImageReader(str(path)).read()


def read_images(paths: tuple[str, ...]) -> tuple[tuple[str, ...], list[QImage]]:
    return paths, [QImageReader(p).read() if p else QImage() for p in paths]


def read_thumbnail(item_id: int, path: str) -> tuple[int, Any]:
    """A batch sibling's thumbnail pixels (background task; see studio.qt.shared.qimage)."""
    return item_id, thumbnail_pixels(path, 72)


def expected_size(request: Request) -> QSize:
    """The size the finished images of ``request`` will have (previews are drawn at it)."""
    width, height = getattr(request, "width", 0), getattr(request, "height", 0)
    if isinstance(request, ImageRequest):
        if request.mode != "txt2img" and request.init_image:
            reader = QImageReader(request.init_image)
            if reader.size().isValid() and request.mode == "outpaint":
                width = reader.size().width() + request.outpaint_left + request.outpaint_right
                height = reader.size().height() + request.outpaint_up + request.outpaint_down
        if request.hires_fix:
            width, height = int(width * request.hires_scale), int(height * request.hires_scale)
        width, height = snap8(width), snap8(height)
    return QSize(width, height)


class ImageWorkspace(ImageForm, Workspace):
    name = "image"
    title = "Image"
    modality = "image"
    icon_name = "image"

    def __init__(self, context: WorkspaceContext, parent: QWidget | None = None) -> None:
        self._pending_path = ""  # the file being decoded for the canvas
        self._pending_item: LibraryItem | None = None
        self.shown_path = ""  # the file on the canvas ("" while it shows a preview or an init image)
        self.shown_item: LibraryItem | None = None
        self._expected = QSize()
        self._rows: dict[str, QWidget] = {}
        self._diffusion_cards: list[ModelCard] = []
        self._status_shown = 0.0
        super().__init__(context, parent)
        self.loras.set_value(self.settings.get("forms.image.loras", []))
        self.loras.value_changed.connect(self._on_loras_changed)
        self.engine_picker.currentIndexChanged.connect(self._on_engine_changed)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.init_edit.editingFinished.connect(self._show_init)
        self.model_picker.value_changed.connect(self._update_lcm)
        self._on_engine_changed()
        self._on_mode_changed()
        self.live = LiveMode(self)  # the Live toggle, paint layer and Keep (studio.qt.image.live)
        self.personalise_button = add_personalise_button(self)  # LoRA training (studio.qt.image.personalise)

    def _show_init(self) -> None:
        """Put the init image on the canvas (to mask it, or to see what will change)."""
        path = self.init_edit.text().strip()
        if self.mode == "txt2img" or not path or not Path(path).is_file() or path == self.shown_path:
            if self.mode == "inpaint" and self.canvas.has_image():
                self._fit_mask_to(self.canvas.image().size())
            return
        image = QImageReader(path).read()
        if image.isNull():
            return
        self._pending_path = ""
        self.shown_path, self.shown_item = "", None
        self.canvas.set_image(image)
        self.canvas.set_before(None)
        self.output.set_result_actions(False)
        self.output.set_batch([])
        self.caption.setText(f"Init image  ·  {image.width()} × {image.height()}  ·  {Path(path).name}")
        self._fit_mask_to(image.size())

    def _fit_mask_to(self, size: QSize) -> None:
        self.output.mask.resize_to(size.width(), size.height())

    # --- output ----------------------------------------------------------------------------
    def build_output(self) -> QWidget:
        self.pages = QTabWidget()
        self.pages.setObjectName("imagePages")
        self.pages.setDocumentMode(True)
        self.output = CanvasPanel("Write a prompt and press Generate (Ctrl+Enter).\n"
                                  "The live preview and the finished image appear here; drop an image here "
                                  "to start from it.")
        self.canvas = self.output.canvas
        self.caption = self.output.caption
        self.gan = GanExplorer(self.ctx.tasks)
        gan_page = QScrollArea()  # a narrow window scrolls the explorer instead of growing
        gan_page.setWidgetResizable(True)
        gan_page.setWidget(self.gan)
        self.pages.addTab(self.output, "Canvas")
        self.pages.addTab(gan_page, "GAN explorer")
        self.output.use_as_init_requested.connect(self.use_shown_as_init)
        self.output.variations_requested.connect(self.variations)
        self.output.upscale_requested.connect(self.upscale)
        self.output.copy_requested.connect(self.copy_image)
        self.output.save_requested.connect(self.save_as)
        self.output.batch_item_chosen.connect(self._on_batch_item_chosen)
        self.canvas.files_dropped.connect(self._on_files_dropped)
        self.canvas.library_item_dropped.connect(self._on_library_item_dropped)
        self.gan.save_requested.connect(self._on_gan_save)
        return self.pages

    def show_preview(self, payload: Any) -> None:
        """Paint the preview at once. The runner hands them over no faster than the
        preview rate setting allows (and the engine makes no more), and a preview
        arriving with its step count repaints the canvas once: on a 2-core machine
        every wake-up of the GUI thread is time the sampler does not get."""
        if not isinstance(payload, QImage):
            return
        self._pending_path = ""  # a newer job is drawing: drop any result still decoding
        size = self._expected if self._expected.isValid() and not self._expected.isEmpty() else payload.size()
        if not self.canvas.is_preview:  # the first preview of a job: set the scene once, not 20 times a second
            self.shown_path, self.shown_item = "", None
            self.pages.setCurrentWidget(self.output)
            self.output.set_result_actions(False)
        self.canvas.set_preview(payload, size)
        caption = f"Preview · {size.width()} × {size.height()}"
        if self.caption.text() != caption:
            self.caption.setText(caption)

    def show_result(self, item: LibraryItem) -> None:
        self._pending_path = str(item.path)
        self._pending_item = item
        before = str(item.recipe.get("request", {}).get("init_image") or "")
        before = before if before and Path(before).is_file() else ""
        self.ctx.tasks.run(read_images, (str(item.path), before), finished=self._on_images_read)

    def _on_images_read(self, result: tuple[tuple[str, ...], list[QImage]]) -> None:
        (path, before_path), (image, before) = result
        item = self._pending_item
        if path != self._pending_path or item is None:
            return
        self._pending_path = ""
        if image.isNull():
            self.caption.setText(f"Could not read {Path(path).name}")
            return
        self.pages.setCurrentWidget(self.output)
        keep = self.canvas.is_preview and self.canvas.image() is not None
        self.canvas.set_image(image, keep_view=keep)
        self.canvas.set_before(before if before_path else None)
        self.shown_path, self.shown_item = path, item
        self.output.set_result_actions(True, can_compare=bool(before_path) and not before.isNull())
        request = item.recipe.get("request", {})
        parts = [f"{image.width()} × {image.height()}", f"seed {item.seed}"]
        if request.get("steps"):
            parts.append(f"{request['steps']} steps")
        if item.recipe.get("sampler"):
            parts.append(str(item.recipe["sampler"]))
        parts.append(Path(path).name)
        self.caption.setText("  ·  ".join(parts))
        self._show_batch(item)
        if self.mode == "inpaint":
            self._fit_mask_to(image.size())

    def _show_batch(self, item: LibraryItem) -> None:
        batch = item.recipe.get("batch") or {}
        if int(batch.get("count", 1)) <= 1:
            self.output.set_batch([])
            return
        if item.id in self.output.batch_ids():
            self.output.select_batch_item(item.id)
            return
        siblings = [i for i in self.ctx.services.library.items(modality="image", limit=200)
                    if (i.recipe.get("batch") or {}).get("id") == batch.get("id")]
        siblings.sort(key=lambda i: (i.recipe.get("batch") or {}).get("index", 0))
        self.output.set_batch([(i.id, f"seed {i.seed}") for i in siblings])
        self.output.select_batch_item(item.id)
        for sibling in siblings:
            self.ctx.tasks.run(read_thumbnail, sibling.id, str(sibling.path), finished=self._on_thumbnail)

    def _on_thumbnail(self, result: tuple[int, Any]) -> None:
        item_id, pixels = result
        self.output.set_batch_thumbnail(item_id, pixels_to_qimage(pixels))

    def _on_batch_item_chosen(self, item_id: int) -> None:
        try:
            self.show_result(self.ctx.services.library.get(item_id))
        except StudioError as exc:
            self._set_error(str(exc))

    # --- jobs -------------------------------------------------------------------------------
    def _on_job_progress(self, job_id: int, done: int, total: int, message: str) -> None:
        """Steps are counted on the canvas; the status line under the form changes at most
        twice a second (each change is a repaint, and the canvas already shows the count)."""
        if job_id not in self._jobs:
            return
        self.canvas.set_progress(f"{done} / {total}" if total else "")
        now = time.monotonic()
        if now - self._status_shown >= STATUS_INTERVAL_S or (total and done >= total):
            self._status_shown = now
            super()._on_job_progress(job_id, done, total, message)

    def _on_job_started(self, job_id: int) -> None:
        super()._on_job_started(job_id)
        if job_id in self._jobs:
            try:
                self._expected = expected_size(self.ctx.services.queue.get(job_id).request)
            except StudioError:
                self._expected = QSize()

    def build_request(self) -> Request:
        """The form as a request; for diffusion, plus the LoRA list and the painted mask."""
        entry = self.current_engine()
        if entry is None:
            raise StudioError(f"{self.title} generation is not available yet")
        registry.load_request_types()
        values = {**self.form.request_values(), "kind": entry.kind}
        if entry.kind == "image":
            values["loras"] = self.loras.value()
            values["mask"] = self._write_mask(str(values.get("init_image") or "")) if self.mode == "inpaint" else ""
            if self.mode == "txt2img":
                values["init_image"] = ""  # the field keeps its path for later; text-to-image uses none
        request = Request.from_dict(values)
        validate = getattr(request, "validate", None)
        if callable(validate):
            validate()
        return request

    def _write_mask(self, image: str = "") -> str:
        """The painted mask as a PNG with Content Credentials (a person's work:
        ``digitalCreation``); the inpainted result lists it as an ingredient."""
        mask = self.output.mask
        if mask.is_empty():
            raise StudioError("the mask is empty: paint over the area to repaint on the canvas")
        folder = self.ctx.services.paths.cache / "masks"
        path = mask.save(folder / f"mask-{time.strftime('%Y%m%d-%H%M%S')}-{id(mask) % 10000}.png")
        recipe = {"title": "Inpainting mask", "kind": "inpaint-mask", "image": image}
        warning = credentials.sign_written(path, recipe, source_type=credentials.HUMAN_SOURCE_TYPE)
        if warning:  # the mask is still used; only its own credentials are missing
            log.warning("%s: %s", path.name, warning)
        return str(path)

    def submit(self, request: Request) -> Job:
        """Submit a request made by an action (variations, upscale, GAN save) and follow it."""
        job = self.runner.submit(request)
        self._jobs.append(job.id)
        self.job_status.setText(f"Job {job.id} queued")
        self.job_submitted.emit(job.id)
        self._update_buttons()
        return job

    def apply_request(self, request: Request) -> None:
        if isinstance(request, GanRequest):
            self.pages.setCurrentIndex(1)
            self.gan.apply(request)
            return
        if isinstance(request, UpscaleRequest):
            self.init_edit.setText(request.init_image)
            return
        super().apply_request(request)
        if isinstance(request, ImageRequest):
            self.loras.set_value(request.loras)
            if request.mode == "inpaint" and request.mask and Path(request.mask).is_file():
                self._show_init()
                self._load_mask(request.mask)
        self.save_form()

    def _load_mask(self, path: str) -> None:
        image = QImageReader(path).read()
        mask = self.output.mask
        if not image.isNull() and not mask.image.isNull():
            mask.image = image.convertToFormat(mask.image.format()).scaled(mask.image.size())
            mask.changed.emit()

    def save_form(self) -> None:
        super().save_form()
        if hasattr(self, "loras"):
            self.settings.set("forms.image.loras", [list(pair) for pair in self.loras.value()])

    def set_model_cards(self, cards: list[ModelCard]) -> None:
        self._diffusion_cards = [c for c in cards if c.modality == "image" and c.format in ("diffusers", "safetensors", "comfyui")]
        self.model_picker.set_cards(self._diffusion_cards)
        self.loras.set_available(lora_names(cards))
        self.gan.set_cards([c for c in cards if c.modality == "image"])
        self._update_lcm()

    # --- actions ---------------------------------------------------------------------------------
    def open_prompt_builder(self) -> PromptBuilder:
        builder = PromptBuilder(self.prompt_edit.toPlainText().strip(), self)
        builder.prompt_built.connect(self._on_prompt_built)
        builder.open()
        self.prompt_builder = builder
        return builder

    def _on_prompt_built(self, prompt: str, negative: str, width: int, height: int) -> None:
        self.prompt_edit.setPlainText(prompt)
        if negative:
            self.negative_edit.setPlainText(merge_negative(self.negative_edit.toPlainText(), negative))
        if width and height:
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)

    def browse_init(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Init image", str(Path.home()),
                                              "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)")
        if path:
            self.use_as_init(path)

    def use_as_init(self, path: str) -> None:
        """Start image-to-image (or the chosen image mode) from ``path``, at its size."""
        self.init_edit.setText(str(path))
        reader = QImageReader(str(path))
        if reader.size().isValid():
            self.width_spin.setValue(min(MAX_SIDE, max(64, snap8(reader.size().width()))))
            self.height_spin.setValue(min(MAX_SIDE, max(64, snap8(reader.size().height()))))
        if self.is_diffusion() and self.mode == "txt2img":
            self.mode_combo.setCurrentIndex(self.mode_combo.findData("img2img"))
        self._show_init()

    def use_shown_as_init(self) -> None:
        if self.shown_path:
            self.use_as_init(self.shown_path)

    def variations(self) -> list[Job]:
        """The shown result's recipe again with seeds + 1 ... + 4 (one batch job)."""
        if self.shown_item is None:
            return []
        request = self.shown_item.request
        if not isinstance(request, ImageRequest):
            return []
        return [self.submit(replace(request, seed=self.shown_item.seed + 1, batch_count=VARIATIONS, batch_size=1))]

    def upscale(self, factor: int) -> Job | None:
        if not self.shown_path:
            return None
        label = (self.shown_item.prompt if self.shown_item else "") or Path(self.shown_path).stem
        return self.submit(UpscaleRequest(init_image=self.shown_path, factor=int(factor), prompt=label,
                                          seed=self.shown_item.seed if self.shown_item else 0))

    def copy_image(self) -> None:
        image = self.canvas.image()
        if image is not None:
            QGuiApplication.clipboard().setImage(image)

    def save_as(self) -> None:
        if not self.shown_path:
            return
        target, _ = QFileDialog.getSaveFileName(self, "Save image as", str(Path.home() / Path(self.shown_path).name),
                                                "PNG image (*.png)")
        if target:
            self.save_copy(target)

    def save_copy(self, target: str) -> Path:
        """A byte copy, so the recipe and the AI-generated mark go with it."""
        path = Path(target).with_suffix(".png")
        shutil.copyfile(self.shown_path, path)
        return path

    def reuse_settings_from_file(self, path: str) -> None:
        """Restore the form from a PNG's recipe: ours, or A1111's parameters text."""
        from studio.engines.image.parameters import request_from_parameters

        recipe = provenance.read_recipe(Path(path))
        if "request" in recipe:
            self.apply_request(Request.from_dict(recipe["request"]))
            return
        current = self.model_picker.value()
        request, settings = request_from_parameters(str(recipe.get("parameters", "")), ImageRequest(model_id=current))
        wanted = settings.get("Model", "").lower()
        for card in self._diffusion_cards:
            if wanted and wanted in (card.name.lower(), Path(card.path).stem.lower()):
                request = replace(request, model_id=card.id)
        self.apply_request(request)

    def _on_files_dropped(self, paths: list[str]) -> None:
        path = paths[0]
        try:
            recipe = provenance.read_recipe(Path(path))
        except StudioError:
            recipe = {}
        if not recipe:
            self.use_as_init(path)
            return
        menu = QMenu(self)
        init_action = menu.addAction("Use as the init image")
        reuse_action = menu.addAction("Reuse its settings")
        chosen = menu.exec(QCursor.pos())
        try:
            if chosen is reuse_action:
                self.reuse_settings_from_file(path)
            elif chosen is init_action:
                self.use_as_init(path)
        except StudioError as exc:
            self._set_error(str(exc))

    def _on_library_item_dropped(self, item_id: int) -> None:
        try:
            self.use_as_init(str(self.ctx.services.library.get(item_id).path))
        except StudioError as exc:
            self._set_error(str(exc))

    def _on_gan_save(self, request: GanRequest) -> None:
        self.submit(replace(request, scale=VIEW_SCALE))
