"""The ``video`` engine on tiny random models found through discovery: GAN
latent walks, diffusion prompt keyframes (with image-to-image chaining and
camera motion), diffusers text-to-video and image-to-video pipelines,
previews, partial clips on cancel, post-processing, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.jobs import CancelToken, JobState, Request, StudioError
from studio.engines.video import export, media
from studio.engines.video.generate import FrameCollector, walk_latents
from studio.engines.video.requests import VideoRequest
from tests.engines.video import tiny_models


class Recorder:
    """A reporter that keeps previews and can cancel after a number of them."""

    def __init__(self, cancel: CancelToken | None = None, cancel_after: int = 0) -> None:
        self.previews: list[np.ndarray] = []
        self.progress_calls: list[tuple[int, int]] = []
        self.cancel = cancel
        self.cancel_after = cancel_after

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.progress_calls.append((done, total))

    def preview(self, payload) -> None:
        self.previews.append(payload)
        if self.cancel is not None and len(self.previews) == self.cancel_after:
            self.cancel.cancel()


@pytest.fixture(scope="module")
def model_store(tmp_path_factory):
    """Tiny models built once for the module; each test links them into its own studio home."""
    root = tmp_path_factory.mktemp("video-models")
    tiny_models.build_gan(root / "gan")
    tiny_models.build_sd(root / "tiny-sd")
    tiny_models.build_text_to_video(root / "tiny-t2v")
    tiny_models.build_animatediff(root / "tiny-animatediff")
    tiny_models.build_svd(root / "tiny-svd")
    return root


@pytest.fixture
def models(model_store, studio_home):
    return tiny_models.link_into_models_folder(model_store)


def _card_id(services, folder_name: str) -> str:
    for card in services.models.refresh():
        if folder_name in (card.path.name, card.path.stem, card.id):
            assert card.usable, card.error
            return card.id
    raise AssertionError(f"{folder_name} was not discovered")


def _run(services, request, report=None, cancel=None):
    from studio.engines.execute import execute_job

    job = services.queue.start(services.queue.submit(request).id)
    return execute_job(job, services.queue, services.library, report or Recorder(), cancel or CancelToken())


# --- GAN latent walk ------------------------------------------------------------------

def test_walk_latents_are_smooth_standard_normal_and_seeded():
    path = walk_latents(seed=3, count=240, fps=24, speed=0.25, dim=100)
    assert path.shape == (240, 100)
    assert abs(path.mean()) < 0.1 and path.std() == pytest.approx(1.0, abs=0.1)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert steps.max() < 0.15 * np.linalg.norm(path, axis=1).mean()  # no jumps
    assert np.array_equal(path, walk_latents(3, 240, 24, 0.25, 100))
    assert not np.allclose(path, walk_latents(4, 240, 24, 0.25, 100))


def test_gan_walk_makes_the_asked_frames_and_previews_each(services, models):
    card = _card_id(services, "tiny-gan")
    request = VideoRequest(model_id=card, frames=20, fps=12, width=96, height=80, seed=5)
    recorder = Recorder()
    state, item = _run(services, request, recorder)
    assert state is JobState.FINISHED
    info = media.probe(item.path)
    assert (info.frame_count, info.width, info.height, info.fps) == (20, 96, 80, 12.0)
    assert len(recorder.previews) == 20 and recorder.previews[0].shape == (80, 96, 3)
    assert item.duration_s == pytest.approx(20 / 12)
    assert Request.from_dict(export.read_mp4_recipe(item.path)["request"]) == request
    frames = [frame.astype(np.float32) for frame in recorder.previews]
    neighbour = np.mean([np.abs(a - b).mean() for a, b in zip(frames, frames[1:])])
    far = np.abs(frames[0] - frames[10]).mean()
    assert neighbour < far  # consecutive frames are closer than distant ones: a walk, not a shuffle


def test_cancel_keeps_the_frames_made_as_a_partial_clip(services, models):
    card = _card_id(services, "tiny-gan")
    token = CancelToken()
    recorder = Recorder(token, cancel_after=6)
    state, item = _run(services, VideoRequest(model_id=card, frames=60, fps=12, width=64, height=64), recorder,
                       token)
    assert state is JobState.FINISHED
    assert item.recipe["partial"] is True
    frames = media.probe(item.path).frame_count
    assert 6 <= frames < 60 and item.recipe["frames"] == frames


def test_post_processing_retimes_and_deflickers_and_measures(services, models):
    card = _card_id(services, "tiny-gan")
    request = VideoRequest(model_id=card, frames=9, fps=8, width=64, height=64, interpolate=24, deflicker=0.5)
    state, item = _run(services, request)
    assert state is JobState.FINISHED
    info = media.probe(item.path)
    assert (info.frame_count, info.fps) == (25, 24.0)  # 8 gaps x 3 + 1
    consistency = item.recipe["consistency"]
    assert consistency["mean_warp_error_after"] < consistency["mean_warp_error_before"]


# --- diffusion keyframes ----------------------------------------------------------------

def test_keyframes_interpolate_between_prompts_and_hit_them_exactly(services, models):
    from studio.engines import context
    from studio.engines.video.keyframes import encode, load_pipeline, render_keyframes

    card = context.find_card(_card_id(services, "tiny-sd"), "video")
    request = VideoRequest(model_id=card.id, keyframes=("0:a red fox", "4:a blue bird"), width=64, height=64,
                           steps=2, cfg=3.0, seed=11)
    assert request.frame_count == 5
    collector = FrameCollector(Recorder(), request.frame_count)
    render_keyframes(card, request, collector, CancelToken(), Recorder())
    frames = collector.frames
    assert len(frames) == 5 and all(f.shape == (64, 64, 3) for f in frames)
    # The last frame is prompt B rendered from keyframe B's own noise: the plain pipeline agrees.
    import torch

    pipe = load_pipeline(card)
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator("cpu").manual_seed(11 + 1))
    direct = pipe(height=64, width=64, latents=noise, num_inference_steps=2, guidance_scale=3.0, output_type="np",
                  **encode(pipe, "a blue bird", "", True)).images[0]
    assert np.abs(frames[4].astype(np.float32) - direct * 255).max() <= 1.0
    # In-betweens differ from both ends and change a little at a time.
    gaps = [np.abs(a.astype(np.float32) - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(gaps) > 0 and max(gaps) < np.abs(frames[0].astype(np.float32) - frames[4]).mean() * 1.5


def test_keyframes_chain_image_to_image_with_camera_motion(services, models):
    card = _card_id(services, "tiny-sd")
    request = VideoRequest(model_id=card, prompt="a lighthouse", frames=3, width=64, height=64, steps=2, cfg=2.0,
                           strength=0.5, zoom=1.05, rotate=2.0)
    recorder = Recorder()
    state, item = _run(services, request, recorder)
    assert state is JobState.FINISHED
    assert len(recorder.previews) == 3
    assert media.probe(item.path).frame_count == 3
    # Progress counts denoising steps across all frames, so it runs on one scale to the end.
    generating = [call for call in recorder.progress_calls if call[1] == 3 * 2]
    assert generating and generating[-1][0] == 3 * 2


def test_keyframes_from_a_single_file_checkpoint(services, studio_home, tmp_path):
    """A .safetensors checkpoint (A1111 layout) renders keyframes through the image engine's loader."""
    from studio.core.paths import studio_paths
    from tests.engines.image.tiny_models import build_sd15, save_single_file

    pipe = build_sd15(tmp_path / "sd15-folder")
    save_single_file(pipe, studio_paths().ensure().models_dir / "tiny-sd15.safetensors")
    card = _card_id(services, "tiny-sd15")
    assert services.models.card(card).format == "safetensors"
    request = VideoRequest(model_id=card, keyframes=("0:a cat", "2:a dog"), width=64, height=64, steps=2)
    recorder = Recorder()
    state, item = _run(services, request, recorder)
    assert state is JobState.FINISHED, services.queue.get(1).error
    assert media.probe(item.path).frame_count == 3 and len(recorder.previews) == 3


