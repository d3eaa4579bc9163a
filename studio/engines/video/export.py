"""Writing video: MP4 (H.264, with an AAC audio track when there is sound),
a PNG sequence, animated WebP or GIF, each carrying the recipe and the
AI-generated mark in the container's own metadata.

Every writer works on a temp name beside the destination and renames it
into place only when the last frame is written, so a cancelled or failed
export never leaves a broken file (and an earlier file of that name stays
whole). Frames arrive as an iterator, so a long timeline is encoded without
holding it in memory.

The timeline as OpenTimelineIO lives in ``otio``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from studio.core.atomic import atomic_output
from studio.core.jobs import CancelToken, StudioError
from studio.core.provenance import AI_MARK, embed

EXPORT_FORMATS = ("mp4", "png", "webp", "gif")
CRF = 18  # visually lossless for generated footage at a modest size
PRESET = "fast"
AUDIO_BITRATE = 192_000
AUDIO_FRAME = 1024  # AAC encodes 1024 samples per frame

Progress = Callable[[int, int], None]


def recipe_text(recipe: dict[str, Any] | None) -> str:
    return json.dumps({**(recipe or {}), "ai_generated": True}, separators=(",", ":"), ensure_ascii=False)


Audio = "np.ndarray | Iterable[np.ndarray]"


def write_mp4(path: Path, frames: Iterable[np.ndarray], fps: float, total: int = 0,
              audio: Audio | None = None, sample_rate: int = 48000, recipe: dict[str, Any] | None = None,
              cancel: CancelToken | None = None, progress: Progress | None = None) -> int:
    """Encode ``frames`` (HxWx3 uint8, or PyAV frames, all one size) as H.264 in an MP4, with
    ``audio`` ((2, samples) float32, or an iterable of such chunks read only
    as far as the video written so far) muxed in as AAC when given. The recipe
    goes in the ``comment`` tag and the AI-generated mark in ``description``.
    Returns the number of frames written."""
    with atomic_output(Path(path)) as temp:
        return _encode_mp4(temp, frames, fps, total, audio, sample_rate, recipe, cancel, progress)


def _encode_mp4(temp: Path, frames: Iterable[np.ndarray], fps: float, total: int, audio: Audio | None,
                sample_rate: int, recipe: dict[str, Any] | None, cancel: CancelToken | None,
                progress: Progress | None) -> int:
    from fractions import Fraction

    import av

    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise StudioError("nothing to export: the clip has no frames")
    rate = Fraction(fps).limit_denominator(1001)
    container = av.open(str(temp), mode="w", format="mp4")
    try:
        container.metadata["comment"] = recipe_text(recipe)
        container.metadata["description"] = f"{AI_MARK} with Studio"
        width, height = (first.width, first.height) if hasattr(first, "width") else (first.shape[1], first.shape[0])
        video = _video_stream(container, rate, width, height)
        sound = _AudioTrack.open(container, audio, sample_rate) if audio is not None else None
        written = 0
        for pixels in _chain(first, frames):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if isinstance(pixels, np.ndarray):
                frame = av.VideoFrame.from_ndarray(_even(pixels), format="rgb24")
            else:  # a decoded frame passed through (see render.iter_timeline_frames)
                frame = pixels
                # The source's I/P/B decisions would be forced on the encoder: let it choose.
                frame.pict_type = av.video.frame.PictureType.NONE
            frame.pts = written
            frame.time_base = 1 / rate
            for packet in video.encode(frame):
                container.mux(packet)
            written += 1
            if sound is not None:  # interleave: audio up to the video written so far
                sound.encode_until(written / float(rate))
            if progress is not None:
                progress(written, total)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            sound.finish()
    finally:
        container.close()
    return written


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _video_stream(container, rate, width: int, height: int):
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height = width - width % 2, height - height % 2
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": str(CRF), "preset": PRESET}
    # A keyframe every second keeps seeking (scrubbing, random access) cheap.
    stream.codec_context.gop_size = max(1, round(float(rate)))
    return stream


def _even(pixels: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: drop an odd last row/column."""
    h, w = pixels.shape[:2]
    if h % 2 or w % 2:
        pixels = pixels[:h - h % 2, :w - w % 2]
    return np.ascontiguousarray(pixels)


