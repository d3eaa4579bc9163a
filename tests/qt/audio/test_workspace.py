"""The Audio workspace in the main window: speech streams into a track that
grows while the job runs and is then replaced by the stored file; each tab
builds its own request and remembers its form; reuse settings goes to the
right tab; library items open as tracks; the mix and a composed piece's
MIDI export; and without a sound card the workspace says playback is
unavailable while everything else works."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from studio.core import provenance
from studio.core.audio_mix import decode
from studio.core.credentials import read_credentials
from studio.core.jobs import JobState
from studio.engines import registry
from studio.engines.audio.requests import MusicRequest, SfxRequest, SpeechRequest
from studio.qt.audio.workspace import SESSION_RATE

SPEECH = ("The lighthouse keeper woke before dawn. He climbed the stairs. The lamp was cold. "
          "Outside, the sea was grey and calm. A gull cried once. He lit the wick. "
          "Light swept the water. The ships would see it now.")


def _show_audio(qtbot, window):
    missing = [kind for kind in ("speech", "music", "sfx") if kind not in registry.ENGINES]
    assert not missing, f"audio engines not registered: {missing}"
    workspace = window.show_workspace("audio")
    qtbot.waitUntil(workspace.isVisible)  # a workspace built on demand is shown by a queued call
    return workspace


@pytest.fixture
def audio(qtbot, window):
    return _show_audio(qtbot, window)


def _generate(qtbot, window, workspace, timeout: int = 30000):
    with qtbot.waitSignal(window.runner.job_finished, timeout=timeout) as finished:
        job = workspace.generate()
        assert job is not None, workspace.error_text()
    _, item = finished.args
    qtbot.waitUntil(lambda: workspace.tracks.track_for_source(str(item.path)) is not None, timeout=timeout)
    return job, item


def test_speech_grows_a_track_while_it_streams_then_the_file_replaces_it(qtbot, window, audio):
    audio.set_kind("speech")
    audio.prompt_edit.setPlainText(SPEECH)
    audio.pages["speech"].seed_field.random_button.setChecked(False)
    lengths: list[int] = []

    def follow_live_tracks():
        for track in audio.tracks.session.tracks:
            if "(generating…)" in track.name:
                lengths.append(track.clip.frames)

    audio.tracks.mix_changed.connect(follow_live_tracks)
    job, item = _generate(qtbot, window, audio)
    track = audio.tracks.track_for_source(str(item.path))
    # Several chunks arrived while the job ran, each making the track longer.
    growth = [b for a, b in zip(lengths, lengths[1:]) if b > a]
    assert len(growth) >= 2, lengths
    samples, rate = decode(item.path)
    assert track.clip.frames == pytest.approx(len(samples) * SESSION_RATE / rate, abs=2)
    assert max(lengths) <= track.clip.frames
    assert track.name.startswith("Speech: The lighthouse keeper")
    assert track.recipe["request"]["prompt"] == SPEECH
    assert audio.tracks.session.tracks == [track]  # the live track became the result, not a second one
    assert float(np.sqrt(np.mean(track.clip.samples ** 2))) > 0.01
    assert window.services.queue.get(job.id).state is JobState.FINISHED
    assert audio.tracks.timeline.frames == track.clip.frames


def test_each_tab_builds_its_own_request_and_the_forms_survive_a_restart(qtbot, open_window):
    window = open_window(background=False)
    audio = _show_audio(qtbot, window)
    audio.set_kind("music")
    music = audio.pages["music"].form
    music.set_value("style", "chiptune")
    music.set_value("key", "F#")
    music.set_value("tempo", 140.0)
    audio.pages["music"].parts.buttons["drums"][0].click()  # mute the drums
    request = audio.build_request()
    assert isinstance(request, MusicRequest)
    assert (request.style, request.key, request.tempo, request.muted_tracks) == ("chiptune", "F#", 140.0, ("drums",))
    audio.set_kind("sfx")
    audio.pages["sfx"].form.set_value("preset", "footsteps")
    audio.pages["sfx"].form.set_value("surface", "gravel")
    request = audio.build_request()
    assert isinstance(request, SfxRequest) and (request.preset, request.surface) == ("footsteps", "gravel")
    audio.set_kind("speech")
    audio.prompt_edit.setPlainText("")
    assert audio.generate() is None and audio.error_text() == "there is no text to speak"
    audio.prompt_edit.setPlainText("Bonjour.")
    audio.pages["speech"].form.set_value("voice", "fr")
    request = audio.build_request()
    assert isinstance(request, SpeechRequest) and request.voice == "fr"
    audio.set_kind("music")
    window.close()

    again = open_window(background=False)
    audio = _show_audio(qtbot, again)
    assert audio.kind == "music"
    request = audio.build_request()
    assert (request.style, request.key, request.tempo, request.muted_tracks) == ("chiptune", "F#", 140.0, ("drums",))
    assert audio.pages["sfx"].form.value("surface") == "gravel"
    assert audio.prompt_edit.toPlainText() == "Bonjour."


def test_music_reuse_export_and_library_items(qtbot, window, audio, tmp_path):
    audio.set_kind("music")
    form = audio.pages["music"].form
    form.set_value("bars", 2)
    form.set_value("tempo", 150.0)
    form.set_value("key", "D")
    form.set_value("mode", "minor")
    audio.pages["music"].seed_field.random_button.setChecked(False)
    form.set_value("seed", 77)
    _, item = _generate(qtbot, window, audio)
    track = audio.tracks.current
    assert track.source == str(item.path)

    # MIDI of the composed piece, for a DAW: its tempo is the request's.
    midi_path = tmp_path / "piece.mid"
    audio.export_to(midi_path)
    qtbot.waitUntil(lambda: "Exported piece.mid" in audio.message_label.text(), timeout=10000)
    midi = pretty_midi.PrettyMIDI(str(midi_path))
    assert midi.get_tempo_changes()[1][0] == pytest.approx(150.0)
    assert len(midi.instruments) >= 3
    # MIDI holds no manifest: its Content Credentials (with the recipe) are in a sidecar.
    found = read_credentials(midi_path, window.services.paths.config)
    assert found.state == "valid" and found.sidecar and found.recipe["request"]["tempo"] == 150.0

    # The mix, with every track's recipe and the AI-generated mark.
    mix_path = tmp_path / "mix.flac"
    audio.export_to(mix_path)
    qtbot.waitUntil(lambda: "Exported mix.flac" in audio.message_label.text(), timeout=10000)
    recipe = provenance.read_recipe(mix_path)
    assert recipe["ai_generated"] and recipe["mixdown"][0]["recipe"]["request"]["key"] == "D"
    samples, rate = decode(mix_path)
    assert rate == SESSION_RATE and len(samples) == track.clip.frames
    found = read_credentials(mix_path, window.services.paths.config)  # signed inside, its track an ingredient
    assert found.state == "valid" and [i["title"] for i in found.ingredients] == [item.path.name]

    # Reuse settings puts the piece back into the Music tab, seed locked.
    audio.set_kind("speech")
    form.set_value("tempo", 90.0)
    audio.reuse_current_track()
    assert audio.kind == "music" and form.value("tempo") == 150.0 and form.value("seed") == 77
    assert not audio.pages["music"].seed_field.is_random()

    # A library item opens as a track once; choosing it again selects it.
    audio.tracks.remove_track(track)
    window.library_panel.item_activated.emit(item)
    qtbot.waitUntil(lambda: audio.tracks.track_for_source(str(item.path)) is not None, timeout=10000)
    window.library_panel.item_activated.emit(item)
    assert len(audio.tracks.session.tracks) == 1


def test_without_a_sound_card_playback_is_unavailable_and_the_rest_works(qtbot, window, audio):
    from studio.core.playback import output_devices

    if output_devices():
        pytest.skip("this machine has an audio output device")
    transport = audio.transport
    qtbot.waitUntil(lambda: transport.devices is not None, timeout=10000)
    assert "Playback unavailable" in transport.status_label.text()
    assert not transport.play_action.isEnabled()
    audio.set_kind("sfx")
    audio.pages["sfx"].form.set_value("preset", "ui-click")
    audio.pages["sfx"].form.set_value("duration_s", 0.5)
    _, item = _generate(qtbot, window, audio)
    assert audio.tracks.current.clip.frames == pytest.approx(0.5 * SESSION_RATE, abs=2)
    assert not transport.play_action.isEnabled()
    audio.tracks.timeline.set_selection(0, 1000)
    audio.tracks.actions_by_name["delete"].trigger()
    assert audio.tracks.current.clip.frames == pytest.approx(0.5 * SESSION_RATE - 1000, abs=2)


def test_a_cancelled_job_keeps_what_it_made_on_a_marked_track(qtbot, window, audio):
    audio.set_kind("speech")
    audio.prompt_edit.setPlainText(" ".join(f"This is sentence number {n} of a long reading." for n in range(60)))
    job = audio.generate()
    assert job is not None
    qtbot.waitUntil(lambda: bool(audio.tracks.session.tracks) and audio.tracks.current.clip.frames > 0,
                    timeout=30000)
    with qtbot.waitSignal(window.runner.job_cancelled, timeout=30000):
        audio.cancel()
    track = audio.tracks.current
    assert track.name.endswith("(cancelled)") and track.clip.frames > 0
    assert window.services.queue.get(job.id).state is JobState.CANCELLED
    assert window.library_panel.item_ids() == []
