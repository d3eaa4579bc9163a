"""Recipes and the AI-generated mark survive in each artifact format and
read back through ``studio info``'s reader."""

from __future__ import annotations

import io
import json
import zlib

import numpy as np
import pytest
import soundfile

from studio.core import provenance
from studio.core.images import encode_png
from studio.core.jobs import StudioError

RECIPE = {"request": {"kind": "pattern", "prompt": "a red fox — ünïcode", "seed": 3}, "parameters": "a red fox\nSteps: 20"}


def _audio(fmt: str) -> bytes:
    buffer = io.BytesIO()
    tone = np.sin(np.linspace(0, 440 * 2 * np.pi, 8000)).astype(np.float32)
    soundfile.write(buffer, tone, 8000, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("suffix, make", [
    (".png", lambda: encode_png(np.full((4, 6, 3), 200, np.uint8))),
    (".wav", lambda: _audio("WAV")),
    (".flac", lambda: _audio("FLAC")),
    (".md", lambda: "# Title\n\nbody".encode()),
    (".json", lambda: b'{"turns": [{"role": "user", "content": "hi"}]}'),
])
def test_recipe_round_trip(tmp_path, suffix, make):
    path = tmp_path / f"out{suffix}"
    path.write_bytes(provenance.embed(make(), suffix, RECIPE))
    recipe = provenance.read_recipe(path)
    assert recipe["request"] == RECIPE["request"]
    assert recipe["ai_generated"] is True


def test_embedding_keeps_the_media_readable(tmp_path):
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    png = provenance.embed(encode_png(pixels), ".png", RECIPE)
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert np.array_equal(np.asarray(image), pixels)
    assert image.info["parameters"].startswith("a red fox")
    assert provenance.IPTC_SOURCE_TYPE in image.info["XML:com.adobe.xmp"]
    for fmt, suffix in (("WAV", ".wav"), ("FLAC", ".flac")):
        original, rate = soundfile.read(io.BytesIO(_audio(fmt)))
        marked, marked_rate = soundfile.read(io.BytesIO(provenance.embed(_audio(fmt), suffix, RECIPE)))
        assert marked_rate == rate and np.array_equal(marked, original)
    text = provenance.embed(b"hello", ".md", RECIPE)
    assert provenance.strip_text_header(text) == b"hello"
    document = json.loads(provenance.embed(b'{"turns": [1, 2]}', ".json", RECIPE))
    assert document["turns"] == [1, 2] and document[provenance.RECIPE_KEY]["ai_generated"] is True


def test_png_chunks_have_valid_crcs():
    png = provenance.embed(encode_png(np.zeros((2, 2, 3), np.uint8)), ".png", RECIPE)
    for _offset, kind, body, end in provenance._png_chunks(png):
        stored = int.from_bytes(png[end - 4:end], "big")
        assert stored == zlib.crc32(kind + body), kind


def test_a1111_png_without_our_recipe_still_gives_parameters(tmp_path):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "castle\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 42")
    path = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    assert "Seed: 42" in provenance.read_recipe(path)["parameters"]


def test_other_formats_use_a_sidecar_and_plain_files_are_refused(tmp_path):
    path = tmp_path / "clip.gif"
    path.write_bytes(b"\0" * 16)
    assert provenance.needs_sidecar(".mp4")
    provenance.sidecar_path(path).write_text(json.dumps({"request": {"kind": "x"}}))
    assert provenance.read_recipe(path)["request"] == {"kind": "x"}
    plain = tmp_path / "notes.txt"
    plain.write_text("nothing here")
    with pytest.raises(StudioError, match="no Studio recipe"):
        provenance.read_recipe(plain)


def test_video_container_recipe_is_read_without_its_sidecar(tmp_path):
    import av

    path = tmp_path / "copied.mp4"
    with av.open(str(path), "w") as container:
        container.metadata["comment"] = json.dumps({"request": {"kind": "video", "seed": 4}, "ai_generated": True})
        stream = container.add_stream("libx264", rate=4)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for value in (0, 255):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), value, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert not provenance.sidecar_path(path).exists()
    assert provenance.read_recipe(path)["request"] == {"kind": "video", "seed": 4}
