"""Tiny random models of the architectures the video engine drives, saved
the way users keep them so the engine loads them through discovery and the
same loaders as a real model:

- a DCGAN generator state dict (``.pt`` read with ``weights_only=True``)
  plus the ``.model.json`` card that marks it as a GAN;
- diffusers folders: Stable Diffusion (keyframes), ModelScope text-to-video
  (``TextToVideoSDPipeline``), AnimateDiff and Stable Video Diffusion.

Weights are random; shapes are real. The CLIP tokenizer is a byte-level one
(256 byte symbols, no merges) written in code: nothing is downloaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from studio.training.clip_tokenizer import bytes_to_unicode

SEED = 7
TEXT_WIDTH = 32


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


def _save(pipe, folder: Path) -> None:
    pipe.save_pretrained(folder, safe_serialization=True)
    shutil.rmtree(folder / "_tok", ignore_errors=True)  # the saved pipeline has its own tokenizer folder
