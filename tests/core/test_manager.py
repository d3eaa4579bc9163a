"""The model manager: loading through a loader, sharing a loaded model,
unloading least recently used first under the memory budget, idle unload,
and readable errors for models that fail to load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from studio.core.jobs import StudioError
from studio.core.models.manager import ModelManager
from studio.engines.loaders import load_model

MB = 1024 * 1024


@pytest.fixture
def manager(tmp_path):
    for name in ("a", "b", "c"):
        save_file({"w": np.ones((MB // 4,), np.float32)}, str(tmp_path / f"{name}.safetensors"))  # 1 MB each
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 64)
    manager = ModelManager(budget_bytes=int(2.5 * MB), idle_unload_s=60, user_folders=[tmp_path],
                           include_hf_cache=False)
    manager.refresh()
    return manager


def _id(manager, name):
    return next(card.id for card in manager.cards() if card.name == name)


def test_loaded_model_is_shared_and_measured(manager):
    calls = []

    def loader(card):
        calls.append(card.name)
        return load_model(card)

    first = manager.get(_id(manager, "a"), loader)
    again = manager.get(_id(manager, "a"), loader)
    assert first is again and calls == ["a"]
    assert isinstance(first["w"], torch.Tensor)
    assert manager.memory_used(_id(manager, "a")) == MB


def test_least_recently_used_is_unloaded_to_fit_the_budget(manager):
    a, b, c = (_id(manager, n) for n in "abc")
    manager.get(a, load_model)
    manager.get(b, load_model)
    manager.get(a, load_model)  # a is now more recent than b
    manager.get(c, load_model)
    assert manager.is_loaded(a) and manager.is_loaded(c) and not manager.is_loaded(b)
    assert manager.memory_used() <= manager.budget_bytes


def test_idle_models_are_unloaded(manager):
    a = _id(manager, "a")
    manager.get(a, load_model)
    assert manager.unload_idle() == []
    import time

    assert manager.unload_idle(now=time.monotonic() + 61) == [a]
    assert not manager.is_loaded(a)


def test_failures_are_readable(manager):
    with pytest.raises(StudioError, match="cannot be used: unreadable safetensors"):
        manager.get(_id(manager, "bad"), load_model)

    def exploding(card):
        raise RuntimeError("CUDA error: out of memory")

    with pytest.raises(StudioError, match="failed to load: CUDA error"):
        manager.get(_id(manager, "b"), exploding)
    assert not manager.is_loaded(_id(manager, "b"))
    with pytest.raises(StudioError, match="was not found"):
        manager.get("no-such-model", load_model)


def test_gan_starter_loads_and_generates(tmp_path):
    manager = ModelManager(budget_bytes=512 * MB, include_hf_cache=False)
    manager.refresh()
    generator = manager.get("dcgan-faces-64", load_model)
    with torch.no_grad():
        faces = generator(torch.randn(2, 100, 1, 1))
    assert faces.shape == (2, 3, 64, 64)
    assert faces.std() > 0.05  # real weights, not a blank output


def test_a_long_load_blocks_neither_readouts_nor_other_models(manager):
    import threading

    started, release = threading.Event(), threading.Event()
    calls = []

    def slow_loader(card):
        calls.append(card.name)
        started.set()
        release.wait(5)
        return load_model(card)

    a, b = _id(manager, "a"), _id(manager, "b")
    results = []
    workers = [threading.Thread(target=lambda: results.append(manager.get(a, slow_loader))) for _ in range(2)]
    for worker in workers:
        worker.start()
    assert started.wait(5)
    # While "a" loads: readouts answer and another model loads.
    assert manager.memory_used() == 0 and not manager.is_loaded(a)
    manager.get(b, load_model)
    assert manager.is_loaded(b)
    release.set()
    for worker in workers:
        worker.join(5)
    assert calls == ["a"], "two callers of the same card load it once"
    assert results[0] is results[1]
