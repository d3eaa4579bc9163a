"""Recipes and the AI-generated mark, embedded in every artifact file and read
back from it.

Each format carries the recipe (the request that made it plus model and tool
details) where that format's own readers look for metadata:

- PNG: a ``studio:recipe`` iTXt chunk (JSON), an A1111-style ``parameters``
  text chunk when the recipe supplies one, and XMP declaring the IPTC digital
  source type ``trainedAlgorithmicMedia``.
- WAV: a ``LIST``/``INFO`` chunk (``ICMT`` holds the JSON, ``ISFT`` the tool).
- FLAC: Vorbis comments ``STUDIO_RECIPE`` and ``COMMENT=AI-generated``.
- Text (.md, .txt): a first-line HTML comment holding the JSON.
- JSON documents (a saved conversation, a project): a top-level
  ``studio:recipe`` key, so the file stays valid JSON.
- MP4 / MOV / MKV / WebM video: the container's ``comment`` tag holds the
  JSON (written by the video exporter), read here through PyAV; a
  ``<file>.recipe.json`` sidecar beside it as well.
- Anything else: a ``<file>.recipe.json`` sidecar.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

from studio.core.jobs import StudioError

RECIPE_KEY = "studio:recipe"
AI_MARK = "AI-generated"
IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
TEXT_SUFFIXES = {".md", ".txt"}
CONTAINER_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".m4v"}
_TEXT_PREFIX = "<!-- studio:recipe "
_TEXT_SUFFIX = " -->\n"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class DamagedFile(StudioError):
    """The file is structurally broken (truncated, corrupted): the message says how."""


def embed(data: bytes, suffix: str, recipe: dict[str, Any]) -> bytes:
    """Return ``data`` with ``recipe`` and the AI-generated mark embedded."""
    recipe = {**recipe, "ai_generated": True}
    suffix = suffix.lower()
    if suffix == ".png":
        return _png_embed(data, recipe)
    if suffix == ".wav":
        return _wav_embed(data, recipe)
    if suffix == ".flac":
        return _flac_embed(data, recipe)
    if suffix == ".json":
        document = json.loads(data.decode("utf-8"))
        if not isinstance(document, dict):
            raise StudioError("a JSON artifact must be an object to carry its recipe")
        return json.dumps({RECIPE_KEY: recipe, **document}, ensure_ascii=False, indent=1).encode("utf-8")
    if suffix in TEXT_SUFFIXES:
        header = _TEXT_PREFIX + json.dumps(recipe, separators=(",", ":")) + _TEXT_SUFFIX
        return header.encode("utf-8") + data
    return data


def needs_sidecar(suffix: str) -> bool:
    return suffix.lower() not in {".png", ".wav", ".flac", ".json", *TEXT_SUFFIXES}


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".recipe.json")


def read_recipe(path: Path) -> dict[str, Any]:
    """The recipe embedded in an artifact file; a clear error if it has none."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StudioError(f"cannot read {path}: {exc.strerror or exc}") from exc
    suffix = path.suffix.lower()
    data = skip_id3(data)  # a FLAC may start with an ID3 tag (Content Credentials put theirs there)
    damage = find_damage(data, suffix, path)
    if damage:
        raise DamagedFile(f"{path.name} is damaged: {damage}")
    try:
        recipe = _read_embedded(data, suffix, path)
        if recipe is None and sidecar_path(path).exists():
            recipe = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError, struct.error, IndexError) as exc:
        raise StudioError(f"{path.name} has a damaged recipe ({type(exc).__name__}: {str(exc)[:100]})") from None
    except OSError as exc:
        raise StudioError(f"cannot read the recipe of {path.name}: {exc.strerror or exc}") from None
    if recipe is None:
        raise StudioError(f"{path.name} carries no Studio recipe")
    if not isinstance(recipe, dict):
        raise StudioError(f"{path.name} has a damaged recipe (not a JSON object)")
    return recipe


