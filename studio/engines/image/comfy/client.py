"""Talking to one ComfyUI server: HTTP through ``httpx``, the event stream
through ``websockets`` (both synchronous: the engine runs on the job
worker's thread).

Requests go only to the URL the person entered (no redirects, no proxy or
netrc from the environment); the bearer token, when one is set, is sent on
every request and the websocket handshake and never appears in an error."""

from __future__ import annotations

import json
import struct
import time
import uuid
from typing import Any, Self

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from studio.core.jobs import StudioError
from studio.core.secrets import redact
from studio.core.servers import Endpoint

HTTP_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=60.0, pool=5.0)
DISCOVERY_TIMEOUT = httpx.Timeout(3.0)
WS_OPEN_TIMEOUT_S = 5.0
PREVIEW_IMAGE = 1  # binary event type of a preview frame (server.py BinaryEventTypes.PREVIEW_IMAGE)
FORMATS = {1: "JPEG", 2: "PNG"}
DETAIL_CHARS = 240


def _one_line(text: str, limit: int = DETAIL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text[:limit] + ("…" if len(text) > limit else "")


class ComfyClient:
    def __init__(self, endpoint: Endpoint, timeout: httpx.Timeout = HTTP_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.token = endpoint.api_key()
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.headers = headers
        self.http = httpx.Client(base_url=endpoint.base_url, headers=headers, timeout=timeout,
                                 follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- errors ---------------------------------------------------------------------------------
    def _where(self) -> str:
        return f"ComfyUI server {self.name!r} at {self.endpoint.base_url}"

    def transport_error(self, exc: Exception) -> StudioError:
        reason = _one_line(str(exc)) or type(exc).__name__
        if isinstance(exc, httpx.ConnectTimeout):
            text = f"{self._where()} is unreachable (no answer in time); is it running?"
        elif isinstance(exc, (httpx.ConnectError, ConnectionRefusedError, OSError)) and \
                not isinstance(exc, httpx.TimeoutException):
            text = f"{self._where()} is unreachable ({reason}); is it running?"
        elif isinstance(exc, httpx.TimeoutException):
            text = f"{self._where()} stopped answering ({type(exc).__name__})"
        else:
            text = f"{self._where()} could not be reached ({type(exc).__name__}: {reason})"
        return StudioError(redact(text, self.token))

    def status_error(self, response: httpx.Response, what: str) -> StudioError:
        code = response.status_code
        if code in (401, 403):
            text = (f"{self._where()} refused the token (HTTP {code}); set the right one in Settings > Servers"
                    if self.token else f"{self._where()} needs a token (HTTP {code}); add it in Settings > Servers")
        elif code == 400 and what == "prompt":
            text = self._prompt_error(response)
        else:
            detail = _one_line(response.text, 160) if response.text else ""
            text = f"{self._where()} answered {what} with HTTP {code}" + (f": {detail}" if detail else "")
        return StudioError(redact(text, self.token))

    def _prompt_error(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return f"server {self.name!r} refused the workflow (HTTP 400): {_one_line(response.text)}"
        node_errors = body.get("node_errors") if isinstance(body, dict) else None
        if isinstance(node_errors, dict) and node_errors:
            node_id, entry = next(iter(node_errors.items()))
            errors = entry.get("errors") or [{}]
            first = errors[0]
            reason = first.get("message", "invalid")
            if first.get("details"):
                reason += f": {first['details']}"
            more = f" (and {len(node_errors) - 1} more node(s))" if len(node_errors) > 1 else ""
            return (f"server {self.name!r} refused the workflow: node {node_id} ({entry.get('class_type', '?')}): "
                    f"{_one_line(reason)}{more}")
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            message = error.get("message", "invalid prompt")
            if error.get("details"):
                message += f" ({error['details']})"
        else:
            message = str(error or body)
        return f"server {self.name!r} refused the workflow: {_one_line(message)}"

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from None
        if response.status_code >= 300:
            raise self.status_error(response, what)
        return response

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise StudioError(f"{self._where()} answered {what} with something that is not JSON; "
                              f"is it a ComfyUI server?") from None

    # --- the API --------------------------------------------------------------------------------
    def object_info(self) -> dict[str, Any]:
        data = self._json(self._call("GET", "/object_info", "/object_info"), "/object_info")
        if not isinstance(data, dict) or "KSampler" not in data and "CheckpointLoaderSimple" not in data:
            raise StudioError(f"{self._where()} has no ComfyUI node list at /object_info; is it a ComfyUI server?")
        return data

    def upload(self, data: bytes, name: str, kind: str = "input") -> str:
        files = {"image": (name, data, "image/png")}
        response = self._call("POST", "/upload/image", "the upload", files=files,
                              data={"overwrite": "true", "type": kind, "subfolder": ""})
        body = self._json(response, "the upload")
        sub = body.get("subfolder") or ""
        return f"{sub}/{body['name']}" if sub else str(body["name"])

    def queue_prompt(self, graph: dict[str, Any], client_id: str, prompt_id: str | None = None,
                     extra: dict[str, Any] | None = None) -> str:
        payload: dict[str, Any] = {"prompt": graph, "client_id": client_id}
        if prompt_id:
            payload["prompt_id"] = prompt_id
        if extra:
            payload["extra_data"] = extra
        body = self._json(self._call("POST", "/prompt", "prompt", json=payload), "/prompt")
        if body.get("node_errors"):
            raise StudioError(self._prompt_error(httpx.Response(400, json=body)))
        return str(body["prompt_id"])

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        body = self._json(self._call("GET", f"/history/{prompt_id}", "/history"), "/history")
        entry = body.get(prompt_id) if isinstance(body, dict) else None
        return entry if isinstance(entry, dict) else None

    def queue(self) -> dict[str, Any]:
        return self._json(self._call("GET", "/queue", "/queue"), "/queue")

    def is_queued(self, prompt_id: str) -> str:
        """"running", "pending" or "" for ``prompt_id`` on the server's queue."""
        queue = self.queue()
        for state, key in (("running", "queue_running"), ("pending", "queue_pending")):
            if any(len(item) > 1 and item[1] == prompt_id for item in queue.get(key, [])):
                return state
        return ""

    def view(self, image: dict[str, Any]) -> bytes:
        params = {"filename": image["filename"], "subfolder": image.get("subfolder", ""),
                  "type": image.get("type", "output")}
        return self._call("GET", "/view", "/view", params=params).content

    def interrupt(self, prompt_id: str | None = None) -> None:
        self._call("POST", "/interrupt", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {})

    def delete_queued(self, prompt_ids: list[str]) -> None:
        self._call("POST", "/queue", "/queue", json={"delete": list(prompt_ids)})

    def cancel(self, prompt_id: str) -> None:
        """Take ``prompt_id`` off the server: delete it if it waits, interrupt it if it runs."""
        self.delete_queued([prompt_id])
        # Only when it is ours that runs: an older ComfyUI ignores the prompt id and stops whatever runs.
        if self.is_queued(prompt_id) == "running":
            self.interrupt(prompt_id)

    # --- events -----------------------------------------------------------------------------------
    def ws_url(self, client_id: str) -> str:
        base = self.endpoint.base_url
        scheme = "wss" if base.startswith("https") else "ws"
        return f"{scheme}{base[base.index(':'):]}/ws?clientId={client_id}"

    def connect_events(self, client_id: str) -> ClientConnection:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            return connect(self.ws_url(client_id), additional_headers=headers, open_timeout=WS_OPEN_TIMEOUT_S,
                           max_size=None, proxy=None, user_agent_header="Studio")
        except InvalidStatus as exc:
            code = exc.response.status_code
            if code in (401, 403):
                said = ("refused the token on its websocket" if self.token else "needs a token for its websocket")
                raise StudioError(redact(f"{self._where()} {said} (HTTP {code}); set the right one in "
                                         "Settings > Servers", self.token)) from None
            raise StudioError(f"{self._where()} refused the websocket (HTTP {code})") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise self.transport_error(exc) from None


def new_client_id() -> str:
    return uuid.uuid4().hex


def parse_binary(frame: bytes) -> tuple[int, str, bytes] | None:
    """(event type, image format, image bytes) of a preview frame; None for other binary events."""
    if len(frame) < 8:
        return None
    event, = struct.unpack(">I", frame[:4])
    if event != PREVIEW_IMAGE:
        return None
    image_format, = struct.unpack(">I", frame[4:8])
    return event, FORMATS.get(image_format, "JPEG"), frame[8:]


def receive(ws: ClientConnection, timeout: float) -> str | bytes | None:
    """The next message, or None when nothing came within ``timeout``; ConnectionClosed when dropped."""
    try:
        return ws.recv(timeout=timeout)
    except TimeoutError:
        return None


def decode(message: str) -> dict[str, Any]:
    try:
        data = json.loads(message)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["ComfyClient", "ConnectionClosed", "decode", "new_client_id", "parse_binary", "receive", "time"]
