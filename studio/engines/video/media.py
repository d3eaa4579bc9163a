"""Reading media for the timeline and the video engines: probing a file,
decoding its frames (sequentially, or at any time with a seek), decoding its
audio resampled to the mix format, and downscaled proxy frames for
scrubbing and thumbnails.

Everything goes through PyAV (FFmpeg) except still images, which Pillow
reads. Frames are HxWx3 uint8 RGB arrays; audio is a (channels, samples)
float32 array in -1..1."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from studio.core.jobs import CancelToken, StudioError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".m4a", ".aac", ".opus"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif"}
MIX_RATE = 48000
MIX_CHANNELS = 2


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    kind: str  # "video", "image" or "audio"
    width: int = 0
    height: int = 0
    frame_count: int = 0  # 0 for still images and audio
    fps: float = 0.0
    duration_s: float = 0.0  # 0 for still images (they last as long as their clip)
    has_audio: bool = False

    def frames_at(self, fps: float) -> int:
        """The media's length in frames of a timeline running at ``fps`` (0: unlimited)."""
        return int(math.ceil(self.duration_s * fps - 1e-6)) if self.duration_s else 0


def media_kind(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise StudioError(f"{Path(path).name}: not a video, image or audio file Studio can read")


def probe(path: Path) -> MediaInfo:
    """What a media file holds, without decoding it (a clear error if it cannot be read)."""
    path = Path(path)
    if not path.is_file():
        raise StudioError(f"media file not found: {path}")
    kind = media_kind(path)
    if kind == "image":
        from PIL import Image

        try:
            with Image.open(path) as image:
                return MediaInfo(path, "image", image.width, image.height)
        except OSError as exc:
            raise StudioError(f"{path.name}: unreadable image ({exc})") from exc
    import av

    try:
        with av.open(str(path)) as container:
            has_audio = bool(container.streams.audio)
            if kind == "audio" or not container.streams.video:
                duration = _container_duration(container)
                return MediaInfo(path, "audio", duration_s=duration, has_audio=has_audio)
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 24)
            frames = int(stream.frames or 0)
            duration = float(stream.duration * stream.time_base) if stream.duration else _container_duration(container)
            if not frames:
                frames = max(1, round(duration * fps))
            duration = duration or frames / fps
            return MediaInfo(path, "video", stream.codec_context.width, stream.codec_context.height, frames, fps,
                             frames / fps, has_audio)
    except av.error.FFmpegError as exc:
        raise StudioError(f"{path.name}: unreadable media ({exc})") from exc


def _container_duration(container) -> float:
    return float(container.duration / 1_000_000) if container.duration else 0.0


