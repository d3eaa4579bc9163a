"""Model discovery on a temp tree holding every format: each recognised
with its card, damaged files reported on their card without stopping the
scan, pickles needing code execution skipped with a reason, duplicates
listed once, and A1111 / ComfyUI / Hugging Face cache layouts understood."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from studio.core.models.discovery import discover, scan_folder


class Payload:
    """Unpickling this needs this class: exactly what weights_only refuses."""

    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def _safetensors(path: Path, lora: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "lora_unet_down.lora_up.weight" if lora else "model.diffusion_model.input.weight"
    save_file({key: np.ones((4, 4), np.float32)}, str(path))


def _gguf(path: Path) -> None:
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture
def model_tree(tmp_path) -> Path:
    root = tmp_path / "models"
    sd = root / "tiny-sd"
    (sd / "unet").mkdir(parents=True)
    (sd / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    _safetensors(sd / "unet" / "diffusion_pytorch_model.safetensors")
    _safetensors(root / "checkpoint.safetensors")
    _gguf(root / "llm" / "tiny.gguf")
    bad = root / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    truncated = root / "truncated.safetensors"
    _safetensors(truncated)
    truncated.write_bytes(truncated.read_bytes()[:-8])
    (root / "evil.ckpt").write_bytes(pickle.dumps(Payload()))
    torch.save({"weight": torch.zeros(3)}, root / "plain.pt")
    lm = root / "tiny-gpt"
    lm.mkdir()
    (lm / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    _safetensors(lm / "model.safetensors")
    return root


def _by_name(cards):
    return {card.name: card for card in cards}


def test_every_format_is_recognised(model_tree):
    cards = _by_name(scan_folder(model_tree, "test"))
    assert cards["tiny-sd"].format == "diffusers" and cards["tiny-sd"].modality == "image"
    assert cards["tiny-sd"].architecture == "StableDiffusionPipeline"
    assert cards["checkpoint"].format == "safetensors" and cards["checkpoint"].usable
    assert cards["tiny"].format == "gguf" and cards["tiny"].modality == "text" and cards["tiny"].usable
    assert cards["tiny-gpt"].format == "transformers" and cards["tiny-gpt"].modality == "text"
    assert cards["plain"].usable, cards["plain"].error
    assert all(card.size_bytes > 0 for card in cards.values())


def test_damaged_files_get_an_error_and_the_scan_continues(model_tree):
    cards = _by_name(scan_folder(model_tree, "test"))
    assert "header" in cards["broken"].error
    assert "truncated" in cards["truncated"].error
    assert cards["checkpoint"].usable  # found after the broken ones, alphabetically


def test_pickle_needing_code_is_skipped_with_a_reason_and_never_runs(model_tree, capfd):
    card = _by_name(scan_folder(model_tree, "test"))["evil"]
    assert card.error.startswith("skipped:") and "weights_only" in card.error
    assert "should-never-run" not in capfd.readouterr().out


def test_a1111_and_comfyui_layouts(tmp_path):
    a1111 = tmp_path / "stable-diffusion-webui"
    _safetensors(a1111 / "models" / "Stable-diffusion" / "dreamy.safetensors")
    _safetensors(a1111 / "models" / "Lora" / "style.safetensors")
    comfy = tmp_path / "ComfyUI"
    _safetensors(comfy / "models" / "checkpoints" / "base.safetensors")
    _safetensors(comfy / "models" / "loras" / "detail.safetensors")
    cards = _by_name(discover([a1111, comfy], include_starters=False, include_hf_cache=False))
    assert cards["dreamy"].format == "safetensors" and "A1111" in cards["dreamy"].source
    assert cards["style"].format == "lora"
    assert cards["base"].format == "safetensors" and "ComfyUI" in cards["base"].source
    assert cards["detail"].format == "lora"
    assert len(cards) == 4, "each file is listed once although two walks reach it"


def test_same_file_reached_twice_is_listed_once(model_tree, tmp_path):
    link = tmp_path / "link-to-models"
    link.symlink_to(model_tree)
    once = discover([model_tree], include_starters=False, include_hf_cache=False)
    twice = discover([model_tree, link, model_tree / "llm"], include_starters=False, include_hf_cache=False)
    assert sorted(c.name for c in twice) == sorted(c.name for c in once)


def test_hugging_face_cache_snapshots(tmp_path):
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-sd"
    blob = repo / "blobs" / "abc123"
    blob.parent.mkdir(parents=True)
    blob.write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    snapshot = repo / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    cards = discover([], include_starters=False, hf_cache_dir=cache)
    assert [(c.name, c.format, c.architecture) for c in cards] == [
        ("acme/tiny-sd", "diffusers", "StableDiffusionXLPipeline")]
    assert "Hugging Face cache" in cards[0].source


def test_starter_packs_are_found():
    cards = {card.id: card for card in discover([], include_hf_cache=False)}
    for starter in ("smollm2-135m-instruct", "piper-en-us-joe-medium", "timgm6mb-soundfont", "dcgan-faces-64"):
        assert starter in cards, f"starter model {starter} missing: is its package installed?"
        assert cards[starter].usable, cards[starter].error
    assert "non-commercial" in cards["dcgan-faces-64"].licence
