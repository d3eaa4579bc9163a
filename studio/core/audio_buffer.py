"""An editable clip of audio samples with exact undo and redo.

The samples are one float32 array of shape ``(frames, channels)`` at one
sample rate. Every edit (trim, cut, delete, paste, fade, normalise, gain) is
expressed as one or more *splices*: "replace frames ``[start, end)`` with
these samples". A splice remembers the samples it removed, so undo puts
back exactly what was there (bit for bit) and redo re-applies exactly what
was inserted. Only the touched region is kept in the history, never a copy
of the whole clip, so a long recording can be edited without the undo stack
growing by gigabytes.

Edits that keep the length (fades, gain, normalise) write into the array in
place; edits that change it build a new array. Each edit reports the range
that changed (:class:`Change`), which is what the waveform pyramid needs to
bring itself up to date.

Qt-free: the waveform widget and the tests drive the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from studio.core.jobs import StudioError

HISTORY_LIMIT_EDITS = 200
HISTORY_LIMIT_BYTES = 512 * 1024 * 1024  # older edits are forgotten beyond this


@dataclass(frozen=True)
class Change:
    """Frames ``[start, old_end)`` became frames ``[start, new_end)``."""

    start: int
    old_end: int
    new_end: int

    @property
    def resized(self) -> bool:
        return self.old_end != self.new_end


@dataclass(frozen=True)
class Splice:
    start: int
    removed: np.ndarray
    inserted: np.ndarray


@dataclass(frozen=True)
class Edit:
    """One user action: its name (for "Undo Cut") and its splices in order."""

    name: str
    splices: tuple[Splice, ...]
    change: Change
    nbytes: int = field(default=0)


def as_frames(samples: np.ndarray) -> np.ndarray:
    """``samples`` as a C-contiguous float32 ``(frames, channels)`` array."""
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] < 1:
        raise StudioError(f"audio must be (frames, channels), not shape {array.shape}")
    return np.ascontiguousarray(array)


def match_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """Mono becomes stereo by copying, more channels become fewer by averaging."""
    samples = as_frames(samples)
    have = samples.shape[1]
    if have == channels:
        return samples
    if have == 1:
        return np.repeat(samples, channels, axis=1)
    mono = samples.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    return mono if channels == 1 else np.repeat(mono, channels, axis=1)


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def linear_ramp(frames: int, rising: bool) -> np.ndarray:
    """The fade curve: exactly 0 at the silent end and exactly 1 at the other."""
    ramp = np.linspace(0.0, 1.0, frames, dtype=np.float64) if frames > 1 else np.ones(frames)
    return ramp if rising else ramp[::-1]


class AudioClip:
    """Samples plus their edit history. Frame positions are ints in ``[0, frames]``."""

    def __init__(self, samples: np.ndarray, sample_rate: int, copy: bool = True) -> None:
        """``copy=False`` hands ``samples`` over to the clip, which will write into it."""
        if sample_rate <= 0:
            raise StudioError(f"invalid sample rate {sample_rate}")
        self._samples = as_frames(samples)
        if copy and self._samples is samples:
            self._samples = self._samples.copy()
        self._backing: np.ndarray | None = None  # spare room after the samples, while appending
        self.sample_rate = int(sample_rate)
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        # Called after every change (edit, undo, redo, append) with the Change.
        self.listeners: list[Callable[[Change], None]] = []

    # --- reading -------------------------------------------------------------
    @property
    def samples(self) -> np.ndarray:
        """The current samples (do not write into them: edit through the clip)."""
        return self._samples

    @property
    def frames(self) -> int:
        return int(self._samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self._samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def copy(self, start: int, end: int) -> np.ndarray:
        start, end = self._range(start, end)
        return self._samples[start:end].copy()

    # --- history -----------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_name(self) -> str:
        return self._undo[-1].name if self._undo else ""

    @property
    def redo_name(self) -> str:
        return self._redo[-1].name if self._redo else ""

    def undo(self) -> Change | None:
        if not self._undo:
            return None
        edit = self._undo.pop()
        for splice in reversed(edit.splices):
            self._replace(splice.start, splice.start + len(splice.inserted), splice.removed)
        self._redo.append(edit)
        change = Change(edit.change.start, edit.change.new_end, edit.change.old_end)
        self._notify(change)
        return change

    def redo(self) -> Change | None:
        if not self._redo:
            return None
        edit = self._redo.pop()
        for splice in edit.splices:
            self._replace(splice.start, splice.start + len(splice.removed), splice.inserted)
        self._undo.append(edit)
        self._notify(edit.change)
        return edit.change

    # --- edits -------------------------------------------------------------------
    def delete(self, start: int, end: int, name: str = "Delete") -> Change:
        start, end = self._range(start, end, need_frames=True)
        return self._commit(name, [(start, end, self._samples[:0])])

    def cut(self, start: int, end: int) -> tuple[np.ndarray, Change]:
        """Remove ``[start, end)`` and return it (for the clipboard)."""
        clip = self.copy(start, end)
        return clip, self.delete(start, end, name="Cut")

    def paste(self, position: int, clip: np.ndarray, replace_end: int | None = None) -> Change:
        """Insert ``clip`` at ``position``; with ``replace_end``, it replaces
        ``[position, replace_end)`` (pasting over a selection)."""
        clip = match_channels(clip, self.channels)
        if clip.shape[0] == 0:
            raise StudioError("the clipboard is empty")
        end = position if replace_end is None else replace_end
        start, end = self._range(position, end)
        return self._commit("Paste", [(start, end, clip)])

    def trim(self, start: int, end: int) -> Change:
        """Keep only ``[start, end)``."""
        start, end = self._range(start, end, need_frames=True)
        frames = self.frames
        splices = [(end, frames, self._samples[:0]), (0, start, self._samples[:0])]
        return self._commit("Trim", [s for s in splices if s[1] > s[0]], Change(0, frames, end - start))

    def fade_in(self, start: int, end: int) -> Change:
        return self._scale("Fade in", start, end, linear_ramp(end - start, rising=True))

    def fade_out(self, start: int, end: int) -> Change:
        return self._scale("Fade out", start, end, linear_ramp(end - start, rising=False))

    def gain(self, start: int, end: int, db: float) -> Change:
        if not math.isfinite(db):
            raise StudioError("the gain must be a number of decibels")
        return self._scale(f"Gain {db:+.1f} dB", start, end, db_to_gain(db))

    def normalise(self, start: int, end: int, peak_db: float = -1.0) -> Change:
        """Scale ``[start, end)`` so its loudest sample (any channel) reaches ``peak_db`` dBFS."""
        start, end = self._range(start, end, need_frames=True)
        peak = float(np.max(np.abs(self._samples[start:end])))
        if peak == 0.0:
            raise StudioError("nothing to normalise: the selection is silent")
        return self._scale("Normalise", start, end, db_to_gain(peak_db) / peak)

    def append(self, samples: np.ndarray) -> Change:
        """Add streamed samples at the end; not an undoable edit (it is the
        clip arriving, not the user changing it)."""
        samples = match_channels(samples, self.channels)
        old, new = self.frames, self.frames + samples.shape[0]
        # Grow into spare room (doubling), so a stream of chunks costs linear time;
        # views of the earlier samples (the player's) stay valid either way.
        if self._backing is None or self._backing.shape[0] < new:
            backing = np.empty((max(new, 2 * old, 4096), self.channels), np.float32)
            backing[:old] = self._samples
            self._backing = backing
        self._backing[old:new] = samples
        self._samples = self._backing[:new]
        change = Change(old, old, new)
        self._notify(change)
        return change

    def replace_all(self, samples: np.ndarray, sample_rate: int | None = None) -> Change:
        """Swap in new content (the finished file replacing its live preview);
        the history is cleared because its positions no longer mean anything."""
        old = self.frames
        self._samples = as_frames(samples).copy()
        self._backing = None
        if sample_rate:
            self.sample_rate = int(sample_rate)
        self._undo.clear()
        self._redo.clear()
        change = Change(0, old, self.frames)
        self._notify(change)
        return change

    # --- internals -----------------------------------------------------------------
    def _range(self, start: int, end: int, need_frames: bool = False) -> tuple[int, int]:
        start, end = int(start), int(end)
        if start > end:
            start, end = end, start
        start, end = max(0, start), min(self.frames, end)
        if start > end:  # both outside the clip
            start = end = min(start, self.frames)
        if need_frames and end <= start:
            raise StudioError("select a part of the clip first")
        return start, end

    def _scale(self, name: str, start: int, end: int, factor: float | np.ndarray) -> Change:
        start, end = self._range(start, end, need_frames=True)
        original = self._samples[start:end]
        if isinstance(factor, np.ndarray):
            factor = factor[:, None]
        scaled = (original.astype(np.float64) * factor).astype(np.float32)
        return self._commit(name, [(start, end, scaled)])

    def _commit(self, name: str, splices: list[tuple[int, int, np.ndarray]], change: Change | None = None) -> Change:
        done: list[Splice] = []
        for start, end, inserted in splices:
            removed = self._replace(start, end, inserted)
            done.append(Splice(start, removed, np.array(inserted, dtype=np.float32, copy=True)))
        if change is None:  # one splice
            start, end, inserted = splices[0]
            change = Change(start, end, start + len(inserted))
        nbytes = sum(s.removed.nbytes + s.inserted.nbytes for s in done)
        self._undo.append(Edit(name, tuple(done), change, nbytes))
        self._redo.clear()
        self._limit_history()
        self._notify(change)
        return change

    def _replace(self, start: int, end: int, inserted: np.ndarray) -> np.ndarray:
        """Put ``inserted`` where ``[start, end)`` was; return what was there."""
        removed = self._samples[start:end].copy()
        if len(inserted) == end - start:
            self._samples[start:end] = inserted  # same length: in place, no copy of the clip
        else:
            self._samples = np.concatenate([self._samples[:start], inserted, self._samples[end:]])
            self._backing = None
        return removed

    def _limit_history(self) -> None:
        total = sum(edit.nbytes for edit in self._undo)
        while self._undo and (len(self._undo) > HISTORY_LIMIT_EDITS or total > HISTORY_LIMIT_BYTES):
            total -= self._undo.pop(0).nbytes

    def _notify(self, change: Change) -> None:
        for listener in list(self.listeners):
            listener(change)
