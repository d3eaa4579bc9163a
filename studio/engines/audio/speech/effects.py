"""Voice effects for engines that lack a native control: pitch and speed
by resampling and phase-vocoder stretching, and a whisper made by
randomising the phase of the short-time spectrum (which removes the
periodic voicing while keeping the formants that make words intelligible).

torch and torchaudio are imported inside the functions: only a job that
needs an effect pays for them."""

from __future__ import annotations

import numpy as np

N_FFT = 512
HOP = 128


def resample(samples: np.ndarray, ratio: float) -> np.ndarray:
    """Play ``samples`` ``ratio`` times faster: the length divides by ``ratio``
    and every frequency multiplies by it."""
    if abs(ratio - 1.0) < 1e-4 or not len(samples):
        return samples.astype(np.float32)
    import torch
    import torchaudio.functional as AF

    # Resampling from a rate of 1000*ratio to 1000 keeps the integer ratio exact enough (0.1 %).
    orig, new = int(round(1000 * ratio)), 1000
    out = AF.resample(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), orig, new)
    return out.numpy().astype(np.float32)


def stretch(samples: np.ndarray, rate: float) -> np.ndarray:
    """Make speech ``rate`` times faster without changing its pitch."""
    if abs(rate - 1.0) < 1e-4 or len(samples) < N_FFT:
        return samples.astype(np.float32)
    import torch
    import torchaudio.functional as AF

    window = torch.hann_window(N_FFT)
    spec = torch.stft(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), N_FFT, HOP,
                      window=window, return_complex=True)
    advance = torch.linspace(0, np.pi * HOP, spec.shape[0])[..., None]
    stretched = AF.phase_vocoder(spec, rate, advance)
    length = int(round(len(samples) / rate))
    return torch.istft(stretched, N_FFT, HOP, window=window, length=length).numpy().astype(np.float32)


def shift_pitch(samples: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping the duration (stretch, then resample)."""
    if abs(semitones) < 1e-3:
        return samples.astype(np.float32)
    ratio = float(2.0 ** (semitones / 12.0))
    return resample(stretch(samples, 1.0 / ratio), ratio)


def whisper(samples: np.ndarray, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A whispered version of voiced speech, same length and peak level.

    Each short-time spectrum is smoothed across about 400 Hz, which keeps the
    formants (the vowel colour) but drops the harmonics of the voice, and is
    given random phases: the result is breath noise shaped like the words."""
    if len(samples) < N_FFT:
        return samples.astype(np.float32)
    import torch
    import torch.nn.functional as F

    window = torch.hann_window(N_FFT)
    signal = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    spec = torch.stft(signal, N_FFT, HOP, window=window, return_complex=True)
    bins = max(3, int(round(400 / (sample_rate / N_FFT))) | 1)
    kernel = torch.hann_window(bins + 2)[1:-1]
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    magnitude = spec.abs().T.unsqueeze(1)  # (frames, 1, freq)
    envelope = F.conv1d(F.pad(magnitude, (bins // 2, bins // 2), mode="reflect"), kernel).squeeze(1).T
    # Whispers carry little low-frequency energy: tilt the spectrum towards the consonant range.
    freqs = torch.linspace(0, sample_rate / 2, spec.shape[0])[..., None]
    tilt = torch.clamp(freqs / 1500.0, 0.15, 1.0)
    generator = torch.Generator().manual_seed(seed)
    phase = torch.rand(spec.shape, generator=generator) * (2 * np.pi)
    out = torch.istft(torch.polar(envelope * tilt, phase), N_FFT, HOP, window=window, length=len(samples)).numpy()
    peak_in, peak_out = float(np.max(np.abs(samples))), float(np.max(np.abs(out)))
    return (out * (peak_in / peak_out if peak_out > 1e-9 else 0.0)).astype(np.float32)
