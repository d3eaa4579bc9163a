"""Model lookup shared by the audio engines: the card behind a request's
``model_id`` and loading it through the shared model manager.

The manager caches one object per card, and the Models panel may already
have loaded a card with the generic loader (an ONNX session, a bare
``AutoModel``); ``load_cached`` swaps such an object for the one an engine
needs instead of failing on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.engines import context


def card_or_none(card_id: str) -> ModelCard | None:
    """The card for ``card_id`` if discovery found it (a starter may be missing)."""
    try:
        return context.model_manager().card(card_id)
    except StudioError:
        return None


def audio_card(model_id: str) -> ModelCard:
    card = context.find_card(model_id, "audio")
    if card.error:
        raise StudioError(f"{card.name} cannot be used: {card.error}")
    return card


def load_cached(card: ModelCard, loader: Callable[[ModelCard], Any], accept: Callable[[Any], bool]) -> Any:
    """``loader(card)`` through the model manager, reusing a cached object
    when ``accept`` says it is the right kind."""
    manager = context.model_manager()
    model = manager.get(card.id, loader)
    if accept(model):
        return model
    manager.unload(card.id)
    return manager.get(card.id, loader)


def find_by_architecture(suffixes: tuple[str, ...]) -> ModelCard | None:
    """The first usable card whose architecture ends with one of ``suffixes``."""
    for card in context.model_manager().cards():
        if card.usable and card.architecture.endswith(suffixes):
            return card
    return None
