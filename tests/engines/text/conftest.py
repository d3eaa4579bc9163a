"""Fixtures for the text engine: tiny models built once per session, a
studio whose model folders hold them, and a helper that runs a request
the way the CLI and the GUI do (queue, engine, library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from studio.core.jobs import CancelToken, JobState
from studio.core.library import LibraryItem
from tests.engines.text import tiny_models


@dataclass
class TinyModels:
    root: Path
    gpt2: Path  # a base model: no chat template
    llama: Path  # a chat model (ChatML)
    gguf: Path  # the Llama as a GGUF file, alone in its folder


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    root = tmp_path_factory.mktemp("tiny-text-models")
    gpt2 = tiny_models.build_gpt2(root / "tiny-gpt2")
    llama = tiny_models.build_llama(root / "tiny-llama")
    (root / "gguf").mkdir()
    gguf = tiny_models.write_gguf(llama, root / "gguf" / "tiny-llama.Q8_0.gguf")
    return TinyModels(root, gpt2, llama, gguf)


@pytest.fixture
def studio(services, tiny):
    """Services whose model manager has discovered the tiny models."""
    services.models.user_folders.append(tiny.root)
    services.models.include_hf_cache = False
    services.models.refresh()
    return services


def card_for(services, path: Path):
    for card in services.models.cards("text"):
        if Path(card.path) == path:
            return card
    raise AssertionError(f"no card for {path}: {[c.path for c in services.models.cards()]}")


@dataclass
class Recorder:
    """A Reporter that keeps everything, and can cancel on a condition."""

    cancel: CancelToken = field(default_factory=CancelToken)
    previews: list[Any] = field(default_factory=list)
    progress_messages: list[str] = field(default_factory=list)
    cancel_after_previews: int = 0

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.progress_messages.append(message)

    def preview(self, payload: Any) -> None:
        self.previews.append(payload)
        if self.cancel_after_previews and len(self.previews) >= self.cancel_after_previews:
            self.cancel.cancel()


def run_job(services, request, recorder: Recorder | None = None) -> tuple[JobState, LibraryItem | None, Recorder]:
    from studio.engines.execute import execute_job

    recorder = recorder or Recorder()
    job = services.queue.submit(request)
    job = services.queue.start(job.id)
    state, item = execute_job(job, services.queue, services.library, recorder, recorder.cancel)
    return state, item, recorder
