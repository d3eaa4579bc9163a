"""The composer: a multi-track piece from a :class:`MusicRequest`, written
as a ``pretty_midi.PrettyMIDI`` that can be rendered or exported to a DAW.

A piece is a chord timeline (a progression of the style, cycled and
resolved to the tonic at the end) with parts written against it: the
melody here, chords, bass and drums in :mod:`.parts`. The melody is built
from phrases of four bars in an A A' B A shape, each phrase reusing its
motif's rhythm and contour, with notes on strong beats pulled onto chord
tones; it ends on the tonic.

Every random choice comes from a generator seeded by (structure seed,
part), so a seed reproduces the piece. A variation keeps the structure seed
of the piece it varies (``variation_of``) and lets its own ``seed`` move
about ``variation_amount`` of the melody, bass and drums."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.engines.audio.music import parts
from studio.engines.audio.music.parts import ChordSpan, Frame, Note
from studio.engines.audio.music.styles import Style, style
from studio.engines.audio.music.theory import key_signature_number, parse_meter, scale_for
from studio.engines.audio.requests import MusicRequest

PHRASE_BARS = 4
PHRASE_SHAPE = ("A", "A'", "B", "A")
MELODY_LOW, MELODY_HIGH = -3, 10  # scale degrees around the melody octave's tonic
_STEP_CHOICES = np.array([-3, -2, -1, 0, 1, 2, 3])
_STEP_WEIGHTS = np.array([0.5, 2.0, 6.0, 1.0, 6.0, 2.0, 0.5])
_STEP_P = _STEP_WEIGHTS / _STEP_WEIGHTS.sum()  # mostly steps, some leaps: a singable line


@dataclass
class Part:
    name: str
    program: int
    is_drum: bool
    notes: list[Note] = field(default_factory=list)
    volume: int = 100


@dataclass
class Piece:
    request: MusicRequest
    frame: Frame
    parts: list[Part]

    @property
    def length_quarters(self) -> float:
        return self.frame.bars * self.frame.meter.bar_length

    def seconds(self, quarters: float) -> float:
        return quarters * 60.0 / self.request.tempo


def planned_bars(request: MusicRequest) -> int:
    """``bars``, or enough bars to fill ``duration_s`` at the request's tempo."""
    if request.duration_s <= 0:
        return request.bars
    bar_seconds = parse_meter(request.time_signature).bar_length * 60.0 / request.tempo
    return max(1, math.ceil(request.duration_s / bar_seconds - 1e-6))


