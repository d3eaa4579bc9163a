"""What lands on disk: PNGs whose A1111 ``parameters`` chunk other tools read,
the JSON recipe, the AI-generated XMP mark, one library item per image of a
batch, recipes read back from our PNGs and from A1111's, plain upscaling, and
the ``studio generate image`` command line."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.cli import main as cli
from studio.core.jobs import CancelToken, NullReporter, Request, StudioError
from studio.core.provenance import IPTC_SOURCE_TYPE, read_recipe
from studio.engines.execute import execute_job
from studio.engines.image import upscale
from studio.engines.image.parameters import request_from_parameters
from studio.engines.image.requests import ImageRequest, UpscaleRequest
from tests.engines.image.conftest import card_id


def _run_job(services, request):
    queue = services.queue
    job = queue.start(queue.submit(request).id)
    return execute_job(job, queue, services.library, NullReporter(), CancelToken())


def test_a_batch_becomes_one_library_item_per_image_with_its_recipe(image_services):
    request = ImageRequest(prompt="a teal (sphere:1.2), studio light", negative="blurry", steps=3, width=64,
                           height=64, seed=40, batch_size=2, scheduler="DPM++ 2M Karras",
                           model_id=card_id(image_services, "tiny-sd15-single", "safetensors"))
    state, item = _run_job(image_services, request)
    assert state.value == "finished"
    items = image_services.library.items()
    assert sorted(i.seed for i in items) == [40, 41] and item.seed == 40
    for library_item in items:
        png = Image.open(library_item.path)
        parameters = png.text["parameters"]  # what A1111's PNG-info, ComfyUI and CivitAI read
        assert parameters.startswith("a teal (sphere:1.2), studio light\nNegative prompt: blurry\n")
        assert f"Seed: {library_item.seed}," in parameters and "Sampler: DPM++ 2M Karras" in parameters
        assert "Model hash: " in parameters and "Model: tiny-sd15-single" in parameters
        assert IPTC_SOURCE_TYPE in png.text["XML:com.adobe.xmp"]
        recipe = read_recipe(library_item.path)
        assert recipe["ai_generated"] is True and recipe["parameters"] == parameters
        # The stored request makes this very image again: its own seed, a batch of one.
        again = Request.from_dict(recipe["request"])
        assert again == replace(request, seed=library_item.seed, batch_size=1)
        restored, _ = request_from_parameters(parameters)
        assert (restored.seed, restored.steps, restored.negative) == (library_item.seed, 3, "blurry")


def test_an_a1111_png_restores_the_form(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "portrait of an old sailor, (weathered skin:1.2)\nNegative prompt: cartoon\n"
                  "Steps: 28, Sampler: Euler a, CFG scale: 6.5, Seed: 987654321, Size: 512x640, "
                  "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1")
    path = tmp_path / "00012-987654321.png"
    Image.new("RGB", (512, 640), "gray").save(path, pnginfo=info)
    recipe = read_recipe(path)
    assert set(recipe) == {"parameters"}  # no Studio recipe: only A1111's text
    request, settings = request_from_parameters(recipe["parameters"])
    assert request.prompt == "portrait of an old sailor, (weathered skin:1.2)"
    assert (request.negative, request.steps, request.cfg, request.seed) == ("cartoon", 28, 6.5, 987654321)
    assert (request.width, request.height, request.scheduler) == (512, 640, "Euler a")
    assert settings["Model hash"] == "6ce0161689"


def test_upscale_2x_and_4x_enlarges_and_sharpens(tmp_path):
    source = np.zeros((24, 32, 3), dtype=np.uint8)
    source[:, 16:] = 255
    path = tmp_path / "edge.png"
    Image.fromarray(source).save(path)
    for factor in (2, 4):
        artifact = upscale.run(UpscaleRequest(init_image=str(path), factor=factor), NullReporter(), CancelToken())
        big = np.asarray(Image.open(io.BytesIO(artifact.data)))
        assert big.shape == (24 * factor, 32 * factor, 3)
        assert (artifact.width, artifact.height) == (32 * factor, 24 * factor)
    soft = upscale.run(UpscaleRequest(init_image=str(path), factor=4, sharpen=0), NullReporter(), CancelToken())
    soft_row = np.asarray(Image.open(io.BytesIO(soft.data)))[40, :, 0].astype(int)
    sharp_row = big[40, :, 0].astype(int)
    assert np.abs(np.diff(sharp_row)).max() >= np.abs(np.diff(soft_row)).max()  # a crisper edge
    with pytest.raises(StudioError, match="factor must be 2 or 4"):
        UpscaleRequest(init_image=str(path), factor=3).validate()


def test_the_command_line_generates_img2img_and_inpaint(image_services, tmp_path, capsys):
    model = card_id(image_services, "tiny-sd15", "diffusers")
    out = tmp_path / "first.png"
    assert cli(["generate", "image", "--model", model, "--prompt", "a red cube", "--steps", "3",
                "--size", "64x64", "--seed", "5", "--cfg", "5.5", "--negative", "blur", "--out", str(out)]) == 0
    assert Image.open(out).size == (64, 64)
    assert json.loads(json.dumps(read_recipe(out)))["request"]["cfg"] == 5.5
    mask = tmp_path / "mask.png"
    Image.fromarray(np.pad(np.full((32, 32), 255, np.uint8), 16)).save(mask)
    second = tmp_path / "second.png"
    assert cli(["generate", "image", "--model", model, "--prompt", "a blue cube", "--steps", "4", "--size",
                "64x64", "--init", str(out), "--strength", "0.5", "--mask", str(mask), "--out", str(second)]) == 0
    recipe = read_recipe(second)["request"]
    assert (recipe["mode"], recipe["strength"], recipe["init_image"]) == ("inpaint", 0.5, str(out))  # a mask: inpaint
    third = tmp_path / "third.png"
    assert cli(["generate", "image", "--model", model, "--prompt", "a green cube", "--steps", "4", "--size",
                "64x64", "--init", str(out), "--strength", "0.6", "--out", str(third)]) == 0
    assert read_recipe(third)["request"]["mode"] == "img2img"  # an init image alone: image to image
    capsys.readouterr()
    assert cli(["generate", "image", "--model", model, "--prompt", "x", "--init", str(tmp_path / "none.png"),
                "--mode", "img2img", "--size", "64x64"]) == 1
    assert "init image not found" in capsys.readouterr().err
