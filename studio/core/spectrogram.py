"""Mel spectrogram columns for the waveform's spectrogram view.

The view needs one spectrum per pixel column of whatever is on screen, at
any zoom: a second across 1,500 pixels (windows overlapping heavily) or an
hour across them (windows far apart). So instead of the spectrogram of the
whole clip, one FFT window is cut out around the centre of every column,
the windows are laid end to end, and torchaudio's ``MelSpectrogram`` runs on
that with ``hop = window = n_fft`` and no centring: each of its frames is
exactly one column's window. The cost depends on the view's width, never on
the length of the clip.

Levels are in dB relative to a full-scale sine centred on a mel band (0 dB),
so colours mean the same thing wherever the view is scrolled. Runs off the GUI thread (it
imports torch); Qt-free.
"""

from __future__ import annotations

import numpy as np

N_FFT = 1024
N_MELS = 80
FLOOR_DB = -90.0

_transforms: dict[tuple[int, int, int], object] = {}


def _mel_transform(sample_rate: int, n_fft: int, n_mels: int):
    import torchaudio

    key = (sample_rate, n_fft, n_mels)
    if key not in _transforms:
        _transforms[key] = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, win_length=n_fft, hop_length=n_fft, center=False,
            n_mels=n_mels, power=2.0, f_max=sample_rate / 2)
    return _transforms[key]


def column_windows(samples: np.ndarray, start: float, frames_per_column: float, columns: int,
                   n_fft: int = N_FFT) -> tuple[np.ndarray, np.ndarray]:
    """One mono ``n_fft`` window centred on each column (zeros outside the
    clip), read from ``samples`` (frames, channels) without touching the
    rest of the clip; and which columns lie on the clip at all."""
    frames = samples.shape[0]
    centres = np.floor(start + (np.arange(columns) + 0.5) * frames_per_column).astype(np.int64)
    index = centres[:, None] + np.arange(-n_fft // 2, n_fft // 2)[None, :]
    inside = (index >= 0) & (index < frames)
    picked = samples[np.clip(index, 0, max(frames - 1, 0))]  # (columns, n_fft, channels)
    windows = np.where(inside, picked.mean(axis=2, dtype=np.float32), 0.0).astype(np.float32)
    valid = (centres >= 0) & (centres < frames)
    return windows, valid


def mel_columns(samples: np.ndarray, sample_rate: int, start: float, frames_per_column: float, columns: int,
                n_mels: int = N_MELS, n_fft: int = N_FFT) -> np.ndarray:
    """``(n_mels, columns)`` levels in dB (low frequencies first), at least
    ``FLOOR_DB``; columns off the clip are NaN (nothing to draw there)."""
    import torch

    if samples.shape[0] == 0 or columns <= 0:
        return np.full((n_mels, max(columns, 0)), np.nan, np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    windows, valid = column_windows(samples, start, frames_per_column, columns, n_fft)
    transform = _mel_transform(int(sample_rate), n_fft, n_mels)
    with torch.no_grad():
        power = transform(torch.from_numpy(windows.reshape(-1))).numpy()  # (n_mels, columns)
    # A full-scale sine through a Hann window has an amplitude of n_fft / 4 in its FFT bin.
    reference = (n_fft / 4) ** 2 / 2
    levels = 10.0 * np.log10(np.maximum(power[:, :columns] / reference, 1e-12))
    levels = np.maximum(levels, FLOOR_DB).astype(np.float32)
    levels[:, ~valid] = np.nan
    return levels
