"""Recognising model files and folders by their content, without loading
weights: diffusers and transformers folders, single-file safetensors
(checkpoint or LoRA), GGUF, Piper ONNX voices, SoundFonts, frame
interpolators (RIFE weights by their tensor names; RIFE/FILM ONNX exports by
their name or a ``.model.json`` card), and pickled torch files (which are
only accepted when ``torch.load(weights_only=True)`` can read them; anything
that needs full unpickling is refused with a reason)."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio.core.models.cards import ModelCard, card_id

PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".tar"}
RIFE_WEIGHTS = "flownet.pkl"  # what Practical-RIFE releases, inside a train_log folder
_IFNET_FIRST_CONV = re.compile(r"^(module\.)?block0\.conv0\.0\.0\.weight$")
_INTERPOLATOR_NAME = re.compile(r"(^|[^a-z])(rife|film)", re.IGNORECASE)
SAFETENSORS_HEADER_LIMIT = 100 * 1024 * 1024

_PIPELINE_MODALITY = (
    ("video", ("Video", "AnimateDiff", "CogVideo", "LTX", "Wan", "I2VGen", "Mochi", "Hunyuan")),
    ("audio", ("Audio", "MusicLDM", "StableAudio")),
    ("image", ("Diffusion", "Flux", "Kandinsky", "PixArt", "Sana", "Wuerstchen", "Pipeline")),
)
_TEXT_ARCH = ("CausalLM", "LMHeadModel", "ForConditionalGeneration")
_AUDIO_ARCH = ("Vits", "SpeechT5", "Bark", "Musicgen", "Wav2Vec", "Whisper", "Encodec")


class FormatError(ValueError):
    """The file looks like a model but is damaged or unsupported."""


def folder_size(path: Path) -> int:
    """Bytes under ``path`` (0 for what cannot be read: a broken link, a file
    removed while counting)."""
    try:
        if path.is_file():
            return path.stat().st_size
        total = 0
        for child in path.rglob("*"):
            try:
                if child.is_file():
                    total += child.stat().st_size
            except OSError:
                continue
        return total
    except OSError:
        return 0


def read_safetensors_header(path: Path) -> dict:
    """The JSON header of a .safetensors file; raises FormatError if damaged.

    Every field is untrusted: the header must be a table whose entries each
    name a dtype, a shape of non-negative integers and two data offsets that
    lie, in order, inside the file's data section."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise FormatError("file is too short to be safetensors")
        (length,) = struct.unpack("<Q", raw)
        if length <= 0 or length > min(size - 8, SAFETENSORS_HEADER_LIMIT):
            raise FormatError("safetensors header length is invalid (damaged or not safetensors)")
        try:
            header = json.loads(handle.read(length))
        except (ValueError, RecursionError) as exc:
            raise FormatError(f"safetensors header is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a table of tensors")
    data_size = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict):
                raise FormatError("safetensors __metadata__ is not a table")
            continue
        if not isinstance(entry, dict):
            raise FormatError(f"safetensors entry {name[:60]!r} is not a tensor description")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str):
            raise FormatError(f"tensor {name[:60]!r} has no dtype")
        if not isinstance(shape, list) or not all(_is_count(dim) for dim in shape):
            raise FormatError(f"tensor {name[:60]!r} has an invalid shape")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets)
                or offsets[0] > offsets[1]):
            raise FormatError(f"tensor {name[:60]!r} has invalid data offsets")
        if offsets[1] > data_size:
            raise FormatError("safetensors file is truncated (a tensor lies past the end of the file)")
    return header


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _Reader:
    """Bounded reads from a file: every length read from the file is checked
    against what is left before anything is allocated or skipped."""

    def __init__(self, handle, size: int, what: str) -> None:
        self.handle, self.size, self.what = handle, size, what

    @property
    def left(self) -> int:
        return self.size - self.handle.tell()

    def read(self, count: int) -> bytes:
        if count < 0 or count > self.left:
            raise FormatError(f"{self.what} is truncated or a length in it is invalid")
        return self.handle.read(count)

    def skip(self, count: int) -> None:
        if count < 0 or count > self.left:
            raise FormatError(f"{self.what} is truncated or a length in it is invalid")
        self.handle.seek(count, 1)

    def unpack(self, fmt: str) -> Any:
        values = struct.unpack(fmt, self.read(struct.calcsize(fmt)))
        return values[0] if len(values) == 1 else values


