"""Every mode of the diffusion engine on the tiny SD-shaped model: text to
image, image to image with strength, inpainting that keeps the unmasked
pixels, outpainting that grows the canvas, batches and variations seeded
seed + n, hires fix, schedulers, prompt weighting and LoRAs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from studio.core.jobs import CancelToken, NullReporter, StudioError
from studio.engines.image import engine
from studio.engines.image.requests import ImageRequest
from tests.engines.image.conftest import card_id, pixels


@pytest.fixture
def base(image_services) -> ImageRequest:
    return ImageRequest(prompt="a red cube on grass", steps=4, width=64, height=64, seed=21,
                        model_id=card_id(image_services, "tiny-sd15", "diffusers"))


def _run(request: ImageRequest):
    return engine.run(request, NullReporter(), CancelToken())


@pytest.fixture
def init_png(tmp_path) -> str:
    yy, xx = np.mgrid[0:64, 0:64]
    picture = np.stack([xx * 4, yy * 4, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
    path = tmp_path / "init.png"
    Image.fromarray(picture).save(path)
    return str(path)


def test_same_seed_same_image_other_seed_other_image(base):
    first, again = pixels(_run(base)), pixels(_run(base))
    other = pixels(_run(replace(base, seed=22)))
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 1


def test_batches_are_seed_plus_n_and_each_image_can_be_made_again_alone(base):
    artifact = _run(replace(base, batch_count=2, batch_size=2))
    batch = [artifact] + artifact.extra
    assert len(batch) == 4
    assert [a.request.seed for a in batch] == [21, 22, 23, 24]
    assert all(a.request.batch_count == a.request.batch_size == 1 for a in batch)
    assert [a.meta["recipe"]["batch"]["index"] for a in batch] == [0, 1, 2, 3]
    assert len({a.meta["recipe"]["batch"]["id"] for a in batch}) == 1
    # A variation (same recipe, seed + 3) made alone is the fourth image of the batch.
    alone = pixels(_run(replace(base, seed=24)))
    assert np.abs(alone.astype(int) - pixels(batch[3]).astype(int)).max() <= 1


def test_image_to_image_follows_the_init_image_more_at_low_strength(base, init_png):
    init = np.asarray(Image.open(init_png)).astype(int)
    near = pixels(_run(replace(base, mode="img2img", init_image=init_png, strength=0.3, steps=10))).astype(int)
    far = pixels(_run(replace(base, mode="img2img", init_image=init_png, strength=1.0, steps=10))).astype(int)
    assert np.abs(near - init).mean() < np.abs(far - init).mean()


def test_inpainting_repaints_the_mask_and_keeps_the_rest(base, init_png, tmp_path):
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[16:48, 16:48] = 255
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    result = pixels(_run(replace(base, mode="inpaint", init_image=init_png, mask=str(mask_path),
                                 strength=1.0, mask_blur=0))).astype(int)
    init = np.asarray(Image.open(init_png)).astype(int)
    assert np.abs(result[:8] - init[:8]).max() <= 1  # far from the mask: the original pixels
    assert np.abs(result[24:40, 24:40] - init[24:40, 24:40]).mean() > 5  # inside: repainted
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8)).save(empty)
    with pytest.raises(StudioError, match="mask is empty"):
        _run(replace(base, mode="inpaint", init_image=init_png, mask=str(empty)))


def test_outpainting_extends_the_canvas_and_keeps_the_middle(base, init_png):
    artifact = _run(replace(base, mode="outpaint", init_image=init_png, outpaint_left=32, outpaint_down=16))
    result = pixels(artifact).astype(int)
    assert result.shape == (80, 96, 3) and (artifact.width, artifact.height) == (96, 80)
    init = np.asarray(Image.open(init_png)).astype(int)
    assert np.abs(result[:40, 50:] - init[:40, 18:]).max() <= 1  # away from the seams: untouched
    assert "Denoising strength: 1" in artifact.meta["recipe"]["parameters"]


def test_hires_fix_upscales_then_refines(base):
    recorder_steps = []

    class Steps(NullReporter):
        def progress(self, done, total, message=""):
            recorder_steps.append((done, total))

    artifact = engine.run(replace(base, hires_fix=True, hires_scale=2.0, hires_strength=0.5, hires_steps=6),
                          Steps(), CancelToken())
    assert pixels(artifact).shape == (128, 128, 3)
    assert recorder_steps[-1] == (4 + 3, 4 + 3)  # 4 base steps, then 6 x 0.5 refining steps
    assert "Hires upscale: 2" in artifact.meta["recipe"]["parameters"]


@pytest.mark.parametrize("scheduler", ["Euler", "DPM++ 2M Karras", "DDIM", "UniPC", "LCM", "Default"])
def test_every_scheduler_runs_and_is_recorded(image_services, base, scheduler):
    artifact = _run(replace(base, scheduler=scheduler))
    shared = image_services.models.get(base.model_id, engine.load_for)
    assert type(shared.scheduler).__name__ == "EulerDiscreteScheduler"  # the model is given back as it was
    assert pixels(artifact).std() > 1
    sampler = artifact.meta["recipe"]["sampler"]
    assert sampler == (scheduler if scheduler != "Default" else "Euler")  # the tiny model's own is Euler
    assert f"Sampler: {sampler}," in artifact.meta["recipe"]["parameters"]


def test_an_unweighted_prompt_encodes_exactly_as_diffusers_does(image_services, base):
    import torch

    from studio.engines.image.embeddings import pipeline_text_inputs
    from studio.engines.image.pipelines import load_pipeline

    for name in ("tiny-sd15", "tiny-sdxl"):
        card = image_services.models.card(card_id(image_services, name, "diffusers"))
        pipe = load_pipeline(card, "cpu", "float32")
        ours = pipeline_text_inputs(pipe, "a red cube", "blurry")
        theirs = pipe.encode_prompt(prompt="a red cube", negative_prompt="blurry", device="cpu",
                                    num_images_per_prompt=1, do_classifier_free_guidance=True)
        assert torch.allclose(ours["prompt_embeds"], theirs[0], atol=1e-6)
        assert torch.allclose(ours["negative_prompt_embeds"], theirs[1], atol=1e-6)
        weighted = pipeline_text_inputs(pipe, "a (red:1.5) cube", "")
        assert not torch.allclose(weighted["prompt_embeds"], ours["prompt_embeds"])
        long_prompt = ", ".join(["a red cube"] * 40)  # about 160 tokens: three chunks, none cut off
        chunks = pipeline_text_inputs(pipe, long_prompt, "")
        assert chunks["prompt_embeds"].shape[1] == 3 * 77 == chunks["negative_prompt_embeds"].shape[1]


def test_a_model_trained_on_a_shorter_context_gets_prompts_in_chunks_of_that_length(image_services):
    import torch

    from studio.engines.image.embeddings import chunk_tokens, pipeline_text_inputs
    from studio.engines.image.pipelines import load_pipeline

    card = image_services.models.card(card_id(image_services, "tiny-sd15", "diffusers"))
    pipe = load_pipeline(card, "cpu", "float32")
    assert chunk_tokens(pipe.tokenizer) == 75
    pipe.tokenizer.model_max_length = 32  # as the starter model's tokenizer says
    assert chunk_tokens(pipe.tokenizer) == 30
    ours = pipeline_text_inputs(pipe, "a red cube", "blurry")
    theirs = pipe.encode_prompt(prompt="a red cube", negative_prompt="blurry", device="cpu",
                                num_images_per_prompt=1, do_classifier_free_guidance=True)
    assert ours["prompt_embeds"].shape[1] == 32 == theirs[0].shape[1]
    assert torch.allclose(ours["prompt_embeds"], theirs[0], atol=1e-6)
    long_prompt = ", ".join(["a red cube"] * 10)  # about 40 tokens: two chunks of 32
    assert pipeline_text_inputs(pipe, long_prompt, "")["prompt_embeds"].shape[1] == 2 * 32


def test_loras_from_tags_and_the_picker_change_the_image_and_come_off_again(base):
    plain = pixels(_run(base))
    tagged = pixels(_run(replace(base, prompt=base.prompt + " <lora:inkwash:1.0>")))
    assert np.abs(tagged.astype(int) - plain.astype(int)).mean() > 1
    picked = _run(replace(base, loras=(("inkwash", 1.0),)))
    assert np.array_equal(pixels(picked), tagged)
    assert picked.meta["recipe"]["loras"] == [{"name": "inkwash", "weight": 1.0}]
    assert "<lora:inkwash:1>" in picked.meta["recipe"]["parameters"]
    assert np.array_equal(pixels(_run(replace(base, loras=(("inkwash", 0.0),)))), plain)
    assert np.array_equal(pixels(_run(base)), plain)  # merged weights were restored
    with pytest.raises(StudioError, match="LoRA 'nope' was not found"):
        _run(replace(base, prompt="x <lora:nope:1>"))


def test_an_sdxl_lora_with_original_layer_names_merges(image_services, model_root, tmp_path):
    import torch
    from safetensors.torch import load_file

    from studio.engines.image.lora import LoraState, _layer_index, apply_loras, restore
    from studio.engines.image.pipelines import load_pipeline
    from tests.engines.image.tiny_models import save_lora

    card = image_services.models.card(card_id(image_services, "tiny-sdxl", "diffusers"))
    pipe = load_pipeline(card, "cpu", "float32")
    path = save_lora(pipe, tmp_path / "sdxl-lora.safetensors", original_names=True)
    assert any(key.startswith("lora_unet_input_blocks_") for key in load_file(str(path)))
    index = _layer_index(pipe)
    # one resnet per block in the tiny UNet: down block 1, attention 0 is input block 2 x 1 + 0 + 1
    assert index["lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_q"] is \
        pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1.to_q
    before = pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1.to_q.weight.clone()
    state = LoraState()
    apply_loras(pipe, state, [("sdxl-lora", 0.5, path)])
    after = pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1.to_q.weight
    assert not torch.allclose(before, after)
    restore(state)
    assert torch.equal(before, pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1.to_q.weight)


def test_an_inpainting_only_request_mistake_and_bad_strength_are_explained(base, init_png):
    with pytest.raises(StudioError, match="leave no step"):
        _run(replace(base, mode="img2img", init_image=init_png, steps=2, strength=0.2))


def test_a_pipeline_another_engine_loaded_is_shared_and_given_back_untouched(image_services, base):
    """The Models panel and keyframe video load the same card with the plain loader."""
    import torch

    from studio.engines.loaders import load_model

    shared = image_services.models.get(base.model_id, load_model)
    before = {k: v.clone() for k, v in shared.unet.state_dict().items() if "to_q" in k}
    _run(replace(base, loras=(("inkwash", 1.0),), scheduler="DDIM"))
    assert image_services.models.get(base.model_id, load_model) is shared
    assert type(shared.scheduler).__name__ == "EulerDiscreteScheduler"
    after = shared.unet.state_dict()
    assert all(torch.equal(value, after[key]) for key, value in before.items())


def test_an_sd3_shaped_model_without_t5_generates_with_16_channel_previews(image_services):
    from tests.engines.image.conftest import Recorder

    request = ImageRequest(prompt="a (red:1.2) cube", negative="blur", steps=3, width=64, height=64, seed=2,
                           scheduler="DPM++ 2M", model_id=card_id(image_services, "tiny-sd3", "diffusers"))
    recorder = Recorder()
    artifact = engine.run(request, recorder, CancelToken())
    assert pixels(artifact).shape == (64, 64, 3)
    # Flow matching keeps its own sampler whatever was asked, and the recipe says so.
    assert artifact.meta["recipe"]["sampler"] == "Euler (flow matching)"
    assert [p.shape for p in recorder.previews] == [(8, 8, 3)] * 3  # fitted factors for 16 latent channels
    full = Recorder()
    engine.run(replace(request, preview="full", preview_every=1), full, CancelToken())
    assert np.array_equal(full.previews[-1], pixels(artifact))  # decoded with the autoencoder's shift


def test_large_sizes_slice_attention_and_tile_the_decoder_for_that_job_only(image_services, base):
    from studio.engines.image.pipelines import borrowed

    pipe = image_services.models.get(base.model_id, engine.load_for)
    processors = {type(p).__name__ for p in pipe.unet.attn_processors.values()}
    with borrowed(pipe, "cpu", [], 1536, 1536, cpu_offload=True) as lent:
        assert pipe.vae.use_tiling
        assert {type(p).__name__ for p in pipe.unet.attn_processors.values()} == {"SlicedAttnProcessor"}
        assert lent.notes == ["attention slicing", "VAE tiling"]  # CPU offload is for GPUs only
    assert not pipe.vae.use_tiling
    assert {type(p).__name__ for p in pipe.unet.attn_processors.values()} == processors
    with borrowed(pipe, "cpu", [], 512, 512, cpu_offload=False) as lent:
        assert not pipe.vae.use_tiling and lent.notes == []


def test_live_frames_keep_their_lora_merged_and_the_next_job_takes_it_off(image_services, base):
    """A LoRA merged for live frames stays merged between frames (merging costs
    more than a few-step frame); the next job without it gets the plain weights,
    and a LoRA file written again is merged again."""
    import os

    from studio.engines import context
    from studio.engines.image import live
    from studio.engines.image.pipelines import state_of

    plain = pixels(_run(base))
    with_lora = replace(base, loras=(("inkwash", 1.0),))
    first = live.render(with_lora, None, CancelToken())
    loras = state_of(engine.loaded_pipeline(context.find_card(base.model_id, "image"))).loras
    assert [entry[:2] for entry in loras.applied] == [("inkwash", 1.0)]
    merged = loras.applied
    path = engine._lora_files([("inkwash", 1.0)])[0][2]
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    again = live.render(with_lora, None, CancelToken())
    assert loras.applied != merged  # merged again from the newer file
    assert np.array_equal(again.pixels, first.pixels)
    assert np.array_equal(pixels(_run(base)), plain)  # the job took the live LoRA off
    assert loras.applied == ()


def test_a_small_live_frame_runs_on_one_intra_op_thread_and_gives_the_rest_back(image_services, base):
    import torch

    from studio.engines import context
    from studio.engines.image import live

    unet = engine.loaded_pipeline(context.find_card(base.model_id, "image")).unet
    seen: list[int] = []
    hook = unet.register_forward_pre_hook(lambda _module, _args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        live.render(base, None, CancelToken())
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
        seen.clear()
        _run(base)  # a job keeps the threads it was given
        assert set(seen) == {2}
    finally:
        hook.remove()
        torch.set_num_threads(before)