def _rng(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([max(seed, 0), sum(ord(c) * 31 ** i for i, c in enumerate(part)) % 2**31])


def _chord_timeline(request: MusicRequest, chosen: Style, bars: int, rng: np.random.Generator) -> list[ChordSpan]:
    progression = chosen.progressions[int(rng.integers(len(chosen.progressions)))]
    bar_length = parse_meter(request.time_signature).bar_length
    roots = [progression[(bar // chosen.bars_per_chord) % len(progression)] for bar in range(bars)]
    if bars >= 2:
        roots[-1] = 0  # resolve home
        if roots[-2] == 0 and len(set(progression)) > 1:
            roots[-2] = 4 if 4 in progression else progression[-1]  # a dominant before the final tonic
    spans: list[ChordSpan] = []
    for bar, root in enumerate(roots):
        if spans and spans[-1].root == root:
            last = spans[-1]
            spans[-1] = ChordSpan(last.start, last.length + bar_length, root)
        else:
            spans.append(ChordSpan(bar * bar_length, bar_length, root))
    return spans


def _motif_rhythm(frame: Frame, chosen: Style, bars: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(start, length) of the notes of one phrase, in quarters from its start."""
    events: list[tuple[float, float]] = []
    for bar in range(bars):
        for index, (offset, length) in enumerate(frame.meter.beats):
            start = bar * frame.meter.bar_length + offset
            roll = rng.random()
            if roll < chosen.melody_rest and (bar, index) != (0, 0):
                continue
            if roll < chosen.melody_rest + chosen.melody_density:
                cells = ([(0, .5), (.5, .5), (1, .5)], [(0, 1), (1, .5)]) if length == 1.5 else \
                        ([(0, .5), (.5, .5)], [(0, .75), (.75, .25)], [(0, .25), (.25, .25), (.5, .5)])
                cell = cells[int(rng.integers(len(cells)))]
                events += [(start + a, b) for a, b in cell]
            elif events and events[-1][0] + events[-1][1] >= start - 1e-6 and rng.random() < 0.3:
                events[-1] = (events[-1][0], events[-1][1] + length)  # tie into this beat
            else:
                events.append((start, length))
    return events


def _melody(frame: Frame, chosen: Style, rng: np.random.Generator) -> list[Note]:
    scale, meter = frame.scale, frame.meter
    phrase_bars = min(PHRASE_BARS, frame.bars)
    motifs: dict[str, tuple[list[tuple[float, float]], np.ndarray]] = {}
    notes: list[Note] = []
    degree = 4  # start on the fifth, then wander
    for phrase_index, phrase_start_bar in enumerate(range(0, frame.bars, phrase_bars)):
        label = PHRASE_SHAPE[phrase_index % len(PHRASE_SHAPE)]
        base_label = label.rstrip("'")
        if base_label not in motifs:
            rhythm = _motif_rhythm(frame, chosen, phrase_bars, rng)
            motifs[base_label] = (rhythm, rng.choice(_STEP_CHOICES, size=len(rhythm), p=_STEP_P))
        rhythm, steps = motifs[base_label]
        if label.endswith("'"):  # the answer: same opening, a new last bar
            tail = _motif_rhythm(frame, chosen, 1, rng)
            cut = (phrase_bars - 1) * meter.bar_length
            rhythm = [e for e in rhythm if e[0] < cut] + [(cut + a, b) for a, b in tail]
            steps = np.concatenate([steps, rng.choice(_STEP_CHOICES, size=len(rhythm), p=_STEP_P)])[:len(rhythm)]
        phrase_start = phrase_start_bar * meter.bar_length
        phrase_end = min(frame.bars, phrase_start_bar + phrase_bars) * meter.bar_length
        for (offset, length), step in zip(rhythm, steps, strict=True):
            start = phrase_start + offset
            if start >= phrase_end:
                break
            degree = int(np.clip(degree + step, MELODY_LOW, MELODY_HIGH))
            beat_offset = (start % meter.bar_length)
            if any(abs(beat_offset - b) < 1e-6 for b, _ in meter.beats):
                degree = _nearest_chord_tone(frame, start, degree)
            notes.append(Note(start, min(length, phrase_end - start) * 0.95,
                              scale.pitch(degree, chosen.melody_octave),
                              int(np.clip(chosen.velocity + rng.integers(-8, 9), 1, 127))))
    return _end_on_tonic(frame, chosen, notes)


def _nearest_chord_tone(frame: Frame, time: float, degree: int) -> int:
    root = frame.chord_at(time).root
    tones = {(root + 2 * i) % 7 for i in range(3)}
    for distance in (0, 1, -1, 2, -2, 3):
        if (degree + distance) % 7 in tones and MELODY_LOW <= degree + distance <= MELODY_HIGH:
            return degree + distance
    return degree


def _end_on_tonic(frame: Frame, chosen: Style, notes: list[Note]) -> list[Note]:
    last_bar = (frame.bars - 1) * frame.meter.bar_length
    kept = [n for n in notes if n.start < last_bar]
    final_degree = 7 if not kept else min((0, 7), key=lambda d: abs(frame.scale.pitch(d, chosen.melody_octave)
                                                                     - kept[-1].pitch))
    kept.append(Note(last_bar, frame.meter.bar_length * 0.95, frame.scale.pitch(final_degree, chosen.melody_octave),
                     chosen.velocity))
    return kept


def _vary(piece: Piece, rng: np.random.Generator, amount: float) -> None:
    """Move about ``amount`` of the melody's notes by a scale step or two,
    split some long notes, vary bass passing notes and add drum ghosts."""
    frame = piece.frame
    octave = style(piece.request.style).melody_octave
    for part in piece.parts:
        if part.name == "melody":
            varied: list[Note] = []
            for note in part.notes[:-1]:  # the final tonic stays
                if rng.random() < amount:
                    degree = frame.scale.degree_of(note.pitch, octave) + int(rng.choice([-2, -1, 1, 2]))
                    degree = int(np.clip(degree, MELODY_LOW, MELODY_HIGH))
                    note = Note(note.start, note.length, frame.scale.pitch(degree, octave), note.velocity)
                if note.length >= 0.9 and rng.random() < amount * 0.4:
                    half = note.length / 2
                    step = frame.scale.degree_of(note.pitch, octave) + 1
                    varied += [Note(note.start, half, note.pitch, note.velocity),
                               Note(note.start + half, half, frame.scale.pitch(step, octave), note.velocity - 6)]
                    continue
                varied.append(note)
            part.notes = varied + part.notes[-1:]
        elif part.name == "bass":
            for note in part.notes:
                on_downbeat = abs(note.start % frame.meter.bar_length) < 1e-6
                if not on_downbeat and rng.random() < amount * 0.3:
                    root = frame.chord_at(note.start).root
                    note.pitch = frame.scale.pitch(root + 2, 2)
        elif part.name == "drums":
            for bar_start in frame.bar_starts():
                for offset, length in frame.meter.beats:
                    if rng.random() < amount * 0.3:
                        part.notes.append(Note(bar_start + offset + length / 2, 0.1, parts.CLOSED_HAT, 45))


def _apply_swing(piece: Piece, swing: float) -> None:
    for part in piece.parts:
        for note in part.notes:
            if abs(note.start % 1.0 - 0.5) < 1e-6:
                note.start += swing
                note.length = max(0.05, note.length - swing)


def compose_piece(request: MusicRequest) -> Piece:
    request.validate()
    chosen = style(request.style)
    structure_seed = request.variation_of if request.variation_of >= 0 else request.seed
    bars = planned_bars(request)
    meter = parse_meter(request.time_signature)
    chords = _chord_timeline(request, chosen, bars, _rng(structure_seed, "progression"))
    frame = Frame(scale_for(request.key, request.mode), meter, bars, tuple(chords), chosen.chord_size,
                  chosen.velocity)
    written: dict[str, list[Note]] = {"melody": _melody(frame, chosen, _rng(structure_seed, "melody"))}
    chord_track = next(name for name in chosen.programs if name in ("chords", "pad", "strings"))
    written[chord_track] = parts.chords_part(frame, chosen.chord_pattern, _rng(structure_seed, "chords"))
    written["bass"] = parts.bass_part(frame, chosen.bass_pattern, _rng(structure_seed, "bass"))
    if "drums" in chosen.programs:
        written["drums"] = parts.drums_part(frame, chosen.drum_pattern, _rng(structure_seed, "drums"))
    if "timpani" in chosen.programs:
        written["timpani"] = parts.timpani_part(frame, _rng(structure_seed, "timpani"))
    piece = Piece(request, frame, [
        Part(name, program, name == "drums", written[name], chosen.volumes.get(name, 100))
        for name, program in chosen.programs.items()
    ])
    if request.variation_of >= 0 and request.variation_amount > 0:
        _vary(piece, _rng(request.seed, "variation"), request.variation_amount)
    if chosen.swing:
        _apply_swing(piece, chosen.swing)
    return piece


def audible_tracks(request: MusicRequest, names: list[str]) -> list[str]:
    """The track names that sound under the request's mute and solo."""
    solo = set(request.solo_tracks)
    return [name for name in names if (not solo or name in solo) and name not in request.muted_tracks]


def to_pretty_midi(piece: Piece, tracks: list[str] | None = None) -> Any:
    import pretty_midi

    request = piece.request
    midi = pretty_midi.PrettyMIDI(initial_tempo=float(request.tempo))
    midi.time_signature_changes.append(
        pretty_midi.TimeSignature(piece.frame.meter.numerator, piece.frame.meter.denominator, 0.0))
    midi.key_signature_changes.append(pretty_midi.KeySignature(key_signature_number(request.key, request.mode), 0.0))
    for part in piece.parts:
        if tracks is not None and part.name not in tracks:
            continue
        instrument = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum, name=part.name)
        instrument.control_changes.append(pretty_midi.ControlChange(7, part.volume, 0.0))
        for note in sorted(part.notes, key=lambda n: (n.start, n.pitch)):
            start = piece.seconds(note.start)
            end = piece.seconds(note.start + max(note.length, 0.05))
            instrument.notes.append(pretty_midi.Note(int(np.clip(note.velocity, 1, 127)), int(note.pitch), start, end))
        midi.instruments.append(instrument)
    return midi


def compose(request: MusicRequest, apply_mute: bool = True) -> Any:
    """The ``pretty_midi.PrettyMIDI`` of a request; muted tracks left out
    unless ``apply_mute`` is False (every track, e.g. for a DAW)."""
    piece = compose_piece(request)
    names = [part.name for part in piece.parts]
    return to_pretty_midi(piece, audible_tracks(request, names) if apply_mute else None)


def midi_bytes(midi: Any) -> bytes:
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def export_midi(request: MusicRequest, path: str | Path, apply_mute: bool = False) -> Path:
    """Write the request's piece as a Standard MIDI File (all tracks by
    default), with a ``.c2pa`` Content Credentials sidecar holding its recipe
    when this installation signs (a signing problem is logged; the file stays)."""
    from studio.core.credentials import write_signed
    from studio.core.jobs import Artifact
    from studio.core.library import make_recipe

    path = Path(path)
    write_signed(path, midi_bytes(compose(request, apply_mute=apply_mute)),
                 {**make_recipe(request, Artifact(b"", ".mid")), "export": "midi"})
    return path
