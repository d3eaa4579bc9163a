"""Style presets of the composer: which General MIDI instruments play,
which chord progressions and patterns each part draws from, how dense the
melody is and how the groove feels.

Progressions are scale degrees (0 = the tonic chord), so the same preset
works in every key and mode. Programs are 0-based General MIDI numbers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Style:
    name: str
    programs: dict[str, int]  # track name -> GM program; "drums" is the GM kit
    progressions: tuple[tuple[int, ...], ...]
    bars_per_chord: int = 1
    chord_size: int = 3  # 3 triads, 4 sevenths
    chord_pattern: str = "stabs"  # stabs, pad, arpeggio, power, strum
    bass_pattern: str = "root-fifth"  # root-fifth, long, walking, eighths, octaves
    drum_pattern: str = "backbeat"  # backbeat, rock, boom-bap, chip, none
    melody_density: float = 0.6  # chance a beat is split into shorter notes
    melody_rest: float = 0.15  # chance a beat is silent in the melody
    melody_octave: int = 5
    swing: float = 0.0  # delay of off-beat eighths, as a fraction of a beat
    velocity: int = 90
    volumes: dict[str, int] = field(default_factory=dict)  # MIDI channel volume per track


STYLES: dict[str, Style] = {
    "pop": Style(
        "pop", {"melody": 81, "chords": 4, "bass": 33, "drums": 0},
        ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 4)),
        chord_pattern="stabs", bass_pattern="root-fifth", drum_pattern="backbeat", melody_density=0.45,
        volumes={"melody": 127, "chords": 95, "bass": 85, "drums": 100}),
    "ambient": Style(
        "ambient", {"melody": 10, "pad": 89, "bass": 32},
        ((0, 3), (0, 5, 3, 4), (0, 4, 5, 3)),
        bars_per_chord=2, chord_size=4, chord_pattern="pad", bass_pattern="long", drum_pattern="none",
        melody_density=0.1, melody_rest=0.45, melody_octave=5, velocity=70,
        volumes={"melody": 127, "pad": 80, "bass": 110}),
    "orchestral": Style(
        "orchestral", {"melody": 40, "strings": 48, "bass": 42, "timpani": 47},
        ((0, 3, 4, 0), (0, 5, 1, 4), (0, 3, 1, 4)),
        chord_pattern="pad", bass_pattern="long", drum_pattern="timpani", melody_density=0.35,
        melody_rest=0.1, velocity=85, volumes={"melody": 100, "strings": 115, "bass": 120, "timpani": 90}),
    "lofi": Style(
        "lofi", {"melody": 11, "chords": 4, "bass": 33, "drums": 0},
        ((0, 5, 1, 4), (0, 3, 1, 4), (3, 2, 1, 0)),
        chord_size=4, chord_pattern="strum", bass_pattern="walking", drum_pattern="boom-bap",
        melody_density=0.35, melody_rest=0.3, swing=0.16, velocity=75,
        volumes={"melody": 120, "chords": 100, "bass": 90, "drums": 105}),
    "rock": Style(
        "rock", {"melody": 30, "chords": 29, "bass": 34, "drums": 0},
        ((0, 3, 4, 3), (0, 4, 5, 3), (0, 6, 3, 0)),
        chord_pattern="power", bass_pattern="eighths", drum_pattern="rock", melody_density=0.5,
        melody_octave=5, velocity=100, volumes={"melody": 120, "chords": 105, "bass": 100, "drums": 95}),
    "chiptune": Style(
        "chiptune", {"melody": 80, "chords": 80, "bass": 38, "drums": 0},
        ((0, 5, 3, 4), (0, 4, 5, 3), (5, 3, 4, 0)),
        chord_pattern="arpeggio", bass_pattern="octaves", drum_pattern="chip", melody_density=0.7,
        melody_rest=0.1, melody_octave=5, velocity=95,
        volumes={"melody": 110, "chords": 110, "bass": 85, "drums": 90}),
}


def style(name: str) -> Style:
    return STYLES[name]
