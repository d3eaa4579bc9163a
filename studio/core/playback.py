"""Audio playback through PortAudio (``sounddevice``) in a callback stream.

The player mixes its sources live inside PortAudio's audio thread: the
callback reads the current *program* (the sources with their gains, the
loop range, a pending seek), adds the next block of each source into the
output buffer and advances the position. The GUI thread never feeds audio:
it only swaps in a new program (an atomic attribute assignment) when tracks
or gains change, and reads ``position`` on a timer to draw the playhead.
So a busy GUI cannot make playback stutter, and muting or changing a gain
is heard within one block.

No sound card (CI, a headless server), a missing PortAudio library or a
device that refuses the stream all end in :class:`PlaybackUnavailable`, a
StudioError whose message says why; the rest of the studio keeps working.
``output_devices`` lists what can play; a device is chosen by name (indices
change when devices come and go) and "" means the system default.

Qt-free, so it is tested on its own against a real stream (a null ALSA
device in the tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from studio.core.jobs import StudioError

BLOCK_FRAMES = 512  # about 11 ms at 48 kHz: the granularity of seeks, mutes and the playhead
_lock = threading.Lock()  # PortAudio's device list is process-wide


class PlaybackUnavailable(StudioError):
    """Audio cannot be played on this computer right now (the message says why)."""


class OutputDevice(NamedTuple):
    index: int
    name: str
    channels: int
    default_rate: float
    is_default: bool


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
        raise PlaybackUnavailable(f"playback is unavailable: {exc}") from exc
    return sounddevice


def output_devices(refresh: bool = False) -> list[OutputDevice]:
    """The devices that can play sound ([] when there are none). ``refresh``
    re-scans (PortAudio otherwise keeps the list it found at start-up)."""
    try:
        sd = _sounddevice()
    except PlaybackUnavailable:
        return []
    with _lock:
        if refresh:
            sd._terminate()
            sd._initialize()
        try:
            devices = sd.query_devices()
            default = sd.default.device[1]
        except sd.PortAudioError:
            return []
    if isinstance(default, str):
        default = -1
    return [OutputDevice(i, str(d["name"]), int(d["max_output_channels"]), float(d["default_samplerate"]),
                         i == default)
            for i, d in enumerate(devices) if d["max_output_channels"] > 0]


@dataclass(frozen=True)
class Program:
    """What the callback plays; replaced as a whole, never changed in place."""

    sources: tuple[tuple[np.ndarray, float], ...]  # (samples (frames, channels), linear gain)
    frames: int  # where playback ends
    loop: tuple[int, int] | None = None


class Player:
    """One output stream that plays a mix of sources.

    ``state`` is "stopped", "playing" or "paused". While playing, ``position``
    is the next frame the callback will mix, written only by the callback."""

    def __init__(self, device: str = "", block_frames: int = BLOCK_FRAMES) -> None:
        self.device = device
        self.block_frames = block_frames
        self.sample_rate = 0
        self.channels = 2
        self.program = Program((), 0)
        self.position = 0
        self.cue = 0  # where the last Play started; Stop returns there
        self.state = "stopped"
        self.device_note = ""  # e.g. the chosen device was not found and the default is used
        self.callbacks = 0
        self.first_callback_s: float | None = None  # Play -> first callback, for the benchmark
        self._seek: int | None = None
        self._ended = False
        self._play_started = 0.0
        self._stream: Any = None
        self._sd: Any = None
        self._stream_key: tuple[Any, ...] = ()

    # --- what to play (GUI thread) ------------------------------------------------
    def set_sources(self, sources: Sequence[tuple[np.ndarray, float]], sample_rate: int) -> None:
        sources = tuple((np.asarray(s, np.float32), float(g)) for s, g in sources)
        frames = max((s.shape[0] for s, _ in sources), default=0)
        channels = max((s.shape[1] for s, _ in sources), default=1)
        if sample_rate != self.sample_rate or min(2, channels) != self.channels:
            self._close_stream()  # the stream is opened for one rate and channel count
        self.sample_rate = int(sample_rate)
        self.channels = min(2, channels)
        self.program = Program(sources, frames, self.program.loop)

    def set_loop(self, loop: tuple[int, int] | None) -> None:
        if loop is not None and loop[1] - loop[0] < 1:
            loop = None
        self.program = Program(self.program.sources, self.program.frames, loop)

    def seek(self, frame: int) -> None:
        frame = max(0, min(int(frame), self.program.frames))
        if self.state == "playing":
            self._seek = frame  # the callback takes it at its next block
        else:
            self.position = frame
        self.cue = frame

    # --- transport (GUI thread) ---------------------------------------------------------
    def play(self, from_frame: int | None = None) -> None:
        if self.state == "playing":
            return
        if from_frame is not None:
            self.position = max(0, min(int(from_frame), self.program.frames))
        loop = self.program.loop
        if loop is not None and not loop[0] <= self.position < loop[1]:
            self.position = loop[0]  # looping a selection starts at its beginning
        elif self.position >= self.program.frames and loop is None:
            self.position = 0
        if self.state == "stopped":
            self.cue = self.position
        self._ended = False
        self._seek = None
        self.first_callback_s = None
        self._play_started = time.perf_counter()
        stream = self._open_stream()
        self.state = "playing"
        try:
            if not stream.stopped:
                stream.stop()  # finished by CallbackStop: must be stopped before it can start again
            stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError, or the device vanished
            self.state = "stopped"
            self._close_stream()
            raise PlaybackUnavailable(f"playback failed: {exc}") from exc

    def pause(self) -> None:
        if self.state == "playing":
            self._halt()
            self.state = "paused"

    def toggle(self) -> None:
        self.pause() if self.state == "playing" else self.play()

    def stop(self) -> None:
        """Stop and go back to where playback started."""
        self._halt()
        self.state = "stopped"
        self.position = self.cue

    def poll(self) -> int:
        """Call on a GUI timer: notices the end of the clip; returns the position."""
        if self.state == "playing" and self._ended:
            self._halt()
            self.state = "stopped"
            self.position = self.cue
        return self.position

    def close(self) -> None:
        self._halt()
        self.state = "stopped"
        self._close_stream()

    # --- the mix (audio thread) -------------------------------------------------------------
    def render(self, out: np.ndarray) -> bool:
        """Mix the next ``len(out)`` frames into ``out`` and advance; False once
        the end is reached (the rest of ``out`` is silence)."""
        program = self.program
        if self._seek is not None:
            self.position, self._seek = self._seek, None
        loop = program.loop
        if loop is not None and not 0 <= loop[0] < min(loop[1], program.frames):
            loop = None  # a loop outside the clip: play on as if there were none
        out.fill(0.0)
        frames, done, position = out.shape[0], 0, self.position
        while done < frames:
            end = program.frames if loop is None else min(loop[1], program.frames)
            if loop is not None and not loop[0] <= position < end:
                position = loop[0]  # wrap around (or jump into the loop)
            count = min(frames - done, end - position)
            if count <= 0:
                break
            target = out[done:done + count]
            for samples, gain in program.sources:
                part = samples[position:position + count, :target.shape[1]]
                if part.shape[0]:
                    target[:part.shape[0]] += part * np.float32(gain)  # mono broadcasts to stereo
            done += count
            position += count
        self.position = position
        return loop is not None or position < program.frames

    def _callback(self, out: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        if self.first_callback_s is None:
            self.first_callback_s = time.perf_counter() - self._play_started
        self.callbacks += 1
        if not self.render(out):
            self._ended = True
            raise self._sd.CallbackStop

    # --- the stream -------------------------------------------------------------------------
    def _device_index(self, sd: Any) -> int | None:
        self.device_note = ""
        if not self.device:
            return None
        for device in output_devices():
            if device.name == self.device:
                return device.index
        self.device_note = f"“{self.device}” is not connected; playing on the default output"
        return None

    def _open_stream(self) -> Any:
        sd = _sounddevice()
        self._sd = sd
        if self.sample_rate <= 0:
            raise PlaybackUnavailable("there is nothing to play")
        index = self._device_index(sd)
        key = (index, self.sample_rate, self.channels, self.block_frames)
        if self._stream is not None and key == self._stream_key:
            return self._stream
        self._close_stream()
        try:
            with _lock:
                stream = sd.OutputStream(samplerate=self.sample_rate, channels=self.channels, dtype="float32",
                                         blocksize=self.block_frames, device=index, callback=self._callback,
                                         latency="low")
        except sd.PortAudioError as exc:
            raise PlaybackUnavailable(_unavailable_message(exc, self.sample_rate)) from exc
        self._stream, self._stream_key = stream, key
        return stream

    def _halt(self) -> None:
        if self._stream is not None:
            try:
                self._stream.abort()  # drop queued buffers: pause and stop are immediate
            except Exception:  # noqa: BLE001 - a vanished device: nothing left to stop
                self._close_stream()

    def _close_stream(self) -> None:
        stream, self._stream, self._stream_key = self._stream, None, ()
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a dead stream must not raise
                pass
        if self.state == "playing":
            self.state = "paused"


def _unavailable_message(exc: Exception, rate: int) -> str:
    text = str(exc)
    if "device" in text.lower() and ("-1" in text or "unanticipated" in text.lower()):
        return "playback is unavailable: no audio output device was found"
    if "sample rate" in text.lower():
        return f"playback is unavailable: the output device cannot play {rate} Hz audio"
    return f"playback is unavailable: {text}"
