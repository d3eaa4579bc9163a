"""Names of UNet layers in the original (CompVis / A1111 "LDM") layout.

A1111-trained LoRAs for SDXL, and single-file checkpoints, name UNet layers
the original way (``input_blocks.4.1.transformer_blocks.0.attn1.to_q``)
where diffusers says ``down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q``.
``ldm_name`` maps a diffusers parameter or module path to its original
name, for any number of levels and layers per block."""

from __future__ import annotations

from collections.abc import Iterable

_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
           ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))
_TOP = (("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."),
        ("add_embedding.linear_1.", "label_emb.0.0."), ("add_embedding.linear_2.", "label_emb.0.2."),
        ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."))


def unet_prefixes(names: Iterable[str], layers: int) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs for a UNet whose parameter or
    module names are ``names`` and which has ``layers`` resnets per down block."""
    names = list(names)
    levels = 1 + max((int(n.split(".")[1]) for n in names if n.startswith("down_blocks.")), default=0)
    pairs: list[tuple[str, str]] = []
    for i in range(levels):
        for j in range(layers):
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{(layers + 1) * i + j + 1}.0."))
            pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{(layers + 1) * i + j + 1}.1."))
        pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(layers + 1) * (i + 1)}.0.op."))
        up_has_attention = any(n.startswith(f"up_blocks.{i}.attentions.") for n in names)
        for j in range(layers + 1):
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{(layers + 1) * i + j}.0."))
            pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{(layers + 1) * i + j}.1."))
        pairs.append((f"up_blocks.{i}.upsamplers.0.",
                      f"output_blocks.{(layers + 1) * i + layers}.{2 if up_has_attention else 1}."))
    pairs.append(("mid_block.attentions.0.", "middle_block.1."))
    for j in range(2):
        pairs.append((f"mid_block.resnets.{j}.", f"middle_block.{2 * j}."))
    pairs.extend(_TOP)
    return pairs


def ldm_name(name: str, prefixes: list[tuple[str, str]]) -> str | None:
    """The original-layout name of diffusers UNet path ``name``, or None."""
    probe = name if name.endswith(".") else name + "."
    for diffusers_prefix, ldm_prefix in prefixes:
        if probe.startswith(diffusers_prefix):
            rest = probe[len(diffusers_prefix):]
            if ".resnets." in diffusers_prefix:
                for new, old in _RESNET:
                    if rest.startswith(new + "."):
                        rest = old + rest[len(new):]
                        break
            return (ldm_prefix + rest).rstrip(".")
    return None
