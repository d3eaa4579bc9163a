"""ComfyUI servers as model sources: the endpoints of kind ``comfyui`` in
Settings, their ``/object_info`` (cached a minute), the checkpoint and LoRA
cards made from it (source "server NAME"), greying out the cards of a
server that went away and asking it again until it answers."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from studio.core import servers
from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.core.servers import Endpoint
from studio.core.settings import Settings
from studio.engines.image.comfy import graph as graphs
from studio.engines.image.comfy.client import ComfyClient

log = logging.getLogger(__name__)

FORMAT = "comfyui"
LORA_FORMAT = "comfyui-lora"
KIND = "comfyui"
TIMEOUT_SETTING = "comfyui.result_timeout_s"
DEFAULT_RESULT_TIMEOUT_S = 600.0
INFO_TTL_S = 60.0

_info_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_known: dict[str, tuple[list[str], list[str]]] = {}  # server -> (checkpoints, loras) listed last time
_lock = threading.Lock()


# --- servers, cards ----------------------------------------------------------------------------------
def comfy_endpoints(settings: Settings | None = None) -> list[Endpoint]:
    return [e for e in servers.store(settings).list() if e.kind == KIND]


def object_info(client: ComfyClient, fresh: bool = False) -> dict[str, Any]:
    key = client.endpoint.base_url
    with _lock:
        cached = _info_cache.get(key)
    if cached and not fresh and time.monotonic() - cached[0] < INFO_TTL_S:
        return cached[1]
    info = client.object_info()
    with _lock:
        _info_cache[key] = (time.monotonic(), info)
        _known[client.name] = (graphs.offered(info, "CheckpointLoaderSimple", "ckpt_name"),
                               graphs.offered(info, "LoraLoader", "lora_name"))
    return info


def card_for(endpoint: Endpoint, name: str, kind: str = "checkpoint", error: str = "") -> ModelCard:
    stem = Path(name.replace("\\", "/")).stem
    return ModelCard(
        id=f"{endpoint.name}/{name}", name=f"{stem} ({endpoint.name})", modality="image",
        format=FORMAT if kind == "checkpoint" else LORA_FORMAT, path=Path(endpoint.base_url),
        source=f"server {endpoint.name}",
        description=f"{kind} {name} on the ComfyUI server at {endpoint.base_url}", error=error,
        extra={"server": endpoint.name, "model": name, "base_url": endpoint.base_url, "kind": kind},
    )


def cards_of(endpoint: Endpoint) -> list[ModelCard]:
    """The checkpoints and LoRAs the server offers; while it is away, the ones it had, greyed out
    with the reason (they come back by themselves at the next scan that reaches it)."""
    from studio.engines.image.comfy.client import DISCOVERY_TIMEOUT

    try:
        with ComfyClient(endpoint, DISCOVERY_TIMEOUT) as client:
            info = object_info(client, fresh=True)
        checkpoints = graphs.offered(info, "CheckpointLoaderSimple", "ckpt_name")
        loras = graphs.offered(info, "LoraLoader", "lora_name")
        error = ""
    except StudioError as exc:
        with _lock:
            checkpoints, loras = _known.get(endpoint.name, ([], []))
        error = str(exc)
        if not checkpoints and not loras:
            card = card_for(endpoint, "", error=error)
            card.id, card.name = endpoint.name, f"{endpoint.name} (ComfyUI server)"
            return [card]
    return [card_for(endpoint, str(c), "checkpoint", error) for c in checkpoints] + \
        [card_for(endpoint, str(name), "lora", error) for name in loras]


def server_cards(settings: Settings | None = None) -> list[ModelCard]:
    from concurrent.futures import ThreadPoolExecutor

    endpoints = comfy_endpoints(settings)
    if not endpoints:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(endpoints)), thread_name_prefix="studio-comfy") as pool:
        cards = [card for cards in pool.map(cards_of, endpoints) for card in cards]
    for endpoint in endpoints:
        if any(c.error and c.extra.get("server") == endpoint.name for c in cards):
            _watch(endpoint, settings)
    return cards


# --- automatic reconnect: a server that went away is asked again until it answers --------------------------
WATCH_INTERVAL_S = 2.0
WATCH_FOR_S = 3600.0
_watched: set[str] = set()


def _watch(endpoint: Endpoint, settings: Settings | None) -> None:
    """Ask ``endpoint`` every few seconds (for at most an hour) until it answers, then rescan the
    models so its cards come back; stops when the server is no longer listed."""
    with _lock:
        if endpoint.name in _watched:
            return
        _watched.add(endpoint.name)

    def loop() -> None:
        from studio.engines.image.comfy.client import DISCOVERY_TIMEOUT

        give_up = time.monotonic() + WATCH_FOR_S
        try:
            while time.monotonic() < give_up:
                time.sleep(WATCH_INTERVAL_S)
                if endpoint not in comfy_endpoints(settings):
                    return
                try:
                    with ComfyClient(endpoint, DISCOVERY_TIMEOUT) as client:
                        client.object_info()
                except StudioError:
                    continue
                break
            else:
                return
        finally:
            with _lock:
                _watched.discard(endpoint.name)
        log.info("ComfyUI server %s is back: rescanning models", endpoint.name)
        from studio.engines import context

        context.model_manager().refresh()

    threading.Thread(target=loop, daemon=True, name=f"studio-comfy-watch-{endpoint.name}").start()


def _server_gone(exc: StudioError) -> None:
    """A job found the server away: rescan in the background so its cards grey out (and are watched)."""
    if "unreachable" not in str(exc) and "lost the connection" not in str(exc):
        return

    def rescan() -> None:
        from studio.engines import context

        context.model_manager().refresh()

    threading.Thread(target=rescan, daemon=True, name="studio-comfy-rescan").start()


def endpoint_for(card: ModelCard) -> Endpoint:
    name = str(card.extra.get("server", ""))
    try:
        endpoint = servers.store().get(name)
    except StudioError:
        raise StudioError(f"the server {name!r} of {card.name} is no longer listed; add it in Settings > "
                          "Servers") from None
    return endpoint


def result_timeout() -> float:
    try:
        value = servers.store().settings.get(TIMEOUT_SETTING, DEFAULT_RESULT_TIMEOUT_S)
        return max(1.0, float(value))
    except (TypeError, ValueError):
        return DEFAULT_RESULT_TIMEOUT_S
