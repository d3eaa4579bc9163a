"""``studio generate text`` as a user runs it: the answer streams to stdout,
the reply is stored in the library, and bad input is one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from studio.core.models.cards import card_id
from studio.engines.text.conversation import Conversation


def _studio(studio_home, *args):
    env = {**os.environ, "STUDIO_HOME": str(studio_home)}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env, check=False,
                          timeout=180)


def _use_models(studio_home, folder) -> None:
    settings = studio_home / "config" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"models.folders": [str(folder)]}))


def _model_id(folder) -> str:
    # Discovery names a folder by this id; computing it here spares a `studio models list` process.
    return card_id(folder.name, folder)


def test_generate_text_streams_to_stdout_and_saves_the_reply(studio_home, tiny):
    _use_models(studio_home, tiny.root)
    model = _model_id(tiny.llama)
    result = _studio(studio_home, "generate", "text", "--model", model, "--prompt", "Hello harbour",
                     "--system", "Be brief.", "--max-new-tokens", "12", "--seed", "4", "--stop", "zzz")
    assert result.returncode == 0, result.stderr
    *streamed, path_line = result.stdout.rstrip("\n").split("\n")
    document = Conversation.from_json(Path(path_line).read_bytes())
    answer = document.turns[-1]
    assert answer.content and answer.content in "\n".join(streamed)
    assert answer.settings["seed"] == 4 and answer.settings["max_new_tokens"] == 12
    assert answer.settings["stop"] == ["zzz"]
    assert document.system == "Be brief." and document.turns[0].content == "Hello harbour"
    listing = _studio(studio_home, "library", "list", "--search", "harbour")
    assert path_line in listing.stdout


def test_bad_text_input_is_one_clear_line(studio_home, tiny):
    _use_models(studio_home, tiny.root)
    model = _model_id(tiny.llama)
    cases = [
        (["--model", model, "--prompt", "  "], "prompt is empty"),
        (["--model", model, "--prompt", "the sea " * 100, "--context-length", "48"], "too long for the model"),
        (["--model", "missing-model", "--prompt", "hi"], "was not found"),
        (["--prompt", "hi"], "choose a text model"),
    ]
    for args, message in cases:
        result = _studio(studio_home, "generate", "text", *args)
        assert result.returncode == 1, (args, result.stderr)
        lines = [line for line in result.stderr.strip().splitlines() if line.startswith("studio:")]
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert "Traceback" not in result.stderr
