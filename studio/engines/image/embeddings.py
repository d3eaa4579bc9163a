"""Prompt encoding with A1111 attention weights for CLIP-conditioned UNet
models (Stable Diffusion 1.x/2.x and SDXL).

The prompt is parsed into weighted fragments (``prompts.parse_weighted``),
tokenised into chunks of 75 tokens (fewer where the tokenizer's context is
shorter; ``BREAK`` starts a new one), each chunk
wrapped in start/end tokens and encoded; the hidden states are multiplied
by each token's weight and rescaled to keep their original mean, the way
A1111 does, and the chunks are concatenated so long prompts are not cut at
77 tokens. Prompt and negative get the same number of chunks.

An unweighted prompt of one chunk encodes exactly as diffusers' own
``encode_prompt`` does. Other pipelines (SD3, Flux, ...) take the plain
text with the weighting syntax removed (``pipeline_text_inputs``)."""

from __future__ import annotations

import inspect
from typing import Any

from studio.engines.image.prompts import Fragment, parse_weighted, plain_text

CHUNK_TOKENS = 75  # CLIP's 77-token context less the start and end tokens


def chunk_tokens(tokenizer: Any) -> int:
    """Prompt tokens per chunk: 75 for CLIP, fewer for a model trained on a shorter context."""
    limit = getattr(tokenizer, "model_max_length", None)
    # Tokenizers without a configured length report a huge sentinel: treat as CLIP's.
    if isinstance(limit, int) and 3 <= limit <= CHUNK_TOKENS + 2:
        return limit - 2
    return CHUNK_TOKENS


def encoding_style(pipe: Any) -> str:
    """"sdxl" (two CLIP encoders + pooled), "sd" (one CLIP encoder) or "plain"."""
    unet = getattr(pipe, "unet", None)
    encoder = getattr(pipe, "text_encoder", None)
    if unet is None or getattr(pipe, "tokenizer", None) is None:
        return "plain"
    if getattr(pipe, "text_encoder_2", None) is not None and getattr(pipe, "tokenizer_2", None) is not None:
        return "sdxl"
    if encoder is not None and "CLIP" in type(encoder).__name__:
        return "sd"
    return "plain"


def pipeline_text_inputs(pipe: Any, prompt: str, negative: str) -> dict[str, Any]:
    """Keyword arguments carrying the prompt into ``pipe(...)``."""
    style = encoding_style(pipe)
    if style == "plain":
        inputs: dict[str, Any] = {"prompt": plain_text(prompt)}
        if negative.strip() and "negative_prompt" in inspect.signature(pipe.__call__).parameters:
            inputs["negative_prompt"] = plain_text(negative)
        return inputs
    return encode_weighted(pipe, prompt, negative, style)


def _chunks(tokenizer: Any, fragments: list[Fragment]) -> list[tuple[list[int], list[float]]]:
    size = chunk_tokens(tokenizer)
    chunks: list[tuple[list[int], list[float]]] = []
    ids: list[int] = []
    weights: list[float] = []
    for fragment in fragments:
        if fragment.is_break:
            chunks.append((ids, weights))
            ids, weights = [], []
            continue
        if not fragment.text.strip():
            continue
        for token in tokenizer(fragment.text, add_special_tokens=False, truncation=False).input_ids:
            if len(ids) == size:
                chunks.append((ids, weights))
                ids, weights = [], []
            ids.append(token)
            weights.append(fragment.weight)
    if ids or not chunks:
        chunks.append((ids, weights))
    return chunks


def _padded(tokenizer: Any, ids: list[int], weights: list[float]) -> tuple[list[int], list[float]]:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    filler = chunk_tokens(tokenizer) - len(ids)
    return ([tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] + [pad] * filler,
            [1.0, *weights, 1.0] + [1.0] * filler)


def _encode_chunk(pipe: Any, style: str, chunk: tuple[list[int], list[float]]) -> tuple[Any, Any]:
    """(hidden states [1, 77, D], pooled embedding or None) of one chunk, weighted."""
    import torch

    encoders = [(pipe.tokenizer, pipe.text_encoder)]
    if style == "sdxl":
        encoders.append((pipe.tokenizer_2, pipe.text_encoder_2))
    hidden_parts = []
    pooled = None
    weights = None
    for tokenizer, encoder in encoders:
        if encoder is None:  # SDXL refiner: only the second encoder
            continue
        ids, weights_list = _padded(tokenizer, *chunk)
        device = next(encoder.parameters()).device
        input_ids = torch.tensor([ids], device=device)
        if style == "sdxl":
            output = encoder(input_ids, output_hidden_states=True)
            hidden_parts.append(output.hidden_states[-2])
            pooled = output[0] if output[0].ndim == 2 else pooled
        else:
            hidden_parts.append(encoder(input_ids)[0])
        weights = weights_list
    hidden = torch.cat(hidden_parts, dim=-1)
    if weights is not None and any(w != 1.0 for w in weights):
        scale = torch.tensor(weights, dtype=hidden.dtype, device=hidden.device)[None, :, None]
        original_mean = hidden.mean()
        hidden = hidden * scale
        hidden = hidden * (original_mean / hidden.mean())
    return hidden, pooled


def _encode(pipe: Any, style: str, chunks: list[tuple[list[int], list[float]]]) -> tuple[Any, Any]:
    import torch

    encoded = [_encode_chunk(pipe, style, chunk) for chunk in chunks]
    hidden = torch.cat([h for h, _ in encoded], dim=1)
    return hidden, encoded[0][1]


def encode_weighted(pipe: Any, prompt: str, negative: str, style: str) -> dict[str, Any]:
    import torch

    tokenizer = pipe.tokenizer or pipe.tokenizer_2
    positive = _chunks(tokenizer, parse_weighted(prompt))
    negative_chunks = _chunks(tokenizer, parse_weighted(negative))
    count = max(len(positive), len(negative_chunks))
    positive += [([], [])] * (count - len(positive))
    negative_chunks += [([], [])] * (count - len(negative_chunks))
    with torch.no_grad():
        prompt_embeds, pooled = _encode(pipe, style, positive)
        zero_negative = (style == "sdxl" and not negative.strip()
                         and bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False)))
        if zero_negative:
            negative_embeds = torch.zeros_like(prompt_embeds)
            negative_pooled = torch.zeros_like(pooled) if pooled is not None else None
        else:
            negative_embeds, negative_pooled = _encode(pipe, style, negative_chunks)
    inputs = {"prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative_embeds}
    if style == "sdxl":
        inputs.update(pooled_prompt_embeds=pooled, negative_pooled_prompt_embeds=negative_pooled)
    return inputs
