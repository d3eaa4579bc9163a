"""Signal building blocks of the procedural foley, in numpy: coloured
noise, FFT-domain filters (static filters are a multiply in the spectrum,
which is exact and fast for whole buffers), band-split noise whose bands
can be faded independently (moving filters for wind and whooshes), event
placement by convolution, envelopes, and an algorithmic reverb.

Every function that needs randomness takes a ``numpy.random.Generator`` so
a preset seeded once is reproducible end to end."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

Rng = np.random.Generator


def times(n: int, rate: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / rate


def white(n: int, rng: Rng) -> np.ndarray:
    return rng.standard_normal(n)


def shape_spectrum(x: np.ndarray, rate: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Filter ``x`` by multiplying its spectrum with ``gain(frequencies)``."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    return np.fft.irfft(spectrum * gain(freqs), n=len(x))


def coloured(n: int, rate: int, rng: Rng, slope: float) -> np.ndarray:
    """Noise whose power falls as 1/f**slope (0 white, 1 pink, 2 brown), at unit RMS."""
    x = shape_spectrum(white(n, rng), rate, lambda f: 1.0 / np.maximum(f, 20.0) ** (slope / 2))
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def band(x: np.ndarray, rate: int, low: float, high: float, softness: float = 0.25) -> np.ndarray:
    """Band-pass with smooth (log-frequency) edges; ``low`` 0 makes it a low-pass."""
    def gain(f: np.ndarray) -> np.ndarray:
        logf = np.log2(np.maximum(f, 1.0))
        rise = 1.0 if low <= 0 else 1 / (1 + np.exp(-(logf - np.log2(low)) / softness))
        fall = 1 / (1 + np.exp((logf - np.log2(high)) / softness))
        return rise * fall
    return shape_spectrum(x, rate, gain)


def tilt(x: np.ndarray, rate: int, brightness: float) -> np.ndarray:
    """Spectral tilt around 1 kHz: brightness 0.5 is flat, 0 dull (-6 dB per
    octave), 1 bright (+6 dB per octave, capped)."""
    slope = (brightness - 0.5) * 2.0
    if abs(slope) < 1e-3:
        return x
    return shape_spectrum(x, rate, lambda f: np.clip((np.maximum(f, 20.0) / 1000.0) ** slope, 0.05, 8.0))


def smooth_random(n: int, rate: int, rng: Rng, changes_per_s: float, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """A slowly wandering curve between ``low`` and ``high`` (gusts, swells, flicker)."""
    points = max(2, int(n / rate * changes_per_s) + 2)
    knots = rng.random(points)
    curve = np.interp(np.linspace(0, points - 1, n), np.arange(points), knots)
    curve = 0.5 - 0.5 * np.cos(np.pi * curve)  # soften the corners of the linear interpolation
    return low + (high - low) * curve


def band_bank(n: int, rate: int, rng: Rng, edges: list[float], slope: float = 1.0) -> list[np.ndarray]:
    """Independent noise bands between consecutive ``edges`` (Hz), each at unit RMS."""
    source = coloured(n, rate, rng, slope)
    bands = []
    for low, high in itertools.pairwise(edges):
        part = band(source, rate, low, high, softness=0.15)
        bands.append(part / (np.sqrt(np.mean(part ** 2)) + 1e-12))
    return bands


def moving_band(bands: list[np.ndarray], position: np.ndarray, width: float = 0.8) -> np.ndarray:
    """Mix ``bands`` with weights centred on ``position`` (a curve in band
    indices): a band-pass filter that moves over time."""
    out = np.zeros_like(bands[0])
    for index, signal in enumerate(bands):
        out += signal * np.exp(-0.5 * ((position - index) / width) ** 2)
    return out


def poisson_times(duration_s: float, rate_per_s: float, rng: Rng) -> np.ndarray:
    count = rng.poisson(max(rate_per_s, 0.0) * duration_s)
    return np.sort(rng.random(count) * duration_s)


def place(n: int, rate: int, at_s: np.ndarray, amplitudes: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Copies of ``kernel`` starting at ``at_s`` seconds with ``amplitudes``,
    summed (an impulse train convolved with the kernel)."""
    impulses = np.zeros(n + len(kernel))
    positions = np.clip((np.asarray(at_s) * rate).astype(int), 0, n - 1)
    np.add.at(impulses, positions, amplitudes)
    size = 1 << int(np.ceil(np.log2(len(impulses) + len(kernel))))
    out = np.fft.irfft(np.fft.rfft(impulses, size) * np.fft.rfft(kernel, size), size)
    return out[:n]