class _AudioTrack:
    """An AAC stream fed in 1024-sample frames from (2, samples) float32
    chunks, pulled from their iterator only as far as each frame needs."""

    def __init__(self, container, chunks: Iterator[np.ndarray], first: np.ndarray, sample_rate: int) -> None:
        self.container = container
        self.stream = container.add_stream("aac", rate=sample_rate)
        self.stream.layout = "stereo"
        self.stream.bit_rate = AUDIO_BITRATE
        self.sample_rate = sample_rate
        self.offset = 0
        self._chunks = chunks
        self._buffer = _stereo(first)
        self._exhausted = False

    @classmethod
    def open(cls, container, audio: Audio, sample_rate: int) -> _AudioTrack | None:
        """The track, or None when ``audio`` holds no samples at all."""
        chunks = iter([audio]) if isinstance(audio, np.ndarray) else iter(audio)
        for first in chunks:
            if np.asarray(first).size:
                return cls(container, chunks, first, sample_rate)
        return None

    def _take(self) -> np.ndarray:
        while self._buffer.shape[1] < AUDIO_FRAME and not self._exhausted:
            more = next(self._chunks, None)
            if more is None:
                self._exhausted = True
            else:
                self._buffer = np.concatenate([self._buffer, _stereo(more)], axis=1)
        chunk, self._buffer = self._buffer[:, :AUDIO_FRAME], self._buffer[:, AUDIO_FRAME:]
        return np.ascontiguousarray(chunk)

    def encode_until(self, time_s: float | None) -> None:
        """Encode the samples up to ``time_s`` (None: all that are left)."""
        import av

        limit = None if time_s is None else int(time_s * self.sample_rate)
        while limit is None or self.offset < limit:
            chunk = self._take()
            if not chunk.shape[1]:
                break
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = self.sample_rate
            frame.pts = self.offset
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            self.offset += chunk.shape[1]

    def finish(self) -> None:
        self.encode_until(None)
        for packet in self.stream.encode():
            self.container.mux(packet)


def _stereo(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    return np.repeat(samples, 2, axis=0) if samples.shape[0] == 1 else samples[:2]


def read_mp4_recipe(path: Path) -> dict[str, Any] | None:
    """The recipe an MP4 written here carries in its metadata (None if none)."""
    from studio.core.provenance import read_container_recipe

    return read_container_recipe(path)


def write_png_sequence(folder: Path, frames: Iterable[np.ndarray], total: int = 0,
                       recipe: dict[str, Any] | None = None, cancel: CancelToken | None = None,
                       progress: Progress | None = None, prefix: str = "frame") -> int:
    """One PNG per frame (``frame_00000.png`` ...) in ``folder``, each carrying
    the recipe and, when this installation signs, its own C2PA manifest (the
    recipe's sources, a timeline's clips, as placed ingredients); the folder
    appears whole or not at all."""
    from studio.core.credentials import sequence_signer
    from studio.core.images import encode_png

    signer = sequence_signer(recipe)
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise StudioError(f"{folder} is not empty: choose a new folder for the PNG sequence")
    if folder.exists():
        folder.rmdir()
    count = 0
    with atomic_output(folder) as temp:
        temp.mkdir()
        for pixels in frames:
            if cancel is not None:
                cancel.raise_if_cancelled()
            data = encode_png(np.ascontiguousarray(pixels))
            if recipe is not None:
                frame_recipe = {**recipe, "frame": count}
                data = embed(data, ".png", frame_recipe)
                if signer is not None:
                    data = signer.sign(data, ".png", frame_recipe)
            (temp / f"{prefix}_{count:05d}.png").write_bytes(data)
            count += 1
            if progress is not None:
                progress(count, total)
        if not count:
            raise StudioError("nothing to export: the clip has no frames")
    return count


def write_animation(path: Path, frames: Iterable[np.ndarray], fps: float, total: int = 0,
                    recipe: dict[str, Any] | None = None, cancel: CancelToken | None = None,
                    progress: Progress | None = None, max_side: int = 0) -> int:
    """An animated WebP or GIF (by ``path``'s suffix), looping, with the
    recipe in its metadata (GIF comment, WebP XMP)."""
    from PIL import Image

    suffix = Path(path).suffix.lower()
    if suffix not in (".webp", ".gif"):
        raise StudioError(f"animations are .webp or .gif, not {suffix or 'no suffix'}")
    images = []
    for pixels in frames:
        if cancel is not None:
            cancel.raise_if_cancelled()
        image = Image.fromarray(np.ascontiguousarray(pixels))
        if max_side and max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        images.append(image if suffix == ".webp" else image.quantize(256, dither=Image.Dither.NONE))
        if progress is not None:
            progress(len(images), total)
    if not images:
        raise StudioError("nothing to export: the clip has no frames")
    duration = max(10, int(round(1000 / fps)))  # GIF counts in 10 ms ticks
    text = recipe_text(recipe)
    options: dict[str, Any] = {"save_all": True, "append_images": images[1:], "duration": duration, "loop": 0}
    if suffix == ".gif":
        options["comment"] = f"{AI_MARK} with Studio {text}".encode("utf-8")
    else:
        options.update(quality=90, method=4, xmp=_xmp(text).encode("utf-8"))
    with atomic_output(Path(path)) as temp:
        with open(temp, "wb") as handle:
            images[0].save(handle, format=suffix[1:].upper(), **options)
    return len(images)


def _xmp(recipe_json: str) -> str:
    from xml.sax.saxutils import escape

    from studio.core.provenance import IPTC_SOURCE_TYPE

    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<Iptc4xmpExt:DigitalSourceType>{IPTC_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(recipe_json)}</rdf:li></rdf:Alt>'
        "</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def encode_to_bytes(suffix: str, writer: Callable[[Path], Any]) -> bytes:
    """Run ``writer(path)`` on a temp file with ``suffix`` and return its bytes
    (engines hand the library bytes; encoders need a seekable file)."""
    with tempfile.TemporaryDirectory(prefix="studio-video-") as folder:
        path = Path(folder) / f"clip{suffix}"
        writer(path)
        return path.read_bytes()
