"""Video workspace throughput, each against a baseline measured in the same run.

- Scrubbing: a 1080p clip on the real timeline editor (offscreen); the
  playhead jumps forward, backward and at random, and each position is
  rendered and painted in the viewer and on the timeline (synchronous
  repaints, so painting is counted). Proxies are built first, off the GUI
  thread, as in the app; their build time is reported. Baseline: showing
  the same positions by seeking and decoding the 1080p file directly.
- Interpolation and deflicker at 512x512: frames out per second. Baseline:
  the bare OpenCV DIS flow each step needs (pairs per second).
- Export: 48 frames of 1080p through the timeline exporter (decode, compose,
  encode H.264 with the recipe, temp file then rename), against a bare PyAV
  loop encoding the same frames from memory with the same codec settings.
  The writer alone (frames from memory) is reported too.
- Deflicker gain: 1 - flicker after / flicker before on the synthetic
  flickering clip of the tests (96 px, 20 frames, strength 1.0).

Goals: scrub >= 30 fps, export ratio >= 0.9, deflicker gain >= 0.5.

Usage: python benchmarks/video.py [--frames N]
The last line of output is a JSON object with scrub_fps_1080p,
interp_fps_512, deflicker_fps_512, deflicker_gain and export_ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def moving_frames(width: int, height: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """A textured picture panning 4 px per frame (content like a camera move)."""
    from tests.engines.video.synthetic import texture

    margin = 4 * count + 8
    big = texture(height + 16, width + margin, seed)
    return [np.ascontiguousarray(big[8:8 + height, 4 * i:4 * i + width]) for i in range(count)]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def scrub_positions(frames: int, jumps: int = 120) -> list[int]:
    """A sweep forward (every 2nd frame), back (every 3rd), then random jumps."""
    rng = random.Random(1)
    return list(range(0, frames, 2)) + list(range(frames - 1, -1, -3)) + [rng.randrange(frames) for _ in range(jumps)]


def bench_scrub(clip: Path, frames: int) -> dict:
    from PySide6.QtWidgets import QApplication

    from studio.engines.video.media import VideoReader
    from studio.qt.tasks import Tasks
    from studio.qt.video.timeline_editor import TimelineEditor

    app = QApplication.instance() or QApplication([])
    tasks = Tasks()
    editor = TimelineEditor(tasks, Path(tempfile.mkdtemp(prefix="studio-bench-")))
    editor.resize(1200, 800)
    editor.show()
    app.processEvents()
    start = time.perf_counter()
    editor.add_media(clip)
    editor.cache.wait([str(clip.resolve())], 600_000)
    app.processEvents()
    proxy_s = time.perf_counter() - start
    positions = scrub_positions(frames)
    editor.playback.seek(1)
    editor.viewer.repaint()

    def scrub() -> None:
        for frame in positions:
            editor.playback.seek(frame)
            editor.viewer.repaint()
            editor.view.repaint()

    scrub_s, _ = timed(scrub)
    with VideoReader(clip) as reader:
        fps = frames / (frames / 24)

        def decode_scrub() -> None:
            for frame in positions[:60]:
                reader.frame_at(frame / fps)

        decode_s, _ = timed(decode_scrub)
    editor.shutdown()
    tasks.shutdown()
    return {"scrub_fps": len(positions) / scrub_s, "decode_fps": 60 / decode_s, "proxy_s": proxy_s}


def bench_flow_ops(size: int = 512, count: int = 16) -> dict:
    from studio.engines.video.deflicker import deflicker
    from studio.engines.video.flow import compute_flow
    from studio.engines.video.interpolate import retime

    frames = moving_frames(size, size, count, seed=4)
    rng = np.random.default_rng(0)
    flickery = [np.clip(f * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8) for f in frames]
    pairs_medium_s, _ = timed(lambda: [compute_flow(frames[i], frames[i + 1], "medium") for i in range(8)])
    pairs_fast_s, _ = timed(lambda: [compute_flow(frames[i], frames[i + 1], "fast") for i in range(8)])
    interp_s, out = timed(retime, frames, 8, 24)
    made = len(out) - len(frames)  # in-betweens actually computed
    defl_s, _ = timed(deflicker, flickery, 1.0)
    return {"interp_fps": made / interp_s, "deflicker_fps": count / defl_s,
            "flow_medium_pairs": 8 / pairs_medium_s, "flow_fast_pairs": 8 / pairs_fast_s}


def bare_pyav(path: Path, frames: list[np.ndarray], fps: int) -> None:
    import av

    from studio.engines.video.export import CRF, PRESET

    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": str(CRF), "preset": PRESET}
    stream.codec_context.gop_size = fps
    for pixels in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def bench_export(folder: Path, clip: Path, frames: list[np.ndarray], fps: int) -> dict:
    from studio.engines.video.export import write_mp4
    from studio.engines.video.media import probe
    from studio.engines.video.render import export_timeline
    from studio.engines.video.timeline import Project, Timeline

    info = probe(clip)
    timeline = Timeline(Project(fps=fps, width=info.width, height=info.height))
    track = timeline.add_track("video")
    timeline.add_clip(track, clip, "video", 0, len(frames), source_frames=info.frames_at(fps))
    recipe = {"request": {"kind": "video-export"}}
    results: dict[str, list[float]] = {"bare": [], "writer": [], "timeline": []}
    for _ in range(2):  # alternate, keep the best of each: the machine is shared
        results["bare"].append(timed(bare_pyav, folder / "bare.mp4", frames, fps)[0])
        results["writer"].append(timed(write_mp4, folder / "writer.mp4", frames, fps, len(frames),
                                       recipe=recipe)[0])
        results["timeline"].append(timed(export_timeline, timeline.project, folder / "timeline.mp4", "mp4",
                                         recipe=recipe)[0])
    best = {name: min(values) for name, values in results.items()}
    assert probe(folder / "timeline.mp4").frame_count == len(frames)
    return {"bare_s": best["bare"], "writer_s": best["writer"], "timeline_s": best["timeline"],
            "writer_ratio": best["bare"] / best["writer"], "export_ratio": best["bare"] / best["timeline"]}


def bench_deflicker_gain() -> dict:
    from studio.engines.video.deflicker import deflicker
    from studio.engines.video.flow import analyse
    from tests.engines.video.synthetic import flickering

    noisy, _clean = flickering(96, 20)
    before = analyse(noisy).flicker
    after = analyse(deflicker(noisy, 1.0)).flicker
    return {"before": before, "after": after, "gain": 1 - after / before}


def bench_gan() -> dict | None:
    """Frames per second of the starter GAN's latent walk (when it is installed)."""
    from studio.core.models.discovery import discover_starters
    from studio.engines.loaders import load_model
    from studio.engines.video.generate import GAN_BATCH, walk_latents

    card = next((c for c in discover_starters() if c.format == "gan"), None)
    if card is None:
        return None
    import torch

    generator = load_model(card)
    latents = walk_latents(0, 96, 24, 0.25, 100)
    with torch.inference_mode():
        generator(torch.from_numpy(latents[:GAN_BATCH])[:, :, None, None])  # warm-up
        seconds, _ = timed(lambda: [generator(torch.from_numpy(latents[i:i + GAN_BATCH])[:, :, None, None])
                                    for i in range(0, len(latents), GAN_BATCH)])
    return {"gan_fps": len(latents) / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="frames of the 1080p clip")
    args = parser.parse_args()
    from studio.engines.video.export import write_mp4

    folder = Path(tempfile.mkdtemp(prefix="studio-video-bench-"))
    frames = moving_frames(1920, 1080, args.frames)
    clip = folder / "clip-1080p.mp4"
    write_mp4(clip, frames, 24)

    scrub = bench_scrub(clip, args.frames)
    ops = bench_flow_ops()
    exported = bench_export(folder, clip, frames, 24)
    gain = bench_deflicker_gain()
    gan = bench_gan()

    rows = [
        ("scrub 1080p (proxies, viewer + timeline painted)", f"{scrub['scrub_fps']:.1f} fps",
         f"{scrub['scrub_fps'] / scrub['decode_fps']:.1f}x seek+decode ({scrub['decode_fps']:.1f} fps)"),
        ("  proxy build for the clip (background)", f"{scrub['proxy_s']:.2f} s", ""),
        ("interpolation 512x512 (in-betweens)", f"{ops['interp_fps']:.1f} fps",
         f"2 flows each; DIS medium alone {ops['flow_medium_pairs']:.1f} pairs/s"),
        ("deflicker 512x512", f"{ops['deflicker_fps']:.1f} fps",
         f"2 flow pairs each; DIS fast alone {ops['flow_fast_pairs']:.1f} pairs/s"),
        ("export 1080p MP4 from the timeline", f"{exported['timeline_s']:.2f} s",
         f"{exported['export_ratio']:.2f}x bare PyAV ({exported['bare_s']:.2f} s)"),
        ("  writer alone (frames in memory)", f"{exported['writer_s']:.2f} s", f"{exported['writer_ratio']:.2f}x"),
        ("deflicker gain (synthetic flicker)", f"{gain['gain']:.2f}",
         f"warp error {gain['before']:.2f} -> {gain['after']:.2f}"),
    ]
    if gan is not None:
        rows.append(("GAN latent walk (starter DCGAN, 64 px)", f"{gan['gan_fps']:.0f} fps", "real time at 24 fps"))
    width = max(len(r[0]) for r in rows) + 2
    print(f"{'measure':{width}} {'value':>12}  baseline / note")
    for name, value, note in rows:
        print(f"{name:{width}} {value:>12}  {note}")
    print(json.dumps({
        "scrub_fps_1080p": round(scrub["scrub_fps"], 1),
        "interp_fps_512": round(ops["interp_fps"], 1),
        "deflicker_fps_512": round(ops["deflicker_fps"], 1),
        "deflicker_gain": round(gain["gain"], 3),
        "export_ratio": round(exported["export_ratio"], 3),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
