"""Rendering a timeline: the picture at any frame (the topmost unmuted video
track that has a clip there, crossfades mixed in) and the mix of the audio
tracks, for export and for the preview.

Where the pixels come from is a ``FrameSource``: export uses
``DecodingSource`` (full-size frames decoded in order from the media files);
the timeline widget passes one that reads downscaled proxies, so the same
rules render both.

The mix comes whole (``mix_audio``, for the preview's cached audio) or as
consecutive chunks (``iter_mix``, for export: each file is decoded as the
mix reaches it, so a long export never holds a whole file or the whole
mix); both give the same samples."""

from __future__ import annotations

from typing import Iterator, Protocol

import numpy as np

from studio.core.jobs import CancelToken
from studio.engines.video import media as media_io
from studio.engines.video.timeline import Clip, Project, Track


class FrameSource(Protocol):
    def frame(self, clip: Clip, time_s: float, size: tuple[int, int]) -> np.ndarray | None:
        """The clip's media at ``time_s`` seconds into it, fitted to ``size`` (w, h)."""


def source_time(clip: Clip, frame: int, fps: float) -> float:
    """Seconds into the clip's media shown at timeline ``frame`` (past the
    clip's end for a crossfade's outgoing side; held at the media's last frame)."""
    offset = clip.source_in + (frame - clip.start)
    if clip.source_frames:
        offset = min(offset, clip.source_frames - 1)
    return max(offset, 0) / fps


def layers_at(project: Project, frame: int) -> list[tuple[Clip, float, float]]:
    """What makes the picture at ``frame``: (clip, media time, weight) pairs
    of the topmost unmuted video track with a clip there (two during a
    crossfade, weights summing to 1). Empty when nothing is there."""
    for track in project.tracks:  # the first track in the list is the top of the stack
        if track.kind != "video" or track.muted:
            continue
        clip = track.clip_at(frame)
        if clip is None:
            continue
        return _with_transition(track, clip, frame, project.fps)
    return []


def _with_transition(track: Track, clip: Clip, frame: int, fps: float) -> list[tuple[Clip, float, float]]:
    into = frame - clip.start
    if clip.transition != "crossfade" or into >= clip.transition_frames:
        return [(clip, source_time(clip, frame, fps), 1.0)]
    weight = (into + 1) / (clip.transition_frames + 1)
    layers = [(clip, source_time(clip, frame, fps), weight)]
    previous = track.previous_clip(clip)
    if previous is not None and previous.end == clip.start:
        layers.insert(0, (previous, source_time(previous, frame, fps), 1.0 - weight))
    # With nothing right before it, the clip fades in from black: its weight stays below 1.
    return layers


