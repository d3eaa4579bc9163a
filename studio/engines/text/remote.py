"""Text models on a remote OpenAI-compatible server (llama.cpp server, vLLM,
Ollama, LM Studio, a hosted API), run through the same job flow as local ones.

``server_cards`` turns each listed endpoint's ``GET /v1/models`` into model
cards (id ``SERVER/MODEL``, format ``openai-server``), so the Models panel,
``studio models list`` and ``--model SERVER/MODEL`` see them like any other
model; a server that does not answer within a short timeout gives cards
that carry its error instead of slowing discovery down.

``reply_from_server`` posts the conversation to ``/v1/chat/completions``
with ``stream: true`` and puts each streamed delta into the ``TextStream``;
Stop closes the connection (which ends the generation on the server) and
keeps what was written. Every failure is one line naming the server: an
error before any text raises ``StudioError``; an error after some text
keeps the partial answer and names the error in the reply's notice.

Requests go only to the URL the person entered: no redirects are followed
and no proxy or netrc settings from the environment are used. The API key
is sent as a Bearer token and never appears in an error, a log or a recipe."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from studio.core import servers
from studio.core.jobs import CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.core.secrets import redact
from studio.core.servers import Endpoint
from studio.core.settings import Settings
from studio.engines.text.engine import Reply
from studio.engines.text.requests import TextRequest
from studio.engines.text.streaming import TextStream

log = logging.getLogger(__name__)

FORMAT = "openai-server"
# Discovery must not hold up the Models panel: a server that does not answer
# in this time is reported as unreachable.
DISCOVERY_TIMEOUT = httpx.Timeout(2.0)
# A reply may wait long for its first token (a big prompt, a model being
# loaded by Ollama) and between tokens on a busy server.
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 300.0
REPLY_TIMEOUT = httpx.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S, write=30.0, pool=10.0)
DETAIL_CHARS = 200

# The models each server listed last time, so a request for SERVER/MODEL
# finds its card (with the server's error) while the server is down.
_known_models: dict[str, list[str]] = {}
_known_lock = threading.Lock()


# --- talking to a server ------------------------------------------------------------
def _client(endpoint: Endpoint, api_key: str | None, timeout: httpx.Timeout) -> httpx.Client:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.Client(headers=headers, timeout=timeout, follow_redirects=False, trust_env=False)


def _detail(response: httpx.Response, api_key: str | None) -> str:
    """The server's own words about an error, short and on one line."""
    try:
        response.read()
        text = response.text
    except (httpx.HTTPError, UnicodeDecodeError):
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message", "")))
        if isinstance(error, dict):
            error = error.get("message", "") or error.get("msg", "")
        elif isinstance(error, list) and error and isinstance(error[0], dict):
            error = error[0].get("msg", "")
        text = str(error)
    text = " ".join(redact(text, api_key).split())
    return text[:DETAIL_CHARS] + ("…" if len(text) > DETAIL_CHARS else "")


def status_error(endpoint: Endpoint, response: httpx.Response, api_key: str | None, model: str = "") -> StudioError:
    code = response.status_code
    detail = _detail(response, api_key)
    said = f": {detail}" if detail else ""
    where = f"server {endpoint.name!r}"
    if code in (401, 403):
        if api_key:
            message = (f"{where} refused the API key (HTTP {code}): the key is wrong or lacks access; "
                       f"set the right one in Settings > Servers")
        else:
            message = (f"{where} needs an API key (HTTP {code}): the key is missing; "
                       f"add it in Settings > Servers or with `studio servers add --api-key-stdin`")
    elif code == 404:
        what = f"no model {model!r} or no" if model else "no"
        message = f"{where} has {what} OpenAI API at {endpoint.api_url} (HTTP 404{said})"
    elif code == 429:
        message = f"{where} is rate-limiting or busy (HTTP 429{said}); try again shortly"
    elif code >= 500:
        message = f"{where} failed with an internal error (HTTP {code}{said})"
    elif 300 <= code < 400:
        message = (f"{where} redirected to another address (HTTP {code}); "
                   f"enter the final URL in Settings > Servers")
    else:
        message = f"{where} refused the request (HTTP {code}{said})"
    return StudioError(redact(message, api_key))


