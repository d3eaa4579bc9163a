"""The accompaniment parts of a composed piece: chords, bass and drums (or
timpani), each written from the chord timeline by a pattern the style names.

Every part is a list of :class:`Note` in quarter notes; randomness comes
from the generator handed in, so a seed reproduces the same part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.engines.audio.music.theory import Meter, Scale

KICK, RIM, SNARE, CLOSED_HAT, OPEN_HAT, CRASH = 36, 37, 38, 42, 46, 49
LOW_TOM, MID_TOM, HIGH_TOM = 45, 47, 50
CHORD_LOW, CHORD_HIGH = 52, 76  # voicings stay between E3 and E5


@dataclass
class Note:
    start: float  # quarter notes from the beginning
    length: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class ChordSpan:
    start: float
    length: float
    root: int  # scale degree


@dataclass(frozen=True)
class Frame:
    """What every part is written against."""

    scale: Scale
    meter: Meter
    bars: int
    chords: tuple[ChordSpan, ...]
    chord_size: int
    velocity: int

    def chord_at(self, time: float) -> ChordSpan:
        for span in self.chords:
            if span.start <= time < span.start + span.length:
                return span
        return self.chords[-1]

    def bar_starts(self) -> list[float]:
        return [bar * self.meter.bar_length for bar in range(self.bars)]


def _velocity(base: int, accent: int, rng: np.random.Generator) -> int:
    return int(np.clip(base + 8 * accent + rng.integers(-5, 6), 1, 127))


def _voicing(frame: Frame, root: int, previous: list[int] | None) -> list[int]:
    """The inversion of the chord on ``root`` closest to the previous voicing."""
    degrees = frame.scale.chord_degrees(root, frame.chord_size)
    base = sorted(frame.scale.pitch(d, 3) for d in degrees)
    candidates = []
    for octave_shift in (0, 12, 24):
        for inversion in range(len(base)):
            notes = sorted(base[inversion:] + [p + 12 for p in base[:inversion]])
            notes = [p + octave_shift for p in notes]
            if CHORD_LOW <= notes[0] and notes[-1] <= CHORD_HIGH:
                candidates.append(notes)
    if not candidates:
        return [p + 12 for p in base]
    if previous is None:
        return min(candidates, key=lambda notes: abs(np.mean(notes) - 64))
    return min(candidates, key=lambda notes: sum(abs(a - b) for a, b in zip(notes, previous, strict=False)))


def chords_part(frame: Frame, pattern: str, rng: np.random.Generator) -> list[Note]:
    notes: list[Note] = []
    previous: list[int] | None = None
    if pattern == "pad":
        for span in frame.chords:
            previous = _voicing(frame, span.root, previous)
            notes += [Note(span.start, span.length, p, _velocity(frame.velocity - 20, 0, rng)) for p in previous]
        return notes
    for bar_start in frame.bar_starts():
        span = frame.chord_at(bar_start)
        previous = _voicing(frame, span.root, previous)
        for index, (offset, length) in enumerate(frame.meter.beats):
            start = bar_start + offset
            accent = frame.meter.strength(index)
            if pattern == "stabs":
                notes += [Note(start, length * 0.9, p, _velocity(frame.velocity - 10, accent, rng)) for p in previous]
            elif pattern == "strum" and (accent or rng.random() < 0.3):
                hold = frame.meter.bar_length - offset if accent == 2 else length
                notes += [Note(start + 0.03 * i, hold - 0.03 * i, p, _velocity(frame.velocity - 10, accent, rng))
                          for i, p in enumerate(previous)]
            elif pattern == "power":
                # Power chords (root, fifth, octave) in eighths; accented beats ring the full
                # chord so the third, and with it major or minor, is heard.
                if accent:
                    notes += [Note(start, length * 0.95, p, _velocity(frame.velocity, accent, rng)) for p in previous]
                    continue
                root = frame.scale.pitch(span.root, 3)
                for eighth in np.arange(0, length, 0.5):
                    notes += [Note(start + eighth, 0.45, p, _velocity(frame.velocity - 5, 0, rng))
                              for p in (root, frame.scale.pitch(span.root + 4, 3), root + 12)]
            elif pattern == "arpeggio":
                tones = frame.scale.chord_degrees(span.root, 3)
                cycle = [frame.scale.pitch(d, 5) for d in tones] + [frame.scale.pitch(tones[0] + 7, 5)]
                for step, sixteenth in enumerate(np.arange(0, length, 0.25)):
                    position = int(round((offset + sixteenth) / 0.25))
                    notes.append(Note(start + sixteenth, 0.22, cycle[position % len(cycle)],
                                      _velocity(frame.velocity - 25, accent if step == 0 else 0, rng)))
    return notes


def bass_part(frame: Frame, pattern: str, rng: np.random.Generator) -> list[Note]:
    scale, notes = frame.scale, []
    if pattern == "long":
        return [Note(span.start, span.length, scale.pitch(span.root, 2), _velocity(frame.velocity - 10, 1, rng))
                for span in frame.chords]
    for bar_index, bar_start in enumerate(frame.bar_starts()):
        span = frame.chord_at(bar_start)
        root = scale.pitch(span.root, 2)
        next_root = frame.chord_at(bar_start + frame.meter.bar_length).root
        for index, (offset, length) in enumerate(frame.meter.beats):
            start, accent = bar_start + offset, frame.meter.strength(index)
            if pattern == "root-fifth":
                pitch = scale.pitch(span.root + 4, 2) if accent == 1 else root
                notes.append(Note(start, length * 0.9, pitch, _velocity(frame.velocity, accent, rng)))
            elif pattern == "walking":
                last = index == len(frame.meter.beats) - 1
                degree = next_root + (1 if rng.random() < 0.5 else -1) if last else span.root + (0, 2, 4, 5)[index % 4]
                notes.append(Note(start, length * 0.85, scale.pitch(degree, 2), _velocity(frame.velocity, accent, rng)))
            elif pattern in ("eighths", "octaves"):
                for step, eighth in enumerate(np.arange(0, length, 0.5)):
                    pitch = root + 12 if pattern == "octaves" and step % 2 else root
                    notes.append(Note(start + eighth, 0.42, pitch, _velocity(frame.velocity - 5, accent, rng)))
        if bar_index == frame.bars - 1 and notes:
            notes[-1].pitch = scale.pitch(frame.chords[-1].root, 2)
    return notes


def _snare_beats(count: int) -> list[int]:
    if count % 2 == 0:
        return list(range(1, count, 2))
    return [count - 1] if count == 3 else [2, count - 1]


def drums_part(frame: Frame, pattern: str, rng: np.random.Generator) -> list[Note]:
    """A GM drum kit part; fills end every fourth bar, a crash opens each phrase."""
    meter, notes = frame.meter, []
    snares = _snare_beats(len(meter.beats))
    base = frame.velocity
    for bar_index, bar_start in enumerate(frame.bar_starts()):
        fill = bar_index % 4 == 3 and bar_index != frame.bars - 1
        if bar_index % 4 == 0:
            notes.append(Note(bar_start, 1.0, CRASH, _velocity(base, 1, rng)))
        for index, (offset, length) in enumerate(meter.beats):
            start, accent = bar_start + offset, meter.strength(index)
            if fill and index == len(meter.beats) - 1:
                for step, tick in enumerate(np.arange(0, length, 0.25)):
                    drum = (SNARE, HIGH_TOM, MID_TOM, LOW_TOM, LOW_TOM, LOW_TOM)[step]
                    notes.append(Note(start + tick, 0.2, drum, _velocity(base - 10 + 5 * step, 0, rng)))
                continue
            if accent or (pattern == "rock" and rng.random() < 0.35):
                notes.append(Note(start, 0.25, KICK, _velocity(base, accent, rng)))
            if pattern in ("rock", "boom-bap") and accent == 0 and index not in snares and rng.random() < 0.5:
                notes.append(Note(start + length / 2, 0.25, KICK, _velocity(base - 15, 0, rng)))
            if index in snares:
                drum = RIM if pattern == "boom-bap" and rng.random() < 0.25 else SNARE
                notes.append(Note(start, 0.25, drum, _velocity(base, 1, rng)))
            subdivision = length / 3 if meter.compound or length == 1.5 else length / (4 if pattern == "chip" else 2)
            for step, tick in enumerate(np.arange(0, length - 1e-6, subdivision)):
                hat = OPEN_HAT if pattern == "rock" and step == 1 and index == len(meter.beats) - 1 else CLOSED_HAT
                notes.append(Note(start + tick, 0.1, hat, _velocity(base - 25, 1 if step == 0 else 0, rng)))
    return notes


def timpani_part(frame: Frame, rng: np.random.Generator) -> list[Note]:
    """Orchestral percussion: tonic or dominant strokes on phrase downbeats
    and a roll into the last bar."""
    scale, notes = frame.scale, []
    for bar_index, bar_start in enumerate(frame.bar_starts()):
        root = frame.chord_at(bar_start).root
        if bar_index % 2 == 0 and root % 7 in (0, 4):
            notes.append(Note(bar_start, 1.0, scale.pitch(root % 7, 2), _velocity(frame.velocity, 1, rng)))
        if bar_index == frame.bars - 2:
            length = frame.meter.bar_length
            for tick in np.arange(length / 2, length, 0.125):
                notes.append(Note(bar_start + tick, 0.12, scale.pitch(4, 1), _velocity(frame.velocity - 20, 0, rng)))
    return notes
