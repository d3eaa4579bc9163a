"""Image jobs on a remote ComfyUI server, through the same job flow as the
local diffusers engine: the image engine hands a job whose model card has
the format ``comfyui`` to :func:`run`.

One job: read the server's ``/object_info`` (cached a minute, read again
when something seems missing), upload the init image and mask, build the
graph (``graph.build_graph``) and check it against the schema, open the
websocket ``/ws?clientId=`` *before* ``POST /prompt`` so no event is missed,
then follow our prompt's events: ``progress`` -> the job's progress, binary
preview frames -> ``report.preview`` (the same latest-wins path as local
previews), ``execution_error`` / ``execution_interrupted`` -> one clear
line, ``executing`` with ``node: null`` -> done. The images are read from
``GET /history/{prompt_id}`` and ``GET /view`` and become artifacts whose
recipe carries the Studio recipe plus the server and the graph that ran.

Cancel deletes our prompt from the server's queue if it still waits and
interrupts it if it runs. A dropped websocket is reopened (same client id)
and the history is checked for a result that finished meanwhile. While a
prompt is on the server it is written down in ``comfyui-pending.json``; a
Studio killed mid-job leaves the record, and :func:`fetch_finished` later
brings a finished result from the server's history into the library."""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from studio import __version__
from studio.core import servers
from studio.core.jobs import Artifact, Cancelled, CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.core.servers import Endpoint
from studio.engines.image.comfy import graph as graphs
from studio.engines.image.comfy.client import (
    ComfyClient,
    ConnectionClosed,
    decode,
    new_client_id,
    parse_binary,
    receive,
)
from studio.engines.image.comfy.servers import (
    FORMAT,
    TIMEOUT_SETTING,
    _server_gone,
    endpoint_for,
    object_info,
    result_timeout,
)
from studio.engines.image.requests import ImageRequest

log = logging.getLogger(__name__)

RECONNECT_DELAYS_S = (0.1, 0.3, 0.6, 1.0, 2.0)
POLL_S = 0.05


# --- pending prompts (a Studio killed mid-job) ----------------------------------------------------------
def _pending_file() -> Path:
    from studio.core.paths import studio_paths

    return studio_paths().data / "comfyui-pending.json"


_pending_lock = threading.Lock()


def pending() -> list[dict[str, Any]]:
    import json

    path = _pending_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    except (OSError, ValueError):
        return []
    return [entry for entry in data if isinstance(entry, dict) and entry.get("prompt_id")]


def _write_pending(entries: list[dict[str, Any]]) -> None:
    import json

    from studio.core.atomic import atomic_write_text

    path = _pending_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(entries, indent=1))


def _remember(entry: dict[str, Any]) -> None:
    with _pending_lock:
        _write_pending([*pending(), entry])


def _forget(prompt_id: str) -> None:
    with _pending_lock:
        entries = pending()
        if any(e["prompt_id"] == prompt_id for e in entries):
            _write_pending([e for e in entries if e["prompt_id"] != prompt_id])


