"""Audio workspace benchmark: waveform paint time against clip length, and
the time from Play to the first audio callback.

Paint: one waveform lane 1,500 x 300 pixels, stereo, painted into an image
exactly as on screen (the envelope from the pyramid, rasterised, drawn),
with the lane's image cache invalidated before every paint so each one is
complete. Cases: a 1-second clip fitted to the lane (the baseline), a
1-hour 48 kHz stereo clip fitted to the lane (full zoom-out) and the same
hour at a mid zoom (one minute across the lane, in the middle of the file).
Goal: the hour paints at most 1.5 times as long as the second, and every
paint takes under 16 ms.

Play latency: ``Player.play()`` to the first PortAudio callback, median of
several starts. It uses the machine's default output device when there is
one; otherwise a null ALSA device (a temporary HOME whose ``.asoundrc``
makes ``default`` a null sink, whose callback runs but is not paced in real
time), and says which in the table; with neither it reports null. Goal:
under 50 ms.

When ``benchmarks/audio_engines.py`` exists it is run too and its speech
and music real-time factors are merged in, so the last line of output is
one JSON object: paint_ms_1h, paint_ratio_1h_vs_1s, piper_rtf, espeak_rtf,
music_rtf, play_latency_ms.

Usage: python benchmarks/audio.py [--paints N] [--starts N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

RATE = 48_000
LANE_WIDTH, LANE_HEIGHT = 1500, 300
GOAL_RATIO, GOAL_PAINT_MS, GOAL_LATENCY_MS = 1.5, 16.0, 50.0


def _clip(seconds: float) -> np.ndarray:
    """Stereo noise under a slow swell, built by tiling ten seconds (an hour
    of fresh random numbers would take longer to make than to measure)."""
    rng = np.random.default_rng(0)
    piece_frames = min(int(seconds * RATE), 10 * RATE)
    t = np.arange(piece_frames) / RATE
    swell = (0.2 + 0.6 * np.abs(np.sin(2 * np.pi * 0.3 * t)))[:, None]
    piece = (rng.uniform(-1, 1, (piece_frames, 2)) * swell).astype(np.float32)
    frames = int(seconds * RATE)
    repeats = -(-frames // piece_frames)
    return np.tile(piece, (repeats, 1))[:frames]


def _paint_ms(lane, paints: int) -> float:
    from PySide6.QtGui import QImage, QPainter

    image = QImage(LANE_WIDTH, LANE_HEIGHT, QImage.Format.Format_ARGB32_Premultiplied)
    times = []
    for _ in range(paints + 2):
        lane.content_changed()  # drop the cached image: measure the whole paint
        started = time.perf_counter()
        painter = QPainter(image)
        lane.paint(painter, LANE_WIDTH, LANE_HEIGHT)
        painter.end()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[2:])


def measure_paint(paints: int) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from studio.core.audio_mix import Session
    from studio.core.waveform_pyramid import WaveformPyramid
    from studio.qt.audio.waveform import Timeline, WaveformLane

    app = QApplication.instance() or QApplication([])  # noqa: F841 - painting needs the application
    results: dict[str, float] = {}
    for label, seconds in (("1s", 1.0), ("1h", 3600.0)):
        samples = _clip(seconds)
        started = time.perf_counter()
        pyramid = WaveformPyramid(samples)
        results[f"pyramid_s_{label}"] = time.perf_counter() - started
        session = Session()
        track = session.add(label, samples, RATE, copy=False)
        timeline = Timeline()
        timeline.set_content(track.clip.frames, RATE)
        timeline.set_width(LANE_WIDTH)
        lane = WaveformLane(track, pyramid, timeline)
        results[f"paint_ms_{label}_fit"] = _paint_ms(lane, paints)
        if label == "1h":
            middle = track.clip.frames // 2
            timeline.zoom_to(middle, middle + 60 * RATE)
            results["paint_ms_1h_mid"] = _paint_ms(lane, paints)
            results["mid_zoom_frames_per_pixel"] = timeline.fpp
        del lane, track, session, pyramid, samples
    return results


def measure_latency(starts: int) -> tuple[float | None, str]:
    """Median ms from Play to the first callback, and the device it used."""
    from studio.core.playback import Player, output_devices

    devices = output_devices()
    device_label = "default output device"
    home = None
    if not devices:
        home = tempfile.TemporaryDirectory()
        Path(home.name, ".asoundrc").write_text("pcm.!default { type null }\n")
        os.environ["HOME"] = home.name
        devices = output_devices(refresh=True)
        device_label = "null ALSA device (no sound card here)"
    if not devices:
        return None, "no device: PortAudio found none, not even a null ALSA device"
    player = Player()
    player.set_sources([(np.zeros((RATE * 5, 2), np.float32), 1.0)], RATE)
    player.set_loop((0, RATE * 5))
    latencies = []
    try:
        for _ in range(starts):
            player.play()
            deadline = time.perf_counter() + 2.0
            while player.first_callback_s is None and time.perf_counter() < deadline:
                time.sleep(0.0002)
            if player.first_callback_s is not None:
                latencies.append(player.first_callback_s * 1000)
            player.stop()
            player.close()  # each Play opens its stream, as the first Play after a change does
    finally:
        player.close()
        if home is not None:
            home.cleanup()
    return (statistics.median(latencies) if latencies else None), device_label


def engine_figures() -> dict[str, float | None]:
    script = REPO / "benchmarks" / "audio_engines.py"
    keys = ("piper_rtf", "espeak_rtf", "music_rtf")
    if not script.exists():
        print("benchmarks/audio_engines.py not found: speech and music figures are null")
        return dict.fromkeys(keys)
    result = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=1800)
    output = result.stdout.strip().splitlines()
    print("\n".join(output[:-1]))
    try:
        figures = json.loads(output[-1])
    except (IndexError, ValueError):
        print(f"audio_engines.py gave no JSON (exit {result.returncode}): {result.stderr.strip()[-300:]}")
        return dict.fromkeys(keys)
    return {key: figures.get(key) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paints", type=int, default=30)
    parser.add_argument("--starts", type=int, default=20)
    args = parser.parse_args()

    paint = measure_paint(args.paints)
    latency_ms, device = measure_latency(args.starts)
    paint_1h = max(paint["paint_ms_1h_fit"], paint["paint_ms_1h_mid"])
    ratio = paint_1h / paint["paint_ms_1s_fit"]

    print(f"Waveform lane {LANE_WIDTH} x {LANE_HEIGHT} px, stereo, 48 kHz; median of {args.paints} full paints")
    print(f"{'case':<48}{'paint ms':>10}")
    print(f"{'1 second, fitted (baseline)':<48}{paint['paint_ms_1s_fit']:>10.2f}")
    print(f"{'1 hour, fitted (full zoom-out)':<48}{paint['paint_ms_1h_fit']:>10.2f}")
    mid = f"1 hour, 1 minute on screen ({paint['mid_zoom_frames_per_pixel']:.0f} frames/px)"
    print(f"{mid:<48}{paint['paint_ms_1h_mid']:>10.2f}")
    print(f"pyramid build: 1 s {paint['pyramid_s_1s'] * 1000:.1f} ms, 1 h {paint['pyramid_s_1h']:.2f} s (once per clip)")
    print(f"ratio 1 h / 1 s: {ratio:.2f} (goal <= {GOAL_RATIO}); slowest paint {paint_1h:.2f} ms "
          f"(goal < {GOAL_PAINT_MS} ms)")
    if latency_ms is None:
        print(f"Play -> first callback: not measured ({device})")
    else:
        print(f"Play -> first callback: {latency_ms:.2f} ms median of {args.starts} on the {device} "
              f"(goal < {GOAL_LATENCY_MS} ms)")
    print()
    figures = engine_figures()
    print(json.dumps({
        "paint_ms_1h": round(paint_1h, 3),
        "paint_ratio_1h_vs_1s": round(ratio, 3),
        **figures,
        "play_latency_ms": None if latency_ms is None else round(latency_ms, 3),
    }))


if __name__ == "__main__":
    main()
