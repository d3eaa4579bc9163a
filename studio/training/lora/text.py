"""Training a text LoRA on a causal language model (transformers + peft) from a person's own writing.

The writing is a folder of ``.txt`` and ``.md`` files, read in name order
and joined into one token stream (documents separated by end-of-text); the
last ``eval_fraction`` of the stream is held out, so perplexity before and
after is measured on text of the same author the LoRA never trained on.
LoRA layers wrap the attention and MLP projections; each step's batch of
blocks depends only on the step, so a resumed run continues exactly; the
adapter is saved in peft's own layout (``adapter_model.safetensors`` and
``adapter_config.json``) through a hidden folder renamed into place.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.jobs import StudioError
from studio.training.lora import resume

TEXT_SUFFIXES = (".txt", ".md")
MIN_CHARS = 2000
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class TextLoraConfig:
    rank: int = 16
    alpha: float = 32.0
    learning_rate: float = 5e-4
    steps: int = 120
    block: int = 128
    batch: int = 4
    seed: int = 0
    eval_fraction: float = 0.1
    checkpoint_every: int = 40


@dataclass
class TextTrainResult:
    ppl_before: float
    ppl_after: float = float("nan")
    steps: int = 0
    seconds: float = 0.0
    resumed_from: int = 0
    stopped: bool = False
    losses: list[float] = field(default_factory=list)
    train_tokens: int = 0
    eval_tokens: int = 0


def read_texts(folder: Path | str) -> list[tuple[str, str]]:
    """(name, text) of every .txt/.md file in ``folder``; one clear line when there is too little."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise StudioError(f"writing to learn from: {folder} is not a folder")
    docs = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in TEXT_SUFFIXES or path.name.startswith("."):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StudioError(f"{path.name} cannot be read as UTF-8 text: {str(exc)[:80]}") from None
        if text.strip():
            docs.append((path.name, text.strip()))
    total = sum(len(t) for _, t in docs)
    if not docs:
        raise StudioError(f"no .txt or .md files in {folder}")
    if total < MIN_CHARS:
        raise StudioError(f"only {total} characters of writing in {folder}; a text LoRA needs at least {MIN_CHARS}")
    return docs


def blocks(tokenizer: Any, docs: list[tuple[str, str]], block: int, eval_fraction: float) -> tuple[Any, Any]:
    """(train, held-out) LongTensors of shape [n, block]: the held-out part is the stream's end."""
    import torch

    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    stream: list[int] = []
    for _, text in docs:
        stream += tokenizer(text, add_special_tokens=False).input_ids + [eos]
    cut = int(len(stream) * (1.0 - eval_fraction))
    train, held = stream[:cut], stream[cut:]
    if len(held) < block or len(train) < 2 * block:
        raise StudioError(f"{len(stream)} tokens of writing are too few for blocks of {block}: add more text")

    def split(tokens: list[int]) -> Any:
        count = len(tokens) // block
        return torch.tensor(tokens[:count * block], dtype=torch.long).view(count, block)

    # Training blocks overlap by half, so a small set still gives varied contexts.
    train_blocks = [train[i:i + block] for i in range(0, len(train) - block + 1, max(1, block // 2))]
    return torch.tensor(train_blocks, dtype=torch.long), split(held)


def perplexity(model: Any, data: Any, device: Any, batch: int = 8) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(data), batch):
            ids = data[i:i + batch].to(device)
            out = model(input_ids=ids, labels=ids)
            tokens = ids.numel() - ids.shape[0]
            total += float(out.loss) * tokens
            count += tokens
    return math.exp(total / max(1, count))


def add_lora(model: Any, config: TextLoraConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in TARGETS if t in present] or ["c_attn", "c_proj"]
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0, target_modules=targets,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def train_text_lora(model: Any, tokenizer: Any, docs: list[tuple[str, str]], config: TextLoraConfig,
                    run_folder: Path, device: Any,
                    on_step: Callable[[int, int, float, float], None] | None = None,
                    should_stop: Callable[[], bool] = lambda: False) -> tuple[Any, TextTrainResult]:
    """Train; returns the peft model and the result. Resumes from ``run_folder``'s checkpoint."""
    import torch

    train, held = blocks(tokenizer, docs, config.block, config.eval_fraction)
    before = perplexity(model, held, device)
    peft_model = add_lora(model, config)
    params = resume.trainable({"model": peft_model})
    optimizer = torch.optim.AdamW(list(params.values()), lr=config.learning_rate, weight_decay=0.0)
    checkpoint = run_folder / "checkpoint"
    state = resume.load(checkpoint, params, optimizer, device) or {}
    start = int(state.get("step", 0))
    result = TextTrainResult(ppl_before=float(state.get("ppl_before", before)), resumed_from=start,
                             losses=list(state.get("losses", [])), train_tokens=int(train.numel()),
                             eval_tokens=int(held.numel()))
    warmup = max(1, config.steps // 10)
    began, reached = time.perf_counter(), start
    for step in range(start, config.steps):
        if should_stop():
            result.stopped = True
            break
        peft_model.train()
        lr = config.learning_rate * min(1.0, (step + 1) / warmup)
        lr *= 0.5 * (1 + math.cos(math.pi * step / config.steps)) if step >= warmup else 1.0
        for group in optimizer.param_groups:
            group["lr"] = lr
        rng = np.random.default_rng([config.seed, step])
        index = torch.from_numpy(rng.choice(len(train), size=config.batch, replace=len(train) < config.batch))
        ids = train[index].to(device)
        loss = peft_model(input_ids=ids, labels=ids).loss
        if not torch.isfinite(loss):
            raise StudioError(f"training diverged at step {step + 1}: lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        optimizer.step()
        result.losses.append(round(float(loss.item()), 5))
        reached = step + 1
        if on_step:
            per_step = (time.perf_counter() - began) / (reached - start)
            on_step(reached, config.steps, result.losses[-1], per_step * (config.steps - reached))
        if reached % config.checkpoint_every == 0 and reached < config.steps:
            resume.save(checkpoint, params, optimizer, {"step": reached, "losses": result.losses,
                                                        "ppl_before": result.ppl_before, "config": asdict(config)})
    result.steps, result.seconds = reached, time.perf_counter() - began
    if result.stopped:
        if reached > start:
            resume.save(checkpoint, params, optimizer, {"step": reached, "losses": result.losses,
                                                        "ppl_before": result.ppl_before, "config": asdict(config)})
        return peft_model, result
    result.ppl_after = perplexity(peft_model, held, device)
    return peft_model, result


def save_adapter(peft_model: Any, folder: Path, card: dict[str, Any]) -> Path:
    """peft's adapter files plus ``adapter_model.model.json`` (its card), renamed into place at once."""
    import json
    import os

    folder = Path(folder)
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        peft_model.save_pretrained(str(partial), safe_serialization=True)
        (partial / "adapter_model.model.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(partial, folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        import errno

        if exc.errno == errno.ENOSPC:
            raise StudioError("the disk is full: could not save the text LoRA") from exc
        raise StudioError(f"could not save the text LoRA: {exc.strerror or exc}") from exc
    return folder
