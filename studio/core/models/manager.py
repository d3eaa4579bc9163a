"""The model manager: one place that loads, shares and unloads models for
every modality, within a memory budget.

Engines ask ``manager.get(card_id, loader)``; the first call loads through
the loader on the worker thread, later calls reuse the loaded object. When a
load would pass the budget, the least recently used models are unloaded
first; ``unload_idle`` drops models unused for longer than the idle time.

A model a running job holds is never unloaded: a job runs inside
``holding_models()`` (``studio.engines.execute`` does it), and every model
it gets there is held until it ends. ``unload`` and ``unload_idle`` skip a
held model, and making room for another load passes over it; when only
held models are left the manager stays over its budget and says so
(``over_budget``) rather than evict under a running job."""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard, human_size
from studio.core.models.discovery import discover

log = logging.getLogger(__name__)

Loader = Callable[[ModelCard], Any]
CardSource = Callable[[], Iterable[ModelCard]]


_scope = threading.local()


@contextlib.contextmanager
def holding_models():
    """Hold every model this thread gets (from any manager) until the block
    ends: what a job's run is wrapped in. Blocks nest."""
    outer = getattr(_scope, "held", None)
    held: list[tuple[ModelManager, str]] = []
    _scope.held = held
    try:
        yield held
    finally:
        _scope.held = outer
        for manager, card_id in held:
            manager.release(card_id)


@dataclass
class LoadedModel:
    card: ModelCard
    model: Any
    memory_bytes: int
    last_used: float


