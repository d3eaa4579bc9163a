"""Output: speech, music and effects stored through the library as WAV and
FLAC keep their samples, carry the recipe and the AI-generated mark where
audio tools read tags, and give back the request for "reuse settings"."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import soundfile

from studio.core.jobs import CancelToken, NullReporter, Request
from studio.core.provenance import read_recipe
from studio.engines.audio.common import decode_audio
from studio.engines.audio.music.engine import run as run_music
from studio.engines.audio.requests import ESPEAK_MODEL_ID, MusicRequest, SfxRequest, SpeechRequest
from studio.engines.audio.sfx.engine import run as run_sfx
from studio.engines.audio.speech.engine import run as run_speech

REQUESTS = [
    (run_speech, SpeechRequest(prompt="Stored with its recipe.", model_id=ESPEAK_MODEL_ID, pitch=2.0)),
    (run_music, MusicRequest(style="ambient", bars=2, seed=8, muted_tracks=("bass",))),
    (run_sfx, SfxRequest(preset="whoosh", duration_s=1.0, seed=3)),
]


@pytest.mark.parametrize("fmt", ["wav", "flac"])
@pytest.mark.parametrize("engine, request_", REQUESTS, ids=["speech", "music", "sfx"])
def test_files_keep_samples_recipe_and_ai_mark(services, engine, request_, fmt):
    request = replace(request_, format=fmt)
    artifact = engine(request, NullReporter(), CancelToken())
    item = services.library.add(request, artifact)
    assert item.path.suffix == f".{fmt}"

    stored, rate = soundfile.read(item.path, dtype="float32")
    produced, produced_rate = decode_audio(artifact.data)
    assert rate == produced_rate == artifact.meta["sample_rate"]
    assert np.array_equal(stored, produced)  # tags were added without touching the audio
    assert item.duration_s == pytest.approx(len(stored) / rate)

    recipe = read_recipe(item.path)
    assert recipe["ai_generated"] is True
    assert recipe["audio"]["sample_rate"] == rate
    assert recipe["request"]["kind"] == request.kind and "engine" in recipe
    with soundfile.SoundFile(item.path) as tagged:  # what other audio software sees
        tag = tagged.software if fmt == "wav" else tagged.comment
    assert "AI-generated" in tag
    assert Request.from_dict(item.recipe["request"]) == request == item.request
