"""Image jobs on a ComfyUI server, against the ComfyUI-protocol test server
(``tests.helpers.comfy_server``) rendering with the starter model on
127.0.0.1: cards, every mode's graph (checked against the shared schema),
the job flow with previews and recipes, cancel, and every failure."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from studio.core import servers
from studio.core.jobs import CancelToken, JobState, StudioError
from studio.engines.image.comfy import engine as comfy
from studio.engines.image.comfy import graph as graphs
from studio.engines.image.comfy import servers as comfy_servers
from studio.engines.image.comfy.client import ComfyClient
from studio.engines.image.requests import ImageRequest
from tests.helpers import comfy_protocol as proto
from tests.helpers.comfy_server import CHECKPOINT, ComfyServer

TOKEN = "comfy-token-5b1e"
MODEL = f"gpu/{CHECKPOINT}"


class Recorder:
    """A Reporter that keeps what the engine reports; optionally cancels after some sampler steps."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.cancel = CancelToken()
        self.steps: list[tuple[int, int, str]] = []
        self.previews: list[np.ndarray] = []
        self.cancel_after = cancel_after

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.steps.append((done, total, message))
        moved = [p for p in self.steps if p[2].startswith("on ") and p[0] > 0]
        if self.cancel_after is not None and len(moved) >= self.cancel_after:
            self.cancel.cancel()

    def preview(self, payload) -> None:
        self.previews.append(payload)


def reporter(cancel_after: int | None = None) -> Recorder:
    return Recorder(cancel_after)


@pytest.fixture(autouse=True)
def file_secrets(monkeypatch):
    monkeypatch.setenv("STUDIO_SECRETS", "file")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ComfyServer(tmp_path_factory.mktemp("comfy")) as running:
        yield running


@pytest.fixture(autouse=True)
def reset_server(server):
    server.token = None
    server.step_delay = 0.0
    server.fail_class = ""
    server.drop_ws_after = None
    server.stall = False
    comfy_servers._info_cache.clear()
    yield


@pytest.fixture
def studio(services, server):
    services.models.include_hf_cache = False
    servers.ServerStore(services.settings).add("gpu", server.url, kind="comfyui")
    services.models.refresh()
    return services


def run_job(services, request, rec=None):
    from studio.engines.execute import execute_job

    rec = rec or reporter()
    job = services.queue.start(services.queue.submit(request).id)
    state, item = execute_job(job, services.queue, services.library, rec, rec.cancel)
    return state, item, rec


def request(**kw) -> ImageRequest:
    base = {"prompt": "a red circle on a blue background", "negative": "blurry", "model_id": MODEL, "steps": 4, "cfg": 5.0,
                "width": 64, "height": 64, "seed": 7, "scheduler": "Euler"}
    base.update(kw)
    return ImageRequest(**base)


def write_image(path, colour=(200, 40, 40), size=(64, 64)):
    Image.new("RGB", size, colour).save(path)
    return str(path)


def write_mask(path, size=(64, 64)):
    mask = Image.new("L", size, 0)
    mask.paste(255, (16, 16, 48, 48))
    mask.save(path)
    return str(path)


def last_error(services) -> str:
    return services.queue.jobs()[-1].error


# --- cards ------------------------------------------------------------------------------------------
def test_the_servers_checkpoints_and_loras_become_cards(studio, server):
    cards = [c for c in studio.models.cards("image") if c.source == "server gpu"]
    by_id = {c.id: c for c in cards}
    assert by_id[MODEL].format == "comfyui" and by_id[MODEL].usable
    assert by_id["gpu/shapes_detail.safetensors"].format == "comfyui-lora"
    assert {c.extra["kind"] for c in cards} == {"checkpoint", "lora"}
    # the text servers' source does not see a ComfyUI server
    from studio.engines.text.remote import server_cards
    assert server_cards(studio.settings) == []


