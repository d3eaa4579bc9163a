"""Which engine runs which request kind.

Each entry names modules by string so that nothing heavy is imported until a
job of that kind runs: the request module is light (dataclasses only); the
engine module may import torch, diffusers or transformers."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from studio.core.jobs import Engine, Request, StudioError, UnknownRequest
from studio.core.models.cards import ModelCard
from studio.core.services import open_services
from studio.engines import context
from studio.engines.named import resolve


@dataclass(frozen=True)
class EngineEntry:
    kind: str
    modality: str
    title: str
    request_module: str
    engine: str  # "module:function"


# One line per engine; each modality keeps its entries under its own comment.
# The first entry of a modality is its workspace's default engine.
_ENTRIES = (
    # image engines
    EngineEntry("image", "image", "Diffusion", "studio.engines.image.requests", "studio.engines.image.engine:run"),
    EngineEntry("gan", "image", "GAN", "studio.engines.image.requests", "studio.engines.image.gan:run"),
    EngineEntry("upscale", "image", "Upscale 2x / 4x", "studio.engines.image.requests",
                "studio.engines.image.upscale:run"),
    EngineEntry("pattern", "image", "Procedural pattern (test engine)",
                "studio.engines.pattern", "studio.engines.pattern:run"),
    # personalisation: trained from the Personalise dialogs and `studio train`, not from a workspace's picker
    EngineEntry("lora", "training", "Image LoRA training (Personalise)", "studio.engines.image.personalise_requests",
                "studio.engines.image.personalise:run"),
    EngineEntry("text-lora", "training", "Text LoRA training (Personalise)",
                "studio.engines.text.personalise_requests", "studio.engines.text.personalise:run"),
    # text engines
    EngineEntry("text", "text", "Chat (transformers)", "studio.engines.text.requests",
                "studio.engines.text.engine:run"),
    # audio engines
    EngineEntry("speech", "audio", "Speech (Piper, eSpeak NG, VITS/SpeechT5/Bark)",
                "studio.engines.audio.requests", "studio.engines.audio.speech.engine:run"),
    EngineEntry("music", "audio", "Music (composer + SoundFont, MusicGen)",
                "studio.engines.audio.requests", "studio.engines.audio.music.engine:run"),
    EngineEntry("sfx", "audio", "Sound effects (procedural foley, AudioLDM / Stable Audio)",
                "studio.engines.audio.requests", "studio.engines.audio.sfx.engine:run"),
    # video engines
    EngineEntry("video", "video", "Clip (GAN walk, diffusion keyframes, video models)",
                "studio.engines.video.requests", "studio.engines.video.generate:run"),
    EngineEntry("video-edit", "video", "Frame-consistency edit", "studio.engines.video.requests",
                "studio.engines.video.engine:run_edit"),
    EngineEntry("video-export", "video", "Timeline export", "studio.engines.video.requests",
                "studio.engines.video.engine:run_export"),
)
ENGINES: dict[str, EngineEntry] = {entry.kind: entry for entry in _ENTRIES}


def load_request_types() -> None:
    for entry in ENGINES.values():
        importlib.import_module(entry.request_module)


def engine_for(request: Request) -> Engine:
    kind = request.raw.get("kind") if isinstance(request, UnknownRequest) else request.kind
    entry = ENGINES.get(kind)
    if entry is None:
        raise StudioError(f"no installed engine runs {kind!r} jobs")
    return resolve(entry.engine)


def kinds_for(modality: str) -> list[EngineEntry]:
    return [entry for entry in ENGINES.values() if entry.modality == modality]


def open_studio_services(paths=None):
    """Open the shared services with every request type registered, so queued
    jobs and library recipes come back as their real request classes."""
    load_request_types()
    services = open_services(paths)
    settings = services.settings

    def server_cards() -> list[ModelCard]:  # the models of the remote text servers in Settings
        if not settings.get("servers.endpoints"):
            return []  # no server listed: not even an import
        return resolve("studio.engines.text.remote:server_cards")(settings)

    services.models.add_card_source(server_cards)

    def comfy_cards() -> list[ModelCard]:  # the checkpoints and LoRAs of the ComfyUI servers in Settings
        listed = settings.get("servers.endpoints") or []
        if not any(isinstance(e, dict) and e.get("kind") == "comfyui" for e in listed):
            return []  # no ComfyUI server listed: not even an import
        return resolve("studio.engines.image.comfy.servers:server_cards")(settings)

    services.models.add_card_source(comfy_cards)
    context.set_model_manager(services.models)
    return services


# What one modality's engines use of another's, named by string (see
# studio.engines.named): video keyframes are drawn by the image engine's
# diffusion pipelines, loaded through the shared model manager.
def image_pipeline(card: ModelCard) -> Any:
    """``card``'s text-to-image pipeline, as the image engine loads it."""
    return resolve("studio.engines.image.engine:loaded_pipeline")(card)


def image_pipeline_for_mode(pipe: Any, mode: str, name: str = "") -> Any:
    """The ``img2img``/``inpaint`` variant of an image pipeline, sharing its components."""
    return resolve("studio.engines.image.pipelines:for_mode")(pipe, mode, name)
