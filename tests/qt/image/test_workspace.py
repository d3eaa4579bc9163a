"""The Image workspace on a tiny SD-shaped model found in a model folder:
Generate shows live previews then the stored image and its batch; the mask
is painted on the canvas for inpainting; the canvas zooms, pans and
compares; prompts come from the builder and LoRAs from the picker; A1111
PNGs restore the form; variations, upscaling and cancel work; the GAN
explorer renders frames while a slider moves and saves them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QListWidget

from studio.core.credentials import HUMAN_SOURCE_TYPE, read_credentials
from studio.core.jobs import JobState
from studio.core.provenance import read_recipe
from studio.engines.image.requests import GanRequest, ImageRequest, UpscaleRequest
from tests.engines.image import tiny_models


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a shared 2-core machine: see tests/engines/image/conftest.py
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gui-models")
    sd15 = tiny_models.build_sd15(root / "tiny-sd15")
    tiny_models.save_lora(sd15, root / "Lora" / "inkwash.safetensors")
    return root


@pytest.fixture
def image_window(open_window, studio_home, model_root, qtbot):
    config = studio_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps({"models.folders": [str(model_root)]}))
    window = open_window()
    qtbot.waitUntil(lambda: any(c.name == "tiny-sd15" for c in window.services.models.cards()), timeout=20000)
    workspace = window.workspaces["image"]
    window.show_workspace("image")
    qtbot.waitUntil(lambda: workspace.model_picker.count() > 1, timeout=10000)
    return window, workspace


def _diffusion_form(workspace, prompt: str = "a red cube on grass", steps: int = 6) -> None:
    workspace.engine_picker.setCurrentIndex(workspace.engine_picker.findData("image"))
    card = next(c for c in workspace.ctx.services.models.cards() if c.name == "tiny-sd15")
    workspace.model_picker.set_value(card.id)
    workspace.prompt_edit.setPlainText(prompt)
    workspace.steps.setValue(steps)
    workspace.width_spin.setValue(64)
    workspace.height_spin.setValue(64)
    workspace.seed_field.random_button.setChecked(False)
    workspace.seed_field.spin.setValue(5)


def test_generate_shows_previews_then_the_result_then_the_batch(qtbot, image_window):
    window, workspace = image_window
    _diffusion_form(workspace, steps=8)
    workspace.batch_size.setValue(2)
    previews = []
    workspace.canvas.image_changed.connect(lambda: previews.append(workspace.canvas.is_preview))
    with qtbot.waitSignal(window.runner.job_finished, timeout=60000) as finished:
        qtbot.mouseClick(workspace.generate_button, Qt.MouseButton.LeftButton)
    _, item = finished.args
    assert True in previews  # the canvas showed a live preview before the result
    qtbot.waitUntil(lambda: workspace.shown_path == str(item.path), timeout=10000)
    assert not workspace.canvas.is_preview and workspace.canvas.image().size().width() == 64
    assert "seed 5" in workspace.caption.text()
    items = window.services.library.items()
    assert sorted(i.seed for i in items) == [5, 6]
    qtbot.waitUntil(lambda: set(window.library_panel.item_ids()) == {i.id for i in items}, timeout=10000)
    assert sorted(workspace.output.batch_ids()) == sorted(i.id for i in items)
    assert workspace.output.strip.isVisible()
    assert "Steps: 8" in item.recipe["parameters"] and item.recipe["batch"]["count"] == 2
    # Picking the other image of the batch shows it.
    other = next(i for i in items if i.id != item.id)
    workspace.output.batch_item_chosen.emit(other.id)
    qtbot.waitUntil(lambda: workspace.shown_path == str(other.path), timeout=10000)
    assert "seed 6" in workspace.caption.text()


def test_inpainting_with_a_mask_painted_on_the_canvas(qtbot, image_window, tmp_path):
    window, workspace = image_window
    _diffusion_form(workspace)
    init = tmp_path / "init.png"
    Image.fromarray(np.full((64, 64, 3), 180, np.uint8)).save(init)
    workspace.mode_combo.setCurrentIndex(workspace.mode_combo.findData("inpaint"))
    workspace.use_as_init(str(init))
    assert workspace.output.mask_bar.isVisible() and workspace.canvas.painting
    assert workspace.generate() is None and "mask is empty" in workspace.error_text()
    canvas = workspace.canvas
    centre = canvas.image_rect().center().toPoint()
    workspace.output.size_slider.setValue(16)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(canvas, centre + QPoint(30, 0))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=centre + QPoint(30, 0))
    mask = workspace.output.mask
    assert 0.02 < mask.coverage() < 0.5
    with qtbot.waitSignal(window.runner.job_finished, timeout=60000) as finished:
        job = workspace.generate()
    request = window.services.queue.get(job.id).request
    assert request.mode == "inpaint" and request.init_image == str(init)
    painted = np.asarray(Image.open(request.mask))
    assert painted.shape == (64, 64) and painted.max() == 255 and painted[0, 0] == 0
    config = window.services.paths.config
    mask_credentials = read_credentials(request.mask, config)  # a person painted it, and it says so
    assert mask_credentials.state == "valid"
    assert mask_credentials.actions == [{"action": "c2pa.created", "source_type": HUMAN_SOURCE_TYPE}]
    _, item = finished.args
    assert [i["title"] for i in read_credentials(item.path, config).ingredients] == [
        "init.png", Path(request.mask).name]
    qtbot.waitUntil(lambda: workspace.shown_path == str(item.path), timeout=10000)
    assert workspace.canvas.has_before() and workspace.output.compare_button.isEnabled()
    workspace.output.compare_button.setChecked(True)
    assert workspace.canvas.comparing


def test_mask_tools_undo_invert_clear_and_erase(qtbot, image_window):
    _, workspace = image_window
    mask = workspace.output.mask
    mask.resize_to(100, 100)
    mask.brush_size, mask.hardness = 20, 1.0
    mask.begin_stroke(QPointF(50, 50))
    mask.end_stroke()
    painted = mask.coverage()
    assert abs(painted - np.pi * 10 ** 2 / 100 ** 2) < 0.01
    mask.erasing = True
    mask.begin_stroke(QPointF(50, 50))
    assert mask.coverage() < 0.002  # only antialiased edge pixels are left
    assert mask.undo() and mask.coverage() == pytest.approx(painted)
    mask.invert()
    assert mask.coverage() == pytest.approx(1 - painted, abs=0.001)
    mask.clear()
    assert mask.is_empty()
    mask.undo()
    mask.undo()
    assert mask.coverage() == pytest.approx(painted)
    mask.erasing, mask.hardness = False, 0.0
    mask.clear()
    mask.begin_stroke(QPointF(50, 50))
    soft = mask.coverage()
    assert 0 < soft < painted  # a soft brush paints less than a hard one of the same size


def test_canvas_zooms_about_the_cursor_pans_and_fits(qtbot, image_window):
    _, workspace = image_window
    canvas = workspace.canvas
    canvas.set_image(QImage(64, 64, QImage.Format.Format_RGB888))
    fitted = canvas.zoom
    workspace.output.actual_button.click()
    assert canvas.zoom == 1.0 and workspace.output.zoom_label.text() == "100%"
    anchor = QPointF(canvas.width() / 2 + 20, canvas.height() / 2)
    before = canvas.map_to_image(anchor)
    canvas.set_zoom(3.0, anchor)
    assert canvas.map_to_image(anchor).x() == pytest.approx(before.x())
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(140, 100))
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(140, 100))
    assert canvas.map_to_image(QPointF(140, 100)).x() == pytest.approx(canvas.map_to_image(QPointF(100, 100)).x()
                                                                      + 40 / 3, abs=0.5)
    workspace.output.fit_button.click()
    assert canvas.zoom == pytest.approx(fitted)


def test_the_prompt_builder_and_the_lora_picker_fill_the_request(qtbot, image_window):
    window, workspace = image_window
    _diffusion_form(workspace, prompt="a teapot")
    builder = workspace.open_prompt_builder()
    assert builder.inputs["subject"].currentText() == "a teapot"
    builder.set_choice("lighting", "soft window light")
    builder.set_choice("perspective", "low angle")
    builder.preset_buttons["Product mockup"].click()
    builder.preview.setPlainText(builder.preview.toPlainText() + ", steam")  # the composed prompt stays editable
    builder.use_button.click()
    prompt = workspace.prompt_edit.toPlainText()
    assert prompt.startswith("a teapot, soft window light, low angle, product shot") and prompt.endswith(", steam")
    assert "harsh shadows" in workspace.negative_edit.toPlainText()
    assert workspace.loras.add_combo.findData("inkwash") > 0
    workspace.loras.add("inkwash", 0.6)
    request = workspace.build_request()
    assert isinstance(request, ImageRequest) and request.loras == (("inkwash", 0.6),)
    workspace.save_form()
    assert window.services.settings.get("forms.image.loras") == [["inkwash", 0.6]]


def test_an_a1111_png_dropped_restores_the_form(qtbot, image_window, tmp_path):
    _, workspace = image_window
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a castle in the clouds, (golden:1.2)\nNegative prompt: blurry\n"
                  "Steps: 13, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 4.5, Seed: 777, "
                  "Size: 128x96, Model: tiny-sd15")
    path = tmp_path / "a1111.png"
    Image.new("RGB", (128, 96)).save(path, pnginfo=info)
    workspace.reuse_settings_from_file(str(path))
    assert workspace.prompt_edit.toPlainText() == "a castle in the clouds, (golden:1.2)"
    assert workspace.negative_edit.toPlainText() == "blurry"
    assert (workspace.steps.value(), workspace.cfg.value(), workspace.seed_field.spin.value()) == (13, 4.5, 777)
    assert (workspace.width_spin.value(), workspace.height_spin.value()) == (128, 96)
    assert workspace.scheduler_combo.currentData() == "DPM++ 2M Karras"
    assert workspace.engine_picker.currentData() == "image"
    assert workspace.model_picker.currentText().startswith("tiny-sd15")


def test_variations_upscale_cancel_and_a_library_drop(qtbot, image_window):
    window, workspace = image_window
    _diffusion_form(workspace, steps=60)  # long enough that the variations are cancelled mid-run
    with qtbot.waitSignal(window.runner.job_finished, timeout=60000) as finished:
        workspace.generate()
    _, item = finished.args
    qtbot.waitUntil(lambda: workspace.shown_path == str(item.path), timeout=10000)
    (variations,) = workspace.variations()
    assert variations.request.seed == item.seed + 1 and variations.request.image_count == 4
    window.runner.cancel(variations.id)
    qtbot.waitUntil(lambda: window.services.queue.get(variations.id).state.is_final, timeout=60000)
    assert window.services.queue.get(variations.id).state is JobState.CANCELLED
    with qtbot.waitSignal(window.runner.job_finished, timeout=30000) as upscaled:
        job = workspace.upscale(2)
    assert isinstance(job.request, UpscaleRequest) and job.request.init_image == str(item.path)
    assert (upscaled.args[1].width, upscaled.args[1].height) == (128, 128)
    assert len(window.services.library.items()) == 2  # the cancelled variations stored nothing
    # A Library row dragged onto the canvas becomes the init image.
    qtbot.waitUntil(lambda: item.id in window.library_panel.item_ids(), timeout=10000)
    window.library_panel.select(item.id)
    lst = window.library_panel.findChild(QListWidget, "libraryList")
    mime: QMimeData = lst.model().mimeData([lst.currentIndex()])
    from studio.qt.image.canvas_view import _library_id
    assert _library_id(mime) == item.id
    workspace.canvas.library_item_dropped.emit(_library_id(mime))
    assert workspace.init_edit.text() == str(item.path) and workspace.mode == "img2img"
    assert read_recipe(item.path)["request"]["seed"] == item.seed


def test_the_gan_explorer_renders_while_a_slider_moves_and_saves_the_frame(qtbot, image_window):
    from studio.core.models.discovery import discover_starters

    if not any(card.id == "dcgan-faces-64" for card in discover_starters()):
        pytest.skip("the gan-face-generate starter package is not installed")
    window, workspace = image_window
    gan = workspace.gan
    qtbot.waitUntil(lambda: gan.model_combo.findData("dcgan-faces-64") >= 0, timeout=10000)
    gan.model_combo.setCurrentIndex(gan.model_combo.findData("dcgan-faces-64"))
    workspace.pages.setCurrentIndex(1)
    qtbot.waitUntil(lambda: gan.frames >= 1, timeout=30000)
    first = gan.frames
    for value in range(10, 110, 10):
        gan.sliders[0].setValue(value)
        qtbot.wait(5)
    qtbot.waitUntil(lambda: not gan._busy and not gan._stale, timeout=20000)
    assert gan.frames > first and gan.view.image().width() == 64
    assert gan.offsets()[0] == pytest.approx(2.0)  # the last slider position won
    assert sorted(gan.frame_times)[len(gan.frame_times) // 2] < 50  # the median frame, on a busy machine
    gan.morph_slider.setValue(50)
    gan.grid_combo.setCurrentIndex(gan.grid_combo.findData(3))
    qtbot.waitUntil(lambda: gan.view.image().width() == 3 * 64 + 4, timeout=20000)
    gan.grid_combo.setCurrentIndex(0)
    qtbot.waitUntil(lambda: not gan._busy and gan.view.image().width() == 64, timeout=20000)
    with qtbot.waitSignal(window.runner.job_finished, timeout=30000) as finished:
        gan.save_button.click()
    item = finished.args[1]
    request = item.request
    assert isinstance(request, GanRequest) and request.offsets[0] == pytest.approx(2.0) and request.morph == 0.5
    saved = np.asarray(Image.open(item.path))
    shown = workspace.gan.view.image()
    assert saved.shape == (64 * 4, 64 * 4, 3) and shown.width() == 64