def test_a_server_that_goes_away_greys_its_cards_and_comes_back(studio, tmp_path):
    other = ComfyServer(tmp_path / "other").start()
    servers.ServerStore(studio.settings).add("box", other.url, kind="comfyui")
    studio.models.refresh()
    assert studio.models.card(f"box/{CHECKPOINT}").usable
    port = other.port
    other.stop()
    studio.models.refresh()
    gone = studio.models.card(f"box/{CHECKPOINT}")
    assert not gone.usable and "unreachable" in gone.error
    back = ComfyServer(tmp_path / "other", port=port).start()
    try:  # no rescan asked for: Studio notices by itself
        deadline = time.monotonic() + 10
        while not studio.models.card(f"box/{CHECKPOINT}").usable and time.monotonic() < deadline:
            time.sleep(0.1)
        assert studio.models.card(f"box/{CHECKPOINT}").usable
    finally:
        back.stop()


# --- graphs -----------------------------------------------------------------------------------------
INFO = proto.object_info([CHECKPOINT], ["shapes_detail.safetensors"], ["init.png", "mask.png"])


def _classes(graph):
    return sorted(node["class_type"] for node in graph.values())


def _check(graph):
    assert proto.check_graph(graph, INFO) == []
    graphs.validate(graph, INFO, "gpu")
    return graph


def test_txt2img_graph(tmp_path):
    graph = _check(graphs.build_graph(request(prompt="a star <lora:shapes_detail:0.6>", scheduler="DPM++ 2M Karras"),
                                      CHECKPOINT, [("shapes_detail.safetensors", 0.6)]))
    assert _classes(graph) == ["CLIPTextEncode", "CLIPTextEncode", "CheckpointLoaderSimple", "EmptyLatentImage",
                               "KSampler", "LoraLoader", "SaveImage", "VAEDecode"]
    sampler = next(n["inputs"] for n in graph.values() if n["class_type"] == "KSampler")
    assert (sampler["sampler_name"], sampler["scheduler"], sampler["steps"], sampler["cfg"], sampler["seed"],
            sampler["denoise"]) == ("dpmpp_2m", "karras", 4, 5.0, 7, 1.0)
    texts = [n["inputs"]["text"] for n in graph.values() if n["class_type"] == "CLIPTextEncode"]
    assert texts == ["a star", "blurry"]
    lora = next(n["inputs"] for n in graph.values() if n["class_type"] == "LoraLoader")
    assert lora["strength_model"] == lora["strength_clip"] == 0.6
    # the sampler's model comes through the LoRA, not straight from the checkpoint
    assert graph[str(sampler["model"][0])]["class_type"] == "LoraLoader"


def test_img2img_inpaint_outpaint_hires_and_batch_graphs():
    img = _check(graphs.build_graph(request(mode="img2img", init_image="x", strength=0.6), CHECKPOINT,
                                    init_name="init.png"))
    assert {"LoadImage", "ImageScale", "VAEEncode"} <= set(_classes(img))
    assert next(n for n in img.values() if n["class_type"] == "KSampler")["inputs"]["denoise"] == 0.6
    full = _check(graphs.build_graph(request(mode="inpaint", init_image="x", mask="m", strength=1.0), CHECKPOINT,
                                     init_name="init.png", mask_name="mask.png"))
    assert {"LoadImageMask", "VAEEncodeForInpaint"} <= set(_classes(full))
    soft = _check(graphs.build_graph(request(mode="inpaint", init_image="x", mask="m", strength=0.5), CHECKPOINT,
                                     init_name="init.png", mask_name="mask.png"))
    assert {"LoadImageMask", "VAEEncode", "SetLatentNoiseMask"} <= set(_classes(soft))
    out = _check(graphs.build_graph(request(mode="outpaint", init_image="x", outpaint_right=20), CHECKPOINT,
                                    init_name="init.png"))
    pad = next(n["inputs"] for n in out.values() if n["class_type"] == "ImagePadForOutpaint")
    assert (pad["left"], pad["right"], pad["top"], pad["bottom"]) == (0, 24, 0, 0)
    hires = _check(graphs.build_graph(request(hires_fix=True, hires_scale=1.5, hires_strength=0.4, hires_steps=3),
                                      CHECKPOINT))
    samplers = [n["inputs"] for n in hires.values() if n["class_type"] == "KSampler"]
    upscale = next(n["inputs"] for n in hires.values() if n["class_type"] == "LatentUpscale")
    assert (upscale["width"], upscale["height"]) == (96, 96)
    assert [(s["steps"], s["denoise"]) for s in samplers] == [(4, 1.0), (3, 0.4)]
    batch = _check(graphs.build_graph(request(batch_count=2, batch_size=3), CHECKPOINT))
    latents = [n["inputs"]["batch_size"] for n in batch.values() if n["class_type"] == "EmptyLatentImage"]
    seeds = [n["inputs"]["seed"] for n in batch.values() if n["class_type"] == "KSampler"]
    assert latents == [3, 3] and seeds == [7, 10] and len(graphs.save_nodes(batch)) == 2
    img_batch = _check(graphs.build_graph(request(mode="img2img", init_image="x", batch_size=2), CHECKPOINT,
                                          init_name="init.png"))
    assert "RepeatLatentBatch" in _classes(img_batch)


