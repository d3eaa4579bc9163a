"""Frame interpolation with models: RIFE weights (Practical-RIFE's
``train_log/flownet.pkl``, or safetensors) and FILM/RIFE ONNX exports, found
by discovery, loaded through the model manager and used by the ``video-edit``
job and the ``video`` command line in place of optical flow."""

from __future__ import annotations

import os

import numpy as np
import pytest

from studio.core.jobs import CancelToken, JobState, StudioError
from studio.core.models.discovery import scan_folder
from studio.engines.video import export, interpolate, media, rife
from studio.engines.video.onnx_interp import open_interpolator
from tests.engines.video import tiny_interpolators, tiny_models
from tests.engines.video.synthetic import moving_square, texture

SIZE = 64


@pytest.fixture(scope="module")
def model_store(tmp_path_factory):
    """Interpolators built once; each test links them into its own studio home."""
    root = tmp_path_factory.mktemp("interpolators")
    tiny_interpolators.build_rife(root / "rife-4.6")
    tiny_interpolators.build_rife_safetensors(root / "rife-425" / "rife425.safetensors")
    tiny_interpolators.build_onnx(root / "onnx" / "film_net.onnx", "x0-x1-time")
    tiny_interpolators.build_onnx(root / "onnx" / "blend.onnx", "nhwc-timestep", card={
        "id": "tiny-film", "name": "Tiny FILM", "modality": "video", "format": "onnx-interpolator",
        "architecture": "film-onnx"})
    tiny_models.build_gan(root / "gan")
    return root


@pytest.fixture
def models(model_store, studio_home):
    return tiny_models.link_into_models_folder(model_store)


def _cards(root):
    return {card.name: card for card in scan_folder(root, source="test")}


def _run(services, request):
    from studio.core.jobs import NullReporter
    from studio.engines.execute import execute_job

    job = services.queue.start(services.queue.submit(request).id)
    return execute_job(job, services.queue, services.library, NullReporter(), CancelToken())


# --- RIFE -------------------------------------------------------------------------------

def test_rife_folder_is_discovered_and_its_weights_load_exactly(model_store):
    import torch

    card = _cards(model_store)["rife-4.6"]  # named after the folder above train_log
    assert (card.modality, card.format, card.architecture, card.usable) == ("video", "rife", "rife", True)
    assert card.is_interpolator and card.path.name == "flownet.pkl"
    saved = torch.load(card.path, map_location="cpu", weights_only=True)
    assert all(key.startswith("module.") for key in saved)

    from studio.engines.loaders import load_model

    net = load_model(card, "cpu")
    assert net.layout == rife.V4_6
    loaded = net.state_dict()
    assert set(loaded) == {key[len("module."):] for key in saved}
    assert all(torch.equal(loaded[key[len("module."):]], value) for key, value in saved.items())


def test_rife_safetensors_with_ifnet_keys_is_a_rife_model_of_the_later_layout(model_store):
    card = _cards(model_store)["rife425"]
    assert card.format == "rife" and card.usable
    net = rife.load_ifnet(card.path)
    assert net.layout == rife.V4_25 and net.layout.carried == 8 and net.layout.pad_multiple == 64


@pytest.mark.parametrize("layout", [rife.V4_6, rife.V4_25], ids=["4.6", "4.25"])
def test_rife_in_betweens_keep_size_and_type_and_a_still_picture(layout):
    import torch

    torch.manual_seed(0)
    interpolator = rife.RifeInterpolator(rife.build_ifnet(layout).eval())
    a, b = texture(50, 70, seed=1), texture(50, 70, seed=2)  # not a multiple of 32: padded and cropped
    frames = interpolator.between(a, b, [0.25, 0.5])
    assert [(f.shape, f.dtype) for f in frames] == [((50, 70, 3), np.uint8)] * 2
    # Whatever the weights, warping a flat picture with border padding leaves it flat.
    flat = np.full((SIZE, SIZE, 3), (200, 40, 90), dtype=np.uint8)
    assert np.array_equal(interpolator.between(flat, flat, [0.3])[0], flat)
    # At t = 0 and 1 the frames themselves come back, untouched.
    assert np.array_equal(interpolate.frame_at(interpolator, a, b, 0.0), a)
    assert np.array_equal(interpolate.frame_at(interpolator, a, b, 1.0), b)