def decay(n: int, rate: int, seconds: float) -> np.ndarray:
    """An exponential decay that falls by 60 dB over ``seconds``."""
    return np.exp(-6.91 * times(n, rate) / max(seconds, 1e-4))


def damped_sine(rate: int, freq: float, seconds: float, phase: float = 0.0) -> np.ndarray:
    n = max(1, int(seconds * rate))
    return np.sin(2 * np.pi * freq * times(n, rate) + phase) * decay(n, rate, seconds)


def noise_burst(rate: int, seconds: float, rng: Rng, low: float = 0.0, high: float = 20000.0) -> np.ndarray:
    n = max(8, int(seconds * rate))
    return band(white(n, rng), rate, low, min(high, rate / 2 - 1)) * decay(n, rate, seconds)


def overlay(*sounds: np.ndarray) -> np.ndarray:
    """Sum short sounds of different lengths, all starting together."""
    out = np.zeros(max(len(s) for s in sounds))
    for sound in sounds:
        out[:len(sound)] += sound
    return out


def fades(x: np.ndarray, rate: int, seconds: float = 0.01) -> np.ndarray:
    """Short fades at both ends so a sound never starts or stops with a click."""
    length = min(len(x) // 2, int(seconds * rate))
    if length > 0:
        ramp = np.linspace(0.0, 1.0, length)
        x[:length] *= ramp if x.ndim == 1 else ramp[:, None]
        x[-length:] *= ramp[::-1] if x.ndim == 1 else ramp[::-1, None]
    return x


def reverb(x: np.ndarray, rate: int, rng: Rng, seconds: float, wet: float) -> np.ndarray:
    """Mix in a convolution with decaying, darkening noise: a room or a
    landscape depending on ``seconds``. Stereo input gets a different tail
    per channel, which also widens mono sources."""
    if wet <= 0:
        return x
    n = int(seconds * rate)
    channels = [x] if x.ndim == 1 else [x[:, 0], x[:, 1]]
    out = []
    for channel in channels:
        tail = band(white(n, rng), rate, 0, 6000) * decay(n, rate, seconds)
        tail /= np.sqrt(np.sum(tail ** 2)) + 1e-12
        size = 1 << int(np.ceil(np.log2(len(channel) + n)))
        wet_signal = np.fft.irfft(np.fft.rfft(channel, size) * np.fft.rfft(tail, size), size)[:len(channel)]
        out.append((1 - wet) * channel + wet * wet_signal * 3.0)
    return out[0] if x.ndim == 1 else np.stack(out, axis=1)


def pan(mono: np.ndarray, position: np.ndarray | float) -> np.ndarray:
    """Equal-power pan; ``position`` -1 (left) .. 1 (right), fixed or per sample."""
    angle = (np.asarray(position) + 1) * np.pi / 4
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)], axis=1)


def chirp(rate: int, seconds: float, start_hz: float, end_hz: float, curve: float = 1.0) -> np.ndarray:
    """A sine sweeping from ``start_hz`` to ``end_hz`` (exponentially when ``curve`` is 1)."""
    n = max(1, int(seconds * rate))
    progress = np.linspace(0.0, 1.0, n) ** curve
    freq = start_hz * (end_hz / start_hz) ** progress
    return np.sin(2 * np.pi * np.cumsum(freq) / rate)