def transport_error(endpoint: Endpoint, exc: Exception, api_key: str | None,
                    timeout: httpx.Timeout = REPLY_TIMEOUT) -> StudioError:
    where = f"server {endpoint.name!r} at {endpoint.base_url}"
    reason = " ".join(str(exc).split())[:DETAIL_CHARS] or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        message = f"{where} is unreachable (no answer within {timeout.connect:g} s); is it running?"
    elif isinstance(exc, httpx.ConnectError):
        message = f"{where} is unreachable ({reason}); is it running?"
    elif isinstance(exc, httpx.ReadTimeout):
        message = f"{where} stopped answering (nothing received for {timeout.read:g} s)"
    elif isinstance(exc, httpx.TimeoutException):
        message = f"{where} timed out ({type(exc).__name__})"
    elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        message = f"the connection to {where} was dropped ({reason})"
    else:
        message = f"{where} could not be reached ({type(exc).__name__}: {reason})"
    return StudioError(redact(message, api_key))


def list_models(endpoint: Endpoint, timeout: httpx.Timeout = DISCOVERY_TIMEOUT) -> list[str]:
    """The ids of the models ``GET {base}/v1/models`` lists."""
    api_key = endpoint.api_key()
    try:
        with _client(endpoint, api_key, timeout) as client:
            response = client.get(endpoint.api_url + "/models")
            if response.status_code != 200:
                raise status_error(endpoint, response, api_key)
            try:
                data = response.json()
            except ValueError:
                raise StudioError(f"server {endpoint.name!r} answered /v1/models with something that is not "
                                  f"JSON; is {endpoint.api_url} an OpenAI-compatible API?") from None
    except httpx.HTTPError as exc:
        raise transport_error(endpoint, exc, api_key, timeout) from None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise StudioError(f"server {endpoint.name!r} answered /v1/models without a model list")
    models = [str(entry["id"]) for entry in entries if isinstance(entry, dict) and entry.get("id")]
    with _known_lock:
        _known_models[endpoint.name] = models
    return models


# --- cards ----------------------------------------------------------------------------
def card_for(endpoint: Endpoint, model: str, error: str = "") -> ModelCard:
    return ModelCard(
        id=f"{endpoint.name}/{model}", name=f"{model} ({endpoint.name})", modality="text", format=FORMAT,
        path=Path(endpoint.base_url), source=f"server {endpoint.name}",
        description=f"{model} on the {servers.KINDS.get(endpoint.kind, endpoint.kind)} server at {endpoint.api_url}",
        error=error, extra={"server": endpoint.name, "model": model, "base_url": endpoint.base_url},
    )


def cards_of(endpoint: Endpoint, timeout: httpx.Timeout = DISCOVERY_TIMEOUT) -> list[ModelCard]:
    try:
        return [card_for(endpoint, model) for model in list_models(endpoint, timeout)]
    except StudioError as exc:
        with _known_lock:
            known = list(_known_models.get(endpoint.name, ()))
        if known:  # keep the models it had, marked with why they cannot be used now
            return [card_for(endpoint, model, str(exc)) for model in known]
        card = card_for(endpoint, "", str(exc))
        card.id, card.name = endpoint.name, f"{endpoint.name} (server)"
        return [card]


def server_cards(settings: Settings | None = None) -> list[ModelCard]:
    """Cards for every model of every listed server, asked in parallel."""
    endpoints = [e for e in servers.store(settings).list() if e.kind == "openai"]  # not the ComfyUI servers
    if not endpoints:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(endpoints)), thread_name_prefix="studio-servers") as pool:
        return [card for cards in pool.map(cards_of, endpoints) for card in cards]


# --- one reply ------------------------------------------------------------------------
def messages_of(request: TextRequest) -> list[dict[str, str]]:
    messages = []
    if request.system.strip():
        messages.append({"role": "system", "content": request.system})
    messages += [{"role": role, "content": content} for role, content in request.history]
    messages.append({"role": "user", "content": request.prompt})
    return messages


def payload_of(model: str, request: TextRequest) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": model,
        "messages": messages_of(request),
        "stream": True,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_new_tokens,
        "seed": request.seed,
        # Not in OpenAI's API; llama.cpp, vLLM and others read them, the rest ignore them.
        "top_k": request.top_k,
        "repeat_penalty": request.repetition_penalty,
    }
    if request.stop:
        payload["stop"] = list(request.stop)[:4]  # OpenAI's limit; the stream cuts at all of them anyway
    return payload


