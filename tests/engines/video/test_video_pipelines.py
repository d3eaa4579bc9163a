"""The T5-conditioned text-to-video transformers (CogVideoX, LTX-Video, Wan)
as a user keeps them: tiny random diffusers folders found by discovery,
loaded offline (their SentencePiece tokenizer included) and run as real
video jobs, with progress, cancel mid-denoise, and clear errors for frame
counts and sizes the model cannot make."""

from __future__ import annotations

import json

import pytest

from studio.core.jobs import CancelToken, JobState
from studio.engines.video import export, media
from studio.engines.video.requests import VideoRequest
from tests.engines.video import tiny_models
from tests.engines.video.test_generate import Recorder
from tests.engines.video.test_generate import _card_id as card_id
from tests.engines.video.test_generate import _run as run_job

# folder -> (pipeline class, a frame count it makes: t*k + 1 for its VAE's time factor t)
PIPELINES = {
    "tiny-cogvideox": ("CogVideoXPipeline", 9),  # 8k+1: its VAE decodes latents in pairs
    "tiny-ltx": ("LTXPipeline", 9),  # LTX compresses time by 8
    "tiny-wan": ("WanPipeline", 5),
}


class CancelAtStep(Recorder):
    """Cancels when denoising reports the given step."""

    def __init__(self, cancel: CancelToken, step: int, steps: int) -> None:
        super().__init__()
        self.token, self.step, self.steps = cancel, step, steps

    def progress(self, done: int, total: int, message: str = "") -> None:
        super().progress(done, total, message)
        if (done, total) == (self.step, self.steps):
            self.token.cancel()


@pytest.fixture(scope="module")
def model_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("t5-video-models")
    tiny_models.build_cogvideox(root / "tiny-cogvideox")
    tiny_models.build_ltx(root / "tiny-ltx")
    tiny_models.build_wan(root / "tiny-wan")
    return root


@pytest.fixture
def models(model_store, studio_home):
    return tiny_models.link_into_models_folder(model_store)


@pytest.mark.parametrize("folder", sorted(PIPELINES))
def test_t5_video_pipelines_make_the_asked_clip(services, models, folder):
    from studio.engines import context
    from studio.engines.video.pipelines import load_video_pipeline

    architecture, frames = PIPELINES[folder]
    card = services.models.card(card_id(services, folder))
    assert (card.modality, card.format, card.architecture) == ("video", "diffusers", architecture)
    recorder = Recorder()
    request = VideoRequest(model_id=card.id, prompt="waves crash at dusk", negative="blur", frames=frames, fps=8,
                           width=64, height=64, steps=2, cfg=4.0, seed=3)
    state, item = run_job(services, request, recorder)
    assert state is JobState.FINISHED, services.queue.get(1).error
    info = media.probe(item.path)
    assert (info.frame_count, info.width, info.height, info.fps) == (frames, 64, 64, 8.0)
    assert len(recorder.previews) == frames and recorder.previews[0].shape == (64, 64, 3)
    assert [call for call in recorder.progress_calls if call[1] == 2] == [(1, 2), (2, 2)]  # each denoising step
    assert export.read_mp4_recipe(item.path)["request"]["model_id"] == card.id
    # The tokenizer came from the folder (for CogVideoX and LTX from spiece.model alone) and knows the words.
    tokenizer = load_video_pipeline(context.find_card(card.id, "video")).tokenizer
    ids = tokenizer("waves crash at dusk").input_ids
    assert tokenizer.unk_token_id not in ids and len(ids) > 4
    assert tokenizer.decode(ids, skip_special_tokens=True) == "waves crash at dusk"


def test_cancel_mid_denoise_cancels_the_job_and_keeps_nothing(services, models):
    card = card_id(services, "tiny-ltx")
    token = CancelToken()
    recorder = CancelAtStep(token, step=1, steps=3)
    request = VideoRequest(model_id=card, prompt="a boat", frames=9, width=64, height=64, steps=3)
    state, item = run_job(services, request, recorder, token)
    assert (state, item) == (JobState.CANCELLED, None)  # no frame was decoded, so there is no partial clip
    assert (1, 3) in recorder.progress_calls and (2, 3) not in recorder.progress_calls
    assert recorder.previews == [] and services.library.items() == []


@pytest.mark.parametrize(("folder", "change", "message"), [
    ("tiny-wan", {"frames": 6}, "WanPipeline makes 4k+1 frames: ask for 5 or 9, not 6"),
    ("tiny-cogvideox", {"frames": 5}, "CogVideoXPipeline makes 8k+1 frames: ask for 1 or 9, not 5"),
    ("tiny-ltx", {"frames": 5}, "LTXPipeline makes 8k+1 frames: ask for 1 or 9, not 5"),
    ("tiny-wan", {"width": 72}, "WanPipeline needs a width that is a multiple of 16: ask for 64 or 80, not 72"),
])
def test_shapes_the_model_cannot_make_fail_clearly(services, models, folder, change, message):
    shape = {"frames": PIPELINES[folder][1], "width": 64, "height": 64, **change}
    request = VideoRequest(model_id=card_id(services, folder), prompt="a fox", steps=2, **shape)
    state, item = run_job(services, request)
    assert (state, item) == (JobState.FAILED, None)
    assert services.queue.get(1).error == message


@pytest.mark.parametrize(("class_name", "bf16_supported", "expected"), [
    ("WanPipeline", True, "bfloat16"), ("LTXPipeline", True, "bfloat16"), ("CogVideoXPipeline", True, "bfloat16"),
    ("WanPipeline", False, "float16"), ("StableDiffusionPipeline", True, "float16"),
    ("TextToVideoSDPipeline", True, "float16"),
])
def test_gpu_precision_follows_the_family_a_pipeline_was_made_for(tmp_path, monkeypatch, class_name,
                                                                   bf16_supported, expected):
    import torch

    from studio.engines.loaders import diffusers_dtype

    from studio.core.models.formats import classify_diffusers

    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    card = classify_diffusers(tmp_path, source="test")
    assert diffusers_dtype(card, "cpu") is torch.float32
    # Which GPU this runs on is the one thing faked: the choice itself is real.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_supported)
    assert diffusers_dtype(card, "cuda") is getattr(torch, expected)
