"""The headless ``studio`` command, run as a user would, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from PIL import Image


def _studio(studio_home, *args):
    env = {**os.environ, "STUDIO_HOME": str(studio_home)}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_generate_writes_the_file_the_library_and_the_recipe(studio_home, tmp_path):
    out = tmp_path / "result.png"
    result = _studio(studio_home, "generate", "pattern", "--prompt", "tidal pools", "--steps", "4",
                     "--size", "48x32", "--seed", "9", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "4/4" in result.stderr  # the progress bar reached the end
    assert Image.open(out).size == (48, 32)
    info = _studio(studio_home, "info", "--json", str(out))
    recipe = json.loads(info.stdout)
    assert recipe["request"]["prompt"] == "tidal pools" and recipe["request"]["seed"] == 9
    assert recipe["ai_generated"] is True
    listing = _studio(studio_home, "library", "list", "--search", "tidal")
    assert "tidal pools" in listing.stdout


def test_bad_input_is_one_line_and_non_zero(studio_home, tmp_path):
    cases = [
        (["generate", "pattern", "--prompt", ""], "prompt is empty"),
        (["generate", "pattern", "--prompt", "x", "--size", "100x7"], "multiple of 8"),
        (["generate", "pattern", "--prompt", "x", "--size", "big"], "--size must look like"),
        (["info", str(tmp_path / "missing.png")], "cannot read"),
    ]
    for args, message in cases:
        result = _studio(studio_home, *args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert "Traceback" not in result.stderr


def test_models_list_json_includes_starters(studio_home):
    result = _studio(studio_home, "models", "list", "--json")
    assert result.returncode == 0, result.stderr
    ids = {card["id"] for card in json.loads(result.stdout)}
    assert {"smollm2-135m-instruct", "piper-en-us-joe-medium"} <= ids


def test_image_size_follows_the_models_native_size_unless_given(studio_home, tmp_path):
    out = tmp_path / "starter.png"
    result = _studio(studio_home, "generate", "image", "--model", "starter-shapes", "--steps", "4",
                     "--prompt", "a red circle on a blue background", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (64, 64)
    recipe = json.loads(_studio(studio_home, "info", "--json", str(out)).stdout)
    assert (recipe["request"]["width"], recipe["request"]["height"]) == (64, 64)
    wide = tmp_path / "wide.png"
    result = _studio(studio_home, "generate", "image", "--model", "starter-shapes", "--steps", "2",
                     "--prompt", "a red circle", "--size", "128x64", "--out", str(wide))
    assert result.returncode == 0, result.stderr
    assert Image.open(wide).size == (128, 64)