# --- one prompt on the server --------------------------------------------------------------------------
class _Follow:
    """Our prompt's events: progress over every sampler of the graph, previews, the end."""

    def __init__(self, graph: dict[str, Any], report: Reporter, previews: bool, label: str) -> None:
        self.report = report
        self.previews = previews
        self.label = label
        self.steps = graphs.sampler_steps(graph)
        self.total = max(1, sum(self.steps.values()))
        self.done_nodes: dict[str, int] = {}
        self.current: str | None = None
        self.mine = False  # our prompt is the one executing (previews carry no prompt id)
        self.finished = False
        self.error = ""
        self.interrupted = False

    def handle_text(self, message: dict[str, Any], prompt_id: str) -> None:
        kind, data = message.get("type"), message.get("data") or {}
        if not isinstance(data, dict) or data.get("prompt_id") not in (None, prompt_id):
            if kind in ("execution_start", "executing") and data.get("prompt_id") != prompt_id:
                self.mine = False
            return
        if kind == "execution_start":
            self.mine = True
            self.report.progress(0, self.total, f"{self.label}: running")
        elif kind == "executing":
            node = data.get("node")
            if node is None and data.get("prompt_id") == prompt_id:
                self.finished = True
                self.mine = False
            else:
                self.mine = True
                self.current = str(node)
        elif kind == "progress":
            node = str(data.get("node") or self.current)
            self.done_nodes[node] = int(data.get("value", 0))
            done = sum(min(v, self.steps.get(k, v)) for k, v in self.done_nodes.items())
            self.report.progress(min(done, self.total), self.total, self.label)
        elif kind == "execution_error":
            self.error = (f"node {data.get('node_id')} ({data.get('node_type')}) failed: "
                          f"{' '.join(str(data.get('exception_message', '')).split())[:300]}")
        elif kind == "execution_interrupted":
            self.interrupted = True

    def handle_binary(self, frame: bytes) -> None:
        if not (self.previews and self.mine):
            return
        parsed = parse_binary(frame)
        if parsed is None:
            return
        try:
            from PIL import Image

            with Image.open(io.BytesIO(parsed[2])) as image:
                pixels = np.asarray(image.convert("RGB"))
        except Exception as exc:  # noqa: BLE001 - a preview must never fail the job
            log.debug("unreadable preview frame: %s", exc)
            return
        self.report.preview(pixels)


def _history_state(entry: dict[str, Any] | None) -> tuple[str, str]:
    """("success" | "error" | "interrupted" | "", reason) from a history entry."""
    if not entry:
        return "", ""
    status = entry.get("status") or {}
    for event, data in status.get("messages") or []:
        if event == "execution_error":
            return "error", (f"node {data.get('node_id')} ({data.get('node_type')}) failed: "
                             f"{' '.join(str(data.get('exception_message', '')).split())[:300]}")
        if event == "execution_interrupted":
            return "interrupted", "it was interrupted on the server"
    if status.get("completed") or status.get("status_str") == "success":
        return "success", ""
    if status.get("status_str") == "error":
        return "error", "it failed on the server"
    return "", ""


def run_graph(client: ComfyClient, graph: dict[str, Any], report: Reporter, cancel: CancelToken,
              previews: bool = True, label: str = "", record: dict[str, Any] | None = None,
              timeout_s: float | None = None) -> tuple[str, list[tuple[str, dict[str, Any], bytes]]]:
    """Run ``graph`` on the server; its prompt id and, per saved image, (node, image entry, PNG bytes)."""
    label = label or f"on {client.name}"
    timeout_s = timeout_s if timeout_s is not None else result_timeout()
    client_id = new_client_id()
    prompt_id = str(uuid.uuid4())
    follow = _Follow(graph, report, previews, label)
    cancel.raise_if_cancelled()
    ws = client.connect_events(client_id)
    try:
        if record is not None:  # written down first: a Studio killed right after posting still knows it
            _remember({**record, "prompt_id": prompt_id, "server": client.name, "graph": graph,
                       "created": time.time()})
        try:
            client.queue_prompt(graph, client_id, prompt_id)
        except StudioError:
            _forget(prompt_id)
            raise
        report.progress(0, follow.total, f"{label}: queued")
        deadline = time.monotonic() + timeout_s
        while not follow.finished:
            if cancel.cancelled:
                _cancel_on_server(client, prompt_id)
                _forget(prompt_id)
                raise Cancelled()
            if time.monotonic() > deadline:
                state, _reason = _history_state(client.history(prompt_id))
                if state:
                    follow.finished = True
                    break
                _cancel_on_server(client, prompt_id)
                _forget(prompt_id)
                raise StudioError(f"server {client.name!r} gave no result within {timeout_s:g} s "
                                  f"(setting {TIMEOUT_SETTING}); the prompt was cancelled there")
            try:
                message = receive(ws, POLL_S)
            except ConnectionClosed:
                ws = _reconnect(client, client_id, prompt_id, follow)
                continue
            if message is None:
                continue
            if isinstance(message, bytes):
                follow.handle_binary(message)
            else:
                follow.handle_text(decode(message), prompt_id)
            if follow.error:
                _forget(prompt_id)
                raise StudioError(f"server {client.name!r}: {follow.error}")
            if follow.interrupted and not follow.finished:
                _forget(prompt_id)
                if cancel.cancelled:
                    raise Cancelled()
                raise StudioError(f"server {client.name!r} interrupted the job (someone pressed cancel there)")
    finally:
        try:
            ws.close()
        except Exception as exc:  # noqa: BLE001 - closing a dropped socket may fail any way
            log.debug("closing the websocket: %s", exc)
    try:
        images = fetch_outputs(client, prompt_id, graph)
    finally:
        _forget(prompt_id)
    return prompt_id, images


