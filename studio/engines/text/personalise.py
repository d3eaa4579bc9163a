"""The ``text-lora`` job, and loading a trained text LoRA as a variant of its base model.

Training loads its own copy of the base model (a transformers folder, or a
GGUF through the conversion cache), measures held-out perplexity, trains
(``studio.training.lora.text``) with progress and Cancel (which keeps a
checkpoint the same job resumes from), measures again, and saves the
adapter under the models folder's ``Text-LoRA/NAME``. Its card
(``adapter_model.model.json``: modality text, format ``text-lora``, the
base model's id) makes it a model of its own in the Text workspace, named
after its base. Such a card runs in transformers: the base model is loaded
and the adapter merged into it; llama.cpp is not used for it (the note in
its card and in each reply's source says so).
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
NOTE = "runs in transformers (base model plus merged LoRA); llama.cpp is not used for text LoRAs yet"


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
    variant = {"name": f"{card.name} + {name}", "modality": "text", "format": FORMAT,
               "source": "trained by Studio", "architecture": f"LoRA rank {config.rank} on {card.name}",
               "description": f"{card.name} with a LoRA trained on {len(docs)} files of your writing; {NOTE}",
               "base_model": card.id, "trained_on": trained_on, "recipe": request.to_dict()}
    out = save_adapter(model, studio_paths().models_dir / ADAPTER_FOLDER / name, variant)
    resume.clear(folder / "checkpoint")
    context.model_manager().refresh()
    summary = {"adapter": str(out), "variant": variant["name"], "ppl_before": trained_on["ppl_before"],
               "ppl_after": trained_on["ppl_after"], "steps": result.steps,
               "train_seconds": round(result.seconds, 1), "final_loss": result.losses[-1] if result.losses else None,
               "note": NOTE}
    document = json.dumps({"text_lora": summary}, indent=2).encode("utf-8")
    return Artifact(data=document, suffix=".json", meta={"recipe": {"text_lora": summary}})


def is_text_lora(card: Any) -> bool:
    return card.format == FORMAT


def load_adapted(card: Any, report: Reporter, cancel: CancelToken, device: str = "cpu",
                 dtype: str = "float32") -> Any:
    """The base model of a text-LoRA card with the adapter merged in (a ``LanguageModel``)."""
    from peft import PeftModel

    from studio.engines.text.loading import load_language_model

    base_id = card.extra.get("base_model")
    if not isinstance(base_id, str) or not base_id:
        raise StudioError(f"{card.name}: its card does not name a base model")
    try:
        base = context.model_manager().card(base_id)
    except StudioError:
        raise StudioError(f"{card.name}: its base model {base_id} is not installed") from None
    lm = load_language_model(base, report, cancel, device=device, dtype=dtype)
    try:
        merged = PeftModel.from_pretrained(lm.model, str(Path(card.path).parent)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise StudioError(f"{card.name}: the LoRA does not fit {base.name} ({str(exc).splitlines()[0][:120]})") from exc
    lm.model = merged.eval()
    lm.source = f"{lm.source} + LoRA {card.name} ({NOTE})"
    return lm
