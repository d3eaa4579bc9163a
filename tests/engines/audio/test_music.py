"""Music: the composer's MIDI (key, mode, tempo, meter, length, seeds and
variations, mute and solo), its SoundFont rendering, MIDI export, and
MusicGen with a tiny random model loaded from a model folder."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pretty_midi
import pytest

from studio.core.jobs import Cancelled, CancelToken, NullReporter, StudioError
from studio.engines.audio.music import render
from studio.engines.audio.music.composer import compose, export_midi
from studio.engines.audio.music.composer import compose_piece
from studio.engines.audio.music.engine import run, track_names
from studio.engines.audio.music.styles import STYLES
from studio.engines.audio.music.theory import MODE_STEPS, NOTE_INDEX, estimate_key, key_signature_number
from studio.engines.audio.requests import STYLE_TRACKS, MusicRequest
from tests.engines.audio import tiny_models
from tests.engines.audio.helpers import Recorder, rms, samples_of, spectral_centroid


def pitched_notes(midi) -> list:
    return [note for instrument in midi.instruments if not instrument.is_drum for note in instrument.notes]


def melody_of(midi) -> list:
    return next(i for i in midi.instruments if i.name == "melody").notes


def test_every_style_writes_the_tracks_it_declares():
    assert set(STYLES) == set(STYLE_TRACKS)
    for name, style in STYLES.items():
        assert tuple(style.programs) == STYLE_TRACKS[name] == track_names(name)
        midi = compose(MusicRequest(style=name, bars=4))
        assert [i.name for i in midi.instruments] == list(STYLE_TRACKS[name])
        assert all(len(i.notes) > 0 for i in midi.instruments)


# Rock is left out: its power chords (root and fifth) leave major and minor for the melody alone to tell.
@pytest.mark.parametrize("style", ["pop", "ambient", "orchestral", "lofi", "chiptune"])
@pytest.mark.parametrize("key, mode", [("C", "major"), ("F#", "minor"), ("Bb", "major"), ("E", "minor")])
def test_the_composed_key_is_the_requested_key(style, key, mode):
    for seed in range(3):
        midi = compose(MusicRequest(style=style, key=key, mode=mode, seed=seed, bars=8))
        notes = pitched_notes(midi)
        assert estimate_key([n.pitch for n in notes], [n.end - n.start for n in notes]) == (NOTE_INDEX[key], mode)
        assert midi.key_signature_changes[0].key_number == key_signature_number(key, mode)


@pytest.mark.parametrize("mode", list(MODE_STEPS))
def test_every_note_is_in_the_scale_and_the_melody_ends_on_the_tonic(mode):
    for style in STYLE_TRACKS:
        midi = compose(MusicRequest(style=style, key="D", mode=mode, seed=5, bars=6))
        scale = {(NOTE_INDEX["D"] + step) % 12 for step in MODE_STEPS[mode]}
        assert {n.pitch % 12 for n in pitched_notes(midi)} <= scale, style
        assert melody_of(midi)[-1].pitch % 12 == NOTE_INDEX["D"]


@pytest.mark.parametrize("tempo, signature", [(72.0, "4/4"), (140.0, "3/4"), (96.0, "6/8"), (180.0, "7/8")])
def test_tempo_meter_and_length_survive_a_midi_round_trip(tmp_path, tempo, signature):
    request = MusicRequest(style="pop", tempo=tempo, time_signature=signature, bars=6, seed=2)
    path = export_midi(request, tmp_path / "piece.mid")
    midi = pretty_midi.PrettyMIDI(str(path))
    _, tempi = midi.get_tempo_changes()
    assert tempi[0] == pytest.approx(tempo, rel=1e-3)
    numerator, denominator = (int(x) for x in signature.split("/"))
    assert (midi.time_signature_changes[0].numerator, midi.time_signature_changes[0].denominator) == (
        numerator, denominator)
    bar_seconds = numerator * 4 / denominator * 60 / tempo
    assert midi.get_end_time() == pytest.approx(6 * bar_seconds, abs=bar_seconds / 2)
    assert max(n.start for n in pitched_notes(midi)) < 6 * bar_seconds


def test_the_same_seed_repeats_and_a_variation_keeps_the_structure():
    base = MusicRequest(style="pop", seed=11, bars=8)
    first, again = compose(base), compose(base)
    assert [(n.start, n.pitch) for n in melody_of(first)] == [(n.start, n.pitch) for n in melody_of(again)]
    other = compose(replace(base, seed=12))
    assert [n.pitch for n in melody_of(other)] != [n.pitch for n in melody_of(first)]

    unchanged = compose(replace(base, seed=99, variation_of=11, variation_amount=0.0))
    assert [(n.start, n.pitch) for n in melody_of(unchanged)] == [(n.start, n.pitch) for n in melody_of(first)]
    varied_piece = compose_piece(replace(base, seed=99, variation_of=11, variation_amount=0.5))
    original_piece = compose_piece(base)
    assert varied_piece.frame.chords == original_piece.frame.chords  # same progression
    original = {(round(n.start, 3), n.pitch) for n in melody_of(first)}
    varied = {(round(n.start, 3), n.pitch) for n in melody_of(compose(replace(base, seed=99, variation_of=11,
                                                                              variation_amount=0.5)))}
    shared = len(original & varied) / len(original)
    assert 0.2 < shared < 0.95  # a real variation: much kept, much changed


def test_duration_sets_the_length_exactly():
    recorder = Recorder()
    artifact = run(MusicRequest(style="lofi", tempo=90, duration_s=7.5, seed=1), recorder, CancelToken())
    samples, rate = samples_of(artifact)
    assert rate == render.SAMPLE_RATE == artifact.meta["sample_rate"] and samples.shape[1] == 2
    assert len(samples) == round(7.5 * rate)
    assert np.max(np.abs(samples[-100:])) < 0.01  # faded out, not cut mid-note
    streamed = recorder.streamed()
    assert streamed.shape == samples.shape and np.max(np.abs(streamed - samples)) <= 1.5 / 32768


@pytest.mark.parametrize("style", list(STYLE_TRACKS))
def test_each_style_renders_audible_stereo_of_the_right_length(style):
    request = MusicRequest(style=style, tempo=120, bars=4, seed=3)
    artifact = run(request, NullReporter(), CancelToken())
    samples, rate = samples_of(artifact)
    expected = 4 * 4 * 0.5 + render.TAIL_S  # four bars of 4/4 at 120 BPM, then the release
    assert len(samples) / rate == pytest.approx(expected, abs=0.3)
    assert rms(samples) > 0.05 and np.max(np.abs(samples)) <= 1.0
    assert artifact.meta["recipe"]["tracks"] == list(STYLE_TRACKS[style])


def test_mute_and_solo_choose_what_is_heard():
    base = MusicRequest(style="rock", bars=4, seed=4)
    full, rate = samples_of(run(base, NullReporter(), CancelToken()))
    bass_only = run(replace(base, solo_tracks=("bass",)), NullReporter(), CancelToken())
    assert bass_only.meta["recipe"]["tracks"] == ["bass"]
    bass, _ = samples_of(bass_only)
    assert spectral_centroid(bass, rate) < 0.5 * spectral_centroid(full, rate)
    no_drums = run(replace(base, muted_tracks=("drums",)), NullReporter(), CancelToken())
    assert no_drums.meta["recipe"]["tracks"] == ["melody", "chords", "bass"]
    assert [i.name for i in compose(replace(base, muted_tracks=("drums",)), apply_mute=False).instruments] == list(
        STYLE_TRACKS["rock"])  # a DAW export can still take every track
    with pytest.raises(StudioError, match="has no track 'cowbell'"):
        run(replace(base, muted_tracks=("cowbell",)), NullReporter(), CancelToken())
    with pytest.raises(StudioError, match="every track is muted"):
        run(replace(base, muted_tracks=STYLE_TRACKS["rock"]), NullReporter(), CancelToken())


def test_the_midi_format_returns_the_midi_file_itself():
    artifact = run(MusicRequest(style="chiptune", bars=4, format="mid", muted_tracks=("drums",)), NullReporter(),
                   CancelToken())
    assert artifact.suffix == ".mid"
    midi = pretty_midi.PrettyMIDI(io.BytesIO(artifact.data))
    assert [i.name for i in midi.instruments] == ["melody", "chords", "bass"]


def test_cancel_stops_the_render():
    token = CancelToken()

    class CancelOnFirstChunk(Recorder):
        def preview(self, payload):
            super().preview(payload)
            token.cancel()

    with pytest.raises(Cancelled):
        run(MusicRequest(style="pop", bars=64), CancelOnFirstChunk(), token)


@pytest.mark.parametrize("fields, message", [
    ({"key": "H"}, "key must be one of"),
    ({"tempo": 500.0}, "tempo must be between"),
    ({"time_signature": "9/7"}, "time signature must be one of"),
    ({"bars": 400, "tempo": 30.0}, "at most 10 minutes"),
    ({"variation_of": -5}, "variation of must be"),
])
def test_bad_requests_are_refused(fields, message):
    with pytest.raises(StudioError, match=message):
        run(MusicRequest(**fields), NullReporter(), CancelToken())


def test_musicgen_from_a_model_folder_generates_the_requested_length(services):
    tiny_models.musicgen(services.paths.models_dir)
    services.models.refresh()
    model_id = next(c.id for c in services.models.cards("audio") if c.path.name == "tiny-musicgen")
    recorder = Recorder()
    request = MusicRequest(prompt="calm piano", model_id=model_id, duration_s=0.4, seed=1)
    artifact = run(request, recorder, CancelToken())
    samples, rate = samples_of(artifact)
    assert rate == 8000 and artifact.meta["recipe"]["engine"] == "musicgen"
    assert len(samples) == pytest.approx(0.4 * rate, abs=64)  # within one EnCodec frame
    assert rms(samples) > 0.01
    assert recorder.progress_calls[-1][0] == recorder.progress_calls[-1][1]  # progress reached the end
    again, _ = samples_of(run(request, NullReporter(), CancelToken()))
    assert np.array_equal(samples, again)
    with pytest.raises(StudioError, match="needs a prompt"):
        run(replace(request, prompt=""), NullReporter(), CancelToken())


def test_any_soundfont_in_a_model_folder_renders_and_a_damaged_one_is_refused(services):
    from studio.core.models.discovery import package_dir

    starter = package_dir("pretty_midi") / "TimGM6mb.sf2"
    fonts = services.paths.models_dir / "fonts"
    fonts.mkdir()
    (fonts / "my-font.sf2").write_bytes(starter.read_bytes())
    (fonts / "broken.sf2").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot a soundfont")
    services.models.refresh()
    cards = {c.path.name: c for c in services.models.cards("audio") if c.format == "soundfont"}
    request = MusicRequest(style="orchestral", bars=2, model_id=cards["my-font.sf2"].id)
    artifact = run(request, NullReporter(), CancelToken())
    assert artifact.meta["recipe"]["soundfont"] == "my-font" and rms(samples_of(artifact)[0]) > 0.05
    with pytest.raises(StudioError, match="broken cannot be used: not a SoundFont"):
        run(replace(request, model_id=cards["broken.sf2"].id), NullReporter(), CancelToken())
