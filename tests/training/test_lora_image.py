"""Image LoRA training on the starter model: the job end to end, the kohya file diffusers and
Studio both load (to the same picture), resume, cancel, and the one-line errors for bad input."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from studio.core.jobs import Cancelled, CancelToken, NullReporter, StudioError
from studio.engines import context
from studio.training.lora.dataset import bucket_for, fit_to_bucket, load_folder, load_image_set
from studio.training.lora.hexagons import SAMPLE_PROMPT, write_training_set


class Recorder(NullReporter):
    def __init__(self) -> None:
        self.progress_calls: list[tuple[int, int, str]] = []
        self.previews: list[np.ndarray] = []

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.progress_calls.append((done, total, message))

    def preview(self, payload) -> None:
        self.previews.append(payload)


def _request(folder, **changes):
    from studio.engines.image.personalise_requests import LoraTrainRequest

    base = LoraTrainRequest(model_id="starter-shapes", name="hexa", folder=str(folder), steps=6, batch=2,
                            sample_every=3, prompt=SAMPLE_PROMPT, seed=1)
    return replace(base, **changes)


def test_buckets_keep_the_aspect_ratio():
    assert bucket_for(64, 64, 64) == (64, 64)
    w, h = bucket_for(1200, 600, 512, 64)
    assert w % 64 == 0 and h % 64 == 0 and abs(w / h - 2.0) < 0.3
    picture = np.zeros((60, 120, 3), np.uint8)
    picture[:, :60] = 255  # left half white: stays the left half after fitting
    fitted = fit_to_bucket(picture, (64, 32))
    assert fitted.shape == (32, 64, 3)
    assert fitted[:, :28].mean() > 250 and fitted[:, 36:].mean() < 5


def test_bad_pictures_and_captions_are_one_clear_line(tmp_path):
    write_training_set(tmp_path / "ok", count=6)
    with pytest.raises(StudioError, match="at least 5 pictures"):
        load_image_set(sorted((tmp_path / "ok").glob("*.png"))[:3], resolution=64)
    (tmp_path / "ok" / min(p.name for p in (tmp_path / "ok").glob("*.txt"))).unlink()
    with pytest.raises(StudioError, match="has no caption"):
        load_folder(tmp_path / "ok", resolution=64)
    assert len(load_folder(tmp_path / "ok", template="a photo of [trigger]", trigger="sks", resolution=64)) == 6
    (tmp_path / "ok" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "ok" / "broken.txt").write_text("x")
    with pytest.raises(StudioError, match="broken.png cannot be read"):
        load_folder(tmp_path / "ok", template="x", resolution=64)
    (tmp_path / "ok" / "broken.png").unlink()
    Image.new("RGB", (12, 12)).save(tmp_path / "ok" / "tiny.png")
    with pytest.raises(StudioError, match="tiny.png is too small"):
        load_folder(tmp_path / "ok", template="x", resolution=64)


def test_prior_preservation_settings_and_pictures(tmp_path):
    from studio.engines.image.personalise import config_for
    from studio.training.lora.image import defaults_for
    from studio.training.lora.prior import class_captions, starter_prior
    from studio.training.shapes import SHAPES

    request = _request(tmp_path)
    assert config_for(request, 64).prior_weight == defaults_for(64).prior_weight > 0
    assert config_for(replace(request, prior_preservation=False), 64).prior_weight == 0
    assert config_for(replace(request, prior_weight=2.5), 64).prior_weight == 2.5
    assert config_for(request, 512).prior_weight == 0  # larger models: only when asked for
    with pytest.raises(StudioError, match="prior preservation weight"):
        replace(request, prior_weight=-1.0).validate()
    prior = starter_prior(12)
    assert len(prior) == 12 and prior.images[0].pixels.shape == (64, 64, 3)
    assert all(any(shape in image.caption for shape in SHAPES) and "hexagon" not in image.caption
               for image in prior.images)
    assert starter_prior(12).digest == prior.digest
    assert class_captions(["a photo of sks mug", "sks mug on a table", "a photo of sks mug"], "sks") == [
        "a photo of mug", "mug on a table"]
    assert class_captions(["a photo of a mug"], "") == []


def test_a_text_model_as_base_is_refused_before_loading(services, tmp_path):
    from studio.engines.image.personalise import run

    write_training_set(tmp_path / "set", count=5)
    text_cards = [c for c in context.model_manager().cards("text") if c.format in ("gguf", "transformers")]
    if not text_cards:
        pytest.skip("no text model installed")
    with pytest.raises(StudioError, match="not a Stable Diffusion model"):
        run(_request(tmp_path / "set", model_id=text_cards[0].id), NullReporter(), CancelToken())


def test_wrong_family_pipeline_is_refused():
    from studio.training.lora.image import check_family

    class SDXLish:
        unet = object()
        text_encoder = object()
        text_encoder_2 = object()

    with pytest.raises(StudioError, match="SDXL"):
        check_family(SDXLish())


@pytest.fixture
def trained(services, tmp_path):
    from studio.engines.image.personalise import run

    write_training_set(tmp_path / "set", count=6)
    recorder = Recorder()
    artifact = run(_request(tmp_path / "set"), recorder, CancelToken())
    return artifact, recorder


def test_training_job_writes_a_kohya_lora_that_appears_in_the_lora_list(trained):
    from studio.core.paths import studio_paths
    from studio.training.lora.kohya import read_metadata

    artifact, recorder = trained
    path = studio_paths().models_dir / "Lora" / "hexa.safetensors"
    assert path.is_file() and path.with_suffix(".model.json").is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "no temp file left behind"
    from safetensors.torch import load_file

    keys = set(load_file(str(path)))
    assert any(k.startswith("lora_unet_") and k.endswith(".lora_down.weight") for k in keys)
    assert any(k.startswith("lora_te_") and k.endswith(".alpha") for k in keys)
    meta = read_metadata(path)
    from studio.training.lora.image import defaults_for

    assert meta["ss_network_dim"] == str(defaults_for(64).rank) and '"dataset_size": 6' in meta["studio_trained_on"]
    card = next(c for c in context.model_manager().cards("image") if c.format == "lora" and c.name == "hexa")
    assert card.extra["trained_on"]["base_model"] == "starter-shapes"
    assert card.extra["recipe"]["kind"] == "lora"
    assert artifact.suffix == ".png" and artifact.meta["recipe"]["lora"]["use"] == "<lora:hexa:1>"
    steps = [done for done, total, _ in recorder.progress_calls if total == 6 and done > 0]
    assert steps[-1] == 6 and "left" in recorder.progress_calls[-1][2]
    assert len(recorder.previews) == 2 and recorder.previews[0].ndim == 3


def test_diffusers_loads_the_lora_and_draws_the_same_picture_as_studio(trained):
    import torch

    from studio.core.paths import studio_paths
    from studio.engines.image.lora import LoraState, apply_loras
    from studio.training.starter import generate, load_pipeline

    path = studio_paths().models_dir / "Lora" / "hexa.safetensors"
    ours = load_pipeline()
    apply_loras(ours, LoraState(), [("hexa", 1.0, path)])
    theirs = load_pipeline()
    theirs.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="hexa")
    plain = load_pipeline()
    with torch.no_grad():
        a = generate(ours, [SAMPLE_PROMPT], [5], steps=8)[0].astype(int)
        b = generate(theirs, [SAMPLE_PROMPT], [5], steps=8)[0].astype(int)
        c = generate(plain, [SAMPLE_PROMPT], [5], steps=8)[0].astype(int)
    assert np.abs(a - b).mean() < 1.0, "Studio's merge and diffusers' adapters should agree"
    assert np.abs(a - c).mean() > np.abs(a - b).mean(), "the LoRA should change the picture"


def test_cancel_keeps_a_checkpoint_and_the_same_job_resumes(services, tmp_path):
    from studio.core.paths import studio_paths
    from studio.engines.image.personalise import run

    write_training_set(tmp_path / "set", count=5)
    request = _request(tmp_path / "set", name="resumed", steps=4, sample_every=2)
    cancel = CancelToken()

    class StopAfterThree(Recorder):
        def progress(self, done, total, message=""):
            super().progress(done, total, message)
            if done == 3 and total == 4:
                cancel.cancel()

    with pytest.raises(Cancelled):
        run(request, StopAfterThree(), cancel)
    assert not (studio_paths().models_dir / "Lora" / "resumed.safetensors").exists()
    checkpoints = list((studio_paths().cache / "lora-runs").glob("*/checkpoint/state.json"))
    assert len(checkpoints) == 1
    again = Recorder()
    artifact = run(request, again, CancelToken())
    assert artifact.meta["recipe"]["lora"]["resumed_from"] == 3
    assert [d for d, t, _ in again.progress_calls if t == 4 and d > 0] == [4]
    assert (studio_paths().models_dir / "Lora" / "resumed.safetensors").is_file()


def test_a_failed_write_leaves_no_half_lora(services, tmp_path, monkeypatch):
    from studio.core.paths import studio_paths
    from studio.engines.image.personalise import run
    from studio.training.lora import kohya

    def full_disk(path, data):
        raise StudioError(f"the disk is full: could not write {path.name}")

    monkeypatch.setattr(kohya, "atomic_write_bytes", full_disk)
    write_training_set(tmp_path / "set", count=5)
    with pytest.raises(StudioError, match="disk is full"):
        run(_request(tmp_path / "set", name="nospace", steps=2, sample_every=0, prompt=""), NullReporter(),
            CancelToken())
    folder = studio_paths().models_dir / "Lora"
    assert not list(folder.glob("nospace*")) if folder.exists() else True


def test_training_job_runs_through_the_queue(services, tmp_path):
    from studio.core.jobs import JobState
    from studio.engines.execute import execute_job

    write_training_set(tmp_path / "set", count=5)
    job = services.queue.start(services.queue.submit(_request(tmp_path / "set", name="queued", steps=2)).id)
    state, item = execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
    assert state is JobState.FINISHED, services.queue.get(job.id).error
    assert item.recipe["request"]["kind"] == "lora" and item.recipe["lora"]["name"] == "queued"
    picture = Image.open(io.BytesIO(item.path.read_bytes()))
    assert picture.size[0] > 256


def test_refined_latents_draw_the_picture_closer_and_leave_the_decoder_alone():
    import torch

    from studio.training.lora.hexagons import _pixels, held_out
    from studio.training.lora.refine import refine_latents, round_trip_error
    from studio.training.starter import load_pipeline

    torch.set_num_threads(1)
    vae = load_pipeline().vae
    decoder_before = {k: v.clone() for k, v in vae.decoder.state_dict().items()}
    pixels = _pixels([s for s in held_out(12) if s.objects[0].size == "small"][:3])
    with torch.no_grad():
        encoded = vae.encode(pixels).latent_dist.mean
    refined = refine_latents(vae, pixels, encoded, steps=10)
    assert refined.shape == encoded.shape and not refined.requires_grad
    # Closer to the picture than the encoder's own latent, and still near it.
    assert round_trip_error(vae, pixels, refined) < 0.9 * round_trip_error(vae, pixels, encoded)
    assert (refined - encoded).abs().mean() < 0.5 * encoded.abs().mean()
    assert all(torch.equal(v, vae.decoder.state_dict()[k]) for k, v in decoder_before.items())
    assert all(p.requires_grad for p in vae.parameters())  # as it was
    assert refine_latents(vae, pixels, encoded, steps=0) is encoded


def test_the_ceiling_by_size_scores_both_kinds_of_latent():
    import torch

    from studio.training.lora.hexagons import by_size, ceiling_by_size, held_out
    from studio.training.starter import load_pipeline

    torch.set_num_threads(1)
    samples = held_out(6)
    ceilings = ceiling_by_size(load_pipeline(), samples, refine_steps=2)
    sizes = {s.objects[0].size for s in samples}
    assert set(ceilings["encoder"]) == set(ceilings["refined"]) == sizes
    assert all(0.0 <= v <= 1.0 for part in ceilings.values() for v in part.values())
    assert by_size(samples[:2], [True, False]) == (
        {samples[0].objects[0].size: 0.5} if samples[0].objects[0].size == samples[1].objects[0].size
        else {samples[0].objects[0].size: 1.0, samples[1].objects[0].size: 0.0})
