"""Tiny random diffusion pipelines shaped like Stable Diffusion 1.5 and SDXL,
saved the two ways users keep models: a diffusers folder, and a single
.safetensors checkpoint in the original (A1111 / CompVis) key layout.

The weights are random but the architectures are real (UNet with cross
attention, KL autoencoder with a factor-8 latent, CLIP text encoders with
CLIP's 49,408-token vocabulary, OpenCLIP layout for SDXL's second encoder),
so everything the engine does to a real model it does to these.

Single files of non-standard sizes carry their component configs beside
them as ``<name>.config.json`` (the loader's sidecar); the studio's shipped
family configs are for the real sizes."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from studio.engines.image.ldm_names import ldm_name, unet_prefixes
from studio.engines.image.single_file import write_tokenizer

SEED = 1234


def _clip_config(hidden: int, layers: int = 2, projection: int | None = None):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, max_position_embeddings=77, projection_dim=projection or hidden,
        hidden_act="quick_gelu", bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
    )


def _vae(scaling: float):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(8, 16, 16, 16), sample_size=64,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=scaling,
    )


def _tokenizer(folder: Path, pad: str = "<|endoftext|>"):
    from transformers import CLIPTokenizer

    write_tokenizer(folder, pad_token=pad)
    return CLIPTokenizer.from_pretrained(str(folder))


def build_sd15(folder: Path, in_channels: int = 4):
    """A tiny SD-1.5-shaped pipeline saved as a diffusers folder; returns the pipeline."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(16, 32), cross_attention_dim=32, attention_head_dim=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionPipeline(
        vae=_vae(0.18215), text_encoder=CLIPTextModel(_clip_config(32)), tokenizer=_tokenizer(folder / "_tok"),
        unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _remove_tree(folder / "_tok")
    return pipe


def build_sdxl(folder: Path):
    """A tiny SDXL-shaped pipeline (two text encoders of different widths) saved as a diffusers folder."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(SEED)
    time_dim, pooled = 8, 48
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(16, 32), cross_attention_dim=32 + 48, attention_head_dim=(2, 4),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=time_dim, projection_class_embeddings_input_dim=6 * time_dim + pooled,
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(
        vae=_vae(0.13025), text_encoder=CLIPTextModel(_clip_config(32)),
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(48, projection=pooled)),
        tokenizer=_tokenizer(folder / "_tok"), tokenizer_2=_tokenizer(folder / "_tok2", pad="!"),
        unet=unet, scheduler=scheduler, force_zeros_for_empty_prompt=True,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _remove_tree(folder / "_tok")
    _remove_tree(folder / "_tok2")
    return pipe


def build_sd3(folder: Path):
    """A tiny SD3-shaped pipeline (MMDiT transformer, 16-channel latents with a shift,
    flow matching, two CLIP encoders) saved without its T5 encoder, as users trim it."""
    from diffusers import (
        AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(SEED)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, num_layers=2, attention_head_dim=8, num_attention_heads=2,
        joint_attention_dim=64, caption_projection_dim=16, pooled_projection_dim=64, out_channels=16,
        pos_embed_max_size=32)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(8, 16, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=1.5305, shift_factor=0.0609,
        use_quant_conv=False, use_post_quant_conv=False, sample_size=64)
    tokenizer = _tokenizer(folder / "_tok")
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
        text_encoder=CLIPTextModelWithProjection(_clip_config(32)), tokenizer=tokenizer,
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(32)), tokenizer_2=tokenizer,
        text_encoder_3=None, tokenizer_3=None)
    pipe.save_pretrained(folder, safe_serialization=True)
    _remove_tree(folder / "_tok")
    return pipe


def build_taesd(folder: Path, latent_channels: int = 4):
    """A tiny random AutoencoderTiny saved the way TAESD ships for diffusers."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(SEED)
    model = AutoencoderTiny(latent_channels=latent_channels, encoder_block_out_channels=(8, 8, 8, 8),
                            decoder_block_out_channels=(8, 8, 8, 8), num_encoder_blocks=(1, 1, 1, 1),
                            num_decoder_blocks=(1, 1, 1, 1))
    model.save_pretrained(folder, safe_serialization=True)
    return model


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# --- diffusers -> original (LDM) layout ---------------------------------------------