def _cancel_on_server(client: ComfyClient, prompt_id: str) -> None:
    try:
        client.cancel(prompt_id)
    except StudioError as exc:
        log.warning("could not cancel %s on %s: %s", prompt_id, client.name, exc)


def _reconnect(client: ComfyClient, client_id: str, prompt_id: str, follow: _Follow) -> Any:
    """Reopen the websocket after a drop; check the history for what happened meanwhile."""
    last: Exception | None = None
    for delay in RECONNECT_DELAYS_S:
        time.sleep(delay)
        try:
            ws = client.connect_events(client_id)
        except StudioError as exc:
            last = exc
            continue
        state, reason = _history_state(client.history(prompt_id))
        if state == "success":
            follow.finished = True
        elif state == "error":
            follow.error = reason
        elif state == "interrupted":
            follow.interrupted = True
        log.info("reconnected to %s (prompt %s: %s)", client.name, prompt_id, state or "still running")
        return ws
    state, reason = "", ""
    try:
        state, reason = _history_state(client.history(prompt_id))
    except StudioError:
        pass
    if state == "success":
        follow.finished = True

        class _Closed:
            @staticmethod
            def close() -> None:
                pass
        return _Closed()
    raise StudioError(f"lost the connection to server {client.name!r} mid-job and could not reconnect ({last}); "
                      f"if it finishes there, `studio servers fetch` brings the result into the library")


def fetch_outputs(client: ComfyClient, prompt_id: str, graph: dict[str, Any]) -> list[tuple[str, dict, bytes]]:
    entry = client.history(prompt_id)
    state, reason = _history_state(entry)
    if state != "success" or entry is None:
        raise StudioError(f"server {client.name!r} has no result for the job: {reason or 'not in its history'}")
    outputs = entry.get("outputs") or {}
    images = []
    for node in graphs.save_nodes(graph) or sorted(outputs, key=lambda k: int(k) if k.isdigit() else 0):
        for image in (outputs.get(node) or {}).get("images", []):
            if image.get("type", "output") == "output":
                images.append((node, image, client.view(image)))
    if not images:
        raise StudioError(f"server {client.name!r} finished the job but saved no image")
    return images


# --- the image engine's jobs -----------------------------------------------------------------------------
def _png_upload(path: str, size: tuple[int, int], mode: str) -> bytes:
    from PIL import Image

    with Image.open(Path(path).expanduser()) as image:
        converted = image.convert(mode).resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        converted.save(out, format="PNG")
    return out.getvalue()


def _server_loras(request: ImageRequest, info: dict[str, Any], server: str) -> list[tuple[str, float]]:
    names = graphs.offered(info, "LoraLoader", "lora_name")
    resolved = []
    for name, weight in graphs.request_loras(request):
        found = graphs.match_name(name, names)
        if found is None:
            some = ", ".join(map(str, names[:8])) or "none"
            raise StudioError(f"server {server!r} has no LoRA {name!r} (it offers: {some})")
        resolved.append((found, weight))
    return resolved


