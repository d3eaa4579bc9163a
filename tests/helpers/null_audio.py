"""A silent sound card for tests of the real playback code.

PortAudio reads ALSA's configuration when it starts; a HOME holding an
``.asoundrc`` that makes ``default`` a null device gives it one output
device whose callback runs (as fast as it can: a null device is not paced
in real time). The fixture re-initialises PortAudio inside that HOME and
again after it, so tests that follow see the machine's real devices (on CI:
none) and not the null one."""

from __future__ import annotations

import pytest

from studio.core.playback import output_devices



@pytest.fixture
def null_audio_device(tmp_path, monkeypatch):
    home = tmp_path / "null-audio-home"
    home.mkdir()
    (home / ".asoundrc").write_text("pcm.!default { type null }\n")
    monkeypatch.setenv("HOME", str(home))
    devices = output_devices(refresh=True)
    if not devices:
        pytest.skip("PortAudio has no ALSA backend here, so no null device can be made")
    yield devices[0]
    monkeypatch.undo()
    output_devices(refresh=True)


@pytest.fixture
def no_audio_device(tmp_path, monkeypatch):
    """The machine as CI sees it: no output device at all."""
    home = tmp_path / "no-audio-home"
    home.mkdir()
    (home / ".asoundrc").write_text("pcm.!default { type hw card 99 }\n")
    monkeypatch.setenv("HOME", str(home))
    output_devices(refresh=True)
    yield
    monkeypatch.undo()
    output_devices(refresh=True)
