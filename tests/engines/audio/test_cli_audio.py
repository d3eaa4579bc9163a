"""``studio generate speech|music|sfx`` run as a user would: files,
library entries and recipes; refusals are one line and non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pretty_midi
import soundfile


def _studio(studio_home, *args):
    env = {**os.environ, "STUDIO_HOME": str(studio_home)}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env,
                           timeout=180)


def test_generate_speech_music_and_sfx_write_files_and_library_entries(studio_home, tmp_path):
    runs = {
        "speech.flac": ["speech", "--prompt", "Testing one two. Three four.", "--model", "espeak-ng",
                        "--preset", "announcer", "--format", "flac"],
        "music.wav": ["music", "--style", "chiptune", "--key", "G", "--mode", "dorian", "--tempo", "150",
                      "--bars", "2", "--seed", "5"],
        "music.mid": ["music", "--style", "rock", "--bars", "2", "--format", "mid"],
        "sfx.wav": ["sfx", "--preset", "footsteps", "--surface", "gravel", "--duration-s", "1.5", "--no-stereo"],
    }
    for name, args in runs.items():
        out = tmp_path / name
        result = _studio(studio_home, "generate", *args, "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(str(out))
    assert soundfile.info(tmp_path / "speech.flac").format == "FLAC"
    assert soundfile.info(tmp_path / "sfx.wav").channels == 1
    assert soundfile.info(tmp_path / "sfx.wav").duration == 1.5
    assert [i.name for i in pretty_midi.PrettyMIDI(str(tmp_path / "music.mid")).instruments] == [
        "melody", "chords", "bass", "drums"]
    # --out takes the MIDI's Content Credentials sidecar along; `studio info` checks it.
    assert (tmp_path / "music.mid.c2pa").exists()
    assert "Content Credentials: valid" in _studio(studio_home, "info", str(tmp_path / "music.mid")).stdout
    recipe = json.loads(_studio(studio_home, "info", "--json", str(tmp_path / "music.wav")).stdout)
    assert recipe["request"]["mode"] == "dorian" and recipe["request"]["tempo"] == 150.0
    assert recipe["engine"] == "composer" and recipe["ai_generated"] is True
    listing = _studio(studio_home, "library", "list").stdout
    assert listing.count(" audio ") == 4


def test_refusals_are_one_clear_line(studio_home):
    cases = [
        (["generate", "speech", "--prompt", "hi", "--reference-audio", "clip.wav"], "consent"),
        (["generate", "music", "--style", "polka"], "invalid choice: 'polka'"),
        (["generate", "sfx", "--preset", "rain", "--duration-s", "0"], "duration must be between"),
        (["generate", "speech", "--prompt", "hi", "--model", "no-such-voice"], "was not found"),
    ]
    for args, message in cases:
        result = _studio(studio_home, *args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert message in lines[-1] and "Traceback" not in result.stderr, result.stderr