def measure_memory(model: Any, fallback: int) -> int:
    """Bytes held by a model: what it says it holds (``memory_bytes``, for
    models that are not torch tensors, such as a llama.cpp model's mapped
    file and KV cache), else its tensors (torch modules, pipelines, tensor
    dicts)."""
    declared = getattr(model, "memory_bytes", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
        return declared
    torch = sys.modules.get("torch")
    if torch is None:
        return fallback
    seen: set[int] = set()
    total = 0

    def add_tensor(tensor) -> None:
        nonlocal total
        if id(tensor) not in seen:
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()

    modules = []
    if isinstance(model, torch.nn.Module):
        modules = [model]
    elif hasattr(model, "components"):  # a diffusers pipeline
        modules = [c for c in model.components.values() if isinstance(c, torch.nn.Module)]
    elif isinstance(model, dict):
        for value in model.values():
            if isinstance(value, torch.Tensor):
                add_tensor(value)
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            add_tensor(tensor)
    return total or fallback


class ModelManager:
    def __init__(self, budget_bytes: int, idle_unload_s: float = 600.0,
                 user_folders: Iterable[Path] = (), include_hf_cache: bool = True) -> None:
        self.budget_bytes = budget_bytes
        self.idle_unload_s = idle_unload_s
        self.user_folders = list(user_folders)
        self.include_hf_cache = include_hf_cache
        self._cards: dict[str, ModelCard] = {}
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.RLock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._holds: dict[str, int] = {}  # card id -> running jobs holding it
        self.discovered = False  # set by the first refresh(), whoever runs it
        self.listeners: list[Callable[[], None]] = []
        self.card_sources: list[CardSource] = []  # e.g. the models of remote text servers

    # --- discovery ---------------------------------------------------------
    def add_card_source(self, source: CardSource) -> None:
        """Merge the cards ``source()`` returns with the discovered ones on
        every ``refresh`` (a source that fails is logged and skipped)."""
        if source not in self.card_sources:
            self.card_sources.append(source)

    def _source_cards(self) -> list[ModelCard]:
        cards: list[ModelCard] = []
        for source in list(self.card_sources):
            try:
                cards.extend(source())
            except Exception:  # noqa: BLE001 - one broken source must not hide the other models
                log.exception("model card source %r failed", source)
        return cards

    def refresh(self) -> list[ModelCard]:
        cards = discover(self.user_folders, include_hf_cache=self.include_hf_cache) + self._source_cards()
        with self._lock:
            self._cards = {card.id: card for card in cards}
            self.discovered = True
        self._notify()
        return cards

    def cards(self, modality: str = "") -> list[ModelCard]:
        with self._lock:
            return [c for c in self._cards.values() if not modality or c.modality == modality]

    def card(self, card_id: str) -> ModelCard:
        with self._lock:
            if card_id not in self._cards:
                raise StudioError(
                    f"model {card_id!r} was not found; add its folder under Settings > Model folders"
                    " or check `studio models list`"
                )
            return self._cards[card_id]

    def add_card(self, card: ModelCard) -> None:
        with self._lock:
            self._cards[card.id] = card
        self._notify()

    # --- loading -----------------------------------------------------------
    def is_loaded(self, card_id: str) -> bool:
        with self._lock:
            return card_id in self._loaded

    def memory_used(self, card_id: str | None = None) -> int:
        with self._lock:
            if card_id is not None:
                entry = self._loaded.get(card_id)
                return entry.memory_bytes if entry else 0
            return sum(entry.memory_bytes for entry in self._loaded.values())

    def get(self, card_id: str, loader: Loader) -> Any:
        """The loaded model for ``card_id``, loading it with ``loader`` if needed.

        The load itself runs outside the manager's lock (under a lock of that
        card alone), so a long load never blocks the window's readouts of
        what is loaded, nor another model's use; two callers asking for the
        same card at once load it once."""
        with self._lock:
            model = self._touch(card_id)
            if model is not None:
                self._hold_in_scope(card_id)
                return model
            card_lock = self._load_locks.setdefault(card_id, threading.Lock())
        with card_lock:
            with self._lock:
                model = self._touch(card_id)  # loaded by another caller while we waited
                if model is not None:
                    self._hold_in_scope(card_id)
                    return model
                card = self.card(card_id)
                if card.error:
                    raise StudioError(f"{card.name} cannot be used: {card.error}")
                self._make_room(card.size_bytes)
            model = self._load(card, loader)
            memory = measure_memory(model, card.size_bytes)
            with self._lock:
                self._loaded[card_id] = LoadedModel(card, model, memory, time.monotonic())
                self._hold_in_scope(card_id)
                self._make_room(0)
        self._notify()
        return model

    def _touch(self, card_id: str) -> Any:
        entry = self._loaded.get(card_id)
        if entry is None:
            return None
        entry.last_used = time.monotonic()
        return entry.model

    @staticmethod
    def _load(card: ModelCard, loader: Loader) -> Any:
        try:
            return loader(card)
        except StudioError:
            raise
        except MemoryError as exc:
            raise StudioError(f"not enough memory to load {card.name} ({human_size(card.size_bytes)})") from exc
        except Exception as exc:  # noqa: BLE001 - any loader failure becomes a readable message
            raise StudioError(f"{card.name} failed to load: {exc}") from exc

    # --- holds -------------------------------------------------------------
    def _hold_in_scope(self, card_id: str) -> None:
        held = getattr(_scope, "held", None)
        if held is not None and not any(m is self and c == card_id for m, c in held):
            held.append((self, card_id))
            self._holds[card_id] = self._holds.get(card_id, 0) + 1

    @contextlib.contextmanager
    def hold(self, card_id: str):
        """Keep ``card_id`` loaded (if it is) while the block runs."""
        with self._lock:
            self._holds[card_id] = self._holds.get(card_id, 0) + 1
        try:
            yield
        finally:
            self.release(card_id)

    def release(self, card_id: str) -> None:
        """End one hold; the idle time of the model counts from now."""
        with self._lock:
            count = self._holds.get(card_id, 0) - 1
            if count > 0:
                self._holds[card_id] = count
            else:
                self._holds.pop(card_id, None)
            entry = self._loaded.get(card_id)
            if entry is not None:
                entry.last_used = time.monotonic()
            if count <= 0 and self.over_budget():
                self._make_room(0)  # what a job kept past the budget can go now

    def in_use(self, card_id: str) -> bool:
        """Whether a running job holds this model."""
        with self._lock:
            return self._holds.get(card_id, 0) > 0

    def over_budget(self) -> int:
        """Bytes loaded beyond the budget (0 when within it): models held by
        running jobs are kept even when they pass it."""
        with self._lock:
            return max(0, self.memory_used() - self.budget_bytes)

    def unload(self, card_id: str, force: bool = False) -> bool:
        """Unload a model; False if it was not loaded or another running job
        holds it (``in_use``), unless ``force`` (closing the studio). The job
        calling may unload what only it holds, e.g. to load it again with
        other settings."""
        own = 1 if any(m is self and c == card_id for m, c in getattr(_scope, "held", None) or ()) else 0
        with self._lock:
            if not force and self._holds.get(card_id, 0) > own:
                log.info("not unloading %s: a running job uses it", card_id)
                return False
            entry = self._loaded.pop(card_id, None)
        if entry is None:
            return False
        del entry
        _release_memory()
        self._notify()
        return True

    def unload_all(self) -> None:
        for card_id in list(self._loaded):
            self.unload(card_id, force=True)

    def unload_idle(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [cid for cid, e in self._loaded.items()
                    if now - e.last_used > self.idle_unload_s and not self._holds.get(cid)]
        return [card_id for card_id in idle if self.unload(card_id)]

    def _make_room(self, incoming: int) -> None:
        """Unload least recently used models until ``incoming`` more bytes fit."""
        evicted = False
        while self._loaded and self.memory_used() + incoming > self.budget_bytes:
            free = [e for e in self._loaded.values() if not self._holds.get(e.card.id)]
            # The model just loaded is never evicted to make room for itself.
            if incoming == 0 and len(self._loaded) == 1:
                break
            if not free or (incoming == 0 and len(free) == 1 and free[0] is max(
                    self._loaded.values(), key=lambda e: e.last_used)):
                log.warning("over the memory budget by %s: the other loaded models are in use by running jobs",
                            human_size(self.memory_used() + incoming - self.budget_bytes))
                break
            oldest = min(free, key=lambda e: e.last_used)
            log.info("unloading %s to stay within the memory budget", oldest.card.name)
            self._loaded.pop(oldest.card.id)
            evicted = True
        if evicted:  # a full collection takes ~0.5 s once torch is loaded: only when it frees something
            _release_memory()

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()


def _release_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
