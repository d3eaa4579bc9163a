"""Text replies from a remote OpenAI-compatible server, against the real
llama.cpp server (``llama_cpp.server``) serving the SmolLM2 starter GGUF on
127.0.0.1: model cards, streaming through the job flow, Stop, a wrong key,
a server that is down, one that dies mid-answer, and a wrong API path."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core import servers
from studio.core.jobs import JobState, StudioError
from studio.core.secrets import secrets_file
from studio.engines.text import remote
from studio.engines.text.conversation import Conversation
from studio.engines.text.requests import TextRequest
from studio.engines.text.streaming import StreamedText
from tests.engines.text.conftest import Recorder, run_job
from tests.helpers import llama_server

pytestmark = pytest.mark.skipif(bool(llama_server.why_unavailable()), reason=llama_server.why_unavailable()
                                or "llama_cpp.server is available")

KEY = "test-key-7f3a9c"
MODEL = llama_server.MODEL_ALIAS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = llama_server.start_llama_server(tmp_path_factory.mktemp("llama-server"), api_key=KEY)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def file_secrets(monkeypatch):
    monkeypatch.setenv("STUDIO_SECRETS", "file")  # never the desktop keyring of whoever runs the tests


@pytest.fixture
def studio(services):
    services.models.include_hf_cache = False
    return services


def add_server(services, name, url, key=KEY):
    endpoint = servers.ServerStore(services.settings).add(name, url, api_key=key)
    services.models.refresh()
    return endpoint


def reply(item) -> Conversation:
    return Conversation.from_json(item.path.read_bytes())


def test_the_servers_models_become_cards_with_their_source(studio, server):
    add_server(studio, "local", server.api_url)
    cards = [c for c in studio.models.cards("text") if c.format == "openai-server"]
    assert [c.id for c in cards] == [f"local/{MODEL}"]
    card = cards[0]
    assert card.source == "server local" and card.usable and card.modality == "text"
    assert card.extra == {"server": "local", "model": MODEL, "base_url": server.base_url}
    assert remote.list_models(servers.ServerStore(studio.settings).get("local")) == [MODEL]


def test_a_reply_streams_through_the_job_flow_and_the_recipe_names_server_and_model(studio, server, studio_home):
    add_server(studio, "local", server.base_url + "/")  # without /v1 and with a slash: the same server
    request = TextRequest(prompt="Name three colours.", system="Be brief.", model_id=f"local/{MODEL}",
                          history=(("user", "Hello"), ("assistant", "Hi! How can I help?")),
                          max_new_tokens=24, seed=3, temperature=0.0)
    state, item, recorder = run_job(studio, request)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    *previews, closing = recorder.previews
    assert closing.closing and len(previews) >= 3
    assert all(isinstance(p, StreamedText) for p in previews)
    for before, after in itertools.pairwise(previews):
        assert after.full == before.full + after
    conversation = reply(item)
    assert [t.role for t in conversation.turns][-2:] == ["user", "assistant"]
    answer = conversation.turns[-1]
    assert answer.content == previews[-1].full.strip() != ""
    assert 1 < answer.stats["tokens"] <= 24
    model = item.recipe["model"]
    assert model["id"] == f"local/{MODEL}" and model["backend"] == "server"
    assert model["loaded_from"] == server.api_url
    assert item.model_id == f"local/{MODEL}" and item.request == request  # so Reuse runs it again
    # The key is in the private secrets file only: not in settings, recipes or the stored reply.
    settings_text = (studio_home / "config" / "settings.json").read_text()
    assert "local" in settings_text and KEY not in settings_text
    assert KEY not in json.dumps(item.recipe) and KEY.encode() not in item.path.read_bytes()
    assert oct(secrets_file().stat().st_mode & 0o777) == oct(0o600)
    assert KEY in secrets_file().read_text()


def test_stop_mid_stream_keeps_the_partial_answer(studio, server):
    add_server(studio, "local", server.api_url)
    recorder = Recorder(cancel_after_previews=3)
    request = TextRequest(prompt="Count from 1 to 100, one number a line.", model_id=f"local/{MODEL}",
                          max_new_tokens=48, seed=1, temperature=0.0)
    state, item, recorder = run_job(studio, request, recorder)
    assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
    turn = reply(item).turns[-1]
    assert turn.stopped and item.recipe["stopped"] is True
    assert turn.content and turn.stats["tokens"] < 48


def test_a_wrong_key_is_one_line_that_says_so_without_the_key(studio, server):
    add_server(studio, "local", server.api_url, key="wrong-key-0000")
    card = next(c for c in studio.models.cards("text") if c.source == "server local")
    assert "key is wrong" in card.error and "wrong-key-0000" not in card.error
    studio.models.add_card(remote.card_for(servers.ServerStore(studio.settings).get("local"), MODEL))
    state, item, _ = run_job(studio, TextRequest(prompt="Hi", model_id=f"local/{MODEL}", max_new_tokens=8))
    assert state is JobState.FAILED and item is None
    error = studio.queue.jobs()[-1].error
    assert "key is wrong" in error and "\n" not in error and "wrong-key-0000" not in error


def test_a_missing_key_is_named(studio, server):
    add_server(studio, "local", server.api_url, key=None)
    card = next(c for c in studio.models.cards("text") if c.source == "server local")
    assert "key is missing" in card.error


def test_a_server_that_is_down_is_unreachable_quickly(studio):
    import time

    port = llama_server.free_port()
    started = time.monotonic()
    add_server(studio, "gone", f"http://127.0.0.1:{port}/v1", key=None)
    assert time.monotonic() - started < 5
    card = next(c for c in studio.models.cards("text") if c.source == "server gone")
    assert "unreachable" in card.error and not card.usable
    studio.models.add_card(remote.card_for(servers.ServerStore(studio.settings).get("gone"), MODEL))
    state, _, _ = run_job(studio, TextRequest(prompt="Hi", model_id=f"gone/{MODEL}", max_new_tokens=8))
    assert state is JobState.FAILED
    error = studio.queue.jobs()[-1].error
    assert "unreachable" in error and "\n" not in error


def test_a_wrong_api_path_is_a_404_line(studio, server):
    add_server(studio, "odd", server.base_url + "/nothing/v1")
    card = next(c for c in studio.models.cards("text") if c.source == "server odd")
    assert "HTTP 404" in card.error
    studio.models.add_card(remote.card_for(servers.ServerStore(studio.settings).get("odd"), MODEL))
    state, _, _ = run_job(studio, TextRequest(prompt="Hi", model_id=f"odd/{MODEL}", max_new_tokens=8))
    assert state is JobState.FAILED
    error = studio.queue.jobs()[-1].error
    assert "HTTP 404" in error and f"no model {MODEL!r}" in error and KEY not in error


def test_a_server_killed_mid_answer_keeps_the_partial_answer_with_a_notice(studio, tmp_path):
    doomed = llama_server.start_llama_server(tmp_path, api_key=None)
    try:
        add_server(studio, "doomed", doomed.api_url, key=None)

        class Killer(Recorder):
            def preview(self, payload):
                super().preview(payload)
                if len(self.previews) == 2:
                    doomed.kill()

        request = TextRequest(prompt="Count from 1 to 200, one number a line.", model_id=f"doomed/{MODEL}",
                              max_new_tokens=400, seed=1, temperature=0.0)
        state, item, _ = run_job(studio, request, Killer())
        assert state is JobState.FINISHED, studio.queue.jobs()[-1].error
        assert "cut short" in item.recipe["notice"] and "dropped" in item.recipe["notice"]
        turn = reply(item).turns[-1]
        assert turn.content and not turn.stopped and turn.stats["tokens"] < 400
    finally:
        doomed.stop()


def test_the_servers_command_adds_lists_tests_and_removes(studio_home, server):
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "STUDIO_SECRETS": "file"}

    def studio_cli(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "studio", "servers", *args], input=stdin, capture_output=True,
                              text=True, env=env, check=False, timeout=120)

    added = studio_cli("add", "box", server.api_url, "--api-key-stdin", stdin=KEY + "\n")
    assert added.returncode == 0, added.stderr
    assert KEY not in added.stdout
    listed = studio_cli("list")
    assert listed.returncode == 0 and "box" in listed.stdout and "set" in listed.stdout and KEY not in listed.stdout
    tested = studio_cli("test", "box")
    assert tested.returncode == 0, tested.stderr
    assert f"box/{MODEL}" in tested.stdout
    assert KEY not in (studio_home / "config" / "settings.json").read_text()
    removed = studio_cli("remove", "box")
    assert removed.returncode == 0
    assert "no servers" in studio_cli("list").stdout
    failed = studio_cli("test", "box")
    assert failed.returncode != 0 and "no server named 'box'" in failed.stderr


def test_generate_text_with_a_server_model(studio_home, server):
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "STUDIO_SECRETS": "file"}
    cli = [sys.executable, "-m", "studio"]
    subprocess.run([*cli, "servers", "add", "box", server.api_url, "--api-key-stdin"], input=KEY, text=True,
                   env=env, check=True, capture_output=True, timeout=120)
    result = subprocess.run([*cli, "generate", "text", "--model", f"box/{MODEL}", "--prompt", "Say hello.",
                             "--max-new-tokens", "8"], capture_output=True, text=True, env=env, check=False,
                            timeout=180)
    assert result.returncode == 0, result.stderr
    path = result.stdout.rstrip("\n").split("\n")[-1]
    assert Conversation.from_json(Path(path).read_bytes()).turns[-1].content


def test_errors_of_a_direct_call_are_studio_errors(studio, server):
    endpoint = add_server(studio, "local", server.api_url, key="bad")
    with pytest.raises(StudioError, match="key is wrong"):
        remote.list_models(endpoint)
