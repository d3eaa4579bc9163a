"""Music: the composer rendered with a General MIDI SoundFont, or MusicGen.

``model_id`` empty uses the starter SoundFont (TimGM6mb, shipped with
pretty-midi); a SoundFont card (``.sf2``/``.sf3`` in a model folder)
renders with that one; a MusicGen card generates from the prompt instead.

:func:`track_names` lists the tracks a style writes, for mute and solo; the
composer (:mod:`.composer`) gives the MIDI of any request."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.jobs import Artifact, CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines.audio.common import ChunkStreamer, audio_artifact
from studio.engines.audio.music.composer import audible_tracks, compose_piece, midi_bytes, to_pretty_midi
from studio.engines.audio.requests import SOUNDFONT_STARTER_ID, STYLE_TRACKS, MusicRequest

PREVIEW_INTERVAL_S = 0.1  # renders run far faster than real time: send about ten chunks a second


def track_names(style: str) -> tuple[str, ...]:
    return STYLE_TRACKS[style]


def _model_card(model_id: str) -> ModelCard:
    """The SoundFont or MusicGen card of a request; empty means the starter SoundFont."""
    from studio.engines.audio.models import audio_card, card_or_none

    if model_id:
        return audio_card(model_id)
    card = card_or_none(SOUNDFONT_STARTER_ID)
    if card is None:
        raise StudioError("no SoundFont was found: install pretty-midi (it ships TimGM6mb.sf2)"
                          " or put an .sf2 file in a model folder")
    return card


def _load_soundfont(card: ModelCard) -> bytes:
    return card.path.read_bytes()


def run(request: MusicRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines.audio.music.musicgen import is_musicgen

    request.validate()
    card = _model_card(request.model_id)
    if is_musicgen(card):
        return _run_musicgen(card, request, report, cancel)
    if card.format != "soundfont":
        raise StudioError(f"{card.name} cannot make music; choose a SoundFont or a MusicGen model")
    report.progress(0, 3, "composing")
    piece = compose_piece(request)
    midi = to_pretty_midi(piece, audible_tracks(request, [part.name for part in piece.parts]))
    recipe = {"engine": "composer", "soundfont": card.name, "bars": piece.frame.bars,
              "tracks": [instrument.name for instrument in midi.instruments],
              "chords": [span.root for span in piece.frame.chords]}
    if request.format == "mid":
        return Artifact(data=midi_bytes(midi), suffix=".mid", duration_s=float(midi.get_end_time()),
                        meta={"recipe": recipe})
    return _render(card, midi, request, recipe, report, cancel)


def _render(card: ModelCard, midi: Any, request: MusicRequest, recipe: dict[str, Any], report: Reporter,
            cancel: CancelToken) -> Artifact:
    from studio.engines.audio.models import load_cached
    from studio.engines.audio.music import render

    soundfont = load_cached(card, _load_soundfont, lambda value: isinstance(value, bytes))
    report.progress(1, 3, "rendering")
    stream = ChunkStreamer(report, render.SAMPLE_RATE, PREVIEW_INTERVAL_S)
    samples = render.render(midi, soundfont, cancel, stream.push, request.duration_s)
    stream.flush()
    if float(np.max(np.abs(samples))) < 1e-4:
        raise StudioError(f"{card.name} produced silence: it may lack General MIDI instruments")
    report.progress(3, 3, "done")
    return audio_artifact(samples, render.SAMPLE_RATE, request.format, recipe)


def _run_musicgen(card: ModelCard, request: MusicRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines.audio.music.musicgen import generate

    if request.format == "mid":
        raise StudioError("MusicGen makes audio, not MIDI; choose wav or flac, or the composer")
    samples, rate = generate(card, request, report, cancel)
    return audio_artifact(samples, rate, request.format, {"engine": "musicgen", "model": card.name})
