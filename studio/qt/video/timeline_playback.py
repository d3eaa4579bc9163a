"""The timeline's playhead and transport: play/pause, frame steps and the
J/K/L shuttle editors know (J plays backward, L forward, pressed again they
double the speed, K stops).

Playback is clocked by time, not by timer ticks: a ~60 Hz timer sets the
playhead to where the elapsed time says it should be, so a slow repaint
drops frames instead of slowing playback down. At normal speed forward the
timeline's audio plays too (through the studio's callback-stream player),
and its position is the clock, so picture and sound stay together. With no
sound device, playback runs silently on the timer clock.
"""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

TICK_MS = 16
SHUTTLE_SPEEDS = (1.0, 2.0, 4.0, 8.0)


class TimelinePlayback(QObject):
    playhead_changed = Signal(int)
    state_changed = Signal()
    message = Signal(str)

    def __init__(self, fps: float = 24.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fps = fps
        self.playhead = 0
        self.speed = 0.0  # frames of timeline per frame of real time; negative plays backward
        self.end_frame: Callable[[], int] = lambda: 0
        self.audio_source: Callable[[], tuple | None] | None = None  # () -> (samples (n, 2), rate)
        self._player = None
        self._audio_failed = False
        self._anchor_frame = 0.0
        self._anchor_time = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    @property
    def playing(self) -> bool:
        return self.speed != 0.0

    # --- transport ------------------------------------------------------------------
    def seek(self, frame: int) -> None:
        frame = max(0, int(frame))
        if self.playing:
            self._anchor(frame)
            if self._player is not None and self._player.state == "playing":
                self._player.seek(int(frame / self.fps * self._player.sample_rate))
        if frame != self.playhead:
            self.playhead = frame
            self.playhead_changed.emit(frame)

    def step(self, frames: int) -> None:
        self.pause()
        self.seek(self.playhead + frames)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play(1.0)

    def play(self, speed: float = 1.0) -> None:
        if speed == 0:
            self.pause()
            return
        if speed > 0 and self.playhead >= self.end_frame() > 0:
            self.seek(0)  # play at the end starts over
        self._stop_audio()
        self.speed = speed
        self._anchor(self.playhead)
        if speed == 1.0:
            self._start_audio()
        self._timer.start()
        self.state_changed.emit()

    def pause(self) -> None:
        if not self.playing:
            return
        self.speed = 0.0
        self._timer.stop()
        self._stop_audio()
        self.state_changed.emit()

    def shuttle_forward(self) -> None:
        """L: play forward, faster each press."""
        self.play(_next_speed(self.speed) if self.speed > 0 else 1.0)

    def shuttle_backward(self) -> None:
        """J: play backward, faster each press."""
        self.play(-_next_speed(-self.speed) if self.speed < 0 else -1.0)

    def close(self) -> None:
        self.pause()
        if self._player is not None:
            self._player.close()
            self._player = None

    # --- clock ------------------------------------------------------------------------
    def _anchor(self, frame: float) -> None:
        self._anchor_frame = float(frame)
        self._anchor_time = time.perf_counter()

    def _tick(self) -> None:
        player = self._player
        if player is not None and player.state == "playing":
            position = player.poll()
            frame = position / player.sample_rate * self.fps
        else:
            frame = self._anchor_frame + (time.perf_counter() - self._anchor_time) * self.fps * self.speed
        end = self.end_frame()
        if frame < 0 or (self.speed > 0 and frame >= end):
            frame = 0 if frame < 0 else max(end - 1, 0)
            self.pause()
        if int(frame) != self.playhead:
            self.playhead = int(frame)
            self.playhead_changed.emit(self.playhead)

    # --- sound ------------------------------------------------------------------------
    def _start_audio(self) -> None:
        if self.audio_source is None or self._audio_failed:
            return
        from studio.core.playback import PlaybackUnavailable, Player

        try:
            audio = self.audio_source()
            if audio is None:
                return
            samples, rate = audio
            if self._player is None:
                self._player = Player()
            self._player.set_sources([(samples, 1.0)], rate)
            self._player.play(int(self.playhead / self.fps * rate))
        except PlaybackUnavailable as exc:
            self._audio_failed = True  # say it once; the picture plays on without sound
            self._player = None
            self.message.emit(str(exc))

    def _stop_audio(self) -> None:
        if self._player is not None and self._player.state == "playing":
            self._player.pause()


def _next_speed(current: float) -> float:
    for speed in SHUTTLE_SPEEDS:
        if speed > current:
            return speed
    return SHUTTLE_SPEEDS[-1]