def endpoint_for(card: ModelCard) -> Endpoint:
    name = str(card.extra.get("server", ""))
    try:
        return servers.store().get(name)
    except StudioError:
        raise StudioError(f"the server {name!r} of {card.id} is no longer listed; add it in Settings > Servers") \
            from None


def _events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream, up to ``[DONE]``."""
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
            continue
        if line or not data:
            continue  # comments, event names, ids; blank lines between events
        yield from _event(data)
        data = []
    if data:
        yield from _event(data)


def _event(data: list[str]) -> Iterator[dict[str, Any]]:
    text = "\n".join(data).strip()
    if text == "[DONE]":
        raise _Done()
    try:
        event = json.loads(text)
    except ValueError:
        raise _Malformed(text[:80]) from None
    if not isinstance(event, dict):
        raise _Malformed(text[:80])
    yield event


class _Done(Exception):
    pass


class _Malformed(Exception):
    pass


class _NoIds:
    """A stand-in tokenizer for a stream fed only text, so ``end`` has nothing to decode."""

    @staticmethod
    def decode(ids: list[int], **_kwargs: Any) -> str:
        return ""


def _watch_cancel(cancel: CancelToken, response_box: list[httpx.Response], done: threading.Event) -> None:
    """Close the open response as soon as Stop is pressed, even while the server is silent."""
    while not done.wait(0.05):
        if cancel.cancelled:
            for response in response_box:
                try:
                    response.close()
                except Exception as exc:  # noqa: BLE001 - closing from another thread may race with reading
                    log.debug("closing the stopped reply: %s", type(exc).__name__)
            return


def reply_from_server(card: ModelCard, request: TextRequest, report: Reporter, cancel: CancelToken,
                      stream: TextStream) -> Reply:
    endpoint = endpoint_for(card)
    model = str(card.extra.get("model", ""))
    api_key = endpoint.api_key()
    stream.tokenizer = stream.tokenizer or _NoIds()
    report.progress(0, 0, f"asking {endpoint.name} ({model})…")
    cancel.raise_if_cancelled()
    prompt_tokens = 0
    notice = ""
    response_box: list[httpx.Response] = []
    done = threading.Event()
    watcher = threading.Thread(target=_watch_cancel, args=(cancel, response_box, done), daemon=True,
                               name="studio-server-stop")
    watcher.start()
    stream.started = stream.clock()
    try:
        with _client(endpoint, api_key, REPLY_TIMEOUT) as client, \
                client.stream("POST", endpoint.api_url + "/chat/completions",
                              json=payload_of(model, request)) as response:
            response_box.append(response)
            if response.status_code != 200:
                raise status_error(endpoint, response, api_key, model)
            try:
                for event in _events(response):
                    if event.get("error"):
                        raise StudioError(_stream_error(endpoint, event["error"], api_key))
                    usage = event.get("usage")
                    if isinstance(usage, dict) and usage.get("prompt_tokens"):
                        prompt_tokens = int(usage["prompt_tokens"])
                    piece = _delta_text(event)
                    if piece:
                        stream.put_text(piece, tokens=1)
                    if cancel.cancelled or stream.stop_string_hit:
                        break
            except _Done:
                pass
            except _Malformed as exc:
                raise StudioError(redact(f"server {endpoint.name!r} sent a malformed stream chunk: "
                                         f"{exc}", api_key)) from None
    except (StudioError, httpx.HTTPError) as exc:
        if cancel.cancelled:  # the watcher closed the connection: a Stop, not an error
            pass
        else:
            error = exc if isinstance(exc, StudioError) else transport_error(endpoint, exc, api_key)
            if not stream.text.strip():
                raise error from None
            notice = f"the reply was cut short: {error}"
            log.warning("%s", notice)
    finally:
        done.set()
    stream.end()
    return Reply(prompt_tokens, notice, 0, loaded_from=endpoint.api_url, backend="server")


def _delta_text(event: dict[str, Any]) -> str:
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    delta = choice.get("delta")
    if isinstance(delta, dict):
        content = delta.get("content")
        return content if isinstance(content, str) else ""
    text = choice.get("text")  # a completions-style chunk
    return text if isinstance(text, str) else ""


def _stream_error(endpoint: Endpoint, error: Any, api_key: str | None) -> str:
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    message = " ".join(str(message).split())[:DETAIL_CHARS]
    return redact(f"server {endpoint.name!r} reported an error while writing: {message}", api_key)