def test_warp_moves_pixels_by_the_flow_and_repeats_the_border():
    import torch

    image = torch.arange(2 * 5 * 6, dtype=torch.float32).reshape(1, 2, 5, 6)
    flow = torch.zeros(1, 2, 5, 6)
    flow[:, 0] = 1.0  # sample one pixel to the right
    warped = rife.warp(image, flow)
    assert torch.allclose(warped[..., :-1], image[..., 1:], atol=1e-4)
    assert torch.allclose(warped[..., -1], image[..., -1], atol=1e-4)  # border repeated, not zero


def test_a_pickle_holding_more_than_tensors_is_refused_without_running_it(tmp_path):
    import torch

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.makedirs, (str(marker),)

    folder = tmp_path / "tampered" / "train_log"
    folder.mkdir(parents=True)
    torch.save({"module.block0.conv0.0.0.weight": torch.zeros(1), "module.block0.lastconv.0.weight": torch.zeros(1),
                "extra": Payload()}, folder / "flownet.pkl")
    card = _cards(tmp_path)["tampered"]
    assert card.format == "rife" and not card.usable and "weights_only" in card.error
    with pytest.raises(StudioError, match="refused"):
        rife.load_ifnet(card.path)
    assert not marker.exists()


def test_unsupported_rife_layouts_say_what_was_found(tmp_path):
    import torch

    legacy = {"block0.conv0.0.0.weight": torch.zeros(96, 7, 3, 3), "block0.lastconv.weight": torch.zeros(192, 5, 4, 4)}
    with pytest.raises(StudioError, match="4.0-4.3"):
        rife.layout_of(legacy)
    with pytest.raises(StudioError, match="no block0.conv0"):
        rife.layout_of({"encoder.weight": torch.zeros(3)})
    state = rife.inference_state({"module." + k: v for k, v in rife.build_ifnet(rife.V4_6).state_dict().items()})
    state["block1.conv0.0.0.weight"] = torch.zeros(64, 20, 3, 3)  # inputs of no known version
    with pytest.raises(StudioError, match="later blocks take"):
        rife.layout_of(state)


# --- ONNX -------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["x0-x1-time", "nhwc-timestep", "seven-channels"])
def test_onnx_adapter_maps_each_input_layout(tmp_path, layout):
    path = tiny_interpolators.build_onnx(tmp_path / f"{layout}.onnx", layout)
    interpolator = open_interpolator(path)
    a, b = texture(40, 72, seed=3), texture(40, 72, seed=4)  # padded to 64 x 128 and cropped back
    for t, frame in zip((0.25, 0.6), interpolator.between(a, b, [0.25, 0.6])):
        assert frame.shape == a.shape and frame.dtype == np.uint8
        assert np.abs(frame - tiny_interpolators.blend(a, b, t)).max() <= 0.51


def test_a_midpoint_only_onnx_model_reaches_other_times_by_halving(tmp_path):
    interpolator = open_interpolator(tiny_interpolators.build_onnx(tmp_path / "mid.onnx", "midpoint"))
    a, b = texture(32, 32, seed=5), texture(32, 32, seed=6)
    half, quarter, three_eighths = interpolator.between(a, b, [0.5, 0.25, 0.375])
    # The graph blends linearly, so midpoints of midpoints land exactly on the dyadic times.
    assert np.abs(half - tiny_interpolators.blend(a, b, 0.5)).max() <= 0.51
    assert np.abs(quarter - tiny_interpolators.blend(a, b, 0.25)).max() <= 0.51
    assert np.abs(three_eighths - tiny_interpolators.blend(a, b, 0.375)).max() <= 0.51