def test_cli_generates_keyframe_video_with_interpolation_and_deflicker(services, models, tmp_path, capsys):
    from studio.cli import main

    card = _card_id(services, "tiny-sd")
    out = tmp_path / "clip.mp4"
    code = main(["generate", "video", "--model", card, "--keyframe", "0:prompt A", "--keyframe", "4:prompt B",
                 "--fps", "12", "--interpolate", "24", "--deflicker", "0.5", "--size", "64x64", "--steps", "2",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    info = media.probe(out)
    assert (info.frame_count, info.fps, info.width) == (9, 24.0, 64)
    recipe = export.read_mp4_recipe(out)
    assert recipe["request"]["keyframes"] == ["0:prompt A", "4:prompt B"]
    assert recipe["request"]["interpolate"] == 24 and recipe["frames"] == 9


def test_cli_repeatable_option_defaults_and_bad_keyframes(services, models, capsys):
    from studio.cli import _build_parser, _request_from_args, main

    args = _build_parser().parse_args(["generate", "video", "--model", "m", "--prompt", "p"])
    assert _request_from_args(args).keyframes == ()
    assert main(["generate", "video", "--model", "m", "--keyframe", "four:p"]) == 1
    assert "a keyframe looks like" in capsys.readouterr().err


# --- diffusers video pipelines -------------------------------------------------------------

@pytest.mark.parametrize("folder", ["tiny-t2v", "tiny-animatediff"])
def test_text_to_video_pipelines(services, models, folder):
    card = _card_id(services, folder)
    assert services.models.card(card).modality == "video"
    recorder = Recorder()
    request = VideoRequest(model_id=card, prompt="waves at dusk", frames=4, fps=8, width=64, height=64, steps=2)
    state, item = _run(services, request, recorder)
    assert state is JobState.FINISHED, services.queue.get(1).error
    info = media.probe(item.path)
    assert (info.frame_count, info.width, info.height) == (4, 64, 64)
    assert len(recorder.previews) == 4


def test_image_to_video_pipeline_needs_and_uses_an_init_image(services, models, tmp_path):
    from PIL import Image

    card = _card_id(services, "tiny-svd")
    request = VideoRequest(model_id=card, frames=3, fps=7, width=64, height=64, steps=2)
    state, _item = _run(services, request)
    assert state is JobState.FAILED and "init image" in services.queue.get(1).error
    start = tmp_path / "start.png"
    Image.fromarray(np.full((64, 64, 3), 120, dtype=np.uint8)).save(start)
    state, item = _run(services, VideoRequest(model_id=card, frames=3, fps=7, width=64, height=64, steps=2,
                                              init_image=str(start)))
    assert state is JobState.FINISHED, services.queue.get(2).error
    assert media.probe(item.path).frame_count == 3


def test_models_that_cannot_make_video_fail_clearly(services, models):
    from studio.core.models.cards import ModelCard
    from studio.engines import context

    context.model_manager()  # discovery first, so the card added next stays
    services.models.add_card(ModelCard("a-voice", "A voice", "audio", "onnx-voice", models / "voice.onnx"))
    state, _ = _run(services, VideoRequest(model_id="a-voice", prompt="x"))
    assert state is JobState.FAILED and "cannot make video" in services.queue.get(1).error
    with pytest.raises(StudioError, match="choose a model"):
        VideoRequest(prompt="x").validate()
    with pytest.raises(StudioError, match="past the clip"):
        VideoRequest(model_id="m", keyframes=("0:a", "10:b"), frames=5).validate()
