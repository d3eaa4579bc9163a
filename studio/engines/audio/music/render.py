"""Rendering MIDI to audio with a SoundFont through ``tinysoundfont``.

Events (channel volume, note off, note on) are sorted by time and the
synthesiser is run up to each event's exact sample, so timing is
sample-accurate and the same MIDI always renders the same samples. Audio is
streamed in blocks while it renders; a stateless soft limiter keeps the
blocks identical to the finished buffer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from studio.core.jobs import CancelToken, StudioError
from studio.engines.audio.common import soft_limit

SAMPLE_RATE = 44_100
CHANNELS = 2
DRUM_CHANNEL = 9
MAX_BLOCK = 4096
TAIL_S = 1.2  # let the last notes ring out
FADE_S = 0.3  # fade applied when the audio is cut to a requested duration
MASTER_GAIN_DB = 6.0  # General MIDI fonts are mixed for many voices; a few tracks need lifting
_ORDER = {"control": 0, "off": 1, "on": 2}


def _events(midi: Any) -> tuple[list[tuple[float, int, str, int, int, int]], dict[int, tuple[int, bool]]]:
    """(time, order, kind, channel, a, b) for every instrument, and each
    channel's (program, is_drum)."""
    events, programs = [], {}
    melodic_channels = [c for c in range(16) if c != DRUM_CHANNEL]
    for instrument in midi.instruments:
        if instrument.is_drum:
            channel = DRUM_CHANNEL
        elif melodic_channels:
            channel = melodic_channels.pop(0)
        else:
            raise StudioError("the piece has more than 15 melodic tracks; a SoundFont synthesiser plays 15 at most")
        programs[channel] = (instrument.program, instrument.is_drum)
        for change in instrument.control_changes:
            events.append((change.time, _ORDER["control"], "control", channel, change.number, change.value))
        for note in instrument.notes:
            events.append((note.start, _ORDER["on"], "on", channel, note.pitch, note.velocity))
            events.append((note.end, _ORDER["off"], "off", channel, note.pitch, 0))
    events.sort(key=lambda e: (e[0], e[1], e[3], e[4]))
    return events, programs


def render(midi: Any, soundfont: bytes, cancel: CancelToken, on_block: Callable[[np.ndarray], None],
           duration_s: float = 0.0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Stereo float32 ``(n, 2)`` audio of ``midi``; ``on_block`` receives each
    finished block in order. ``duration_s`` > 0 cuts (and fades) the audio to
    exactly that length; otherwise the last notes ring out for ``TAIL_S``."""
    import tinysoundfont

    synth = tinysoundfont.Synth(gain=MASTER_GAIN_DB, samplerate=sample_rate)
    try:
        font = synth.sfload(soundfont)
    except Exception as exc:  # noqa: BLE001 - the library raises several kinds for a damaged file
        raise StudioError(f"the SoundFont could not be read: {exc}") from exc
    events, programs = _events(midi)
    for channel, (program, is_drum) in programs.items():
        try:
            synth.program_select(channel, font, 0, 0 if is_drum else program, is_drums=is_drum)
        except RuntimeError:  # a small SoundFont may lack the instrument: fall back to its first preset
            synth.program_select(channel, font, 0, 0, is_drums=is_drum)
    end_s = duration_s if duration_s > 0 else (max((e[0] for e in events), default=0.0) + TAIL_S)
    total = max(1, int(round(end_s * sample_rate)))
    output = np.zeros((total, CHANNELS), dtype=np.float32)
    fade = _fade_out(total, sample_rate) if duration_s > 0 else None
    position = 0
    pending = 0  # frames rendered but not yet handed to on_block

    def advance(target: int) -> None:
        nonlocal position, pending
        while position < target:
            count = min(MAX_BLOCK, target - position)
            block = np.frombuffer(synth.generate(count), dtype=np.float32).reshape(count, CHANNELS)
            output[position:position + count] = block
            position += count
            pending += count
            if pending >= MAX_BLOCK:
                flush()

    def flush() -> None:
        nonlocal pending
        if pending:
            start = position - pending
            block = soft_limit(output[start:position])
            if fade is not None:
                block *= fade[start:position, None]
            output[start:position] = block
            on_block(block)
            pending = 0

    for time, _order, kind, channel, a, b in events:
        target = min(total, int(round(time * sample_rate)))
        advance(target)
        if position >= total:
            break
        cancel.raise_if_cancelled()
        if kind == "on":
            synth.noteon(channel, a, b)
        elif kind == "off":
            synth.noteoff(channel, a)
        else:
            synth.control_change(channel, a, b)
    advance(total)
    flush()
    return output


def _fade_out(total: int, sample_rate: int) -> np.ndarray:
    envelope = np.ones(total, dtype=np.float32)
    length = min(total, int(FADE_S * sample_rate))
    envelope[total - length:] = np.linspace(1.0, 0.0, length, dtype=np.float32)
    return envelope