def test_every_studio_sampler_maps_to_a_comfyui_sampler_and_scheduler():
    from studio.engines.image.requests import SCHEDULERS

    for name in SCHEDULERS:
        sampler, scheduler = graphs.comfy_sampler(name)
        assert sampler in proto.SAMPLERS and scheduler in proto.SCHEDULERS


def test_validation_names_a_missing_node_model_or_sampler():
    graph = graphs.build_graph(request(), CHECKPOINT)
    info = dict(INFO)
    del info["EmptyLatentImage"]
    with pytest.raises(StudioError, match="has no node 'EmptyLatentImage'"):
        graphs.validate(graph, info, "gpu")
    with pytest.raises(StudioError, match="has no checkpoint 'other.safetensors'"):
        graphs.validate(graphs.build_graph(request(), "other.safetensors"), INFO, "gpu")
    lacking = json.loads(json.dumps(INFO))
    lacking["KSampler"]["input"]["required"]["sampler_name"][0].remove("lcm")
    with pytest.raises(StudioError, match="no sampler 'lcm'"):
        graphs.check_sampler(lacking, request(scheduler="LCM"), "gpu")


# --- jobs -------------------------------------------------------------------------------------------
def test_txt2img_runs_on_the_server_with_previews_and_a_full_recipe(studio, server):
    state, item, rec = run_job(studio, request(preview="approx"))
    assert state is JobState.FINISHED, last_error(studio)
    pixels = np.asarray(Image.open(item.path).convert("RGB"))
    assert pixels.shape == (64, 64, 3) and pixels.std() > 5  # a real picture, not a flat fill
    assert rec.previews and rec.previews[-1].shape == (64, 64, 3) and rec.previews[-1].dtype == np.uint8
    assert rec.steps[-2][0] == rec.steps[-2][1] == 4  # every sampler step counted
    recipe = item.recipe
    assert recipe["comfyui"]["server"] == "gpu" and recipe["model"]["format"] == "comfyui"
    assert recipe["request"]["model_id"] == MODEL and recipe["seed"] == 7
    assert proto.check_graph(recipe["comfyui"]["graph"], server.info()) == []
    assert "Authorization" not in json.dumps(recipe)


@pytest.mark.parametrize("mode", ["img2img", "inpaint", "outpaint"])
def test_image_modes_upload_and_run(studio, server, tmp_path, mode):
    init = write_image(tmp_path / "init.png")
    extra = {"mask": write_mask(tmp_path / "mask.png")} if mode == "inpaint" else {}
    if mode == "outpaint":
        extra["outpaint_right"] = 16
    state, item, _ = run_job(studio, request(mode=mode, init_image=init, strength=0.7, **extra))
    assert state is JobState.FINISHED, last_error(studio)
    size = Image.open(item.path).size
    assert size == ((80, 64) if mode == "outpaint" else (64, 64))
    assert any(name.startswith("studio-") for name in (p.name for p in server.input_dir.iterdir()))


def test_batches_hires_and_loras(studio, server):
    state, item, _ = run_job(studio, request(prompt="a ring <lora:shapes_detail:0.8>", batch_count=2, batch_size=2,
                                             hires_fix=True, hires_scale=1.5, hires_steps=2, hires_strength=0.5))
    assert state is JobState.FINISHED, last_error(studio)
    items = studio.library.items()
    assert len(items) == 4 and {Image.open(i.path).size for i in items} == {(96, 96)}
    assert sorted(i.seed for i in items) == [7, 8, 9, 10]
    assert item.recipe["loras"] == [{"name": "shapes_detail.safetensors", "weight": 0.8}]


