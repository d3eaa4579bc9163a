"""What the audio engine tests share: a reporter that records what an
engine streams, and measurements of the audio it returns."""

from __future__ import annotations

import numpy as np

from studio.core.jobs import Artifact
from studio.engines.audio.common import decode_audio


class Recorder:
    """A Reporter keeping every progress call and preview chunk."""

    def __init__(self) -> None:
        self.progress_calls: list[tuple[int, int, str]] = []
        self.chunks: list[np.ndarray] = []

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.progress_calls.append((done, total, message))

    def preview(self, payload) -> None:
        self.chunks.append(payload)

    def streamed(self) -> np.ndarray:
        """The chunks placed end to end, after checking they were in order."""
        position = 0
        for chunk in self.chunks:
            assert chunk.start == position, "chunks arrived out of order or with a gap"
            position += len(chunk)
        return np.concatenate(self.chunks)


def samples_of(artifact: Artifact) -> tuple[np.ndarray, int]:
    return decode_audio(artifact.data)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency, refined between FFT bins by parabolic interpolation."""
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    peak = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[peak - 1:peak + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (peak + offset) * rate / len(mono)


def spectral_centroid(samples: np.ndarray, rate: int) -> float:
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono))
    freqs = np.fft.rfftfreq(len(mono), 1 / rate)
    return float(np.sum(freqs * spectrum) / np.sum(spectrum))


def voiced_pitch(samples: np.ndarray, rate: int, low: float = 60.0, high: float = 500.0) -> float:
    """Median fundamental of the loud frames, from their autocorrelation peak."""
    frame = int(0.04 * rate)
    level = rms(samples)
    pitches = []
    for start in range(0, len(samples) - frame, frame):
        piece = samples[start:start + frame]
        if rms(piece) < level:
            continue
        piece = piece - piece.mean()
        corr = np.correlate(piece, piece, "full")[frame - 1:]
        lo, hi = int(rate / high), int(rate / low)
        lag = lo + int(np.argmax(corr[lo:hi]))
        pitches.append(rate / lag)
    return float(np.median(pitches))
