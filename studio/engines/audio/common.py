"""What the audio engines share: the preview chunk they stream, encoding a
sample buffer to WAV or FLAC, and the Artifact they return.

The contract with the Audio workspace:

- ``report.preview`` receives :class:`AudioChunk` objects: float32 numpy
  arrays of shape ``(n,)`` (mono) or ``(n, channels)``, at the artifact's
  sample rate, in order. Each also carries ``sample_rate`` and ``start`` (the
  frame at which it begins in the final audio), so a chunk the GUI did not
  receive shows up as a gap rather than shifting what follows. The chunks of
  one job, placed at their ``start``, are exactly the final audio.
- the artifact is a WAV (16-bit PCM) or FLAC file; ``meta["sample_rate"]`` and
  ``meta["channels"]`` describe it and the recipe records them too.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

from studio.core.jobs import Artifact, Reporter, StudioError

PEAK_CEILING = 0.89  # -1 dBFS: leaves room for the 16-bit encoder's rounding


class AudioChunk(np.ndarray):
    """A float32 block of samples that knows its sample rate and position."""

    stream_part = True  # every chunk must reach the GUI (see studio.core.jobs.is_stream_part)
    sample_rate: int
    start: int

    def __new__(cls, samples: np.ndarray, sample_rate: int, start: int) -> AudioChunk:
        chunk = np.ascontiguousarray(samples, dtype=np.float32).view(cls)
        chunk.sample_rate = int(sample_rate)
        chunk.start = int(start)
        return chunk

    def __array_finalize__(self, obj: Any) -> None:
        self.sample_rate = getattr(obj, "sample_rate", 0)
        self.start = getattr(obj, "start", 0)


class ChunkStreamer:
    """Streams audio to a reporter as it is made.

    ``push`` sends each block as one chunk unless ``min_interval_s`` is set,
    in which case blocks are gathered until that much wall time has passed;
    fast renderers use it so the GUI, which shows previews at about 30 a
    second, receives few large chunks rather than many it would have to drop.
    """

    def __init__(self, report: Reporter, sample_rate: int, min_interval_s: float = 0.0) -> None:
        self.report = report
        self.sample_rate = sample_rate
        self.min_interval_s = min_interval_s
        self.frames_sent = 0
        self._pending: list[np.ndarray] = []
        self._last_sent = 0.0

    def push(self, block: np.ndarray) -> None:
        if not len(block):
            return
        self._pending.append(block)
        if time.monotonic() - self._last_sent >= self.min_interval_s:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        samples = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending = []
        self.report.preview(AudioChunk(samples, self.sample_rate, self.frames_sent))
        self.frames_sent += len(samples)
        self._last_sent = time.monotonic()


def soft_limit(samples: np.ndarray, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """Leave samples under ``ceiling`` untouched and bend louder ones smoothly
    towards 1.0; stateless, so a block limited alone equals the same block
    limited inside the whole piece (previews match the file)."""
    out = np.asarray(samples, dtype=np.float32).copy()
    over = np.abs(out) > ceiling
    if over.any():
        headroom = 1.0 - ceiling
        excess = np.abs(out[over]) - ceiling
        out[over] = np.sign(out[over]) * (ceiling + headroom * np.tanh(excess / headroom))
    return out


def normalise_peak(samples: np.ndarray, peak: float = PEAK_CEILING) -> np.ndarray:
    """Scale so the loudest sample sits at ``peak``; silence stays silence."""
    loudest = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if loudest < 1e-9:
        return np.zeros_like(samples, dtype=np.float32)
    return (samples * (peak / loudest)).astype(np.float32)


def encode_audio(samples: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """WAV (16-bit PCM) or FLAC (16-bit) bytes of a float buffer in -1..1."""
    import soundfile

    if fmt not in ("wav", "flac"):
        raise StudioError(f"cannot write audio as {fmt!r}; choose wav or flac")
    samples = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, int(sample_rate), format=fmt.upper(), subtype="PCM_16")
    return buffer.getvalue()


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Float32 samples ``(n,)`` or ``(n, channels)`` and the rate of WAV/FLAC bytes."""
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples, int(rate)


def audio_artifact(samples: np.ndarray, sample_rate: int, fmt: str, recipe: dict[str, Any]) -> Artifact:
    """The artifact for a finished buffer: encoded, with its length, rate and
    channel count in ``meta`` and in the embedded recipe."""
    samples = np.asarray(samples, dtype=np.float32)
    if not len(samples):
        raise StudioError("the engine produced no audio")
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    audio_info = {"sample_rate": int(sample_rate), "channels": channels, "frames": len(samples)}
    return Artifact(
        data=encode_audio(samples, sample_rate, fmt),
        suffix="." + fmt,
        duration_s=len(samples) / sample_rate,
        meta={**audio_info, "recipe": {**recipe, "audio": audio_info}},
    )


def seconds_to_frames(seconds: float, sample_rate: int) -> int:
    return max(0, int(round(seconds * sample_rate)))