# GGUF value types: fixed sizes, 8 = string, 9 = array.
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_MAX_KEYS = 64  # enough to reach general.architecture / general.name


def read_gguf_header(path: Path) -> dict[str, Any]:
    """Version, counts and the ``general.*`` strings of a GGUF file; raises
    FormatError when a field is out of range or points past the end."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        reader = _Reader(handle, size, "GGUF header")
        if handle.read(4) != b"GGUF":
            raise FormatError("not a GGUF file (bad magic number)")
        version = reader.unpack("<I")
        if version not in (1, 2, 3):
            raise FormatError(f"unsupported GGUF version {version}")
        wide = version >= 2
        count_fmt = "<Q" if wide else "<I"
        tensors, kv_count = reader.unpack(count_fmt), reader.unpack(count_fmt)
        # Each tensor info and each key/value pair takes at least 8 bytes.
        if tensors * 8 > size or kv_count * 8 > size:
            raise FormatError("GGUF header counts are larger than the file (damaged)")
        info: dict[str, Any] = {"version": version, "tensors": tensors, "metadata": kv_count}

        def string() -> bytes:
            return reader.read(reader.unpack(count_fmt))

        def value(kind: int, depth: int = 0) -> Any:
            if kind in _GGUF_SIZES:
                return reader.read(_GGUF_SIZES[kind])
            if kind == 8:
                return string()
            if kind == 9 and depth == 0:
                item_kind, count = reader.unpack("<I"), reader.unpack(count_fmt)
                if item_kind in _GGUF_SIZES:
                    reader.skip(count * _GGUF_SIZES[item_kind])
                    return None
                if count > reader.left // 8:
                    raise FormatError("GGUF array is longer than the file")
                for _ in range(count):
                    value(item_kind, depth + 1)
                return None
            raise FormatError(f"GGUF metadata has an unknown value type {kind}")

        for _ in range(min(kv_count, _GGUF_MAX_KEYS)):
            key = string().decode("utf-8", "replace")
            kind = reader.unpack("<I")
            result = value(kind)
            if key in ("general.architecture", "general.name", "general.type") and isinstance(result, bytes) \
                    and kind == 8:
                info[key] = result.decode("utf-8", "replace")[:200]
            if "general.architecture" in info and "general.name" in info:
                break
    return info


def check_onnx(path: Path) -> dict[str, Any]:
    """Walk the top-level protobuf fields of an ONNX model (without a runtime):
    every field's wire type and length must fit the file, and a graph must be
    there. Returns ``producer`` and ``ir_version`` when present."""
    size = path.stat().st_size
    info: dict[str, Any] = {}
    with open(path, "rb") as handle:
        reader = _Reader(handle, size, "ONNX file")

        def varint() -> int:
            result = shift = 0
            while True:
                (byte,) = reader.read(1)
                result |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    return result
                shift += 7
                if shift > 63:
                    raise FormatError("ONNX file has an overlong number (damaged)")

        if size == 0:
            raise FormatError("ONNX file is empty")
        fields = 0
        while reader.left > 0:
            key = varint()
            number, wire = key >> 3, key & 7
            if number == 0:
                raise FormatError("ONNX file has a field numbered 0 (damaged or not ONNX)")
            if wire == 0:
                number_value = varint()
                if number == 1:
                    info["ir_version"] = number_value
            elif wire == 1:
                reader.skip(8)
            elif wire == 5:
                reader.skip(4)
            elif wire == 2:
                length = varint()
                if number == 2 and length <= 256:
                    info["producer"] = reader.read(length).decode("utf-8", "replace")
                else:
                    reader.skip(length)
                if number == 7:
                    info["graph"] = True
            else:
                raise FormatError(f"ONNX file has an invalid field (wire type {wire}; damaged or not ONNX)")
            fields += 1
            if fields > 100_000:
                raise FormatError("ONNX file has too many top-level fields (damaged or not ONNX)")
    if "graph" not in info:
        raise FormatError("ONNX file holds no graph")
    return info


def check_soundfont(path: Path) -> None:
    """A SoundFont is a RIFF ``sfbk`` whose chunks fit, in order, inside it,
    with the preset data (``pdta``) that a synthesiser needs."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise FormatError("not a SoundFont (missing RIFF sfbk header)")
        (riff_size,) = struct.unpack("<I", head[4:8])
        if riff_size < 4 or riff_size + 8 > size:
            raise FormatError("SoundFont is truncated (its RIFF size is larger than the file)")
        end = 8 + riff_size
        offset = 12
        lists: list[bytes] = []
        while offset + 8 <= end:
            handle.seek(offset)
            chunk = handle.read(12)
            kind, length = chunk[:4], struct.unpack("<I", chunk[4:8])[0]
            if offset + 8 + length > end:
                raise FormatError(f"SoundFont chunk {kind!r} runs past the end of the file")
            if kind == b"LIST" and length >= 4:
                lists.append(chunk[8:12])
            offset += 8 + length + (length % 2)
    if b"pdta" not in lists:
        raise FormatError("SoundFont has no preset data (pdta)")


