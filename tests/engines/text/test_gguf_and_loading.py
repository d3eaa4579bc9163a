"""Loading: a GGUF is converted once into the cache (as a job with
progress, cancellable, leaving nothing half-written) and the converted
model is the same model; files that cannot be loaded give clear messages."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from studio.core.jobs import CancelToken, JobState, NullReporter
from studio.engines.text import gguf_cache
from studio.engines.text.engine import load
from studio.engines.text.requests import TextRequest
from tests.engines.text.conftest import Recorder, card_for, run_job


class CancelOnProgress(Recorder):
    def progress(self, done: int, total: int, message: str = "") -> None:
        super().progress(done, total, message)
        if "tensor 3 of" in message:
            self.cancel.cancel()


def test_a_gguf_is_converted_once_and_the_converted_model_is_the_same_model(studio, tiny):
    import torch
    from transformers import AutoModelForCausalLM

    card = card_for(studio, tiny.gguf)
    assert card.format == "gguf"
    card.extra["backend"] = "transformers"  # the conversion path (llama.cpp, when installed, is the default)
    state, item, recorder = run_job(studio, TextRequest(prompt="Hello", model_id=card.id, max_new_tokens=6))
    assert state is JobState.FINISHED
    converting = [m for m in recorder.progress_messages if m.startswith("Converting GGUF")]
    assert any("tensor" in m for m in converting) and converting[-1] == "Converting GGUF: done"
    folder = gguf_cache.cached_folder(tiny.gguf)
    assert folder is not None and folder.parent == studio.paths.cache / "text-gguf"
    marker = json.loads((folder / gguf_cache.MARKER).read_text())
    assert marker["size"] == tiny.gguf.stat().st_size and marker["source"] == str(tiny.gguf.resolve())
    assert item.recipe["model"]["loaded_from"] == "GGUF (converted cache)"

    # Loaded again (a new session), it comes from the cache: no conversion.
    studio.models.unload(card.id)
    started = time.perf_counter()
    state, _item, again = run_job(studio, TextRequest(prompt="Hello", model_id=card.id, max_new_tokens=6))
    assert state is JobState.FINISHED and time.perf_counter() - started < 10
    assert not [m for m in again.progress_messages if m.startswith("Converting")]

    # The cache holds the very weights transformers dequantises from the GGUF.
    direct = AutoModelForCausalLM.from_pretrained(tiny.gguf.parent, gguf_file=tiny.gguf.name).eval()
    cached = studio.models.get(card.id, lambda _c: None).model
    ids = torch.tensor([[5, 17, 40, 99, 3]])
    with torch.no_grad():
        assert torch.equal(direct(ids).logits, cached(ids).logits)


def test_a_changed_gguf_is_converted_again_and_the_old_conversion_removed(studio, tmp_path, tiny):
    path = tmp_path / "copy.gguf"
    shutil.copyfile(tiny.gguf, path)
    first = gguf_cache.ensure_converted(path, NullReporter(), CancelToken())
    assert gguf_cache.cached_folder(path) == first
    later = time.time() + 60
    os.utime(path, (later, later))
    assert gguf_cache.cached_folder(path) is None
    second = gguf_cache.ensure_converted(path, NullReporter(), CancelToken())
    assert second != first and gguf_cache.is_complete(second)
    assert not first.exists()


def test_cancel_during_conversion_leaves_no_half_cache(studio, tiny):
    card = card_for(studio, tiny.gguf)
    card.extra["backend"] = "transformers"
    state, item, _ = run_job(studio, TextRequest(prompt="Hello", model_id=card.id), CancelOnProgress())
    assert state is JobState.CANCELLED and item is None
    root = studio.paths.cache / "text-gguf"
    assert gguf_cache.cached_folder(tiny.gguf) is None
    assert not root.exists() or list(root.iterdir()) == []
    assert not studio.models.is_loaded(card.id)


def _add_folder(studio, folder):
    studio.models.user_folders.append(folder)
    studio.models.refresh()


def _failed_message(studio, model_id: str) -> str:
    state, item, _ = run_job(studio, TextRequest(prompt="Hello", model_id=model_id))
    assert state is JobState.FAILED and item is None
    return studio.queue.jobs()[-1].error


def test_a_damaged_gguf_is_a_clear_message(studio, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "truncated.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + os.urandom(200))
    (bad / "not-really.gguf").write_bytes(b"PK\x03\x04 a zip file")
    _add_folder(studio, bad)
    truncated = card_for(studio, bad / "truncated.gguf")
    assert "GGUF file could not be read" in _failed_message(studio, truncated.id)
    not_gguf = card_for(studio, bad / "not-really.gguf")
    assert "not a GGUF file" in _failed_message(studio, not_gguf.id)
    assert studio.library.items() == []


def test_an_unknown_architecture_is_a_clear_message(studio, tmp_path, tiny):
    folder = tmp_path / "models" / "strange"
    shutil.copytree(tiny.llama, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="frobnicator", architectures=["FrobnicatorForCausalLM"])
    (folder / "config.json").write_text(json.dumps(config))
    _add_folder(studio, folder.parent)
    message = _failed_message(studio, card_for(studio, folder).id)
    assert "unsupported model architecture" in message and message.startswith("strange")


def test_damaged_weights_are_a_clear_message(studio, tmp_path, tiny):
    folder = tmp_path / "models" / "damaged"
    shutil.copytree(tiny.llama, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    _add_folder(studio, folder.parent)
    message = _failed_message(studio, card_for(studio, folder).id)
    assert message.startswith("damaged") and ("damaged" in message[8:] or "could not be read" in message)


def test_a_model_of_another_modality_is_refused(studio, tiny):
    from studio.core.models.cards import ModelCard

    studio.models.add_card(ModelCard("voice-x", "Voice X", "audio", "onnx-voice", tiny.root))
    assert "is an audio model; choose a text model" in _failed_message(studio, "voice-x")


def test_a_missing_model_names_what_to_do(studio):
    message = _failed_message(studio, "no-such-model")
    assert "'no-such-model' was not found" in message


def test_loading_a_gguf_without_a_cache_reports_conversion_through_the_manager(studio, tiny):
    card = card_for(studio, tiny.gguf)
    recorder = Recorder()
    lm = load(card, recorder, recorder.cancel)
    assert lm.source == "GGUF (converted cache)" and lm.context_length == 256
    assert studio.models.is_loaded(card.id)
    assert any(m.startswith("Converting GGUF") for m in recorder.progress_messages)
    tensors = [*lm.model.parameters(), *lm.model.buffers()]
    assert studio.models.memory_used(card.id) == sum(t.numel() * t.element_size() for t in tensors)
    assert lm.end_token_ids[0] == 2 and lm.tokenizer.chat_template


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_transformers_folders_load_directly(studio, tiny, name):
    card = card_for(studio, tiny.root / name)
    lm = load(card, NullReporter(), CancelToken())
    assert lm.source == "transformers folder"
    assert gguf_cache.cached_folder(tiny.gguf) is None


def test_a_model_in_the_hugging_face_cache_is_found_and_chats(services, tiny, tmp_path, monkeypatch):
    from huggingface_hub import constants
    from huggingface_hub.utils import _cache_manager

    repo = tmp_path / "hub" / "models--acme--tiny-chat"
    shutil.copytree(tiny.llama, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    # The cache scanner binds the cache location when first imported: point both at the test's hub.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", str(tmp_path / "hub"))
    card = next(c for c in services.models.refresh() if c.name == "acme/tiny-chat")
    assert card.format == "transformers" and card.modality == "text"
    state, item, _ = run_job(services, TextRequest(prompt="Hello", model_id=card.id, max_new_tokens=5))
    assert state is JobState.FINISHED
    assert item.recipe["model"]["loaded_from"] == "transformers folder"
