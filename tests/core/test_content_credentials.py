"""Content Credentials: C2PA manifests in every format Studio signs, read
back by c2pa.Reader; the ingredient chain; tampering; an imported chain;
signing off; a failing signer; the invisible watermark after a JPEG re-save."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
import struct

import numpy as np
import pytest

c2pa = pytest.importorskip("c2pa")

from studio.core import credentials  # noqa: E402
from studio.core.credentials import ContentCredentials, read_credentials  # noqa: E402
from studio.core.credentials import certs  # noqa: E402
from studio.core.images import encode_png  # noqa: E402

RECIPE = {"generator": "Studio test", "request": {"kind": "image", "model_id": "starter-shapes", "prompt": "tide"},
          "model": {"name": "Starter shapes", "hash": "abc123", "licence": "Apache-2.0"}}


@pytest.fixture
def signing(tmp_path):
    return ContentCredentials(tmp_path / "config")


def _pixels(size=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((size, size, 3)) * 255).astype(np.uint8)


def _pil_bytes(fmt, size=64):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_pixels(size)).save(buffer, fmt)
    return buffer.getvalue()


def _wav_bytes(seconds=0.2, rate=16000):
    samples = (np.sin(np.arange(int(seconds * rate)) / 8) * 8000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _mp3_bytes(tmp_path):
    import av

    path = tmp_path / "tone.mp3"
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=44100)
        stream.layout = "mono"
        samples = (np.sin(np.arange(44100 // 2) / 10) * 0.3).astype(np.float32)[None, :]
        for start in range(0, samples.shape[1], 1152):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1152]),
                                               format="fltp", layout="mono")
            frame.sample_rate = 44100
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def _mp4_bytes(tmp_path, frames=12):
    from studio.engines.video.export import write_mp4

    path = tmp_path / "clip.mp4"
    write_mp4(path, (_pixels(64, i) for i in range(frames)), 12, frames, recipe=RECIPE)
    return path.read_bytes()


def _sign_write(signing, tmp_path, name, data, recipe=RECIPE, sources=(), placed=False):
    result = signing.sign_bytes(data, "." + name.rsplit(".", 1)[1], recipe, sources, placed)
    assert result.signed, result.error
    path = tmp_path / name
    path.write_bytes(result.data)
    if result.sidecar is not None:
        credentials.sidecar_path(path).write_bytes(result.sidecar)
    return path


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.webp", "a.wav", "a.mp3", "a.mp4"])
def test_every_format_is_signed_and_reads_back_valid(signing, tmp_path, name):
    suffix = name.rsplit(".", 1)[1]
    data = {"png": lambda: encode_png(_pixels()), "jpg": lambda: _pil_bytes("JPEG"),
            "webp": lambda: _pil_bytes("WEBP"), "wav": _wav_bytes, "mp3": lambda: _mp3_bytes(tmp_path),
            "mp4": lambda: _mp4_bytes(tmp_path)}[suffix]()
    path = _sign_write(signing, tmp_path, name, data)
    with open(path, "rb") as handle:  # the reference reader finds the manifest and our assertions
        reader = c2pa.Reader(credentials.EMBEDDED_MIME["." + suffix], handle)
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    labels = [a["label"] for a in manifest["assertions"]]
    assert credentials.RECIPE_LABEL in labels
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"].endswith("trainedAlgorithmicMedia")
    assert actions[0]["parameters"]["model"] == {"name": "Starter shapes", "id": "starter-shapes",
                                                  "hash": "abc123", "licence": "Apache-2.0"}
    assert manifest["claim_generator_info"][0]["name"] == "Studio"
    found = read_credentials(path, signing.config)
    assert found.state == "valid", found.reason
    assert found.recipe["request"]["prompt"] == "tide"


def test_text_gets_a_sidecar_that_binds_its_bytes(signing, tmp_path):
    path = _sign_write(signing, tmp_path, "notes.md", b"<!-- studio:recipe {} -->\nhello")
    assert path.read_bytes().endswith(b"hello")  # the file itself is unchanged
    found = read_credentials(path, signing.config)
    assert found.state == "valid" and found.sidecar
    path.write_bytes(path.read_bytes().replace(b"hello", b"hellO"))
    assert read_credentials(path, signing.config).state == "tampered"


def test_one_changed_byte_reads_as_tampered(signing, tmp_path):
    path = _sign_write(signing, tmp_path, "a.png", encode_png(_pixels(128)))
    data = bytearray(path.read_bytes())
    data[len(data) * 3 // 4] ^= 0x01  # in the image data (the manifest sits near the start, padded)
    path.write_bytes(bytes(data))
    found = read_credentials(path, signing.config)
    assert found.state == "tampered"
    assert "mismatch" in found.reason or "hash" in found.reason.lower()


def test_another_installation_sees_an_untrusted_signer(signing, tmp_path):
    path = _sign_write(signing, tmp_path, "a.png", encode_png(_pixels()))
    other = tmp_path / "other-config"
    ContentCredentials(other).identity()  # that installation has its own CA
    assert read_credentials(path, other).state == "untrusted"


def test_img2img_names_its_parent_as_an_ingredient(signing, tmp_path):
    parent = _sign_write(signing, tmp_path, "parent.png", encode_png(_pixels()))
    recipe = {**RECIPE, "request": {**RECIPE["request"], "mode": "img2img", "init_image": str(parent)}}
    sealed = signing.seal(encode_png(_pixels(64, 1)), ".png", recipe)
    child = tmp_path / "child.png"
    child.write_bytes(sealed.data)
    found = read_credentials(child, signing.config)
    assert found.state == "valid"
    assert [a["action"] for a in found.actions] == ["c2pa.opened", "c2pa.edited"]
    assert found.ingredients[0]["title"] == "parent.png"
    assert found.ingredients[0]["relationship"] == "parentOf"
    assert found.ingredients[0]["state"] == "credentials"  # the parent's own manifest came along


def test_timeline_export_places_its_clips(signing, tmp_path):
    from studio.engines.video.engine import _sign_export

    clip = _sign_write(signing, tmp_path, "clip.mp4", _mp4_bytes(tmp_path))
    still = _sign_write(signing, tmp_path, "still.png", encode_png(_pixels()))
    target = tmp_path / "export.mp4"
    target.write_bytes(_mp4_bytes(tmp_path, 6))
    credentials.configure(signing)
    try:
        summary = _sign_export(target, {**RECIPE, "sources": [str(clip), str(still)]}, [str(clip), str(still)])
    finally:
        credentials.configure(None)
    assert summary["signed"] is True
    found = read_credentials(target, signing.config)
    assert found.state == "valid"
    assert [a["action"] for a in found.actions] == ["c2pa.created", "c2pa.placed", "c2pa.placed"]
    assert [(i["title"], i["relationship"]) for i in found.ingredients] == [
        ("clip.mp4", "componentOf"), ("still.png", "componentOf")]


def test_keys_are_private_and_never_in_settings(signing, services):
    signing = services.library.credentials
    item = services.library.add(*_pattern_artifact())
    folder = certs.credentials_folder(services.paths.config)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / certs.KEY_FILE).st_mode) == 0o600
    key = (folder / certs.KEY_FILE).read_bytes()
    assert b"PRIVATE KEY" in key
    settings_text = services.paths.settings_file.read_text() if services.paths.settings_file.exists() else ""
    assert "PRIVATE" not in settings_text and "PRIVATE" not in json.dumps(item.recipe)
    assert item.recipe["content_credentials"]["signed"] is True
    assert read_credentials(item.path, signing.config).state == "valid"


def _pattern_artifact(size=64):
    from studio.core.jobs import Artifact
    from studio.engines.pattern import PatternRequest, target_image

    request = PatternRequest(prompt="discs", seed=3, width=size, height=size)
    pixels = (target_image(request) * 255 + 0.5).astype(np.uint8)
    return request, Artifact(encode_png(pixels), ".png", size, size)


def test_user_imported_chain_signs_and_is_trusted(tmp_path):
    org = tmp_path / "org-ca"
    certs.make_local_identity(org, "Example Newsroom")  # stands in for an organisation's CA and certificate
    mine = tmp_path / "config"
    folder = certs.credentials_folder(org)
    identity = certs.import_identity(mine, folder / certs.CHAIN_FILE, folder / certs.KEY_FILE)
    assert identity.source == "imported" and "Example Newsroom" in identity.subject
    assert stat.S_IMODE(os.stat(certs.credentials_folder(mine) / certs.KEY_FILE).st_mode) == 0o600
    signing = ContentCredentials(mine)
    path = _sign_write(signing, tmp_path, "a.png", encode_png(_pixels()))
    found = read_credentials(path, mine)
    assert found.state == "valid" and "Example Newsroom" in found.signer
    assert "imported" in certs.describe(mine)


def test_import_refuses_a_key_of_another_certificate(tmp_path):
    from studio.core.jobs import StudioError

    a, b = tmp_path / "a", tmp_path / "b"
    certs.make_local_identity(a)
    certs.make_local_identity(b)
    with pytest.raises(StudioError, match="does not belong"):
        certs.import_identity(tmp_path / "c", certs.credentials_folder(a) / certs.CHAIN_FILE,
                              certs.credentials_folder(b) / certs.KEY_FILE)


def test_signing_off_keeps_the_plain_recipe(services):
    from studio.core.provenance import read_recipe

    services.settings.set(credentials.SETTING_SIGN, False)
    item = services.library.add(*_pattern_artifact())
    assert item.recipe["content_credentials"] == {"signed": False}
    assert read_credentials(item.path, services.paths.config).state == "none"
    assert read_recipe(item.path)["request"]["prompt"] == "discs"


def test_a_failing_signer_keeps_the_file_and_says_why_on_the_job(services, monkeypatch):
    from studio.core.jobs import CancelToken, JobState
    from studio.core.provenance import read_recipe
    from studio.engines.execute import execute_job
    from studio.engines.pattern import PatternRequest

    def broken(self):
        raise RuntimeError("the signing service is unreachable")

    monkeypatch.setattr(ContentCredentials, "_signer", broken)
    job = services.queue.start(services.queue.submit(PatternRequest(prompt="kept", steps=2, width=64,
                                                                    height=64)).id)

    class Quiet:
        def progress(self, *a):
            pass

        def preview(self, *a):
            pass

    state, item = execute_job(job, services.queue, services.library, Quiet(), CancelToken())
    assert state is JobState.FINISHED and item.path.exists()
    assert read_recipe(item.path)["request"]["prompt"] == "kept"
    assert "unreachable" in item.recipe["content_credentials"]["error"]
    details = services.queue.get(job.id).details
    assert details.startswith("Content Credentials: not signed") and "unreachable" in details


def test_watermark_survives_a_jpeg_resave_and_metadata_stripping(services):
    from PIL import Image

    from studio.core.credentials import watermark

    item = services.library.add(*_pattern_artifact(512))
    with Image.open(item.path) as image:
        pixels = np.asarray(image.convert("RGB"))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=75)  # a re-save drops every chunk and the manifest
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        resaved = np.asarray(image.convert("RGB"))
    assert watermark.detect(resaved)
    _request, plain = _pattern_artifact(512)
    with Image.open(io.BytesIO(plain.data)) as image:
        assert not watermark.detect(np.asarray(image.convert("RGB")))


def test_small_images_are_not_watermarked(signing):
    data = encode_png(_pixels(64))
    from studio.core.credentials.watermark import embed_png

    assert embed_png(data) == data


def test_cli_info_prints_the_recipe_then_the_credentials_on_stdout(services, capsys):
    from studio.cli import main

    parent = services.library.add(*_pattern_artifact())
    request, artifact = _pattern_artifact()
    request = dataclasses.replace(request, prompt="child")
    artifact.meta["recipe"] = {"source": str(parent.path)}
    item = services.library.add(request, artifact)
    assert main(["info", str(item.path)]) == 0
    out = capsys.readouterr().out
    recipe, end = json.JSONDecoder().raw_decode(out)  # the recipe first, as before
    assert recipe["request"]["prompt"] == "child"
    rest = out[end:]
    assert "Content Credentials: valid" in rest and "c2pa.opened" in rest and "c2pa.edited" in rest
    assert f"ingredient:  {parent.path.name} [parentOf] credentials" in rest
    # --json: stdout stays the recipe JSON alone (the credentials go to stderr).
    assert main(["info", "--json", str(item.path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["request"]["prompt"] == "child"
    assert "Content Credentials: valid" in captured.err
    assert main(["info", "--credentials", "--json", str(item.path)]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "valid"
    data = bytearray(item.path.read_bytes())
    data[len(data) - 40] ^= 0x01
    item.path.write_bytes(bytes(data))
    assert main(["info", "--credentials", str(item.path)]) == 0
    assert "TAMPERED" in capsys.readouterr().out


# --- files written outside the library ----------------------------------------

@pytest.fixture
def configured(signing):
    credentials.configure(signing)
    yield signing
    credentials.configure(None)


def _timeline_project(tmp_path, signing, frames=6):
    from studio.engines.video.export import write_mp4
    from studio.engines.video.timeline import Project, Timeline

    clip = tmp_path / "clip.mp4"
    write_mp4(clip, (_pixels(64, i) for i in range(frames)), 12, frames, recipe=RECIPE)
    assert signing.sign_file(clip, RECIPE).signed
    timeline = Timeline(Project(fps=12, width=64, height=64))
    timeline.add_clip(timeline.add_track("video"), clip, "video", 0, frames, source_frames=frames)
    return timeline.save(tmp_path / "edit.studio-video.json"), clip


def test_a_png_sequence_export_signs_every_frame_with_its_clips(services, tmp_path, monkeypatch):
    from studio.core.jobs import CancelToken, JobState, NullReporter
    from studio.core.provenance import read_recipe
    from studio.engines.execute import execute_job
    from studio.engines.video.requests import VideoExportRequest

    signing = services.library.credentials
    project, _ = _timeline_project(tmp_path, signing)
    reads = []
    original = c2pa.Builder.add_ingredient
    monkeypatch.setattr(c2pa.Builder, "add_ingredient",
                        lambda self, *a, **k: (reads.append(1), original(self, *a, **k))[1])
    folder = tmp_path / "frames"
    request = VideoExportRequest(project=str(project), format="png", destination=str(folder))
    job = services.queue.start(services.queue.submit(request).id)
    state, item = execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
    assert state is JobState.FINISHED
    frames = sorted(folder.iterdir())
    assert len(frames) == 6
    for index, frame in enumerate(frames):
        found = read_credentials(frame, signing.config)
        assert found.state == "valid", (frame.name, found.reason)
        assert [a["action"] for a in found.actions] == ["c2pa.created", "c2pa.placed"]
        assert found.actions[0]["source_type"] == credentials.SOURCE_TYPE
        assert [(i["title"], i["relationship"], i["state"]) for i in found.ingredients] == [
            ("clip.mp4", "componentOf", "credentials")]
        assert found.recipe["frame"] == index and found.recipe["request"]["format"] == "png"
        assert read_recipe(frame)["frame"] == index  # the plain recipe is there as well
    # The clip is read once for all the frames (and once more for the library's zip), not once a frame.
    assert len(reads) == 2
    assert item.path.suffix == ".zip" and item.recipe["content_credentials"]["signed"] is True
    zipped = read_credentials(item.path, signing.config)
    assert zipped.state == "valid" and [i["title"] for i in zipped.ingredients] == ["clip.mp4"]


def test_a_failing_signer_keeps_every_frame_of_a_sequence(configured, tmp_path, monkeypatch):
    from studio.core.provenance import read_recipe
    from studio.engines.video.export import write_png_sequence

    calls = []

    def broken(self):
        calls.append(1)
        raise RuntimeError("the signing service is unreachable")

    monkeypatch.setattr(ContentCredentials, "_signer", broken)
    write_png_sequence(tmp_path / "seq", (_pixels(32, i) for i in range(4)), 4, recipe=RECIPE)
    frames = sorted((tmp_path / "seq").iterdir())
    assert len(frames) == 4 and all(read_recipe(f)["frame"] == i for i, f in enumerate(frames))
    assert read_credentials(frames[0], configured.config).state == "none"
    assert len(calls) == 1  # after the first failure the rest are written plain, not tried again


def test_write_signed_embeds_or_writes_a_sidecar_and_a_failure_keeps_the_file(configured, tmp_path, monkeypatch):
    png, text = tmp_path / "still.png", tmp_path / "notes.md"
    assert credentials.write_signed(png, encode_png(_pixels()), RECIPE) == ""
    assert read_credentials(png, configured.config).state == "valid"
    assert not credentials.sidecar_path(png).exists()
    assert credentials.write_signed(text, b"hello", RECIPE) == ""
    assert text.read_bytes() == b"hello" and read_credentials(text, configured.config).sidecar

    def broken(self):
        raise RuntimeError("the signing service is unreachable")

    monkeypatch.setattr(ContentCredentials, "_signer", broken)
    warning = credentials.write_signed(text, b"hello again", RECIPE)
    assert warning.startswith("Content Credentials: not signed") and "unreachable" in warning
    assert text.read_bytes() == b"hello again"
    assert not credentials.sidecar_path(text).exists()  # the earlier file's manifest would call it tampered
    assert read_credentials(text, configured.config).state == "none"


def test_sign_written_signs_in_place_and_a_person_made_file_says_so(configured, tmp_path):
    from PIL import Image

    mask = tmp_path / "mask.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(mask)
    recipe = {"title": "Inpainting mask", "kind": "inpaint-mask"}
    assert credentials.sign_written(mask, recipe, source_type=credentials.HUMAN_SOURCE_TYPE) == ""
    found = read_credentials(mask, configured.config)
    assert found.state == "valid" and found.recipe["kind"] == "inpaint-mask"
    assert found.actions == [{"action": "c2pa.created", "source_type": credentials.HUMAN_SOURCE_TYPE}]
    with Image.open(mask) as image:
        assert image.size == (32, 32)


def test_inpainting_names_its_mask_as_an_ingredient(signing, tmp_path):
    parent = _sign_write(signing, tmp_path, "parent.png", encode_png(_pixels()))
    mask = tmp_path / "mask.png"
    mask.write_bytes(encode_png(_pixels(64, 5)))
    recipe = {**RECIPE, "request": {**RECIPE["request"], "mode": "inpaint", "init_image": str(parent),
                                    "mask": str(mask)}}
    child = tmp_path / "child.png"
    child.write_bytes(signing.seal(encode_png(_pixels(64, 1)), ".png", recipe).data)
    found = read_credentials(child, signing.config)
    assert [a["action"] for a in found.actions] == ["c2pa.opened", "c2pa.edited"]
    assert [(i["title"], i["relationship"]) for i in found.ingredients] == [
        ("parent.png", "parentOf"), ("mask.png", "componentOf")]


def test_an_audio_mix_export_is_signed_with_its_tracks(configured, tmp_path):
    from studio.core.audio_mix import Session, export_mix

    track = _sign_write(configured, tmp_path, "speech.wav", _wav_bytes())
    session = Session()
    tone = (np.sin(np.arange(3200) / 8) * 0.3).astype(np.float32)[:, None]
    session.add("speech", tone, 16000, source=str(track), recipe={"request": {"kind": "speech"}})
    for suffix in (".wav", ".flac"):
        summary = export_mix(session, tmp_path / f"mix{suffix}")
        assert summary["credentials"] == ""
        found = read_credentials(tmp_path / f"mix{suffix}", configured.config)
        assert found.state == "valid", found.reason
        assert [(i["title"], i["relationship"]) for i in found.ingredients] == [("speech.wav", "componentOf")]


def test_a_midi_export_gets_a_sidecar_with_its_recipe(configured, tmp_path):
    from studio.engines.audio.music.composer import export_midi
    from studio.engines.audio.requests import MusicRequest

    path = export_midi(MusicRequest(bars=2, seed=3), tmp_path / "piece.mid")
    found = read_credentials(path, configured.config)
    assert found.state == "valid" and found.sidecar
    assert found.recipe["request"]["kind"] == "music" and found.recipe["export"] == "midi"


def test_an_otio_export_to_a_destination_gets_its_sidecar(services, tmp_path):
    from studio.core.jobs import CancelToken, JobState, NullReporter
    from studio.engines.execute import execute_job
    from studio.engines.video.requests import VideoExportRequest

    project, _ = _timeline_project(tmp_path, services.library.credentials)
    out = tmp_path / "cut.otio"
    request = VideoExportRequest(project=str(project), format="otio", destination=str(out))
    job = services.queue.start(services.queue.submit(request).id)
    state, item = execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
    assert state is JobState.FINISHED
    config = services.library.credentials.config
    found = read_credentials(out, config)
    assert found.state == "valid" and found.sidecar
    assert [i["title"] for i in found.ingredients] == ["clip.mp4"]
    assert read_credentials(item.path, config).state == "valid"


def test_generate_out_copies_the_credentials_sidecar(services, tmp_path, monkeypatch):
    from studio import cli

    item = services.library.add(*_text_artifact())
    assert credentials.sidecar_path(item.path).exists()
    out = tmp_path / "copy.md"
    credentials.sidecar_path(out).write_bytes(b"an earlier file's manifest")
    cli._copy_sidecars(item.path, out)
    assert credentials.sidecar_path(out).read_bytes() == credentials.sidecar_path(item.path).read_bytes()
    png = services.library.add(*_pattern_artifact())
    stale = tmp_path / "copy.png"
    credentials.sidecar_path(stale).write_bytes(b"stale")
    cli._copy_sidecars(png.path, stale)
    assert not credentials.sidecar_path(stale).exists()


def _text_artifact():
    from studio.core.jobs import Artifact
    from studio.engines.pattern import PatternRequest

    return PatternRequest(prompt="notes", seed=1, width=64, height=64), Artifact(b"some notes", ".md")