def test_cancel_interrupts_the_running_prompt(studio, server):
    server.step_delay = 0.05
    state, _item, _rec = run_job(studio, request(steps=40), reporter(cancel_after=2))
    assert state is JobState.CANCELLED
    assert "POST /interrupt" in server.requests
    deadline = time.monotonic() + 5
    while server.running is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.running is None and studio.library.items() == []
    assert comfy.pending() == []


def test_cancel_deletes_our_prompt_still_waiting_on_the_server(studio, server):
    server.stall = True  # someone else's prompt holds the server
    with ComfyClient(servers.store().get("gpu")) as client:
        blocker = client.queue_prompt(graphs.build_graph(request(), CHECKPOINT), "someone-else")
        rec = reporter()
        threading.Timer(0.5, rec.cancel.cancel).start()
        state, _item, _ = run_job(studio, request(), rec)
        assert state is JobState.CANCELLED
        queue = client.queue()
        assert [q[1] for q in queue["queue_running"]] == [blocker] and queue["queue_pending"] == []
        client.interrupt()


# --- failures ---------------------------------------------------------------------------------------
def test_unreachable_server(services):
    services.models.include_hf_cache = False
    servers.ServerStore(services.settings).add("down", "http://127.0.0.1:9", kind="comfyui")
    with ComfyClient(servers.store().get("down")) as client, pytest.raises(StudioError, match="unreachable"):
        client.object_info()
    card = comfy_servers.card_for(servers.store().get("down"), CHECKPOINT)
    with pytest.raises(StudioError, match="'down' at http://127.0.0.1:9 is unreachable"):
        comfy.run(card, request(), reporter(), CancelToken())


def test_wrong_or_missing_token(studio, server):
    server.token = TOKEN
    state, _, _ = run_job(studio, request())
    assert state is JobState.FAILED and "needs a token" in last_error(studio) and "401" in last_error(studio)
    comfy_servers._info_cache.clear()
    with pytest.raises(StudioError, match=r"needs a token \(HTTP 401\)"):
        comfy_servers.object_info(ComfyClient(servers.store().get("gpu")))
    servers.ServerStore(studio.settings).set_key("gpu", "wrong-token")
    state, _, _ = run_job(studio, request())
    assert state is JobState.FAILED and "refused the token" in last_error(studio)
    assert "wrong-token" not in last_error(studio)
    servers.ServerStore(studio.settings).set_key("gpu", TOKEN)
    state, _, _ = run_job(studio, request())
    assert state is JobState.FINISHED, last_error(studio)


def test_400_with_node_errors_names_the_node_and_reason(studio, server, monkeypatch):
    with ComfyClient(servers.store().get("gpu")) as client:
        graph = graphs.build_graph(request(), "missing.safetensors")
        with pytest.raises(StudioError, match=r"node 1 \(CheckpointLoaderSimple\): Value not in list: ckpt_name"):
            client.queue_prompt(graph, "x")
        bad = graphs.build_graph(request(), CHECKPOINT)
        bad["99"] = {"class_type": "NoSuchNode", "inputs": {}}
        with pytest.raises(StudioError, match="node NoSuchNode does not exist"):
            client.queue_prompt(bad, "x")
        del bad["99"]
        del bad["5"]["inputs"]["seed"]  # the KSampler
        with pytest.raises(StudioError, match=r"node 5 \(KSampler\): Required input is missing: seed"):
            client.queue_prompt(bad, "x")
    # through the job flow: Studio's own check is skipped, the server's 400 is the one line
    monkeypatch.setattr(graphs, "validate", lambda *a, **k: None)
    monkeypatch.setattr(comfy, "_server_loras", lambda r, i, s: [("gone.safetensors", 1.0)])
    state, _, _ = run_job(studio, request())
    assert state is JobState.FAILED
    assert "node 2 (LoraLoader): Value not in list: lora_name: 'gone.safetensors'" in last_error(studio)