def read_json_table(path: Path, what: str) -> dict[str, Any]:
    """A JSON file that must hold an object; FormatError otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise FormatError(f"{what} unreadable: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise FormatError(f"{what} is not a JSON object")
    return data


def classify_diffusers(folder: Path, source: str) -> ModelCard:
    card = ModelCard(card_id(folder.name, folder), folder.name, "image", "diffusers", folder, source=source)
    try:
        index = read_json_table(folder / "model_index.json", "model_index.json")
    except FormatError as exc:
        card.error = str(exc)
        return card
    card.architecture = str(index.get("_class_name", ""))[:200]
    for modality, words in _PIPELINE_MODALITY:
        if any(word in card.architecture for word in words):
            card.modality = modality
            break
    return card


def classify_transformers(folder: Path, source: str) -> ModelCard:
    card = ModelCard(card_id(folder.name, folder), folder.name, "", "transformers", folder, source=source)
    try:
        config = read_json_table(folder / "config.json", "config.json")
    except FormatError as exc:
        card.error = str(exc)
        return card
    architectures = config.get("architectures")
    if not isinstance(architectures, list) or not architectures:
        architectures = [config.get("model_type", "")]
    card.architecture = str(architectures[0])[:200]
    if any(word.lower() in card.architecture.lower() for word in _AUDIO_ARCH):
        card.modality = "audio"
    elif any(word in card.architecture for word in _TEXT_ARCH) or str(config.get("model_type")) in ("gpt2", "llama"):
        card.modality = "text"
    if not any(folder.glob("*.safetensors")):
        if any(folder.glob("*.bin")):
            card.error = "weights are only in pickle (.bin) form; convert them to safetensors to use them"
        else:
            card.error = "no weights (.safetensors) in this folder"
    return card


def is_ifnet(keys: Iterable[Any]) -> bool:
    """Whether tensor names are those of a RIFE IFNet (``block0.conv0 ...``,
    ``lastconv``; with or without the ``module.`` prefix)."""
    names = [str(key) for key in keys]
    return any(_IFNET_FIRST_CONV.match(name) for name in names) and any(".lastconv" in name for name in names)


def rife_card(path: Path, source: str) -> ModelCard:
    """A RIFE weights file, named after its folder (or the folder above a
    ``train_log`` folder) when the file has the generic name ``flownet``."""
    folder = path.parent
    name = path.stem
    if name.lower() == "flownet":
        name = folder.parent.name if folder.name.lower() == "train_log" and folder.parent.name else folder.name
    card = ModelCard(card_id(name, path), name, "video", "rife", path, source=source, architecture="rife",
                     description="Frame interpolation (RIFE IFNet): in-between frames for retiming clips")
    card.size_bytes = path.stat().st_size
    return card


def classify_rife(path: Path, source: str) -> ModelCard:
    """A card for Practical-RIFE's ``flownet.pkl``, read only as weights."""
    card = rife_card(path, source)
    state, card.error = load_pickle_safely(path)
    if not card.error and not (isinstance(state, dict) and is_ifnet(state)):
        card.error = "not a RIFE IFNet state dict (no block0.conv0 and lastconv weights)"
    return card


