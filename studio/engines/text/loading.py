"""Loading a language model and its tokenizer from a model card, offline:
a transformers folder (the user's, or a Hugging Face cache snapshot) or a
GGUF file (through the conversion cache).

Every way a model can fail to load (a damaged file, an architecture this
transformers does not know, a model that cannot generate text, missing
tokenizer files) ends in a one-line ``StudioError`` naming the model."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.jobs import CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines.text import gguf_cache

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 2048
# End-of-turn markers of common chat formats; a model's generation config
# often names only end-of-text, so a chat answer would run on past its turn.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>")
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")


@dataclass
class LanguageModel:
    model: Any
    tokenizer: Any
    context_length: int
    end_token_ids: list[int]
    device: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def components(self) -> dict[str, Any]:
        # The model manager measures what a loaded object holds through its
        # ``components`` (as for a diffusers pipeline): the network's tensors.
        return {"model": self.model}


def prepare(card: ModelCard, report: Reporter, cancel: CancelToken) -> None:
    """The slow one-time work before a model can be loaded: converting a
    GGUF. Run it before asking the model manager for the model, so the
    manager's lock (which the GUI's memory readout also takes) is not held
    for the tens of seconds a conversion lasts."""
    if card.format == "gguf" and gguf_cache.cached_folder(card.path) is None:
        _quiet_transformers()
        try:
            gguf_cache.ensure_converted(card.path, report, cancel)
        except (StudioError, OSError, ValueError, KeyError) as exc:
            raise _gguf_error(card, exc) from exc


def load_language_model(card: ModelCard, report: Reporter, cancel: CancelToken,
                        device: str = "cpu", dtype: str = "float32") -> LanguageModel:
    _quiet_transformers()
    if card.format == "gguf":
        prepare(card, report, cancel)
        folder = gguf_cache.cached_folder(card.path)
        if folder is None:
            raise StudioError(f"{card.name}: the converted copy of the GGUF file disappeared while loading")
        return _load_folder(card, folder, device, dtype, "GGUF (converted cache)")
    if card.format == "transformers":
        return _load_folder(card, Path(card.path), device, dtype, "transformers folder")
    if card.format == "text-lora":  # a base model with a LoRA trained by Studio
        from studio.engines.text.personalise import load_adapted

        return load_adapted(card, report, cancel, device=device, dtype=dtype)
    raise StudioError(f"{card.name} is a {card.format} model; the text engine loads transformers folders "
                      "and GGUF files")


def _gguf_error(card: ModelCard, exc: BaseException) -> StudioError:
    if isinstance(exc, StudioError):
        return exc
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "not supported" in message:
        return StudioError(f"{card.name}: this GGUF model's architecture is not supported ({message})")
    return StudioError(f"{card.name}: the GGUF file could not be read; it may be damaged or incomplete "
                       f"({message[:200]})")


def _quiet_transformers() -> None:
    # Studio reports loading progress itself; transformers' own progress bars
    # would interleave with the CLI's bar on stderr.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _load_folder(card: ModelCard, folder: Path, device: str, dtype: str, source: str) -> LanguageModel:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (ValueError, KeyError) as exc:
        raise StudioError(f"{card.name}: unsupported model architecture ({_first_line(exc)})") from exc
    except OSError as exc:
        raise StudioError(f"{card.name}: config.json is missing or unreadable ({_first_line(exc)})") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise StudioError(f"{card.name}: no usable tokenizer in {folder} ({_first_line(exc)})") from exc
    if isinstance(tokenizer, bool) or not hasattr(tokenizer, "decode"):
        raise StudioError(f"{card.name}: no usable tokenizer in {folder}")
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=getattr(torch, dtype))
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise StudioError(f"{card.name} is a {config.model_type} model, which does not generate text "
                              "(it is not a causal language model)") from exc
        raise StudioError(f"{card.name}: unsupported model ({_first_line(exc)})") from exc
    except OSError as exc:
        raise StudioError(f"{card.name}: the weights could not be read ({_first_line(exc)})") from exc
    except Exception as exc:  # noqa: BLE001 - safetensors and torch raise their own types for damaged files
        if "safetensor" in type(exc).__name__.lower() or "header" in str(exc).lower():
            raise StudioError(f"{card.name}: the weights file is damaged ({_first_line(exc)})") from exc
        raise
    model.to(device).eval()
    return LanguageModel(model, tokenizer, context_length(config, tokenizer), end_token_ids(model, tokenizer),
                         device, source)


def context_length(config: Any, tokenizer: Any) -> int:
    for key in _CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 0)
    return limit if isinstance(limit, int) and 0 < limit < 10**7 else DEFAULT_CONTEXT


def end_token_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    configured = getattr(model.generation_config, "eos_token_id", None)
    for value in (configured if isinstance(configured, list) else [configured]) + [tokenizer.eos_token_id]:
        if isinstance(value, int) and value not in ids:
            ids.append(value)
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in END_OF_TURN_TOKENS:
        if token in specials:
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id not in ids:
                ids.append(token_id)
    return ids


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
