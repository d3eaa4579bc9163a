"""The ``text-lora`` job, and running a trained text LoRA as a variant of its base model.

Training loads its own copy of the base model (a transformers folder, or a
GGUF through the conversion cache), measures held-out perplexity, trains
(``studio.training.lora.text``) with progress and Cancel (which keeps a
checkpoint the same job resumes from), measures again, and saves the
adapter under the models folder's ``Text-LoRA/NAME``. Its card
(``adapter_model.model.json``: modality text, format ``text-lora``, the
base model's id) makes it a model of its own in the Text workspace, named
after its base.

Where it runs follows its base. A LoRA of a GGUF model is also written as a
llama.cpp LoRA adapter (``adapter_model.gguf`` beside peft's files,
``studio.engines.text.lora_gguf``): at save time, and again whenever that
file is missing, damaged or not made from the adapter as it is. With llama.cpp
installed, the card runs there: the base GGUF, quantised as it is, with the
adapter applied. The transformers path (the base model loaded and the
adapter merged into it) is what a LoRA of a transformers folder always
uses, and the fallback for a GGUF base when llama.cpp is not installed or
cannot take the adapter (a base architecture the converter does not write,
an adapter llama.cpp refuses). The job's summary says which one the LoRA
will use, and each reply names the engine that ran it and why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from studio.core.jobs import Artifact, Cancelled, CancelToken, Reporter, StudioError
from studio.core.paths import studio_paths
from studio.engines import context
from studio.engines.text.personalise_requests import TextLoraTrainRequest

ADAPTER_FOLDER = "Text-LoRA"
FORMAT = "text-lora"
NOTE_TRANSFORMERS = "runs in transformers (base model plus merged LoRA)"
NOTE_LLAMA = ("runs in llama.cpp (the base GGUF with the LoRA as a GGUF adapter); in transformers with the LoRA "
              "merged when llama.cpp is not installed or cannot take it")
NOTE_FOLDER_BASE = f"{NOTE_TRANSFORMERS}: llama.cpp runs only LoRAs of GGUF models"
NOTE_NO_LLAMA = f"{NOTE_TRANSFORMERS}: llama.cpp (llama-cpp-python) is not installed"


def note_for(base: Any) -> str:
    """Where a LoRA of ``base`` runs, in a line (for its card and its training summary)."""
    return NOTE_LLAMA if base.format == "gguf" else NOTE_FOLDER_BASE


def _base_card(model_id: str) -> Any:
    card = context.find_card(model_id, "text")
    if card.modality != "text" or card.format not in ("transformers", "gguf"):
        raise StudioError(f"{card.name} is not a local text model ({card.modality or 'unknown'} {card.format}): "
                          "text LoRA training needs a transformers folder or a GGUF file")
    if card.error:
        raise StudioError(f"{card.name}: {card.error}")
    return card


def _config(request: TextLoraTrainRequest) -> Any:
    from studio.training.lora.text import TextLoraConfig

    return TextLoraConfig(rank=request.rank, alpha=2.0 * request.rank, learning_rate=request.learning_rate,
                          steps=request.steps, block=request.block, batch=request.batch, seed=int(request.seed))


def _run_folder(card: Any, docs: list[tuple[str, str]], config: Any, name: str) -> Path:
    digest = hashlib.sha256()
    for doc_name, text in docs:
        digest.update(doc_name.encode() + b"\0" + text.encode())
    key = json.dumps([card.id, str(card.path), digest.hexdigest(), asdict(config), name], sort_keys=True)
    return studio_paths().cache / "text-lora-runs" / hashlib.sha1(key.encode()).hexdigest()[:16]


def run(request: TextLoraTrainRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    import torch

    from studio.engines.text.loading import load_language_model
    from studio.training.lora import resume
    from studio.training.lora.kohya import safe_name
    from studio.training.lora.progress import format_eta
    from studio.training.lora.text import read_texts, save_adapter, train_text_lora

    request.validate()
    card = _base_card(request.model_id)
    docs = read_texts(request.folder)
    config = _config(request)
    name = safe_name(request.name)
    report.progress(0, config.steps, "loading the base model")
    device = context.device().name
    lm = load_language_model(card, report, cancel, device=device, dtype="float32")
    folder = _run_folder(card, docs, config, name)

    def on_step(step: int, total: int, loss: float, eta: float) -> None:
        report.progress(step, total, f"loss {loss:.3f} · {format_eta(eta)} left")

    try:
        model, result = train_text_lora(lm.model, lm.tokenizer, docs, config, folder, device, on_step=on_step,
                                        should_stop=lambda: cancel.cancelled)
    except torch.cuda.OutOfMemoryError:
        raise StudioError("out of GPU memory: lower the block or batch, or unload other models") from None
    if result.stopped:
        raise Cancelled()
    trained_on = {"base_model": card.id, "base_model_name": card.name, "documents": len(docs),
                  "characters": sum(len(t) for _, t in docs), "steps": result.steps, "rank": config.rank,
                  "ppl_before": round(result.ppl_before, 3), "ppl_after": round(result.ppl_after, 3)}
    note = note_for(card)
    variant = {"name": f"{card.name} + {name}", "modality": "text", "format": FORMAT,
               "source": "trained by Studio", "architecture": f"LoRA rank {config.rank} on {card.name}",
               "description": f"{card.name} with a LoRA trained on {len(docs)} files of your writing; {note}",
               "base_model": card.id, "trained_on": trained_on, "recipe": request.to_dict()}
    out = save_adapter(model, studio_paths().models_dir / ADAPTER_FOLDER / name, variant)
    resume.clear(folder / "checkpoint")
    if card.format == "gguf":
        report.progress(config.steps, config.steps, "writing the LoRA for llama.cpp")
        note = _write_llama_adapter(out, card)
    context.model_manager().refresh()
    summary = {"adapter": str(out), "variant": variant["name"], "ppl_before": trained_on["ppl_before"],
               "ppl_after": trained_on["ppl_after"], "steps": result.steps,
               "train_seconds": round(result.seconds, 1), "final_loss": result.losses[-1] if result.losses else None,
               "note": note}
    document = json.dumps({"text_lora": summary}, indent=2).encode("utf-8")
    return Artifact(data=document, suffix=".json", meta={"recipe": {"text_lora": summary}})


def is_text_lora(card: Any) -> bool:
    return card.format == FORMAT


def _write_llama_adapter(folder: Path, base: Any) -> str:
    """Convert the saved adapter for llama.cpp now (replies would convert it
    on first use otherwise); the training summary's note says how it went."""
    from studio.engines.text.lora_gguf import ensure_converted

    try:
        ensure_converted(folder, Path(base.path))
    except StudioError as exc:
        return f"{NOTE_TRANSFORMERS}: the LoRA could not be written for llama.cpp ({exc})"
    return NOTE_LLAMA