def classify_file(path: Path, source: str, lora_folder: bool = False) -> ModelCard | None:
    """A card for a single model file, or None if the file is not a model."""
    suffix = path.suffix.lower()
    name = path.stem
    if suffix == ".safetensors":
        card = ModelCard(card_id(name, path), name, "image", "safetensors", path, source=source)
        try:
            header = read_safetensors_header(path)
        except (OSError, FormatError) as exc:
            card.error = f"unreadable safetensors file: {exc}"
            return card
        keys = [k for k in header if k != "__metadata__"]
        if is_ifnet(keys):
            return rife_card(path, source)
        if lora_folder or any("lora" in k.lower() for k in keys[:200]):
            card.format = "lora"
        card.extra["tensors"] = len(keys)
        return card
    if suffix == ".gguf":
        card = ModelCard(card_id(name, path), name, "text", "gguf", path, source=source)
        try:
            info = read_gguf_header(path)
        except FormatError as exc:
            card.error = str(exc) if "magic" in str(exc) else f"GGUF file could not be read: {exc}"
            return card
        if info.get("general.type") == "adapter":
            return None  # a llama.cpp LoRA adapter: not a model of its own (a text LoRA's card uses it)
        card.extra["gguf_version"] = info["version"]
        if info.get("general.architecture"):
            card.architecture = info["general.architecture"]
        return card
    if suffix == ".onnx" and path.with_name(path.name + ".json").exists():
        card = ModelCard(card_id(name, path), name, "audio", "onnx-voice", path, source=source)
        card.architecture = "piper"
        try:
            config = read_json_table(path.with_name(path.name + ".json"), "voice config (.onnx.json)")
            audio = config.get("audio", {})
            rate = audio.get("sample_rate", 22050) if isinstance(audio, dict) else None
            if not _is_count(rate) or not 1000 <= rate <= 384000:
                raise FormatError("voice config (.onnx.json) has no valid audio.sample_rate")
            check_onnx(path)
        except FormatError as exc:
            card.error = str(exc)
        return card
    if suffix == ".onnx":
        # Which ONNX graphs interpolate frames cannot be told without a runtime:
        # the name (rife..., film...) says so, or a .model.json card beside it.
        named = _INTERPOLATOR_NAME.search(name)
        if named:
            card = ModelCard(card_id(name, path), name, "video", "onnx-interpolator", path, source=source,
                             architecture=f"{named.group(2).lower()}-onnx",
                             description="Frame interpolation (ONNX): in-between frames for retiming clips")
        elif path.with_suffix(".model.json").exists():
            card = ModelCard(card_id(name, path), name, "", "onnx", path, source=source)
        else:
            return None
        try:
            check_onnx(path)
        except FormatError as exc:
            card.error = str(exc)
        return card
    if suffix in (".sf2", ".sf3"):
        card = ModelCard(card_id(name, path), name, "audio", "soundfont", path, source=source)
        try:
            check_soundfont(path)
        except FormatError as exc:
            card.error = str(exc)
        return card
    if suffix in PICKLE_SUFFIXES:
        card = ModelCard(card_id(name, path), name, "", "torch-state-dict", path, source=source)
        state, card.error = load_pickle_safely(path)
        if not card.error and isinstance(state, dict) and is_ifnet(state):
            return rife_card(path, source)  # RIFE weights renamed (rife46.pth and the like)
        return card
    return None


def load_pickle_safely(path: Path) -> tuple[Any, str]:
    """What ``torch.load(weights_only=True)`` reads from the file (memory-mapped
    where it can be) and an empty reason, or None and why it cannot be read.

    Only the restricted unpickler runs, so no code in the file executes."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True), ""
    except Exception:  # noqa: BLE001 - any failure means "not safe to load"
        try:  # legacy (non-zip) files cannot be memory-mapped; retry without
            return torch.load(path, map_location="cpu", weights_only=True), ""
        except Exception as exc:  # noqa: BLE001
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return None, f"skipped: pickle file is not loadable safely with weights_only=True ({reason[:160]})"


def check_pickle_safe(path: Path) -> str:
    """Empty if ``torch.load(weights_only=True)`` reads the file, else why not."""
    return load_pickle_safely(path)[1]