def read_image(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if size is not None and image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(image).copy()


def iter_frames(path: Path, size: tuple[int, int] | None = None, cancel: CancelToken | None = None
                ) -> Iterator[np.ndarray]:
    """Every frame of a video (or the one frame of an image), in order."""
    path = Path(path)
    if media_kind(path) == "image":
        yield read_image(path, size)
        return
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield _to_rgb(frame, size)


def read_frames(path: Path, size: tuple[int, int] | None = None, cancel: CancelToken | None = None
                ) -> list[np.ndarray]:
    return list(iter_frames(path, size, cancel))


def _to_rgb(frame, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (frame.width, frame.height) == tuple(size):
        return frame.to_ndarray(format="rgb24")
    return frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled to fit ``max_side`` (even sides, never enlarged)."""
    scale = min(1.0, max_side / max(width, height, 1))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


SEEK_AHEAD_S = 2.0  # a request further ahead than this seeks instead of decoding through


class VideoReader:
    """Frames of one video by time, decoding forward and seeking only when a
    request jumps backward or far ahead (export and playback read in order,
    so they almost never seek). Frames are converted to RGB only when asked
    for, so decoding through skipped frames stays cheap."""

    def __init__(self, path: Path, size: tuple[int, int] | None = None) -> None:
        import av

        self.path = Path(path)
        self.size = size
        self._container = av.open(str(self.path))
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._base = self._stream.time_base or Fraction(1, 1000)
        rate = self._stream.average_rate or self._stream.guessed_rate or 24
        self._half_frame = 0.5 / float(rate)
        self._decoder: Iterator | None = None
        self._current = None  # (start time, decoded frame)
        self._pending = None  # a frame decoded ahead of the last request
        self._pixels: tuple[object, np.ndarray] | None = None  # the converted frame and its pixels

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _seek(self, time_s: float) -> None:
        self._container.seek(int(max(0.0, time_s) / self._base), stream=self._stream, backward=True)
        self._decoder = self._container.decode(self._stream)
        self._current = self._pending = None

    def _next(self):
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self._decoder is None:
            self._decoder = self._container.decode(self._stream)
        return next(self._decoder, None)

    def _rgb(self, frame) -> np.ndarray:
        if self._pixels is None or self._pixels[0] is not frame:
            self._pixels = (frame, _to_rgb(frame, self.size))
        return self._pixels[1]

    def frame_at(self, time_s: float) -> np.ndarray:
        """The frame showing at ``time_s`` as RGB pixels: the last one starting
        before ``time_s`` plus half a frame (the last frame past the end)."""
        return self._rgb(self.decoded_at(time_s))

    def decoded_at(self, time_s: float):
        """The same frame as the decoder made it (a PyAV frame, usually YUV):
        an exporter can hand it to the encoder without two colour conversions."""
        current = self._current
        if current is not None and abs(time_s - current[0]) < self._half_frame:
            return current[1]
        reference = current[0] if current is not None else 0.0
        if time_s < reference or time_s - reference > SEEK_AHEAD_S:
            self._seek(time_s)
        while True:
            frame = self._next()
            if frame is None:
                if self._current is None:
                    raise StudioError(f"{self.path.name}: no frame at {time_s:.2f} s")
                return self._current[1]
            start = float(frame.pts * self._base) if frame.pts is not None else 0.0
            if start > time_s + self._half_frame and self._current is not None:
                self._pending = frame
                return self._current[1]
            self._current = (start, frame)
            if start >= time_s - self._half_frame:
                return frame


def read_audio(path: Path, sample_rate: int = MIX_RATE, channels: int = MIX_CHANNELS,
               cancel: CancelToken | None = None) -> np.ndarray:
    """All of a file's first audio stream as (channels, samples) float32 at ``sample_rate``."""
    chunks = list(iter_audio(path, sample_rate, channels, cancel))
    if not chunks:
        return np.zeros((channels, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32)


def iter_audio(path: Path, sample_rate: int = MIX_RATE, channels: int = MIX_CHANNELS,
               cancel: CancelToken | None = None) -> Iterator[np.ndarray]:
    """The same samples as ``read_audio``, as (channels, n) float32 chunks in
    the order they decode: an exporter mixes a long file without holding it."""
    import av

    layout = "stereo" if channels == 2 else "mono"
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
            for frame in container.decode(stream):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                for out in resampler.resample(frame):
                    yield out.to_ndarray()
            for out in resampler.resample(None):
                yield out.to_ndarray()
    except av.error.FFmpegError as exc:
        raise StudioError(f"{Path(path).name}: unreadable audio ({exc})") from exc


def waveform_peaks(samples: np.ndarray, buckets: int) -> np.ndarray:
    """(buckets, 2) min/max of the channel-mixed signal, for drawing a waveform."""
    mono = samples.mean(0) if samples.ndim == 2 else samples
    if buckets <= 0 or mono.size == 0:
        return np.zeros((max(buckets, 0), 2), dtype=np.float32)
    edges = np.linspace(0, mono.size, buckets + 1).astype(np.int64)
    peaks = np.zeros((buckets, 2), dtype=np.float32)
    for index in range(buckets):
        part = mono[edges[index]:max(edges[index + 1], edges[index] + 1)]
        if part.size:
            peaks[index] = (part.min(), part.max())
    return peaks


ProxyProgress = Callable[[int, int], None]


def build_proxy(path: Path, max_side: int = 480, cancel: CancelToken | None = None,
                progress: ProxyProgress | None = None) -> np.ndarray:
    """Every frame of ``path`` downscaled to fit ``max_side``: an (N, h, w, 3)
    uint8 array that scrubbing and thumbnails read without decoding."""
    info = probe(path)
    size = fit_size(info.width, info.height, max_side)
    if info.kind == "image":
        return read_image(path, size)[None]
    frames = []
    for index, frame in enumerate(iter_frames(path, size, cancel)):
        frames.append(frame)
        if progress is not None and index % 8 == 0:
            progress(index + 1, info.frame_count)
    if not frames:
        raise StudioError(f"{Path(path).name}: no video frames")
    return np.stack(frames)