def base_of(card: Any) -> Any:
    """The installed base model of a text-LoRA card."""
    base_id = card.extra.get("base_model")
    if not isinstance(base_id, str) or not base_id:
        raise StudioError(f"{card.name}: its card does not name a base model")
    try:
        return context.model_manager().card(base_id)
    except StudioError:
        raise StudioError(f"{card.name}: its base model {base_id} is not installed") from None


def runs_in_llama(card: Any) -> bool:
    """Whether a text-LoRA card is run by llama.cpp: its base is a GGUF that
    runs there (llama.cpp installed, neither card asking for transformers)."""
    from studio.engines.text.llama import llama_available

    try:
        base = base_of(card)
    except StudioError:
        return False  # the transformers path words the error
    asked = {card.extra.get("backend", ""), base.extra.get("backend", "")}
    return base.format == "gguf" and "transformers" not in asked and llama_available()


def llama_files(card: Any) -> tuple[Path, Path]:
    """(base GGUF, GGUF LoRA adapter) of a text-LoRA card, converting the adapter if it is missing or stale."""
    from studio.engines.text.lora_gguf import ensure_converted

    base = base_of(card)
    if base.format != "gguf":
        raise StudioError(f"{card.name}: its base {base.name} is not a GGUF model")
    return Path(base.path), ensure_converted(Path(card.path).parent, Path(base.path))


def load_adapted(card: Any, report: Reporter, cancel: CancelToken, device: str = "cpu",
                 dtype: str = "float32") -> Any:
    """The base model of a text-LoRA card with the adapter merged in (a ``LanguageModel``)."""
    from peft import PeftModel

    from studio.engines.text.llama import llama_available
    from studio.engines.text.loading import load_language_model

    base = base_of(card)
    lm = load_language_model(base, report, cancel, device=device, dtype=dtype)
    try:
        merged = PeftModel.from_pretrained(lm.model, str(Path(card.path).parent)).merge_and_unload()
    except Exception as exc:  # safetensors raises its own types for a damaged adapter
        raise StudioError(f"{card.name}: the LoRA could not be applied to {base.name} ({_first_line(exc)})") from exc
    lm.model = merged.eval()
    if base.format != "gguf":
        note = NOTE_FOLDER_BASE
    elif "transformers" in (card.extra.get("backend", ""), base.extra.get("backend", "")):
        note = f"{NOTE_TRANSFORMERS}: its card or its base model's asks for transformers"
    elif not llama_available():
        note = NOTE_NO_LLAMA
    else:
        note = NOTE_TRANSFORMERS  # the llama.cpp fallback: the reply's notice says why
    lm.source = f"{lm.source} + LoRA {card.name} ({note})"
    return lm


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]