def skip_id3(data: bytes) -> bytes:
    """``data`` without a leading ID3v2 tag (sizes are syncsafe integers)."""
    if data[:3] != b"ID3" or len(data) < 10:
        return data
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | (byte & 0x7F)
    end = 10 + size + (10 if data[5] & 0x10 else 0)
    return data[end:] if end <= len(data) else data


def find_damage(data: bytes, suffix: str, path: Path) -> str:
    """What is structurally wrong with a PNG, WAV, FLAC or video file (an
    empty string when nothing is): truncation, chunk sizes that point past
    the end, a missing end marker, a container that cannot be opened."""
    if not data:
        return "the file is empty"
    if data.startswith(_PNG_MAGIC) or suffix == ".png":
        if not data.startswith(_PNG_MAGIC):
            return "not a PNG file (bad signature)"
        offset, seen_end = len(_PNG_MAGIC), False
        while offset + 8 <= len(data):
            (length,) = struct.unpack(">I", data[offset:offset + 4])
            kind = data[offset + 4:offset + 8]
            if offset + 12 + length > len(data):
                return f"PNG chunk {kind.decode('latin-1')!r} at byte {offset} runs past the end (truncated file)"
            body = data[offset + 8:offset + 8 + length]
            (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
            if crc != zlib.crc32(kind + body):
                return f"PNG chunk {kind.decode('latin-1')!r} at byte {offset} fails its checksum (corrupted data)"
            offset += 12 + length
            if kind == b"IEND":
                seen_end = True
                break
        if not seen_end:
            return "PNG has no IEND chunk (truncated file)"
        return ""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE" or suffix == ".wav":
        if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            return "not a WAV file (no RIFF WAVE header)"
        (riff,) = struct.unpack("<I", data[4:8])
        if riff + 8 > len(data):
            return f"WAV is truncated ({len(data)} bytes, its header says {riff + 8})"
        offset, found = 12, set()
        while offset + 8 <= min(len(data), riff + 8):
            kind = data[offset:offset + 4]
            (size,) = struct.unpack("<I", data[offset + 4:offset + 8])
            if offset + 8 + size > len(data):
                return f"WAV chunk {kind.decode('latin-1')!r} at byte {offset} runs past the end (truncated file)"
            found.add(kind)
            offset += 8 + size + (size % 2)
        if b"fmt " not in found or b"data" not in found:
            return "WAV has no " + ("fmt" if b"fmt " not in found else "data") + " chunk"
        return ""
    if data[:4] == b"fLaC" or suffix == ".flac":
        if data[:4] != b"fLaC":
            return "not a FLAC file (bad signature)"
        offset = 4
        while True:
            if offset + 4 > len(data):
                return "FLAC metadata is truncated"
            last, kind = bool(data[offset] & 0x80), data[offset] & 0x7F
            length = int.from_bytes(data[offset + 1:offset + 4], "big")
            if kind == 127 or offset + 4 + length > len(data):
                return f"FLAC metadata block at byte {offset} is invalid or runs past the end"
            offset += 4 + length
            if last:
                break
        if offset + 2 > len(data) or data[offset] != 0xFF or data[offset + 1] & 0xFC != 0xF8:
            return "FLAC has no audio frames after its metadata (truncated or corrupted)"
        return _flac_audio_damage(data)
    if suffix in CONTAINER_SUFFIXES:
        return _container_damage(path)
    return ""


def _flac_audio_damage(data: bytes) -> str:
    """Whether the FLAC's audio decodes to the end and to the length its
    STREAMINFO block promises (a file cut mid-audio has sound metadata)."""
    import io

    import soundfile

    promised = 0
    if data[4] & 0x7F == 0 and len(data) >= 8 + 18:  # STREAMINFO first, as FLAC requires
        info = data[8:8 + 18]
        promised = ((info[13] & 0x0F) << 32) | int.from_bytes(info[14:18], "big")  # 36 bits; 0: unknown
    decoded = 0
    try:
        for block in soundfile.blocks(io.BytesIO(data), blocksize=65536, dtype="int16"):
            decoded += len(block)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        return f"FLAC audio does not decode ({str(exc).strip().rstrip('.')}): truncated or corrupted"
    if promised and decoded < promised:
        return f"FLAC audio ends early ({decoded} of {promised} samples): truncated file"
    return ""


def _container_damage(path: Path) -> str:
    try:
        import av
    except ImportError:
        return ""
    try:
        with av.open(str(path)) as container:
            if not container.streams:
                return "the container holds no streams"
            stream = container.streams.video[0] if container.streams.video else container.streams[0]
            for count, packet in enumerate(container.demux(stream)):
                if count >= 2:
                    break
    except (OSError, ValueError, av.error.FFmpegError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"cannot be opened as a video ({reason[:120]})"
    return ""


def _read_embedded(data: bytes, suffix: str, path: Path) -> dict[str, Any] | None:
    recipe: dict[str, Any] | None = None
    if data.startswith(_PNG_MAGIC):
        recipe = _png_read(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        recipe = _wav_read(data)
    elif data[:4] == b"fLaC":
        recipe = _flac_read(data)
    elif suffix == ".json":
        try:
            document = json.loads(data.decode("utf-8"))
        except ValueError:
            document = None
        recipe = document.get(RECIPE_KEY) if isinstance(document, dict) else None
    elif suffix in TEXT_SUFFIXES:
        recipe = _text_read(data)
    elif suffix in CONTAINER_SUFFIXES:
        recipe = read_container_recipe(path)
    return recipe


def read_container_recipe(path: Path) -> dict[str, Any] | None:
    """The recipe in a video container's ``comment`` tag (None if it has none)."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            text = container.metadata.get("comment", "")
    except (OSError, ValueError, av.error.FFmpegError):
        return None
    try:
        recipe = json.loads(text) if text else None
    except ValueError:
        return None
    return recipe if isinstance(recipe, dict) else None


def strip_text_header(data: bytes) -> bytes:
    """The text artifact's body, without the recipe line."""
    text = data.decode("utf-8")
    if text.startswith(_TEXT_PREFIX):
        end = text.find(_TEXT_SUFFIX)
        if end >= 0:
            return text[end + len(_TEXT_SUFFIX):].encode("utf-8")
    return data


# --- PNG -------------------------------------------------------------------

def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _itxt(keyword: str, text: str) -> bytes:
    # keyword, null, compression flag 0, method 0, empty language, empty translated keyword
    body = keyword.encode("latin-1") + b"\0\0\0" + b"\0" + b"\0" + text.encode("utf-8")
    return _png_chunk(b"iTXt", body)


def _xmp_packet() -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<Iptc4xmpExt:DigitalSourceType>{IPTC_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{AI_MARK} with Studio'
        "</rdf:li></rdf:Alt></dc:description>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _png_chunks(data: bytes):
    if not data.startswith(_PNG_MAGIC):
        raise StudioError("not a PNG file")
    offset = len(_PNG_MAGIC)
    while offset + 8 <= len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        yield offset, kind, body, offset + 12 + length
        offset += 12 + length


def _png_embed(data: bytes, recipe: dict[str, Any]) -> bytes:
    extra = _itxt(RECIPE_KEY, json.dumps(recipe, separators=(",", ":")))
    if recipe.get("parameters"):
        extra += _png_chunk(b"tEXt", b"parameters\0" + str(recipe["parameters"]).encode("latin-1", "replace"))
    extra += _itxt("XML:com.adobe.xmp", _xmp_packet())
    for offset, kind, _body, _end in _png_chunks(data):
        if kind == b"IEND":
            return data[:offset] + extra + data[offset:]
    raise StudioError("PNG data has no IEND chunk")


def _png_read(data: bytes) -> dict[str, Any] | None:
    found: dict[str, Any] | None = None
    parameters = None
    for _offset, kind, body, _end in _png_chunks(data):
        if kind == b"iTXt" and body.startswith(RECIPE_KEY.encode() + b"\0"):
            text = body.split(b"\0", 5)[-1]
            found = json.loads(text.decode("utf-8"))
        elif kind == b"tEXt" and body.startswith(b"parameters\0"):
            parameters = body.split(b"\0", 1)[1].decode("latin-1")
    if found is None and parameters is not None:
        return {"parameters": parameters}
    return found


# --- WAV -------------------------------------------------------------------

def _wav_embed(data: bytes, recipe: dict[str, Any]) -> bytes:
    def sub(tag: bytes, text: str) -> bytes:
        raw = text.encode("utf-8") + b"\0"
        if len(raw) % 2:
            raw += b"\0"
        return tag + struct.pack("<I", len(raw)) + raw

    info = b"INFO" + sub(b"ICMT", json.dumps(recipe, separators=(",", ":"))) + sub(b"ISFT", f"Studio ({AI_MARK})")
    chunk = b"LIST" + struct.pack("<I", len(info)) + info
    body = data[12:] + chunk
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def _wav_read(data: bytes) -> dict[str, Any] | None:
    offset = 12
    while offset + 8 <= len(data):
        kind = data[offset:offset + 4]
        (size,) = struct.unpack("<I", data[offset + 4:offset + 8])
        if kind == b"LIST" and data[offset + 8:offset + 12] == b"INFO":
            inner = offset + 12
            end = offset + 8 + size
            while inner + 8 <= end:
                tag = data[inner:inner + 4]
                (length,) = struct.unpack("<I", data[inner + 4:inner + 8])
                if tag == b"ICMT":
                    text = data[inner + 8:inner + 8 + length].rstrip(b"\0").decode("utf-8")
                    return json.loads(text)
                inner += 8 + length + (length % 2)
        offset += 8 + size + (size % 2)
    return None


# --- FLAC ------------------------------------------------------------------

def _flac_blocks(data: bytes):
    offset = 4
    while offset + 4 <= len(data):
        header = data[offset]
        last = bool(header & 0x80)
        kind = header & 0x7F
        length = int.from_bytes(data[offset + 1:offset + 4], "big")
        yield offset, kind, last, data[offset + 4:offset + 4 + length]
        offset += 4 + length
        if last:
            return


def _flac_embed(data: bytes, recipe: dict[str, Any]) -> bytes:
    comments = [f"STUDIO_RECIPE={json.dumps(recipe, separators=(',', ':'))}", f"COMMENT={AI_MARK}"]
    vendor = b"Studio"
    body = struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(comments))
    for comment in comments:
        raw = comment.encode("utf-8")
        body += struct.pack("<I", len(raw)) + raw
    kept = []
    audio_start = 4
    for offset, kind, last, block in _flac_blocks(data):
        audio_start = offset + 4 + len(block)
        if kind != 4:  # drop any existing VORBIS_COMMENT; ours replaces it
            kept.append((kind, block))
    kept.append((4, body))
    out = bytearray(b"fLaC")
    for index, (kind, block) in enumerate(kept):
        flag = 0x80 if index == len(kept) - 1 else 0
        out += bytes([flag | kind]) + len(block).to_bytes(3, "big") + block
    return bytes(out) + data[audio_start:]


def _flac_read(data: bytes) -> dict[str, Any] | None:
    for _offset, kind, _last, block in _flac_blocks(data):
        if kind != 4:
            continue
        (vendor_len,) = struct.unpack("<I", block[:4])
        pos = 4 + vendor_len
        (count,) = struct.unpack("<I", block[pos:pos + 4])
        pos += 4
        for _ in range(count):
            (length,) = struct.unpack("<I", block[pos:pos + 4])
            comment = block[pos + 4:pos + 4 + length].decode("utf-8")
            pos += 4 + length
            if comment.startswith("STUDIO_RECIPE="):
                return json.loads(comment.split("=", 1)[1])
    return None


# --- text ------------------------------------------------------------------

def _text_read(data: bytes) -> dict[str, Any] | None:
    text = data.decode("utf-8", errors="replace")
    if not text.startswith(_TEXT_PREFIX):
        return None
    end = text.find(_TEXT_SUFFIX)
    return json.loads(text[len(_TEXT_PREFIX):end]) if end > 0 else None
