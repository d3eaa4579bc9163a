"""What every engine shares in one process: the model manager and the
compute device. The GUI and the CLI install their services' manager here
(:func:`studio.engines.registry.open_studio_services` does it); engines call
``model_manager()`` and ``device()`` and never build their own."""

from __future__ import annotations

import threading

from studio.core.devices import DeviceInfo, pick_device
from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.core.models.manager import ModelManager
from studio.core.services import open_model_manager

_lock = threading.Lock()
_manager: ModelManager | None = None
_device: DeviceInfo | None = None


def set_model_manager(manager: ModelManager) -> None:
    global _manager
    with _lock:
        _manager = manager


def model_manager() -> ModelManager:
    """The shared manager, with discovery run once on first use."""
    global _manager
    with _lock:
        if _manager is None:  # no services were opened (a script running an engine directly)
            _manager = open_model_manager()
        manager = _manager
    if not manager.discovered:  # the GUI may be running discovery in the background already
        manager.refresh()
    return manager


def find_card(model_id: str, modality: str) -> ModelCard:
    """The card for ``model_id``, or a clear error naming what is available."""
    manager = model_manager()
    if not model_id:
        usable = [c for c in manager.cards(modality) if c.usable]
        if not usable:
            raise StudioError(f"no {modality} model was found; add a model folder in Settings")
        article = "an" if modality[0] in "aeiou" else "a"
        raise StudioError(f"choose {article} {modality} model, e.g. --model {usable[0].id}")
    try:
        return manager.card(model_id)
    except StudioError:
        manager.refresh()  # the file may have been added since the last scan
        return manager.card(model_id)


def device() -> DeviceInfo:
    global _device
    with _lock:
        if _device is None:
            _device = pick_device()
        return _device