def test_a_missing_lora_or_checkpoint_fails_before_posting(studio, server):
    state, _, _ = run_job(studio, request(prompt="x <lora:nope:1>"))
    assert state is JobState.FAILED and "has no LoRA 'nope'" in last_error(studio)
    server.checkpoints = ["other.safetensors"]
    try:
        state, _, _ = run_job(studio, request())  # Studio's cached schema still lists it: the server says no
        assert state is JobState.FAILED
        assert "node 1 (CheckpointLoaderSimple): Value not in list: ckpt_name" in last_error(studio)
        comfy_servers._info_cache.clear()
        state, _, _ = run_job(studio, request())
        assert state is JobState.FAILED and f"no checkpoint {CHECKPOINT!r}" in last_error(studio)
    finally:
        server.checkpoints = [CHECKPOINT, "sd_xl_base_1.0.safetensors"]


def test_execution_error_shows_the_exception(studio, server):
    server.fail_class = "VAEDecode"
    state, _, _ = run_job(studio, request())
    assert state is JobState.FAILED
    assert last_error(studio) == "server 'gpu': node 6 (VAEDecode) failed: VAEDecode failed on purpose (test server)"
    assert comfy.pending() == []


def test_interrupted_on_the_server_by_someone_else(studio, server):
    server.step_delay = 0.05
    with ComfyClient(servers.store().get("gpu")) as client:
        threading.Timer(0.6, client.interrupt).start()
        state, _, _ = run_job(studio, request(steps=40))
    assert state is JobState.FAILED and "interrupted the job" in last_error(studio)


def test_a_dropped_websocket_reconnects_and_recovers_the_result(studio, server):
    server.drop_ws_after = 2
    server.step_delay = 0.02
    state, item, _ = run_job(studio, request(steps=6))
    assert state is JobState.FINISHED, last_error(studio)
    assert item.path.exists()


def test_a_dropped_websocket_with_the_server_gone_fails_clearly(studio, tmp_path):
    other = ComfyServer(tmp_path / "dying", step_delay=0.05).start()
    servers.ServerStore(studio.settings).add("dying", other.url, kind="comfyui")
    studio.models.refresh()
    rec = reporter()

    def kill():
        other.stop()
    threading.Timer(0.8, kill).start()
    state, _, _ = run_job(studio, request(model_id=f"dying/{CHECKPOINT}", steps=60), rec)
    assert state is JobState.FAILED
    assert "lost the connection to server 'dying' mid-job" in last_error(studio)


def test_a_result_that_never_arrives_times_out(studio, server):
    server.stall = True
    studio.settings.set(comfy_servers.TIMEOUT_SETTING, 1)
    started = time.monotonic()
    state, _, _ = run_job(studio, request())
    assert state is JobState.FAILED and "gave no result within 1 s" in last_error(studio)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while server.running is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.running is None  # it was cancelled there too


def test_killed_mid_job_the_finished_result_is_fetched_from_history(studio, server):
    """A Studio killed mid-job leaves its record; the queue shows the job interrupted on restart
    and the result the server finished comes into the library from its history."""
    with ComfyClient(servers.store().get("gpu")) as client:
        req = request(seed=21)
        graph = comfy.prepare(client, studio.models.card(MODEL), req)
        prompt_id = client.queue_prompt(graph, "killed-studio")
    comfy._remember({"prompt_id": prompt_id, "server": "gpu", "graph": graph, "request": req.to_dict(),
                     "card": {"id": MODEL, "name": "starter"}})
    deadline = time.monotonic() + 10
    while prompt_id not in server.history and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = comfy.fetch_finished(studio.library)
    assert len(lines) == 1 and "fetched 1 image(s)" in lines[0]
    item = studio.library.items()[0]
    assert item.seed == 21 and item.recipe["comfyui"]["prompt_id"] == prompt_id
    assert comfy.pending() == []