def prepare(client: ComfyClient, card: ModelCard, request: ImageRequest) -> dict[str, Any]:
    """Upload the request's images and build and check its graph (reading the schema again once
    when something seems missing: the server may have gained a model since it was cached)."""
    init_name = mask_name = ""
    tag = uuid.uuid4().hex[:10]
    if request.mode != "txt2img":
        size = (request.width, request.height)
        init_name = client.upload(_png_upload(request.init_image, size, "RGB"), f"studio-{tag}-init.png")
        if request.mode == "inpaint":
            mask_name = client.upload(_png_upload(request.mask, size, "L"), f"studio-{tag}-mask.png")
    for fresh in (False, True):
        info = object_info(client, fresh=fresh)
        try:
            ckpt = str(card.extra.get("model", ""))
            offered = graphs.offered(info, "CheckpointLoaderSimple", "ckpt_name")
            if ckpt not in offered:
                raise StudioError(f"server {client.name!r} has no checkpoint {ckpt!r} any more; refresh the "
                                  f"Models panel")
            graphs.check_sampler(info, request, client.name)
            graph = graphs.build_graph(request, ckpt, _server_loras(request, info, client.name), init_name,
                                       mask_name)
            graphs.validate(graph, info, client.name)
            return graph
        except StudioError:
            if fresh:
                raise
    raise AssertionError("unreachable")


