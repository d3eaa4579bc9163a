"""Music theory the composer needs: keys and modes as scales, diatonic
chords, meters as groups of beats, MIDI key-signature numbers, and key
estimation from a piece's notes (used to check what was composed).

Times are in quarter notes throughout; seconds appear only when the piece
is written out as MIDI at the request's tempo."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOTE_INDEX = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6, "G": 7,
              "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODE_STEPS = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
}
# How far above the relative major's tonic each church mode starts (for the MIDI key signature).
_MODE_FROM_MAJOR = {"dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7, "locrian": 11}

# Krumhansl-Kessler key profiles: how strongly each scale step is heard in a major / minor key.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Scale:
    tonic: int  # pitch class 0..11
    mode: str

    @property
    def steps(self) -> tuple[int, ...]:
        return MODE_STEPS[self.mode]

    def pitch(self, degree: int, octave: int = 4) -> int:
        """The MIDI note of scale ``degree`` (0 = tonic; may be negative or
        past 6, wrapping into other octaves) counted from ``octave``."""
        octave_shift, step = divmod(degree, 7)
        return 12 * (octave + 1 + octave_shift) + self.tonic + self.steps[step]

    def pitch_classes(self) -> set[int]:
        return {(self.tonic + step) % 12 for step in self.steps}

    def chord_degrees(self, root: int, size: int = 3) -> list[int]:
        """Degrees of the diatonic chord on ``root`` stacked in thirds (3: triad, 4: seventh)."""
        return [root + 2 * i for i in range(size)]

    def degree_of(self, pitch: int, octave: int = 4) -> int:
        """The scale degree (relative to ``octave``) nearest to a MIDI pitch."""
        best, best_distance = 0, 99
        base = (pitch - 12 * (octave + 1) - self.tonic) // 12 * 7
        for degree in range(base - 7, base + 15):
            distance = abs(self.pitch(degree, octave) - pitch)
            if distance < best_distance:
                best, best_distance = degree, distance
        return best


def scale_for(key: str, mode: str) -> Scale:
    return Scale(NOTE_INDEX[key], mode)


def key_signature_number(key: str, mode: str) -> int:
    """pretty_midi's key number: 0-11 major keys, 12-23 minor keys. Church
    modes are written with the signature of their relative major."""
    tonic = NOTE_INDEX[key]
    if mode in ("minor", "harmonic-minor"):
        return 12 + tonic
    return (tonic - _MODE_FROM_MAJOR.get(mode, 0)) % 12


@dataclass(frozen=True)
class Meter:
    """A time signature as beats: where each beat starts in the bar and how
    long it is (quarter notes); compound meters group eighths in threes."""

    numerator: int
    denominator: int

    @property
    def bar_length(self) -> float:
        return self.numerator * 4 / self.denominator

    @property
    def beats(self) -> list[tuple[float, float]]:
        if self.denominator == 4:
            return [(float(i), 1.0) for i in range(self.numerator)]
        if self.numerator % 3 == 0:  # 6/8, 12/8: dotted-quarter beats
            return [(1.5 * i, 1.5) for i in range(self.numerator // 3)]
        lengths = [1.0] * ((self.numerator - 3) // 2) + [1.5]  # 7/8 as 2+2+3 eighths
        starts = np.cumsum([0.0, *lengths[:-1]])
        return [(float(s), length) for s, length in zip(starts, lengths, strict=True)]

    @property
    def compound(self) -> bool:
        return self.denominator == 8 and self.numerator % 3 == 0

    def strength(self, beat_index: int) -> int:
        """2 for the downbeat, 1 for the secondary accent, 0 otherwise."""
        count = len(self.beats)
        if beat_index == 0:
            return 2
        if count >= 4 and beat_index == count // 2 + (count % 2):
            return 1
        return 0


def parse_meter(text: str) -> Meter:
    numerator, denominator = (int(part) for part in text.split("/"))
    return Meter(numerator, denominator)


def estimate_key(pitches: list[int], durations: list[float]) -> tuple[int, str]:
    """The (tonic pitch class, "major"/"minor") whose profile best matches
    the duration-weighted pitch-class histogram of the notes."""
    histogram = np.zeros(12)
    for pitch, duration in zip(pitches, durations, strict=True):
        histogram[pitch % 12] += duration
    best = (-2.0, 0, "major")
    for tonic in range(12):
        for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
            score = float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])
            if score > best[0]:
                best = (score, tonic, mode)
    return best[1], best[2]
