"""Image jobs on a ComfyUI server: what Studio adds on top of the server.

Runs against the ComfyUI-protocol test server (``tests.helpers.comfy_server``,
aiohttp on 127.0.0.1, rendering with the starter model), in this process:

- overhead_ms: Studio's end-to-end job time (submit to the library row
  written: object_info, graph check, websocket, ``POST /prompt``, events,
  ``/history``, ``/view``, PNG and recipe, library write) minus the server's
  own execution time for the same prompt (execution_start to its end, as
  the server measures it), median of 10 txt2img jobs after one warm-up;
- preview_latency_ms: from the server sending a preview frame to the canvas
  of the real main window painting it (Generate in the Image workspace;
  the frame goes through the websocket, the engine's decode, the runner's
  latest-wins slot and the GUI timer), median over every painted preview;
- jobs_ok: of 20 mixed jobs (txt2img, img2img, inpaint, outpaint, batches,
  hires fix, LoRA, cancels while running and while queued, a dropped
  websocket), how many ended as they should (finished with their images in
  the library, or cancelled with nothing kept and nothing left on the server).

The last line is ``{"overhead_ms", "preview_latency_ms", "jobs_ok"}`` as JSON."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("STUDIO_SECRETS", "file")
HOME = Path(tempfile.mkdtemp(prefix="studio-bench-"))
os.environ["STUDIO_HOME"] = str(HOME)

from PIL import Image

from studio.core import servers
from studio.core.jobs import CancelToken, JobState
from studio.engines.image.requests import ImageRequest
from tests.helpers.comfy_server import CHECKPOINT, ComfyServer

MODEL = f"gpu/{CHECKPOINT}"


class Recorder:
    def __init__(self, cancel_after_steps: int | None = None) -> None:
        self.cancel = CancelToken()
        self.steps = 0
        self.cancel_after = cancel_after_steps

    def progress(self, done: int, total: int, message: str = "") -> None:
        if message.startswith("on ") and done > 0:
            self.steps += 1
            if self.cancel_after is not None and self.steps >= self.cancel_after:
                self.cancel.cancel()

    def preview(self, payload) -> None:
        pass


def request(**kw) -> ImageRequest:
    base = {"prompt": "a red circle and a blue star on a yellow background", "negative": "blurry", "model_id": MODEL,
                "steps": 20, "cfg": 5.0, "width": 64, "height": 64, "seed": 11, "scheduler": "Euler"}
    base.update(kw)
    return ImageRequest(**base)


def run(services, req, rec=None):
    from studio.engines.execute import execute_job

    rec = rec or Recorder()
    started = time.perf_counter()
    job = services.queue.start(services.queue.submit(req).id)
    state, item = execute_job(job, services.queue, services.library, rec, rec.cancel)
    return state, item, time.perf_counter() - started


def overhead(services, server) -> tuple[float, list[float], list[float]]:
    run(services, request())  # warm-up: model load on the server, object_info cache
    totals, executions = [], []
    for seed in range(10):
        state, item, seconds = run(services, request(seed=100 + seed))
        assert state is JobState.FINISHED, services.queue.jobs()[-1].error
        prompt_id = item.recipe["comfyui"]["prompt_id"]
        totals.append(seconds)
        executions.append(server.exec_times[prompt_id])
    diffs = [(t - e) * 1000 for t, e in zip(totals, executions)]
    return statistics.median(diffs), totals, executions


def mixed_jobs(services, server, folder: Path) -> list[tuple[str, bool, str]]:
    init = folder / "init.png"
    Image.new("RGB", (64, 64), (180, 60, 40)).save(init)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    mask.save(folder / "mask.png")
    plan = [
        ("txt2img", request(steps=8), "finish"),
        ("img2img", request(mode="img2img", init_image=str(init), strength=0.6, steps=8), "finish"),
        ("inpaint", request(mode="inpaint", init_image=str(init), mask=str(folder / "mask.png"), steps=8), "finish"),
        ("outpaint", request(mode="outpaint", init_image=str(init), outpaint_right=16, steps=8), "finish"),
        ("batch 2x2", request(batch_count=2, batch_size=2, steps=6), "finish"),
        ("hires", request(hires_fix=True, hires_scale=1.5, hires_steps=4, steps=6), "finish"),
        ("lora", request(prompt="a ring <lora:shapes_detail:0.7>", steps=8), "finish"),
        ("cancel running", request(steps=60), "cancel-running"),
        ("dropped websocket", request(steps=12), "drop"),
        ("DPM++ 2M Karras", request(scheduler="DPM++ 2M Karras", steps=8), "finish"),
    ]
    plan = plan + [(f"{name} (again)", job, how) for name, job, how in plan]
    plan[-1] = ("cancel queued", request(steps=8), "cancel-queued")
    results = []
    for name, req, how in plan:
        before = len(services.library.items(limit=10000))
        server.drop_ws_after = None
        server.step_delay = 0.0
        rec = Recorder()
        blocker = None
        if how == "drop":
            server.drop_ws_after = 3
        elif how == "cancel-running":
            server.step_delay = 0.02
            rec = Recorder(cancel_after_steps=5)
        elif how == "cancel-queued":
            from studio.engines.image.comfy.client import ComfyClient
            from studio.engines.image.comfy.graph import build_graph

            server.stall = True
            with ComfyClient(servers.store().get("gpu")) as client:
                blocker = client.queue_prompt(build_graph(request(), CHECKPOINT), "another-user")
            threading.Timer(0.4, rec.cancel.cancel).start()
        state, _item, _seconds = run(services, req, rec)
        if blocker is not None:
            server.stall = False
            from studio.engines.image.comfy.client import ComfyClient

            with ComfyClient(servers.store().get("gpu")) as client:
                left = [q[1] for q in client.queue()["queue_pending"]]
                client.interrupt()
        after = len(services.library.items(limit=10000))
        if how.startswith("cancel"):
            deadline = time.monotonic() + 5
            while server.running is not None and time.monotonic() < deadline:
                time.sleep(0.02)
            ok = state is JobState.CANCELLED and after == before and (
                not left if blocker is not None else server.running is None)
            detail = state.value
        else:
            ok = state is JobState.FINISHED and after - before == req.image_count
            detail = state.value if ok else services.queue.jobs()[-1].error
        results.append((name, ok, detail))
    return results


def preview_latency(server) -> tuple[float, int]:
    """Median ms from a preview frame leaving the server to the canvas painting it."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    from studio.engines.image.comfy import engine as comfy
    from studio.engines.registry import open_studio_services
    from studio.qt.app import create_application
    from studio.qt.main_window import MainWindow

    received: list[int] = []  # per preview frame received by the engine: its index among the frames sent
    original = comfy._Follow.handle_binary

    def counted(self, frame: bytes) -> None:
        received.append(len(received))
        original(self, frame)
    comfy._Follow.handle_binary = counted

    app = create_application()
    services = open_studio_services()
    window = MainWindow(services)
    window.show()
    workspace = window.workspaces["image"]
    window.show_workspace("image")
    deadline = time.monotonic() + 30
    while not any(c.id == MODEL for c in services.models.cards()) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    workspace.engine_picker.setCurrentIndex(workspace.engine_picker.findData("image"))
    while workspace.model_picker.count() < 1 and time.monotonic() < deadline:
        app.processEvents()
    workspace.model_picker.set_value(MODEL)
    workspace.prompt_edit.setPlainText("a large green heart on a white background")
    workspace.steps.setValue(30)
    workspace.width_spin.setValue(64)
    workspace.height_spin.setValue(64)

    shown: list[int] = []  # the frame index the canvas was given, waiting for its paint
    latencies: list[float] = []

    def on_image() -> None:
        if workspace.canvas.is_preview and received:
            shown.append(received[-1])

    class PaintWatch(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and shown:
                index = shown.pop()
                shown.clear()
                sent = [t for t, _pid in server.preview_sent]
                first = len(sent) - len(received)  # frames of earlier jobs sent on this server
                if 0 <= first + index < len(sent):
                    latencies.append((time.perf_counter() - sent[first + index]) * 1000)
            return False
    watch = PaintWatch()
    target = getattr(workspace.canvas, "viewport", lambda: workspace.canvas)()
    target.installEventFilter(watch)
    workspace.canvas.image_changed.connect(on_image)
    server.preview_sent.clear()
    for _ in range(3):
        received.clear()
        server.preview_sent.clear()
        done = threading.Event()
        window.runner.job_finished.connect(lambda *_a, done=done: done.set())
        workspace.generate_button.click()
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.001)
    comfy._Follow.handle_binary = original
    window.close()
    QApplication.processEvents()
    return (statistics.median(latencies) if latencies else float("nan")), len(latencies)