def run(card: ModelCard, request: ImageRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    """An ``ImageRequest`` on the card's ComfyUI server (the image engine's ``run`` sends it here)."""
    endpoint = endpoint_for(card)
    report.progress(0, 1, f"connecting to {endpoint.name}")
    started = time.monotonic()
    try:
        with ComfyClient(endpoint) as client:
            graph = prepare(client, card, request)
            record = {"request": request.to_dict(), "card": {"id": card.id, "name": card.name}}
            prompt_id, images = run_graph(client, graph, report, cancel, previews=request.preview != "off",
                                          label=f"on {endpoint.name}", record=record)
    except StudioError as exc:
        if card.usable:
            _server_gone(exc)
        raise
    report.progress(1, 1, "saving")
    log.info("%d image(s) from %s in %.2fs", len(images), endpoint.name, time.monotonic() - started)
    return artifacts_for(card.id, card.name, endpoint, request, graph, prompt_id, images)


def artifacts_for(card_id: str, card_name: str, endpoint: Endpoint, request: ImageRequest, graph: dict[str, Any],
                  prompt_id: str, images: list[tuple[str, dict, bytes]]) -> Artifact:
    from PIL import Image

    from studio.core.images import encode_png
    from studio.engines.image.parameters import format_parameters

    ckpt = next((v["inputs"]["ckpt_name"] for v in graph.values() if v["class_type"] == "CheckpointLoaderSimple"),
                "")
    loras = [{"name": v["inputs"]["lora_name"], "weight": v["inputs"]["strength_model"]}
             for v in graph.values() if v["class_type"] == "LoraLoader"]
    batch_id = uuid.uuid4().hex[:12]
    artifacts = []
    for index, (node, image, data) in enumerate(images):
        with Image.open(io.BytesIO(data)) as opened:
            pixels = np.asarray(opened.convert("RGB"))
        seed = request.seed + index
        one = replace(request, seed=seed, batch_count=1, batch_size=1)
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        parameters = format_parameters(one, seed=seed, width=width, height=height, sampler=request.scheduler,
                                       model_name=Path(ckpt).stem, loras=list(request.loras),
                                       version=f"Studio {__version__}")
        recipe = {
            "model": {"id": card_id, "name": card_name, "format": FORMAT, "server": endpoint.name, "ckpt": ckpt},
            "sampler": request.scheduler, "loras": loras, "parameters": parameters, "seed": seed,
            "batch": {"id": batch_id, "index": index, "count": len(images)},
            "comfyui": {"server": endpoint.name, "base_url": endpoint.base_url, "prompt_id": prompt_id,
                        "node": node, "image": image, "batch_index": index % request.batch_size,
                        "graph": graph},
        }
        artifacts.append(Artifact(data=encode_png(np.ascontiguousarray(pixels)), suffix=".png", width=width,
                                  height=height, meta={"recipe": recipe}, request=one))
    first = artifacts[0]
    first.extra = artifacts[1:]
    return first


# --- results of a Studio that was closed mid-job ------------------------------------------------------------
def fetch_finished(library: Any, before: float | None = None) -> list[str]:
    """Bring every recorded prompt that finished on its server into ``library``
    (only those recorded before ``before``, a time: a Studio starting up
    leaves alone the prompts its own resumed jobs post); one line per prompt."""
    from studio.core.jobs import Request

    lines = []
    for entry in pending():
        if before is not None and float(entry.get("created", 0) or 0) >= before:
            continue
        prompt_id, server = entry["prompt_id"], str(entry.get("server", ""))
        try:
            endpoint = servers.store().get(server)
            with ComfyClient(endpoint) as client:
                state, reason = _history_state(client.history(prompt_id))
                if state == "success":
                    request = Request.from_dict(entry["request"])
                    images = fetch_outputs(client, prompt_id, entry["graph"])
                    card = entry.get("card") or {}
                    artifact = artifacts_for(card.get("id", ""), card.get("name", ""), endpoint, request,
                                             entry["graph"], prompt_id, images)
                    item = library.add(artifact.request or request, artifact)
                    for extra in artifact.extra:
                        library.add(extra.request or request, extra)
                    lines.append(f"{prompt_id}: fetched {1 + len(artifact.extra)} image(s) into the library "
                                 f"({item.path.name})")
                    _forget(prompt_id)
                elif state:
                    lines.append(f"{prompt_id}: nothing to fetch, {reason}")
                    _forget(prompt_id)
                elif client.is_queued(prompt_id):
                    lines.append(f"{prompt_id}: still on the server's queue; fetch it later")
                else:
                    lines.append(f"{prompt_id}: the server no longer knows it (restarted?); forgotten")
                    _forget(prompt_id)
        except StudioError as exc:
            lines.append(f"{prompt_id}: {exc}")
    return lines


# --- frames of a keyframe clip (the video engine calls this by name) -----------------------------------------
def render_frame(card: ModelCard, prompt_from: str, prompt_to: str, t: float, negative: str, seed: int,
                 steps: int, cfg: float, width: int, height: int, init_pixels: np.ndarray | None,
                 denoise: float, report: Reporter, cancel: CancelToken, label: str = "") -> np.ndarray:
    """One clip frame made on the card's ComfyUI server: text-to-image, or image-to-image from
    ``init_pixels`` (uint8 HxWx3) at ``denoise``; the frame as uint8 HxWx3."""
    from PIL import Image

    endpoint = endpoint_for(card)
    with ComfyClient(endpoint) as client:
        init_name = ""
        if init_pixels is not None:
            out = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(init_pixels)).save(out, format="PNG")
            init_name = client.upload(out.getvalue(), f"studio-frame-{uuid.uuid4().hex[:10]}.png")
        graph = graphs.frame_graph(str(card.extra.get("model", "")), prompt_from, prompt_to, t, negative, seed, steps,
                                   cfg, width, height, init_name=init_name, denoise=denoise)
        for fresh in (False, True):
            try:
                graphs.validate(graph, object_info(client, fresh=fresh), client.name)
                break
            except StudioError:
                if fresh:
                    raise
        _prompt_id, images = run_graph(client, graph, report, cancel, previews=False,
                                       label=label or f"on {endpoint.name}")
    with Image.open(io.BytesIO(images[0][2])) as image:
        return np.asarray(image.convert("RGB"))