def test_copy_as_comfyui_workflow_reproduces_server_and_local_images(studio, server):
    state, item, _ = run_job(studio, request())
    assert state is JobState.FINISHED
    assert graphs.workflow_for_recipe(item.recipe) == item.recipe["comfyui"]["graph"]
    local = {"request": request(model_id="starter-shapes", prompt="a star <lora:shapes_detail:0.5>").to_dict(),
             "model": {"name": "starter-shapes"}, "loras": [{"name": "shapes_detail", "weight": 0.5}]}
    graph = graphs.workflow_for_recipe(local, ckpt_name=CHECKPOINT)
    assert proto.check_graph(graph, server.info()) == []
    with ComfyClient(servers.store().get("gpu")) as client:
        rec = reporter()
        _prompt_id, images = comfy.run_graph(client, graph, rec, rec.cancel)
    assert images and images[0][2][:4] == b"\x89PNG"


def test_keyframe_video_runs_its_frames_on_the_server(studio, server):
    from studio.engines.video.requests import VideoRequest

    posted_before = len(server.posted)
    clip = VideoRequest(prompt="", keyframes=("0:a red circle", "2:a blue square"), frames=3, fps=6, width=64,
                        height=64, steps=3, cfg=5.0, seed=5, strength=0.5, zoom=1.05, model_id=MODEL)
    state, item, rec = run_job(studio, clip)
    assert state is JobState.FINISHED, last_error(studio)
    graphs_run = server.posted[posted_before:]
    assert len(graphs_run) == 3
    assert all(proto.check_graph(g, server.info()) == [] for g in graphs_run)
    first, second = ({n["class_type"] for n in g.values()} for g in graphs_run[:2])
    assert "EmptyLatentImage" in first and {"LoadImage", "VAEEncode", "ConditioningAverage"} <= second
    denoise = [next(n["inputs"]["denoise"] for n in g.values() if n["class_type"] == "KSampler") for g in graphs_run]
    assert denoise == [1.0, 0.5, 0.5]
    assert len(rec.previews) >= 3 and item.path.exists()


def test_cli_adds_tests_a_comfyui_server_and_prints_a_workflow(server, capsys, file_secrets):
    from studio.cli import main

    assert main(["servers", "add", "box", server.url, "--kind", "comfyui"]) == 0
    assert main(["servers", "test", "box"]) == 0
    out = capsys.readouterr().out
    assert f"box/{CHECKPOINT}" in out and "ComfyUI with" in out
    assert main(["generate", "image", "--prompt", "a red star", "--model", f"box/{CHECKPOINT}", "--steps", "3",
                 "--size", "64x64"]) == 0
    capsys.readouterr()
    assert main(["library", "list"]) == 0
    item_id = int(capsys.readouterr().out.split()[0])
    assert main(["library", "workflow", str(item_id)]) == 0
    graph = json.loads(capsys.readouterr().out)
    assert proto.check_graph(graph, server.info()) == []
    assert main(["servers", "fetch"]) == 0
    assert "no unfinished ComfyUI jobs" in capsys.readouterr().out


def test_a_studio_killed_mid_job_shows_it_interrupted_and_fetches_the_result(studio, server, studio_home):
    """SIGKILL a Studio process while its job runs on the server: on restart the job is interrupted,
    and once the server has finished it, `studio servers fetch` brings the image into the library."""
    import os
    import signal
    import subprocess
    import sys

    server.step_delay = 0.05
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "STUDIO_SECRETS": "file"}
    process = subprocess.Popen([sys.executable, "-m", "studio", "generate", "image", "--prompt", "a blue ring",
                                "--model", MODEL, "--steps", "30", "--size", "64x64", "--seed", "9"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while server.running is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.running is not None, "the job never reached the server"
        prompt_id = server.running.prompt_id
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    from studio.engines.registry import open_studio_services

    again = open_studio_services()
    try:
        assert again.queue.jobs()[-1].state is JobState.INTERRUPTED
        assert [p["prompt_id"] for p in comfy.pending()] == [prompt_id]
        deadline = time.monotonic() + 30
        while prompt_id not in server.history and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = comfy.fetch_finished(again.library)
        assert "fetched 1 image(s)" in lines[0]
        (item,) = again.library.items()
        assert item.seed == 9 and item.recipe["comfyui"]["prompt_id"] == prompt_id
    finally:
        again.close()
