"""Tiny random models of the architectures the video engine drives, saved
the way users keep them so the engine loads them through discovery and the
same loaders as a real model:

- a DCGAN generator state dict (``.pt`` read with ``weights_only=True``)
  plus the ``.model.json`` card that marks it as a GAN;
- diffusers folders: Stable Diffusion (keyframes), ModelScope text-to-video
  (``TextToVideoSDPipeline``), AnimateDiff and Stable Video Diffusion;
- the T5-conditioned text-to-video transformers: CogVideoX, LTX-Video and
  Wan (UMT5).

Weights are random; shapes are real. The CLIP tokenizer is a byte-level one
(256 byte symbols, no merges) written in code; the T5 tokenizer is a
SentencePiece unigram model trained in code on a few sentences. Nothing is
downloaded."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import torch

from studio.training.clip_tokenizer import bytes_to_unicode

SEED = 7
TEXT_WIDTH = 32


def link_into_models_folder(store: Path) -> Path:
    """Link every model built in ``store`` into the current studio home's
    models folder, where discovery finds a user's models; returns ``store``."""
    from studio.core.paths import studio_paths

    folder = studio_paths().ensure().models_dir
    for item in store.iterdir():
        (folder / item.name).symlink_to(item, target_is_directory=True)
    return store


def write_byte_tokenizer(folder: Path):
    """A CLIPTokenizer over single bytes (CLIP's byte-to-unicode table, no merges)."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    vocab = {symbol: index for index, symbol in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


# A few sentences of the kind people type as prompts: enough for SentencePiece
# to learn word pieces, so prompts tokenize to many ids, not only <unk>.
T5_CORPUS = (
    "a red fox runs across the snowy field at dawn",
    "waves crash on the rocky shore at dusk",
    "a small boat sails under a bright full moon",
    "the city lights flicker in the evening rain",
    "a slow camera pan over green hills and a river",
    "a cat sleeps in the warm afternoon sun",
    "clouds drift over the mountains in time lapse",
    "a dancer spins on a wooden stage under blue light",
    "fireworks burst above the harbour at night",
    "a hummingbird hovers near a purple flower",
    "steam rises from a cup of coffee on the table",
    "an old train crosses a stone bridge in autumn",
)
T5_WIDTH = 32


def write_t5_tokenizer(folder: Path, vocab_size: int = 120, hub_layout: bool = False):
    """A T5 tokenizer over a SentencePiece unigram model trained here.

    ``spiece.model`` is what T5 checkpoints ship; the tokenizer is loaded from
    it and saved with ``save_pretrained`` (a ``tokenizer.json``). With
    ``hub_layout`` only ``spiece.model`` and the config stay, as in the
    CogVideoX and LTX-Video releases, so loading has to convert the
    SentencePiece model itself."""
    import sentencepiece
    from transformers import T5Tokenizer

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(T5_CORPUS * 4), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
    source = folder / "_spm"
    source.mkdir(parents=True, exist_ok=True)
    (source / "spiece.model").write_bytes(model.getvalue())
    tokenizer = T5Tokenizer.from_pretrained(str(source), extra_ids=0, model_max_length=512)
    tokenizer.save_pretrained(folder)
    shutil.copy(source / "spiece.model", folder / "spiece.model")
    shutil.rmtree(source)
    if hub_layout:
        (folder / "tokenizer.json").unlink()
    return tokenizer


def _t5_encoder(vocab_size: int, umt5: bool = False):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    shape = dict(vocab_size=vocab_size, d_model=T5_WIDTH, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                 relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0,
                 eos_token_id=1, decoder_start_token_id=0)
    if umt5:
        return UMT5EncoderModel(UMT5Config(**shape))
    return T5EncoderModel(T5Config(**shape))


def _text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=520, hidden_size=TEXT_WIDTH, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=512, eos_token_id=513, pad_token_id=513))


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
                         block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64)


def _scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def build_gan(folder: Path, nz: int = 8, ngf: int = 4, card_id: str = "tiny-gan") -> Path:
    """A DCGAN generator (the starter GAN's layout, much narrower) with its card."""
    from torch import nn

    torch.manual_seed(SEED)
    widths = [nz, ngf * 8, ngf * 4, ngf * 2, ngf]
    layers: list[nn.Module] = []
    for index, (cin, cout) in enumerate(zip(widths, widths[1:])):
        stride, pad = (1, 0) if index == 0 else (2, 1)
        layers += [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh()]
    state = {f"main.{k}": v for k, v in nn.Sequential(*layers).state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{card_id}.pt"
    torch.save(state, path)
    path.with_suffix(".model.json").write_text(json.dumps({
        "id": card_id, "name": "Tiny GAN", "modality": "image", "format": "gan", "nz": nz, "ngf": ngf}))
    return path


def build_sd(folder: Path) -> Path:
    """A tiny Stable Diffusion pipeline folder (image modality: keyframe video)."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(16, 32), cross_attention_dim=TEXT_WIDTH, attention_head_dim=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    pipe = StableDiffusionPipeline(
        vae=_vae(), text_encoder=_text_encoder(), tokenizer=write_byte_tokenizer(folder / "_tok"), unet=unet,
        scheduler=_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    _save(pipe, folder)
    return folder


def build_text_to_video(folder: Path) -> Path:
    """A tiny ModelScope-style ``TextToVideoSDPipeline`` (3D UNet)."""
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    torch.manual_seed(SEED)
    unet = UNet3DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=TEXT_WIDTH, attention_head_dim=4, norm_num_groups=8)
    pipe = TextToVideoSDPipeline(vae=_vae(), text_encoder=_text_encoder(),
                                 tokenizer=write_byte_tokenizer(folder / "_tok"), unet=unet, scheduler=_scheduler())
    _save(pipe, folder)
    return folder


def build_animatediff(folder: Path) -> Path:
    """A tiny AnimateDiff pipeline: an SD UNet plus a motion adapter."""
    from diffusers import AnimateDiffPipeline, MotionAdapter, UNet2DConditionModel

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(16, 32), cross_attention_dim=TEXT_WIDTH, attention_head_dim=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    adapter = MotionAdapter(block_out_channels=(16, 32), motion_layers_per_block=1, motion_norm_num_groups=8,
                            motion_num_attention_heads=2, motion_max_seq_length=32)
    pipe = AnimateDiffPipeline(vae=_vae(), text_encoder=_text_encoder(),
                               tokenizer=write_byte_tokenizer(folder / "_tok"), unet=unet, motion_adapter=adapter,
                               scheduler=_scheduler(), feature_extractor=None, image_encoder=None)
    _save(pipe, folder)
    return folder


def build_svd(folder: Path) -> Path:
    """A tiny Stable Video Diffusion (image-to-video) pipeline."""
    from diffusers import (
        AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(SEED)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=16, num_attention_heads=(2, 4), projection_class_embeddings_input_dim=3 * 8,
        addition_time_embed_dim=8)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", prediction_type="v_prediction",
        sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 64), in_channels=3, out_channels=3,
                                       down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                                       latent_channels=4, layers_per_block=1)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=16, projection_dim=16, num_hidden_layers=1, num_attention_heads=2, image_size=224,
        intermediate_size=24, patch_size=32))  # SVD always feeds its image encoder 224 x 224
    processor = CLIPImageProcessor(crop_size=224, size=224)
    pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet, scheduler=scheduler,
                                        feature_extractor=processor)
    _save(pipe, folder)
    return folder


def build_cogvideox(folder: Path) -> Path:
    """A tiny CogVideoX text-to-video pipeline (VAE 8x space, 4x time; patch 2)."""
    from diffusers import (
        AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel,
    )

    torch.manual_seed(SEED)
    tokenizer = write_t5_tokenizer(folder / "_tok", hub_layout=True)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=8, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=T5_WIDTH, num_layers=1, sample_width=8, sample_height=8, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4)  # text length left at the released 226 tokens, what the pipeline pads to
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1,
        norm_num_groups=2, temporal_compression_ratio=4)
    scheduler = CogVideoXDDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       prediction_type="v_prediction", rescale_betas_zero_snr=True,
                                       timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=True)
    pipe = CogVideoXPipeline(tokenizer=tokenizer, text_encoder=_t5_encoder(len(tokenizer)), vae=vae,
                             transformer=transformer, scheduler=scheduler)
    _save(pipe, folder, tokenizer_files=folder / "_tok")
    return folder


def build_ltx(folder: Path) -> Path:
    """A tiny LTX-Video pipeline. Its VAE compresses time by 8 like the
    released model's (space by 8 here, 32 there)."""
    from diffusers import (
        AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel,
    )

    torch.manual_seed(SEED)
    tokenizer = write_t5_tokenizer(folder / "_tok", hub_layout=True)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=T5_WIDTH)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True, False),
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False)
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    pipe = LTXPipeline(scheduler=scheduler, vae=vae, text_encoder=_t5_encoder(len(tokenizer)), tokenizer=tokenizer,
                       transformer=transformer)
    _save(pipe, folder, tokenizer_files=folder / "_tok")
    return folder


def build_wan(folder: Path) -> Path:
    """A tiny Wan 2.1 text-to-video pipeline (UMT5 text encoder; VAE 8x space,
    4x time; patch 1x2x2)."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(SEED)
    tokenizer = write_t5_tokenizer(folder / "_tok")
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=T5_WIDTH, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=_t5_encoder(len(tokenizer), umt5=True), vae=vae,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), transformer=transformer)
    _save(pipe, folder, tokenizer_files=folder / "_tok")
    return folder


def _save(pipe, folder: Path, tokenizer_files: Path | None = None) -> None:
    pipe.save_pretrained(folder, safe_serialization=True)
    if tokenizer_files is not None:  # keep the tokenizer's files as written (save_pretrained adds a tokenizer.json)
        shutil.rmtree(folder / "tokenizer")
        shutil.copytree(tokenizer_files, folder / "tokenizer")
    shutil.rmtree(folder / "_tok", ignore_errors=True)  # the saved pipeline has its own tokenizer folder
