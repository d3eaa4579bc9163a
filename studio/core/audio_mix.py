"""Tracks of audio stacked in one session, and their mixdown.

A session holds clips at one sample rate (the first clip's; later clips are
resampled to it when added, so editing, pasting between tracks, playback
and the mixdown never have to reconcile rates). Each track has a gain in dB,
mute and solo: the mix is the sum of the audible tracks, each scaled by its
gain, mono tracks spread to both sides of a stereo mix.

Exporting encodes the mix as WAV or FLAC (soundfile) with the recipe of
every audible track and the AI-generated mark embedded, the same way the
library stores generated files, so an exported mix still says what made it.

Qt-free: the Audio workspace, the player and the tests share it.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio import __version__
from studio.core import provenance
from studio.core.audio_buffer import AudioClip, as_frames, db_to_gain, match_channels
from studio.core.jobs import StudioError

EXPORT_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}
MIN_GAIN_DB, MAX_GAIN_DB = -60.0, 24.0

_track_ids = itertools.count(1)


@dataclass
class Track:
    name: str
    clip: AudioClip
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False
    source: str = ""  # the file it came from, if any
    recipe: dict[str, Any] = field(default_factory=dict)  # how it was made, for the export's recipe
    id: int = field(default_factory=lambda: next(_track_ids))

    @property
    def gain(self) -> float:
        return db_to_gain(self.gain_db)


def resample(samples: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's sinc interpolation)."""
    samples = as_frames(samples)
    if rate_from == rate_to or samples.shape[0] == 0:
        return samples
    import torch
    import torchaudio.functional as AF

    waveform = torch.from_numpy(np.ascontiguousarray(samples.T))
    out = AF.resample(waveform, int(rate_from), int(rate_to))
    return np.ascontiguousarray(out.numpy().T.astype(np.float32))


class Session:
    """The tracks of the Audio workspace."""

    def __init__(self, sample_rate: int | None = None) -> None:
        self.sample_rate = sample_rate
        self.tracks: list[Track] = []

    def add(self, name: str, samples: np.ndarray, sample_rate: int, source: str = "",
            recipe: dict[str, Any] | None = None, copy: bool = True) -> Track:
        """A new track; ``copy=False`` hands ``samples`` over (no copy of a long file)."""
        samples = as_frames(samples)
        if self.sample_rate is None or not self.tracks:
            self.sample_rate = int(sample_rate)
        elif sample_rate != self.sample_rate:
            samples = resample(samples, sample_rate, self.sample_rate)
        track = Track(name, AudioClip(samples, self.sample_rate, copy=copy), source=source,
                      recipe=dict(recipe or {}))
        self.tracks.append(track)
        return track

    def remove(self, track: Track) -> None:
        self.tracks.remove(track)

    def track(self, track_id: int) -> Track:
        for track in self.tracks:
            if track.id == track_id:
                return track
        raise StudioError("that track is gone")

    @property
    def frames(self) -> int:
        return max((t.clip.frames for t in self.tracks), default=0)

    @property
    def channels(self) -> int:
        return max((t.clip.channels for t in self.tracks), default=1)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def audible(self) -> list[Track]:
        """Tracks heard in the mix: the soloed ones if any are, else the unmuted ones."""
        soloed = [t for t in self.tracks if t.solo]
        return soloed if soloed else [t for t in self.tracks if not t.mute]

    def mixdown(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """The mix of frames ``[start, end)`` as float32 ``(frames, channels)``."""
        end = self.frames if end is None else min(end, self.frames)
        start = max(0, min(start, end))
        mix = np.zeros((end - start, self.channels), np.float32)
        for track in self.audible():
            part = track.clip.samples[start:end]
            if part.shape[0]:
                mix[:part.shape[0]] += match_channels(part, mix.shape[1]) * np.float32(track.gain)
        return mix

    def recipe(self) -> dict[str, Any]:
        """What the export embeds: the generator and each audible track's recipe."""
        tracks = [{"name": t.name, "gain_db": t.gain_db, "source": t.source, "recipe": t.recipe}
                  for t in self.audible()]
        return {"generator": f"Studio {__version__}", "ai_generated": True, "mixdown": tracks}


def encode(samples: np.ndarray, sample_rate: int, suffix: str) -> bytes:
    """WAV or FLAC bytes (16-bit) of float samples; peaks over full scale are clipped."""
    import soundfile

    suffix = suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise StudioError(f"cannot export {suffix or 'files without a suffix'}: choose .wav or .flac")
    fmt, subtype = EXPORT_FORMATS[suffix]
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(as_frames(samples), -1.0, 1.0), int(sample_rate), format=fmt, subtype=subtype)
    return buffer.getvalue()


def export_mix(session: Session, path: Path, start: int = 0, end: int | None = None) -> dict[str, Any]:
    """Write the mix to ``path`` (.wav or .flac) with its recipe embedded and
    its Content Credentials (the tracks' files as placed ingredients).
    Returns a summary: frames, peak, whether the mix was scaled down, and
    ``credentials``: "" or why the file carries none."""
    if not session.tracks or session.sample_rate is None:
        raise StudioError("there is nothing to export: add or generate a clip first")
    if not session.audible():
        raise StudioError("every track is muted: nothing would be heard")
    mix = session.mixdown(start, end)
    if mix.shape[0] == 0:
        raise StudioError("the mix is empty")
    peak = float(np.max(np.abs(mix)))
    # Summed tracks can go past full scale; scale down instead of clipping, and say so.
    scaled = peak > 1.0
    if scaled:
        mix = mix / np.float32(peak)
    from studio.core.credentials import write_signed

    recipe = session.recipe()
    data = provenance.embed(encode(mix, session.sample_rate, Path(path).suffix), Path(path).suffix, recipe)
    sources = [t.source for t in session.audible() if t.source]
    warning = write_signed(Path(path), data, recipe, sources, placed=True)
    return {"frames": int(mix.shape[0]), "peak": peak, "scaled_down": scaled, "credentials": warning}


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Samples ``(frames, channels)`` float32 and the sample rate of an audio file."""
    import soundfile

    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise StudioError(f"cannot read {Path(path).name}: {exc}") from exc
    return np.ascontiguousarray(samples), int(rate)


def mix_sources(tracks: Sequence[Track]) -> list[tuple[np.ndarray, float]]:
    """(samples, gain) of each audible track, for the player."""
    return [(t.clip.samples, t.gain) for t in tracks]