def main() -> int:
    import torch

    torch.set_num_threads(1)
    from studio.engines.registry import open_studio_services

    with ComfyServer(HOME / "comfy") as server:
        config = HOME / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "settings.json").write_text(json.dumps({"models.include_hf_cache": False}))
        services = open_studio_services()
        servers.ServerStore(services.settings).add("gpu", server.url, kind="comfyui")
        services.models.refresh()
        over, totals, executions = overhead(services, server)
        jobs = mixed_jobs(services, server, HOME)
        services.close()
        latency, painted = preview_latency(server)

    print("ComfyUI server (protocol test server, starter model, 64x64, 20 steps), this machine:")
    print(f"  {'job':>4} {'studio end-to-end':>18} {'server execution':>17} {'overhead':>9}")
    for index, (t, e) in enumerate(zip(totals, executions)):
        print(f"  {index + 1:>4} {t * 1000:>15.1f} ms {e * 1000:>14.1f} ms {(t - e) * 1000:>6.1f} ms")
    print(f"  overhead (median of 10): {over:.1f} ms (goal < 150)")
    print(f"  preview latency, server send -> canvas paint: {latency:.1f} ms median over {painted} painted "
          f"previews (goal < 50)")
    print("  mixed jobs:")
    for name, ok, detail in jobs:
        print(f"    {'ok  ' if ok else 'FAIL'} {name:24} {detail}")
    jobs_ok = sum(ok for _name, ok, _detail in jobs)
    print(f"  jobs ok: {jobs_ok} of {len(jobs)} (goal 20)")
    print(json.dumps({"overhead_ms": round(over, 1), "preview_latency_ms": round(latency, 1), "jobs_ok": jobs_ok}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