def unet_to_ldm(state: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    prefixes = unet_prefixes(state, layers)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = ldm_name(key, prefixes)
        if name is None:
            raise KeyError(f"no LDM name for UNet key {key}")
        out["model.diffusion_model." + name] = value
    return out


def vae_to_ldm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    levels = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.down_blocks."))
    pairs: list[tuple[str, str]] = []
    for i in range(levels):
        pairs.append((f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block."))
        pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
        pairs.append((f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{levels - 1 - i}.block."))
        pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{levels - 1 - i}.upsample."))
    for part in ("encoder", "decoder"):
        pairs += [(f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1."),
                  (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2."),
                  (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1."),
                  (f"{part}.conv_norm_out.", f"{part}.norm_out.")]
    attention = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = key
        for hf, ldm in pairs:
            if key.startswith(hf):
                new = ldm + key[len(hf):]
                break
        new = new.replace("conv_shortcut.", "nin_shortcut.")
        if ".mid.attn_1." in new:
            head, _, rest = new.partition(".mid.attn_1.")
            for a, b in attention.items():
                if rest.startswith(a):
                    rest = b + rest[len(a):]
            new = f"{head}.mid.attn_1.{rest}"
            if value.ndim == 2:  # LDM keeps attention projections as 1x1 convolutions
                value = value[:, :, None, None]
        out["first_stage_model." + new] = value
    return out


def clip_to_ldm(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + (k if k.startswith("text_model.") else "text_model." + k): v for k, v in state.items()}


def openclip_to_ldm(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """A transformers CLIPTextModelWithProjection state as OpenCLIP keys (fused q/k/v)."""
    state = {k.removeprefix("text_model."): v for k, v in state.items()}
    out: dict[str, torch.Tensor] = {
        prefix + "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
        prefix + "positional_embedding": state.pop("embeddings.position_embedding.weight"),
        prefix + "ln_final.weight": state.pop("final_layer_norm.weight"),
        prefix + "ln_final.bias": state.pop("final_layer_norm.bias"),
        prefix + "text_projection": state.pop("text_projection.weight").T.contiguous(),
    }
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layers."))
    for i in range(layers):
        src, dst = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.in_proj_{kind}"] = torch.cat(
                [state.pop(src + f"self_attn.{p}_proj.{kind}") for p in "qkv"])
            out[dst + f"attn.out_proj.{kind}"] = state.pop(src + f"self_attn.out_proj.{kind}")
            out[dst + f"ln_1.{kind}"] = state.pop(src + f"layer_norm1.{kind}")
            out[dst + f"ln_2.{kind}"] = state.pop(src + f"layer_norm2.{kind}")
            out[dst + f"mlp.c_fc.{kind}"] = state.pop(src + f"mlp.fc1.{kind}")
            out[dst + f"mlp.c_proj.{kind}"] = state.pop(src + f"mlp.fc2.{kind}")
    state.pop("embeddings.position_ids", None)
    if state:
        raise KeyError(f"unconverted OpenCLIP keys: {sorted(state)[:5]}")
    return out


def save_single_file(pipe, path: Path, sidecar: bool = True) -> Path:
    """Save ``pipe`` as one LDM-layout .safetensors file (plus its config sidecar)."""
    from safetensors.torch import save_file

    from studio.engines.image.single_file import bundle_from_folder

    unet_state = {k: v.detach().clone() for k, v in pipe.unet.state_dict().items()}
    checkpoint = unet_to_ldm(unet_state, pipe.unet.config.layers_per_block)
    checkpoint.update(vae_to_ldm({k: v.detach().clone() for k, v in pipe.vae.state_dict().items()}))
    if getattr(pipe, "text_encoder_2", None) is not None:
        checkpoint.update(clip_to_ldm(pipe.text_encoder.state_dict(), "conditioner.embedders.0.transformer."))
        checkpoint.update(openclip_to_ldm(dict(pipe.text_encoder_2.state_dict()), "conditioner.embedders.1.model."))
    else:
        checkpoint.update(clip_to_ldm(pipe.text_encoder.state_dict(), "cond_stage_model.transformer."))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in checkpoint.items()}, str(path))
    if sidecar:
        folder = path.with_name(path.stem + "-diffusers-tmp")
        pipe.save_pretrained(folder, safe_serialization=True)
        bundle = bundle_from_folder(folder)
        path.with_name(path.stem + ".config.json").write_text(json.dumps(bundle, indent=1))
        _remove_tree(folder)
    return path


def save_lora(pipe, path: Path, rank: int = 4, original_names: bool = False) -> Path:
    """A kohya-layout LoRA (``lora_unet_...lora_down/up.weight`` + ``alpha``) for every
    attention projection of ``pipe``'s UNet and the first text encoder's q/v
    projections; UNet layers named the original way when ``original_names``
    (as kohya names them for SDXL)."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(SEED + 1)
    prefixes = unet_prefixes([n for n, _ in pipe.unet.named_modules()], pipe.unet.config.layers_per_block)
    tensors: dict[str, torch.Tensor] = {}

    def add(name: str, module) -> None:
        out_features, in_features = module.weight.shape[:2]
        tensors[f"{name}.lora_down.weight"] = torch.randn(rank, in_features, generator=generator) * 0.5
        tensors[f"{name}.lora_up.weight"] = torch.randn(out_features, rank, generator=generator) * 0.5
        tensors[f"{name}.alpha"] = torch.tensor(float(rank))

    for name, module in pipe.unet.named_modules():
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v"):
            layer = ldm_name(name, prefixes) if original_names else name
            add("lora_unet_" + layer.replace(".", "_"), module)
    te_prefix = "lora_te1_" if getattr(pipe, "text_encoder_2", None) is not None else "lora_te_"
    for name, module in pipe.text_encoder.named_modules():
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in ("q_proj", "v_proj"):
            full = name if name.startswith("text_model.") else "text_model." + name
            add(te_prefix + full.replace(".", "_"), module)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def save_as_hf_cache(folder: Path, cache: Path, repo_id: str, revision: str = "0123456789abcdef") -> Path:
    """Lay a diffusers folder out as the Hugging Face hub cache does: content in
    ``blobs/``, the snapshot made of relative symlinks to them, ``refs/main``."""
    import hashlib
    import os
    import shutil

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    return snapshot