def test_an_onnx_layout_that_cannot_be_mapped_is_a_clear_error(tmp_path):
    path = tiny_interpolators.build_onnx(tmp_path / "odd.onnx", "four-channels")
    with pytest.raises(StudioError, match=r"6 or 7 channels.*input \[1, 4"):
        open_interpolator(path)


def test_onnx_interpolators_are_found_by_name_or_by_card(model_store):
    cards = _cards(model_store)
    named = cards["film_net"]
    assert (named.modality, named.format, named.architecture) == ("video", "onnx-interpolator", "film-onnx")
    carded = cards["Tiny FILM"]
    assert carded.id == "tiny-film" and carded.is_interpolator and carded.usable


# --- through the engine -------------------------------------------------------------------

def test_edit_job_retimes_a_clip_with_a_rife_model(services, models, tmp_path):
    from studio.engines.video.requests import VideoEditRequest

    card = next(c for c in services.models.refresh() if c.name == "rife-4.6")
    frames = moving_square(size=SIZE, frames=5, velocity=(6, 2))
    source = tmp_path / "clip.mp4"
    export.write_mp4(source, frames, 8)
    request = VideoEditRequest(source=str(source), operation="interpolate", target_fps=16, interpolator=card.id)
    state, item = _run(services, request)
    assert state is JobState.FINISHED, services.queue.get(1).error
    info = media.probe(item.path)
    assert (info.frame_count, info.fps, info.width) == (interpolate.retime_count(5, 8, 16), 16.0, SIZE) == (9, 16.0, 64)
    assert export.read_mp4_recipe(item.path)["request"]["interpolator"] == card.id
    assert services.models.is_loaded(card.id)  # loaded through the model manager, kept for the next job


def test_edit_job_bridges_with_an_onnx_model_and_refuses_unknown_or_wrong_models(services, models, tmp_path):
    from studio.engines.video.requests import VideoEditRequest

    services.models.refresh()
    source = tmp_path / "clip.mp4"
    export.write_mp4(source, moving_square(size=SIZE, frames=6, velocity=(6, 0)), 12)
    state, item = _run(services, VideoEditRequest(source=str(source), operation="bridge", start=2, end=4,
                                                  interpolator="tiny-film"))
    assert state is JobState.FINISHED, services.queue.get(1).error
    assert media.probe(item.path).frame_count == 6
    state, _ = _run(services, VideoEditRequest(source=str(source), operation="interpolate", interpolator="nope"))
    assert state is JobState.FAILED and "'nope' was not found" in services.queue.get(2).error
    state, _ = _run(services, VideoEditRequest(source=str(source), operation="interpolate", interpolator="tiny-gan"))
    assert state is JobState.FAILED and "not a frame interpolation model" in services.queue.get(3).error
    with pytest.raises(StudioError, match="used by interpolate and bridge"):
        VideoEditRequest(source=str(source), operation="deflicker", interpolator="tiny-film").validate()


def test_cli_generates_a_clip_retimed_by_an_interpolation_model(services, models, tmp_path, capsys):
    from studio.cli import main

    rife_id = next(c.id for c in services.models.refresh() if c.name == "rife-4.6")
    out = tmp_path / "walk.mp4"
    code = main(["generate", "video", "--model", "tiny-gan", "--frames", "4", "--fps", "12", "--size", "64x64",
                 "--interpolate", "24", "--interpolator", rife_id, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    info = media.probe(out)
    assert (info.frame_count, info.fps) == (7, 24.0)
    assert export.read_mp4_recipe(out)["request"]["interpolator"] == rife_id
    assert main(["generate", "video", "--model", "tiny-gan", "--frames", "4", "--size", "64x64",
                 "--interpolate", "24", "--interpolator", "missing-model"]) == 1
    assert "'missing-model' was not found" in capsys.readouterr().err
