"""Damaged or mistyped inputs give one clear line, never a traceback:
``studio info`` on damaged PNG, WAV, FLAC and MP4 files says what is wrong,
and ``--out`` to a path that cannot be written says so."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio import cli
from studio.core import provenance
from studio.core.jobs import StudioError

RECIPE = {"generator": "Studio test", "request": {"kind": "pattern", "prompt": "p", "seed": 1}}


def make_png(path: Path) -> Path:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(buffer, "PNG")
    path.write_bytes(provenance.embed(buffer.getvalue(), ".png", RECIPE))
    return path


def make_audio(path: Path, fmt: str) -> Path:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(4000, np.float32), 16000, format=fmt)
    path.write_bytes(provenance.embed(buffer.getvalue(), path.suffix, RECIPE))
    return path


def make_mp4(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        container.metadata["comment"] = json.dumps(RECIPE)
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for n in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), n * 20, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


MAKERS = {".png": make_png, ".wav": lambda p: make_audio(p, "WAV"), ".flac": lambda p: make_audio(p, "FLAC"),
          ".mp4": make_mp4}


def damage(path: Path, how: str) -> Path:
    data = path.read_bytes()
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped":
        middle = len(data) // 3
        data = data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 16]) + data[middle + 16:]
    elif how == "empty":
        data = b""
    elif how == "header":
        data = data[:8] + b"\xff\xff\xff\xff" + data[12:]
    path.write_bytes(data)
    return path


def info(path: Path, capsys) -> tuple[int, str]:
    code = cli.main(["info", str(path)])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("suffix", sorted(MAKERS))
def test_a_whole_file_still_shows_its_recipe(tmp_path, suffix):
    path = MAKERS[suffix](tmp_path / f"whole{suffix}")
    assert provenance.read_recipe(path)["request"]["prompt"] == "p"


@pytest.mark.parametrize("how", ["truncated", "flipped", "empty", "header"])
@pytest.mark.parametrize("suffix", sorted(MAKERS))
def test_info_on_a_damaged_file_says_what_is_wrong(tmp_path, suffix, how, capsys):
    path = damage(MAKERS[suffix](tmp_path / f"broken{suffix}"), how)
    try:
        recipe = provenance.read_recipe(path)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, StudioError), exc
        assert "\n" not in str(exc) and path.name in str(exc)
    else:  # bytes changed where nothing structural lies (sample data) leave a readable file
        assert how in ("flipped", "header") and isinstance(recipe, dict)
        return
    code, err = info(path, capsys)
    assert code != 0 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("studio: error:")]
    assert lines and ("damaged" in lines[0] or "empty" in lines[0] or "no Studio recipe" in lines[0])


def test_out_to_an_unwritable_path_says_so(tmp_path, studio_home):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    env = {**os.environ, "STUDIO_HOME": str(studio_home)}
    result = subprocess.run(
        [sys.executable, "-m", "studio", "generate", "pattern", "--prompt", "x", "--steps", "1", "--size", "16x16",
         "--out", str(blocker / "inside.png")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "--out" in result.stderr and "cannot be written" in result.stderr


def test_a_flac_behind_an_id3_tag_is_read_and_checked(tmp_path):
    path = make_audio(tmp_path / "tagged.flac", "FLAC")
    body = b"GEOB" + b"\0" * 20
    size = len(body)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    path.write_bytes(b"ID3\x04\x00\x00" + syncsafe + body + path.read_bytes())
    assert provenance.read_recipe(path)["request"]["prompt"] == "p"
    data = path.read_bytes()
    path.write_bytes(data[: len(body) + 30])
    with pytest.raises(StudioError, match="damaged"):
        provenance.read_recipe(path)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_flac_cut_mid_audio_reads_as_truncated(tmp_path, keep, capsys):
    """The metadata (with the recipe) is whole; the audio frames stop early."""
    import soundfile

    path = tmp_path / "cut.flac"
    noise = np.random.default_rng(3).normal(0, 0.2, (96000, 1))
    soundfile.write(path, noise, 48000, format="FLAC")
    whole = path.read_bytes()
    path.write_bytes(provenance.embed(whole, ".flac", RECIPE)[: int(len(whole) * keep)])
    with pytest.raises(StudioError) as caught:
        provenance.read_recipe(path)
    assert "FLAC audio" in str(caught.value) and "truncated" in str(caught.value)
    code, err = info(path, capsys)
    assert code != 0 and "Traceback" not in err and "FLAC audio" in err
