"""A ComfyUI-protocol server for tests, on aiohttp, listening on 127.0.0.1.

ComfyUI cannot be installed here (it is not a PyPI package), so this server
speaks its protocol as ComfyUI's ``server.py``, ``execution.py`` and
``main.py`` do, with the facts shared with the tests in
``tests.helpers.comfy_protocol``:

- ``GET /object_info`` (and ``/object_info/{class}``) with the core nodes'
  schemas; ``POST /prompt`` validates the graph like ``validate_prompt``
  (400 ``invalid_prompt`` for an unknown node class, 400
  ``prompt_outputs_failed_validation`` with ``node_errors`` for a missing
  input, a wrong link or a value outside its list or range; extra inputs are
  ignored, as ComfyUI ignores them) and answers ``prompt_id``, ``number``;
- one prompt worker thread runs the queue in order and sends, to the
  client's websocket ``/ws?clientId=``: ``execution_start``,
  ``execution_cached``, ``executing`` per node, ``progress`` and binary
  preview frames per sampler step, ``executed`` for output nodes,
  ``execution_success`` (or ``execution_error`` / ``execution_interrupted``)
  and then ``executing`` with ``node: null``;
- ``GET /history[/{id}]``, ``GET|POST /queue`` (``delete``, ``clear``),
  ``POST /interrupt`` (optionally for one ``prompt_id``), ``POST
  /upload/image`` (multipart, renaming on a clash unless ``overwrite``),
  ``GET /view``, ``GET /system_stats``.

Pixels are real: ``KSampler`` runs the starter model's UNet with a diffusers
scheduler from its seed, ``VAEDecode``/``VAEEncode`` use its VAE, and the
previews are the current latents decoded and sent as JPEG.

Test knobs: ``token`` (requests need ``Authorization: Bearer``, as behind an
authenticating proxy), ``step_delay`` (seconds per sampler step),
``fail_class`` (that node class raises), ``drop_ws_after`` (close every
websocket after that many progress messages, once), ``stall`` (a prompt
starts and then sends nothing until interrupted)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
from aiohttp import WSMsgType, web

from tests.helpers import comfy_protocol as proto

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "resources" / "models" / "starter-shapes"
CHECKPOINT = "starter-shapes.safetensors"

_pipes: dict[str, Any] = {}
_pipe_lock = threading.Lock()


def starter_pipe() -> Any:
    with _pipe_lock:
        if "starter" not in _pipes:
            import torch
            from diffusers import StableDiffusionPipeline

            pipe = StableDiffusionPipeline.from_pretrained(str(STARTER), local_files_only=True,
                                                           dtype=torch.float32, safety_checker=None)
            pipe.set_progress_bar_config(disable=True)
            _pipes["starter"] = pipe
        return _pipes["starter"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Interrupted(Exception):
    pass


class NodeFailure(Exception):
    def __init__(self, node_id: str, node_type: str, exc: Exception) -> None:
        super().__init__(str(exc))
        self.node_id, self.node_type, self.exc = node_id, node_type, exc


@dataclass
class QueueItem:
    number: int
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]

    def as_list(self) -> list:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


@dataclass
class ComfyServer:
    folder: Path
    token: str | None = None
    checkpoints: list[str] = field(default_factory=lambda: [CHECKPOINT, "sd_xl_base_1.0.safetensors"])
    loras: list[str] = field(default_factory=lambda: ["shapes_detail.safetensors", "style/flat-colours.safetensors"])
    step_delay: float = 0.0
    fail_class: str = ""
    drop_ws_after: int | None = None
    stall: bool = False
    port: int = 0

    def __post_init__(self) -> None:
        self.input_dir = self.folder / "input"
        self.output_dir = self.folder / "output"
        self.temp_dir = self.folder / "temp"
        for d in (self.input_dir, self.output_dir, self.temp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.pending: deque[QueueItem] = deque()
        self.running: QueueItem | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self.number = 0
        self.lock = threading.Condition()
        self.interrupt_flag = False
        self.counter = 0
        self.preview_sent: list[tuple[float, str]] = []  # (perf_counter when sent, prompt_id)
        self.posted: list[dict[str, Any]] = []  # every graph accepted, for tests
        self.requests: list[str] = []  # "METHOD path" of every request
        self.exec_times: dict[str, float] = {}  # prompt_id -> seconds from execution_start to its end
        self._progress_messages = 0
        self._stop = False
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> ComfyServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True, name="comfy-http")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the ComfyUI test server did not start")
        self._worker = threading.Thread(target=self._work, daemon=True, name="comfy-worker")
        self._worker.start()
        return self

    def _serve(self, ready: threading.Event) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        app = web.Application(middlewares=[self._auth], client_max_size=64 * 1024 * 1024)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/object_info", self._object_info)
        app.router.add_get("/object_info/{node_class}", self._object_info_one)
        app.router.add_post("/prompt", self._post_prompt)
        app.router.add_get("/prompt", self._get_prompt)
        app.router.add_get("/queue", self._get_queue)
        app.router.add_post("/queue", self._post_queue)
        app.router.add_post("/interrupt", self._interrupt)
        app.router.add_get("/history", self._history_all)
        app.router.add_get("/history/{prompt_id}", self._history_one)
        app.router.add_post("/upload/image", self._upload)
        app.router.add_get("/view", self._view)
        app.router.add_get("/system_stats", self._system_stats)
        self._runner = web.AppRunner(app)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()

    def stop(self) -> None:
        with self.lock:
            self._stop = True
            self.interrupt_flag = True
            self.lock.notify_all()
        if self.loop is not None:
            async def close_all() -> None:
                for ws in list(self.sockets.values()):
                    await ws.close()
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self._worker.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP -----------------------------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        return await handler(request)

    def info(self) -> dict[str, Any]:
        files = sorted(p.name for p in self.input_dir.iterdir() if p.is_file())
        return proto.object_info(self.checkpoints, self.loras, files)

    async def _object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.info())

    async def _object_info_one(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        info = self.info()
        return web.json_response({name: info[name]} if name in info else {})

    async def _system_stats(self, request: web.Request) -> web.Response:
        return web.json_response({"system": {"os": "posix", "comfyui_version": "test", "python_version": "3",
                                             "embedded_python": False},
                                  "devices": [{"name": "cpu", "type": "cpu", "index": None}]})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self.sockets[sid] = ws
        with self.lock:
            remaining = len(self.pending) + (1 if self.running else 0)
        await ws.send_json(proto.status_message(remaining, sid))
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            if self.sockets.get(sid) is ws:
                del self.sockets[sid]
        return ws

    async def _post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "invalid json", "node_errors": []}, status=400)
        prompt = body.get("prompt")
        if not isinstance(prompt, dict):
            return web.json_response({"error": {"type": "no_prompt", "message": "No prompt provided",
                                                "details": "No prompt provided", "extra_info": {}},
                                      "node_errors": {}}, status=400)
        error, outputs = self.validate(prompt)
        if error is not None:
            return web.json_response(error, status=400)
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        extra = dict(body.get("extra_data") or {})
        if body.get("client_id"):
            extra["client_id"] = body["client_id"]
        with self.lock:
            number = self.number
            self.number += 1
            self.pending.append(QueueItem(number, prompt_id, prompt, extra, outputs))
            self.posted.append(prompt)
            self.lock.notify_all()
            remaining = len(self.pending) + (1 if self.running else 0)
        await self._broadcast(proto.status_message(remaining))
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    async def _get_prompt(self, request: web.Request) -> web.Response:
        with self.lock:
            remaining = len(self.pending) + (1 if self.running else 0)
        return web.json_response({"exec_info": {"queue_remaining": remaining}})

    async def _get_queue(self, request: web.Request) -> web.Response:
        with self.lock:
            return web.json_response({"queue_running": [self.running.as_list()] if self.running else [],
                                      "queue_pending": [item.as_list() for item in self.pending]})

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self.lock:
            if body.get("clear"):
                self.pending.clear()
            for prompt_id in body.get("delete", []):
                self.pending = deque(item for item in self.pending if item.prompt_id != prompt_id)
        return web.Response(status=200)

    async def _interrupt(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = {}
        wanted = body.get("prompt_id") if isinstance(body, dict) else None
        with self.lock:
            if self.running is not None and (wanted is None or wanted == self.running.prompt_id):
                self.interrupt_flag = True
                self.lock.notify_all()
        return web.Response(status=200)

    async def _history_all(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.history))

    async def _history_one(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry else {})

    async def _upload(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        if image is None or not hasattr(image, "file"):
            return web.Response(status=400)
        subfolder = str(post.get("subfolder", ""))
        kind = str(post.get("type", "input"))
        overwrite = str(post.get("overwrite", "")).lower() in ("true", "1")
        base = {"input": self.input_dir, "temp": self.temp_dir, "output": self.output_dir}.get(kind, self.input_dir)
        folder = (base / subfolder).resolve()
        if not str(folder).startswith(str(base.resolve())):
            return web.Response(status=400)
        folder.mkdir(parents=True, exist_ok=True)
        name = Path(image.filename).name
        target = folder / name
        stem, suffix = target.stem, target.suffix
        index = 1
        while target.exists() and not overwrite:
            name = f"{stem} ({index}){suffix}"
            target = folder / name
            index += 1
        target.write_bytes(image.file.read())
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    async def _view(self, request: web.Request) -> web.StreamResponse:
        name = request.query.get("filename", "")
        kind = request.query.get("type", "output")
        subfolder = request.query.get("subfolder", "")
        base = {"input": self.input_dir, "temp": self.temp_dir, "output": self.output_dir}.get(kind)
        if base is None or not name or "/" in name or ".." in name:
            return web.Response(status=400)
        path = (base / subfolder / name).resolve()
        if not str(path).startswith(str(base.resolve())) or not path.is_file():
            return web.Response(status=404)
        return web.Response(body=path.read_bytes(), content_type="image/png")

    # --- validation (execution.py validate_prompt / validate_inputs) ---------------------------
    def validate(self, prompt: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
        info = self.info()
        outputs = []
        for node_id, node in prompt.items():
            cls = node.get("class_type") if isinstance(node, dict) else None
            if cls is None:
                return proto.invalid_prompt("Cannot execute because a node is missing the class_type "
                                            "property.", f"Node ID '#{node_id}'"), []
            if cls not in info:
                return proto.invalid_prompt(f"Cannot execute because node {cls} does not exist.",
                                            f"Node ID '#{node_id}'"), []
            if info[cls]["output_node"]:
                outputs.append(node_id)
        if not outputs:
            return {"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                              "extra_info": {}}, "node_errors": []}, []
        node_errors: dict[str, Any] = {}
        for output in outputs:
            seen: set[str] = set()
            stack = [output]
            while stack:
                node_id = stack.pop()
                if node_id in seen:
                    continue
                seen.add(node_id)
                node = prompt[node_id]
                errors, links = self._validate_node(prompt, info, node_id, node)
                stack.extend(links)
                if errors:
                    entry = node_errors.setdefault(node_id, {"errors": errors, "dependent_outputs": [],
                                                             "class_type": node["class_type"]})
                    if output not in entry["dependent_outputs"]:
                        entry["dependent_outputs"].append(output)
        if node_errors:
            return proto.validation_failed(node_errors), []
        return None, outputs

    @staticmethod
    def _validate_node(prompt: dict[str, Any], info: dict[str, Any], node_id: str,
                       node: dict[str, Any]) -> tuple[list[dict], list[str]]:
        schema = info[node["class_type"]]["input"]
        inputs = node.get("inputs", {})
        errors, links = [], []
        for name, spec in schema.get("required", {}).items():
            if name not in inputs:
                errors.append(proto.node_error("required_input_missing", "Required input is missing", name,
                                               name))
                continue
            value, kind = inputs[name], spec[0]
            if isinstance(value, list):
                if len(value) != 2 or str(value[0]) not in prompt:
                    errors.append(proto.node_error("bad_linked_input", "Bad linked input, must be a length-2 "
                                                   "list of [string, int]", f"{name}, {value}", name))
                    continue
                source = prompt[str(value[0])]
                out_types = info[source["class_type"]]["output"]
                got = out_types[value[1]] if 0 <= value[1] < len(out_types) else None
                if got != kind:
                    errors.append(proto.node_error("return_type_mismatch", "Return type mismatch between linked "
                                                   "nodes", f"{name}, received_type({got}) mismatch "
                                                   f"input_type({kind})", name))
                    continue
                links.append(str(value[0]))
            elif isinstance(kind, list):
                if value not in kind:
                    shown = kind if len(kind) <= 20 else kind[:20] + ["..."]
                    errors.append(proto.node_error("value_not_in_list", "Value not in list",
                                                   f"{name}: '{value}' not in {shown}", name))
            elif kind in ("INT", "FLOAT"):
                try:
                    number = int(value) if kind == "INT" else float(value)
                except (TypeError, ValueError):
                    errors.append(proto.node_error("invalid_input_type", f"Failed to convert an input value to a "
                                                   f"{kind} value", f"{name}, {value}", name))
                    continue
                options = spec[1] if len(spec) > 1 else {}
                if "min" in options and number < options["min"]:
                    errors.append(proto.node_error("value_smaller_than_min", f"Value {number} smaller than min "
                                                   f"of {options['min']}", f"{name}", name))
                if "max" in options and number > options["max"]:
                    errors.append(proto.node_error("value_bigger_than_max", f"Value {number} bigger than max "
                                                   f"of {options['max']}", f"{name}", name))
            elif kind in ("MODEL", "CLIP", "VAE", "LATENT", "IMAGE", "MASK", "CONDITIONING"):
                errors.append(proto.node_error("bad_linked_input", "Bad linked input, must be a length-2 list "
                                               "of [string, int]", f"{name}, {value}", name))
        return errors, links

    # --- websocket sending --------------------------------------------------------------------
    async def _broadcast(self, message: dict[str, Any]) -> None:
        for ws in list(self.sockets.values()):
            if not ws.closed:
                await ws.send_json(message)

    def send(self, event: str, data: dict[str, Any], sid: str | None) -> None:
        """``send_sync``: to ``sid`` only when given (nothing if it is not connected), else to all."""
        message = {"type": event, "data": data}

        async def deliver() -> None:
            targets = [self.sockets.get(sid)] if sid is not None else list(self.sockets.values())
            for ws in targets:
                if ws is not None and not ws.closed:
                    try:
                        await ws.send_json(message)
                    except ConnectionError:
                        pass
            if event == "progress" and self.drop_ws_after is not None:
                self._progress_messages += 1
                if self._progress_messages >= self.drop_ws_after:
                    self.drop_ws_after = None
                    for ws in list(self.sockets.values()):
                        await ws.close()
        self._deliver(deliver())

    def _deliver(self, coroutine: Any) -> None:
        if self.loop is None or self.loop.is_closed() or self._stop:
            coroutine.close()
            return
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)
        except (RuntimeError, TimeoutError):
            pass  # the server is stopping

    def send_preview(self, jpeg: bytes, sid: str | None, prompt_id: str) -> None:
        frame = proto.preview_frame(jpeg, proto.PREVIEW_JPEG)

        async def deliver() -> None:
            ws = self.sockets.get(sid) if sid is not None else None
            if ws is not None and not ws.closed:
                self.preview_sent.append((time.perf_counter(), prompt_id))
                try:
                    await ws.send_bytes(frame)
                except ConnectionError:
                    pass
        self._deliver(deliver())

    # --- the prompt worker (main.py prompt_worker + execution.py) ------------------------------
    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.pending and not self._stop:
                    self.lock.wait(0.5)
                if self._stop:
                    return
                item = self.pending.popleft()
                self.running = item
                self.interrupt_flag = False
            self._execute(item)
            with self.lock:
                self.running = None
                remaining = len(self.pending)
            self.send("status", proto.status_message(remaining)["data"], None)

    def check_interrupt(self) -> None:
        if self.interrupt_flag:
            with self.lock:
                self.interrupt_flag = False
            raise Interrupted()

    def _execute(self, item: QueueItem) -> None:
        sid = item.extra_data.get("client_id")
        prompt_id = item.prompt_id
        messages: list[list] = []

        def add(event: str, data: dict[str, Any], broadcast: bool = False) -> None:
            if event in ("execution_start", "execution_cached", "execution_success", "execution_error",
                         "execution_interrupted"):
                messages.append([event, data])
            self.send(event, data, None if broadcast else sid)

        now = lambda: int(time.time() * 1000)
        started = time.perf_counter()
        add("execution_start", {"prompt_id": prompt_id, "timestamp": now()})
        add("execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": now()})
        results: dict[str, tuple] = {}
        outputs: dict[str, Any] = {}
        executed: list[str] = []
        status = "success"
        try:
            if self.stall:
                while not self.interrupt_flag and not self._stop:
                    time.sleep(0.02)
                self.check_interrupt()
            for node_id in self._order(item.prompt, item.outputs):
                self.check_interrupt()
                node = item.prompt[node_id]
                self.send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id}, sid)
                try:
                    values, ui = self._run_node(node_id, node, results, sid, prompt_id)
                except Interrupted:
                    raise
                except Exception as exc:
                    raise NodeFailure(node_id, node["class_type"], exc) from exc
                results[node_id] = values
                executed.append(node_id)
                if ui is not None:
                    outputs[node_id] = ui
                    self.send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                           "prompt_id": prompt_id}, sid)
            add("execution_success", {"prompt_id": prompt_id, "timestamp": now()})
        except Interrupted:
            status = "error"
            running = next((n for n in self._order(item.prompt, item.outputs) if n not in executed), None)
            add("execution_interrupted", {"prompt_id": prompt_id, "node_id": running,
                                          "node_type": item.prompt.get(running, {}).get("class_type"),
                                          "executed": executed, "timestamp": now()})
        except NodeFailure as failure:
            status = "error"
            add("execution_error", {"prompt_id": prompt_id, "node_id": failure.node_id,
                                    "node_type": failure.node_type, "executed": executed,
                                    "exception_message": str(failure.exc),
                                    "exception_type": type(failure.exc).__name__,
                                    "traceback": [f"{type(failure.exc).__name__}: {failure.exc}\n"],
                                    "current_inputs": {}, "current_outputs": {}, "timestamp": now()})
        self.exec_times[prompt_id] = time.perf_counter() - started
        self.history[prompt_id] = {
            "prompt": item.as_list(), "outputs": outputs if status == "success" else {},
            "status": {"status_str": status, "completed": status == "success", "messages": messages},
            "meta": {node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None,
                               "real_node_id": node_id} for node_id in outputs},
        }
        self.send("executing", {"node": None, "prompt_id": prompt_id}, sid)

    @staticmethod
    def _order(prompt: dict[str, Any], outputs: list[str]) -> list[str]:
        order: list[str] = []

        def visit(node_id: str) -> None:
            if node_id in order:
                return
            for value in prompt[node_id].get("inputs", {}).values():
                if isinstance(value, list) and len(value) == 2:
                    visit(str(value[0]))
            order.append(node_id)
        for output in outputs:
            visit(output)
        return order

    # --- the nodes ------------------------------------------------------------------------------
    def _run_node(self, node_id: str, node: dict[str, Any], results: dict[str, tuple], sid: str | None,
                  prompt_id: str) -> tuple[tuple, dict | None]:
        cls = node["class_type"]
        if cls == self.fail_class:
            raise RuntimeError(f"{cls} failed on purpose (test server)")
        args = {}
        for name, value in node.get("inputs", {}).items():
            args[name] = results[str(value[0])][value[1]] if isinstance(value, list) else value
        method = getattr(self, f"node_{cls}")
        if cls == "KSampler":
            return method(args, sid, prompt_id), None
        result = method(args)
        if isinstance(result, dict):
            return (), result
        return result, None

    def node_CheckpointLoaderSimple(self, a: dict) -> tuple:
        pipe = starter_pipe()  # every checkpoint is the starter model here
        model = {"pipe": pipe, "name": a["ckpt_name"], "loras": []}
        return model, model, pipe

    def node_LoraLoader(self, a: dict) -> tuple:
        model = dict(a["model"], loras=[*a["model"]["loras"], (a["lora_name"], a["strength_model"])])
        return model, a["clip"]

    def node_CLIPTextEncode(self, a: dict) -> tuple:
        import torch

        pipe = a["clip"]["pipe"]
        with torch.no_grad():
            embeds = pipe.encode_prompt(a["text"], "cpu", 1, False)[0]
        return (embeds,)

    def node_ConditioningAverage(self, a: dict) -> tuple:
        s = float(a["conditioning_to_strength"])
        return (a["conditioning_to"] * s + a["conditioning_from"] * (1 - s),)

    def node_EmptyLatentImage(self, a: dict) -> tuple:
        return ({"samples": None, "width": a["width"], "height": a["height"], "batch": a["batch_size"]},)

    def node_SetLatentNoiseMask(self, a: dict) -> tuple:
        return (dict(a["samples"], noise_mask=a["mask"]),)

    def node_RepeatLatentBatch(self, a: dict) -> tuple:
        latent, amount = a["samples"], int(a["amount"])
        out = dict(latent, batch=latent["batch"] * amount)
        if latent["samples"] is not None:
            out["samples"] = latent["samples"].repeat(amount, 1, 1, 1)
        if latent.get("noise_mask") is not None:
            out["noise_mask"] = latent["noise_mask"].reshape(-1, *latent["noise_mask"].shape[-2:]).repeat(amount, 1, 1)
        return (out,)

    def node_LatentUpscale(self, a: dict) -> tuple:
        import torch.nn.functional as F

        latent = dict(a["samples"], width=a["width"], height=a["height"])
        if latent["samples"] is not None:
            scale = starter_pipe().vae_scale_factor
            mode = "nearest" if a["upscale_method"] == "nearest-exact" else "bilinear"
            latent["samples"] = F.interpolate(latent["samples"], size=(a["height"] // scale, a["width"] // scale),
                                              mode=mode)
        latent.pop("noise_mask", None)
        return (latent,)

    def node_KSampler(self, a: dict, sid: str | None, prompt_id: str) -> tuple:
        import diffusers
        import torch
        import torch.nn.functional as F

        pipe = a["model"]["pipe"]
        latent = a["latent_image"]
        scale = pipe.vae_scale_factor
        steps, denoise, cfg = int(a["steps"]), float(a["denoise"]), float(a["cfg"])
        shape = (latent["batch"], pipe.unet.config.in_channels, latent["height"] // scale, latent["width"] // scale)
        base = latent["samples"] if latent["samples"] is not None else torch.zeros(shape)
        generator = torch.Generator("cpu").manual_seed(int(a["seed"]))
        noise = torch.randn(base.shape, generator=generator)
        class_name = {"euler_ancestral": "EulerAncestralDiscreteScheduler", "ddim": "DDIMScheduler",
                      "dpmpp_2m": "DPMSolverMultistepScheduler", "uni_pc": "UniPCMultistepScheduler",
                      "lcm": "LCMScheduler"}.get(a["sampler_name"], "EulerDiscreteScheduler")
        overrides = {"use_karras_sigmas": True} if a["scheduler"] == "karras" and "DPM" in class_name else {}
        scheduler = getattr(diffusers, class_name).from_config(pipe.scheduler.config, **overrides)
        total = steps if denoise >= 0.9999 else max(steps, int(steps / max(denoise, 1e-3)))
        scheduler.set_timesteps(total)
        begin = total - steps
        timesteps = scheduler.timesteps[begin * scheduler.order:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(begin * scheduler.order)
        if latent["samples"] is None or denoise >= 0.9999 and "noise_mask" not in latent:
            x = noise * scheduler.init_noise_sigma
        else:
            x = scheduler.add_noise(base, noise, timesteps[:1])
        mask = latent.get("noise_mask")
        if mask is not None:
            mask = mask.reshape(-1, 1, *mask.shape[-2:]).float()
            mask = F.interpolate(mask, size=base.shape[-2:], mode="bilinear").clamp(0, 1)
        cond = torch.cat([a["negative"], a["positive"]]).repeat_interleave(base.shape[0], dim=0)
        with torch.no_grad():
            for index, t in enumerate(timesteps):
                self.check_interrupt()
                model_in = scheduler.scale_model_input(torch.cat([x, x]), t)
                eps = pipe.unet(model_in, t, encoder_hidden_states=cond).sample
                uncond, text = eps.chunk(2)
                x = scheduler.step(uncond + cfg * (text - uncond), t, x, generator=generator).prev_sample
                if mask is not None:
                    x = mask * x + (1 - mask) * base
                if self.step_delay:
                    time.sleep(self.step_delay)
                self.send("progress", {"value": index + 1, "max": len(timesteps), "prompt_id": prompt_id,
                                       "node": self._current_node(prompt_id)}, sid)
                self.send_preview(self._jpeg(pipe, x), sid, prompt_id)
        return (dict(latent, samples=x),)

    def _current_node(self, prompt_id: str) -> str | None:
        item = self.running
        if item is None:
            return None
        return next((k for k, v in item.prompt.items() if v.get("class_type") == "KSampler"), None)

    @staticmethod
    def _decode(pipe: Any, x: Any) -> Any:
        import torch

        with torch.no_grad():
            images = pipe.vae.decode(x / pipe.vae.config.scaling_factor).sample
        return ((images + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)

    def _jpeg(self, pipe: Any, x: Any) -> bytes:
        from PIL import Image

        pixels = (self._decode(pipe, x[:1])[0].numpy() * 255 + 0.5).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="JPEG", quality=90)
        return out.getvalue()

    def node_VAEDecode(self, a: dict) -> tuple:
        return (self._decode(a["vae"], a["samples"]["samples"]),)

    def node_VAEEncode(self, a: dict) -> tuple:
        import torch

        pipe, pixels = a["vae"], a["pixels"]
        scale = pipe.vae_scale_factor
        height, width = pixels.shape[1] // scale * scale, pixels.shape[2] // scale * scale
        pixels = pixels[:, :height, :width, :]
        with torch.no_grad():
            latents = pipe.vae.encode(pixels.permute(0, 3, 1, 2) * 2 - 1).latent_dist.mean
        return ({"samples": latents * pipe.vae.config.scaling_factor, "width": width, "height": height,
                 "batch": pixels.shape[0]},)

    def node_VAEEncodeForInpaint(self, a: dict) -> tuple:
        import torch
        import torch.nn.functional as F

        pixels, mask = a["pixels"].clone(), a["mask"].reshape(-1, 1, a["mask"].shape[-2], a["mask"].shape[-1])
        mask = F.interpolate(mask.float(), size=pixels.shape[1:3], mode="bilinear")
        grow = int(a["grow_mask_by"])
        if grow:
            mask = F.max_pool2d(mask, kernel_size=grow * 2 + 1, stride=1, padding=grow)
        m = mask[:, 0, :, :, None]
        pixels = (pixels - 0.5) * (1 - m.round()) + 0.5
        latent = self.node_VAEEncode({"pixels": pixels, "vae": a["vae"]})[0]
        latent["noise_mask"] = torch.as_tensor(mask)
        return (latent,)

    def _open(self, name: str) -> Any:
        from PIL import Image

        path = (self.input_dir / name).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"Invalid image file: {name}")
        return Image.open(path)

    def node_LoadImage(self, a: dict) -> tuple:
        import torch

        image = self._open(a["image"])
        rgb = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)[None]
        if "A" in image.getbands():
            mask = 1.0 - torch.from_numpy(np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0)
        else:
            mask = torch.zeros((64, 64), dtype=torch.float32)
        return rgb, mask[None]

    def node_LoadImageMask(self, a: dict) -> tuple:
        import torch

        image = self._open(a["image"])
        channel = a["channel"][0].upper()
        if image.mode not in ("RGB", "RGBA", "L") or (image.mode == "L" and channel != "A"):
            image = image.convert("RGBA")
        if channel not in image.getbands():
            return (torch.zeros((1, 64, 64)),)
        mask = torch.from_numpy(np.asarray(image.getchannel(channel), dtype=np.float32) / 255.0)
        if channel == "A":
            mask = 1.0 - mask
        return (mask[None],)

    def node_ImageToMask(self, a: dict) -> tuple:
        index = ["red", "green", "blue", "alpha"].index(a["channel"])
        return (a["image"][:, :, :, index],)

    def node_ImageScale(self, a: dict) -> tuple:
        import torch.nn.functional as F

        image = a["image"].permute(0, 3, 1, 2)
        mode = {"nearest-exact": "nearest", "area": "area", "bicubic": "bicubic"}.get(a["upscale_method"],
                                                                                       "bilinear")
        out = F.interpolate(image, size=(a["height"], a["width"]), mode=mode)
        return (out.permute(0, 2, 3, 1).clamp(0, 1),)

    def node_ImagePadForOutpaint(self, a: dict) -> tuple:
        import torch

        image = a["image"]
        left, top, right, bottom, feather = (int(a[k]) for k in ("left", "top", "right", "bottom", "feathering"))
        b, h, w, c = image.shape
        out = torch.ones((b, h + top + bottom, w + left + right, c)) * 0.5
        out[:, top:top + h, left:left + w, :] = image
        mask = torch.ones((h + top + bottom, w + left + right))
        inner = torch.zeros((h, w))
        if feather > 0 and feather * 2 < h and feather * 2 < w:
            for i in range(h):
                for j in range(w):
                    dt = i if top != 0 else h
                    db = h - i if bottom != 0 else h
                    dl = j if left != 0 else w
                    dr = w - j if right != 0 else w
                    d = min(dt, db, dl, dr)
                    if d < feather:
                        inner[i, j] = ((feather - d) / feather) ** 2
        mask[top:top + h, left:left + w] = inner
        return out, mask[None]

    def _save(self, images: Any, prefix: str, kind: str, prompt: dict | None = None) -> dict:
        from PIL import Image, PngImagePlugin

        folder = self.output_dir if kind == "output" else self.temp_dir
        subfolder = str(Path(prefix).parent) if "/" in prefix else ""
        stem = Path(prefix).name
        (folder / subfolder).mkdir(parents=True, exist_ok=True)
        saved = []
        for image in images:
            with self.lock:
                self.counter += 1
                counter = self.counter
            name = f"{stem}_{counter:05}_.png"
            info = PngImagePlugin.PngInfo()
            if prompt is not None:
                info.add_text("prompt", json.dumps(prompt))
            pixels = (image.numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / subfolder / name, pnginfo=info)
            saved.append({"filename": name, "subfolder": subfolder, "type": kind})
        return {"images": saved}

    def node_SaveImage(self, a: dict) -> dict:
        return self._save(a["images"], a.get("filename_prefix", "ComfyUI"), "output",
                          self.running.prompt if self.running else None)

    def node_PreviewImage(self, a: dict) -> dict:
        return self._save(a["images"], "ComfyUI_temp", "temp")