def fit_frame(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` scaled to fit ``size`` (w, h) keeping its aspect, centred on black."""
    import cv2

    width, height = size
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return pixels
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(pixels, (new_w, new_h), interpolation=interpolation)
    if (new_w, new_h) == (width, height):
        return resized
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    canvas[y:y + new_h, x:x + new_w] = resized
    return canvas


def render_frame(project: Project, frame: int, source: FrameSource, size: tuple[int, int] | None = None
                 ) -> np.ndarray:
    """The timeline's picture at ``frame`` as HxWx3 uint8 (black where empty)."""
    size = size or (project.width, project.height)
    layers = layers_at(project, frame)
    if len(layers) == 1 and layers[0][2] == 1.0:
        pixels = source.frame(layers[0][0], layers[0][1], size)
        return pixels if pixels is not None else np.zeros((size[1], size[0], 3), dtype=np.uint8)
    mixed = np.zeros((size[1], size[0], 3), dtype=np.float32)
    for clip, time_s, weight in layers:
        pixels = source.frame(clip, time_s, size)
        if pixels is not None:
            mixed += weight * pixels.astype(np.float32)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


class DecodingSource:
    """Full-size frames from the media files, decoded in order (one reader per file)."""

    def __init__(self) -> None:
        self._readers: dict[str, media_io.VideoReader] = {}
        self._images: dict[tuple[str, tuple[int, int]], np.ndarray] = {}

    def frame(self, clip: Clip, time_s: float, size: tuple[int, int]) -> np.ndarray | None:
        if clip.media_kind == "image":
            key = (clip.media, size)
            if key not in self._images:
                self._images[key] = fit_frame(media_io.read_image(clip.media), size)
            return self._images[key]
        reader = self._readers.get(clip.media)
        if reader is None:
            reader = self._readers[clip.media] = media_io.VideoReader(clip.media)
        return fit_frame(reader.frame_at(time_s), size)

    def passthrough(self, clip: Clip, time_s: float, size: tuple[int, int]):
        """The decoder's own frame when it can go to the encoder as it is (a
        video clip already at ``size`` in 4:2:0): else None."""
        if clip.media_kind != "video":
            return None
        reader = self._readers.get(clip.media)
        if reader is None:
            reader = self._readers[clip.media] = media_io.VideoReader(clip.media)
        frame = reader.decoded_at(time_s)
        if (frame.width, frame.height) == tuple(size) and frame.format.name == "yuv420p":
            return frame
        return None

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        self._images.clear()


class AudioCache:
    """Decoded audio of media files, resampled to the mix format once each."""

    def __init__(self, sample_rate: int = media_io.MIX_RATE) -> None:
        self.sample_rate = sample_rate
        self._samples: dict[str, np.ndarray] = {}

    def samples(self, path: str, cancel: CancelToken | None = None) -> np.ndarray:
        if path not in self._samples:
            self._samples[path] = media_io.read_audio(path, self.sample_rate, cancel=cancel)
        return self._samples[path]


def mix_audio(project: Project, start: int = 0, end: int | None = None, cache: AudioCache | None = None,
              cancel: CancelToken | None = None) -> np.ndarray:
    """The unmuted audio tracks mixed over timeline frames ``start..end``:
    (2, samples) float32 at the cache's rate, limited to -1..1."""
    cache = cache or AudioCache()
    rate = cache.sample_rate
    end = project.duration if end is None else end
    first = int(round(start / project.fps * rate))
    total = max(0, int(round(end / project.fps * rate)) - first)
    mix = np.zeros((media_io.MIX_CHANNELS, total), dtype=np.float32)
    for track in project.tracks:
        if track.kind != "audio" or track.muted:
            continue
        for clip in track.clips:
            _add_clip_audio(mix, first, track, clip, project.fps, cache, cancel)
    return np.clip(mix, -1.0, 1.0)


MIX_CHUNK_S = 1.0  # seconds of mix per chunk that iter_mix yields


def _clip_plan(track: Track, clip: Clip, fps: float, rate: int) -> tuple[int, int, int, int, int]:
    """Where a clip's audio goes, in samples: (timeline begin, length,
    offset into the file, fade-in, fade-out) before clamping to the file."""
    fade = clip.transition_frames if clip.transition == "crossfade" else 0
    nxt = next((c for c in track.clips if c.start == clip.end and c.transition == "crossfade"), None)
    tail = nxt.transition_frames if nxt is not None else 0  # this clip plays on under the next one's fade-in
    begin = int(round(clip.start / fps * rate))
    length = int(round((clip.duration + tail) / fps * rate))
    offset = int(round(clip.source_in / fps * rate))
    return begin, length, offset, int(round(fade / fps * rate)), int(round(tail / fps * rate))


def _add_clip_audio(mix: np.ndarray, first: int, track: Track, clip: Clip, fps: float, cache: AudioCache,
                    cancel: CancelToken | None) -> None:
    rate = cache.sample_rate
    samples = cache.samples(clip.media, cancel)
    begin, length, offset, fade_in, fade_out = _clip_plan(track, clip, fps, rate)
    piece = samples[:, offset:offset + length]
    if piece.shape[1] == 0:
        return
    envelope = np.full(piece.shape[1], clip.gain, dtype=np.float32)
    fade_in = min(fade_in, piece.shape[1])
    if fade_in:
        envelope[:fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)
    fade_out = min(fade_out, piece.shape[1])
    if fade_out:
        envelope[-fade_out:] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)
    lo, hi = begin - first, begin - first + piece.shape[1]
    clip_lo, clip_hi = max(lo, 0), min(hi, mix.shape[1])
    if clip_hi <= clip_lo:
        return
    mix[:, clip_lo:clip_hi] += (piece * envelope)[:, clip_lo - lo:clip_hi - lo]


class _ClipAudio:
    """One clip's enveloped samples (gain, fades) read in order from a
    stream of decoded chunks. It reads ahead by the longer fade, so the
    fade-out lands on the piece's real end (a file shorter than its clip)."""

    def __init__(self, chunks: Iterator[np.ndarray], offset: int, length: int, gain: float, fade_in: int,
                 fade_out: int) -> None:
        self._chunks = chunks
        self._skip = offset
        self._length = length
        self._gain = gain
        self._fades = (fade_in, fade_out)
        self._buffer = np.zeros((media_io.MIX_CHANNELS, 0), dtype=np.float32)
        self._have = 0  # samples of the piece read from the file so far
        self._pos = 0  # samples of the piece handed out
        self._end: int | None = None  # the piece's length, once known

    def _fill(self, upto: int) -> None:
        parts = [self._buffer]
        while self._end is None and self._have < upto:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._end = self._have
                break
            if self._skip:
                drop = min(self._skip, chunk.shape[1])
                chunk, self._skip = chunk[:, drop:], self._skip - drop
            take = min(chunk.shape[1], self._length - self._have)
            parts.append(chunk[:, :take])
            self._have += take
            if self._have >= self._length:
                self._end = self._length
        if len(parts) > 1:
            self._buffer = np.concatenate(parts, axis=1)

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` samples (fewer only where the piece ends)."""
        fade_in, fade_out = self._fades
        self._fill(self._pos + count + max(fade_in, fade_out))
        end = self._end
        take = count if end is None else max(0, min(count, end - self._pos))
        raw, self._buffer = self._buffer[:, :take], self._buffer[:, take:]
        envelope = np.full(take, self._gain, dtype=np.float32)
        positions = np.arange(self._pos, self._pos + take)
        # Until the end is known it lies beyond every fade: the clamps below are the whole-file ones.
        fade_in = min(fade_in, end) if end is not None else fade_in
        if fade_in and take:
            inside = positions < fade_in
            envelope[inside] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)[positions[inside]]
        if end is not None and take:
            fade_out = min(fade_out, end)
            if fade_out:
                inside = positions >= end - fade_out
                envelope[inside] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)[
                    positions[inside] - (end - fade_out)]
        self._pos += take
        return raw * envelope

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def iter_mix(project: Project, start: int = 0, end: int | None = None, sample_rate: int = media_io.MIX_RATE,
             cancel: CancelToken | None = None, chunk_s: float = MIX_CHUNK_S) -> Iterator[np.ndarray]:
    """``mix_audio``'s samples as consecutive (2, n) float32 chunks of about
    ``chunk_s`` seconds. Each clip's file is decoded only while the mix is
    inside the clip, so memory stays a few chunks whatever the length."""
    fps = project.fps
    end = project.duration if end is None else end
    first = int(round(start / fps * sample_rate))
    total = max(0, int(round(end / fps * sample_rate)) - first)
    step = max(1, int(round(chunk_s * sample_rate)))
    plans = []  # [lo, hi, clip, plan, reader] in mix order (tracks, then clips)
    for track in project.tracks:
        if track.kind != "audio" or track.muted:
            continue
        for clip in track.clips:
            plan = _clip_plan(track, clip, fps, sample_rate)
            lo = plan[0] - first
            if plan[1] > 0 and lo + plan[1] > 0 and lo < total:
                plans.append([lo, lo + plan[1], clip, plan, None])
    try:
        for a in range(0, total, step):
            b = min(a + step, total)
            mix = np.zeros((media_io.MIX_CHANNELS, b - a), dtype=np.float32)
            for entry in plans:
                lo, hi, clip, plan, reader = entry
                if hi <= a or lo >= b:
                    continue
                if reader is None:
                    chunks = media_io.iter_audio(clip.media, sample_rate, cancel=cancel)
                    reader = entry[4] = _ClipAudio(chunks, plan[2], plan[1], clip.gain, plan[3], plan[4])
                    for skipped in range(0, max(0, a - lo), step):  # the clip began before the range
                        reader.read(min(step, a - lo - skipped))
                begin = max(lo, a)
                piece = reader.read(min(b, hi) - begin)
                mix[:, begin - a:begin - a + piece.shape[1]] += piece
                if piece.shape[1] < min(b, hi) - begin:  # the file ended: nothing more from it
                    entry[1] = a
                if entry[1] <= b:
                    reader.close()
            yield np.clip(mix, -1.0, 1.0)
    finally:
        for entry in plans:
            if entry[4] is not None:
                entry[4].close()
