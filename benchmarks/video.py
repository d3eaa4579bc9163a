"""Video workspace throughput, each against a baseline measured in the same run.

- Scrubbing: a 1080p clip on the real timeline editor (offscreen); the
  playhead jumps forward, backward and at random, and each position is
  rendered and painted in the viewer and on the timeline (synchronous
  repaints, so painting is counted). Proxies are built first, off the GUI
  thread, as in the app; their build time is reported (proxy_build_s).
  The same positions on the full-resolution path (the exporter's
  DecodingSource: seek, decode, RGB at 1920x1080, no painting) give
  scrub_fps_1080p_full; scrub_fps_1080p_proxy (and the older key
  scrub_fps_1080p) is the proxy figure.
- Interpolation and deflicker at 512x512: frames out per second. Baseline:
  the bare OpenCV DIS flow each step needs (pairs per second).
- Export (export_ratio): a 1080p timeline of three clips joined by two
  crossfades, with an audio track (a 44.1 kHz WAV, resampled and mixed),
  through the timeline exporter (decode, compose, mix, encode H.264 + AAC
  with the recipe, temp file then rename), against a bare PyAV loop
  encoding the same rendered frames and the same mixed audio from memory
  with the same codec settings.
- Pass-through export (export_passthrough_ratio): one 1080p clip, 48
  frames, whose decoded frames go to the encoder as they are, against the
  bare loop on the same frames. The writer alone (frames from memory) is
  reported too.
- Export memory (export_peak_mb_60s_1080p): a 60 s 1080p timeline (three
  20 s clips, two crossfades, a 62 s audio track) exported in a child
  process through the real export path (preset ultrafast to keep the run
  short); the figure is the child's peak RSS (VmHWM, which unlike
  ru_maxrss does not inherit the parent's size) minus its RSS just
  before the export. Goal: under 1500 MB.
- Deflicker gain: 1 - flicker after / flicker before on the synthetic
  flickering clip of the tests (96 px, 20 frames, strength 1.0).

Goals: scrub >= 30 fps, export ratio >= 0.9, deflicker gain >= 0.5,
export peak memory < 1500 MB.

Usage: python benchmarks/video.py [--frames N] [--memory-seconds S]
The last line of output is a JSON object with scrub_fps_1080p (proxies),
scrub_fps_1080p_proxy, scrub_fps_1080p_full, proxy_build_s,
interp_fps_512, deflicker_fps_512, deflicker_gain, export_ratio
(compositing timeline), export_passthrough_ratio and
export_peak_mb_60s_1080p.
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
    editor.shutdown()
    tasks.shutdown()
    full_s = scrub_full(clip, positions, 24)
    return {"scrub_fps": len(positions) / scrub_s, "full_fps": len(positions) / full_s, "proxy_s": proxy_s}


def scrub_full(clip: Path, positions: list[int], fps: int) -> float:
    """Seconds to show ``positions`` at full resolution: the timeline rendered
    through the exporter's DecodingSource (seek, decode, RGB at 1920x1080)."""
    from studio.engines.video.compose import DecodingSource, render_frame
    from studio.engines.video.media import probe
    from studio.engines.video.timeline import Project, Timeline

    info = probe(clip)
    timeline = Timeline(Project(fps=fps, width=info.width, height=info.height))
    track = timeline.add_track("video")
    timeline.add_clip(track, clip, "video", 0, info.frames_at(fps), source_frames=info.frames_at(fps))
    source = DecodingSource()
    try:
        seconds, _ = timed(lambda: [render_frame(timeline.project, frame, source) for frame in positions])
    finally:
        source.close()
    return seconds


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


def bare_pyav(path: Path, frames: list[np.ndarray], fps: int, audio: np.ndarray | None = None,
              sample_rate: int = 48000, preset: str | None = None) -> None:
    """The same codec settings as the exporter, frames (and audio) from memory."""
    import av

    from studio.engines.video.export import AUDIO_BITRATE, AUDIO_FRAME, CRF, PRESET

    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": str(CRF), "preset": preset or PRESET}
    stream.codec_context.gop_size = fps
    sound, offset = None, 0
    if audio is not None:
        sound = container.add_stream("aac", rate=sample_rate)
        sound.layout = "stereo"
        sound.bit_rate = AUDIO_BITRATE

    def encode_audio(limit: int) -> None:
        nonlocal offset
        while offset < limit:
            chunk = np.ascontiguousarray(audio[:, offset:offset + AUDIO_FRAME])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = sample_rate, offset
            for packet in sound.encode(frame):
                container.mux(packet)
            offset += chunk.shape[1]

    for index, pixels in enumerate(frames):
        for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
            container.mux(packet)
        if sound is not None:
            encode_audio(min(int((index + 1) / fps * sample_rate), audio.shape[1]))
    for packet in stream.encode():
        container.mux(packet)
    if sound is not None:
        encode_audio(audio.shape[1])
        for packet in sound.encode():
            container.mux(packet)
    container.close()


def panning(width: int, height: int, count: int, seed: int = 0):
    """moving_frames one at a time (a long clip never sits in memory)."""
    from tests.engines.video.synthetic import texture

    big = texture(height + 16, width + 4 * count + 8, seed)
    for index in range(count):
        yield np.ascontiguousarray(big[8:8 + height, 4 * index:4 * index + width])


def write_source(path: Path, frames, fps: int, preset: str) -> Path:
    """A test clip written with plain PyAV (its own preset: fast to make)."""
    import av

    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=fps)
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "23", "preset": preset}
    stream.codec_context.gop_size = fps
    for index, pixels in enumerate(frames):
        if index == 0:
            stream.width, stream.height = pixels.shape[1], pixels.shape[0]
        for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def write_wav(path: Path, seconds: float, rate: int = 44100) -> Path:
    """A stereo chord (16-bit WAV) whose notes change every second."""
    import wave

    t = np.arange(int(seconds * rate)) / rate
    base = 220.0 * 2 ** (np.floor(t) % 5 / 12)
    left = 0.3 * np.sin(2 * np.pi * base * t) + 0.2 * np.sin(2 * np.pi * 1.5 * base * t)
    right = 0.3 * np.sin(2 * np.pi * 1.25 * base * t)
    pcm = (np.stack([left, right], axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


def composite_timeline(folder: Path, fps: int, clip_frames: int, fade: int, width: int = 1920,
                       height: int = 1080, preset: str = "fast", tag: str = ""):
    """Three clips of ``clip_frames`` on one video track, the second and
    third crossfading in over ``fade`` frames, and an audio track (a WAV a
    little longer than the cut) under all of it."""
    from studio.engines.video.timeline import Project, Timeline

    timeline = Timeline(Project(fps=fps, width=width, height=height))
    video, sound = timeline.add_track("video"), timeline.add_track("audio")
    length = clip_frames + fade  # the outgoing side plays on under the next clip's fade-in
    for index in range(3):
        path = write_source(folder / f"part{tag}{index}.mp4", panning(width, height, length, seed=index + 1),
                            fps, preset)
        clip = timeline.add_clip(video, path, "video", index * clip_frames, clip_frames, source_frames=length)
        if index:
            timeline.set_transition(clip, "crossfade", fade)
    total = 3 * clip_frames
    wav = write_wav(folder / f"music{tag}.wav", total / fps + 2)
    timeline.add_clip(sound, wav, "audio", 0, total, source_frames=total + 2 * fps)
    return timeline


def bench_composite_export(folder: Path, fps: int, clip_frames: int = 16, fade: int = 6) -> dict:
    """The compositing path: three clips, two crossfades, a mixed audio track."""
    from studio.engines.video.compose import mix_audio
    from studio.engines.video.media import probe
    from studio.engines.video.render import export_timeline, iter_timeline_frames

    timeline = composite_timeline(folder, fps, clip_frames, fade)
    project = timeline.project
    frames = list(iter_timeline_frames(project, 0, project.duration))  # the same pictures, rendered beforehand
    audio = mix_audio(project)
    recipe = {"request": {"kind": "video-export"}}
    results: dict[str, list[float]] = {"bare": [], "timeline": []}
    for _ in range(2):  # alternate, keep the best of each: the machine is shared
        results["bare"].append(timed(bare_pyav, folder / "bare-mix.mp4", frames, fps, audio)[0])
        results["timeline"].append(timed(export_timeline, project, folder / "timeline-mix.mp4", "mp4",
                                         recipe=recipe)[0])
    best = {name: min(values) for name, values in results.items()}
    info = probe(folder / "timeline-mix.mp4")
    assert info.frame_count == len(frames) and info.has_audio
    return {"bare_s": best["bare"], "timeline_s": best["timeline"], "frames": len(frames),
            "export_ratio": best["bare"] / best["timeline"]}


def bench_memory(folder: Path, seconds: int, fps: int = 24) -> dict:
    """Peak RSS growth of a ``seconds``-long 1080p export with audio, in a child process."""
    import subprocess

    clip_frames = seconds * fps // 3
    start = time.perf_counter()
    timeline = composite_timeline(folder, fps, clip_frames, 12, preset="ultrafast", tag="-long")
    project_file = folder / "long.studio-timeline.json"
    timeline.save(project_file)
    media_s = time.perf_counter() - start
    result = subprocess.run([sys.executable, __file__, "--memory-child", str(project_file)],
                            capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return {**figures, "media_s": media_s, "frames": timeline.project.duration}


def peak_rss() -> int:
    """This process's peak RSS in bytes: VmHWM, which starts afresh at exec
    (ru_maxrss would carry over the parent's size from before the fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def memory_child(project_file: Path) -> int:
    """Export a saved timeline (preset ultrafast) and print the peak RSS growth."""
    import psutil

    from studio.engines.video import export
    from studio.engines.video.media import probe
    from studio.engines.video.render import export_timeline
    from studio.engines.video.timeline import Timeline

    export.PRESET = "ultrafast"
    project = Timeline.open(project_file).project
    out = project_file.with_name("long-export.mp4")
    before = psutil.Process().memory_info().rss
    seconds, _ = timed(export_timeline, project, out, "mp4", recipe={"request": {"kind": "video-export"}})
    peak = peak_rss()
    info = probe(out)
    assert info.frame_count == project.duration and info.has_audio
    print(json.dumps({"peak_mb": (peak - before) / 2**20, "before_mb": before / 2**20, "export_s": seconds}))
    return 0


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
    parser.add_argument("--memory-seconds", type=int, default=60, help="length of the export whose memory is measured")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--only-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child)
    folder = Path(tempfile.mkdtemp(prefix="studio-video-bench-"))
    if args.only_memory:
        print(json.dumps(bench_memory(folder, args.memory_seconds)))
        return 0
    from studio.engines.video.export import write_mp4

    frames = moving_frames(1920, 1080, args.frames)
    clip = folder / "clip-1080p.mp4"
    write_mp4(clip, frames, 24)

    scrub = bench_scrub(clip, args.frames)
    ops = bench_flow_ops()
    exported = bench_export(folder, clip, frames, 24)
    del frames
    composite = bench_composite_export(folder, 24)
    gain = bench_deflicker_gain()
    gan = bench_gan()
    memory = bench_memory(folder, args.memory_seconds)

    rows = [
        ("scrub 1080p (proxies, viewer + timeline painted)", f"{scrub['scrub_fps']:.1f} fps",
         f"{scrub['scrub_fps'] / scrub['full_fps']:.1f}x the full-resolution path"),
        ("scrub 1080p (full resolution: seek, decode, RGB)", f"{scrub['full_fps']:.1f} fps", "no proxies, not painted"),
        ("  proxy build for the clip (background)", f"{scrub['proxy_s']:.2f} s", ""),
        ("interpolation 512x512 (in-betweens)", f"{ops['interp_fps']:.1f} fps",
         f"2 flows each; DIS medium alone {ops['flow_medium_pairs']:.1f} pairs/s"),
        ("deflicker 512x512", f"{ops['deflicker_fps']:.1f} fps",
         f"2 flow pairs each; DIS fast alone {ops['flow_fast_pairs']:.1f} pairs/s"),
        (f"export 1080p MP4: 3 clips, 2 crossfades, audio ({composite['frames']} frames)",
         f"{composite['timeline_s']:.2f} s",
         f"{composite['export_ratio']:.2f}x bare PyAV, same frames + audio ({composite['bare_s']:.2f} s)"),
        ("export 1080p MP4: one clip passed through", f"{exported['timeline_s']:.2f} s",
         f"{exported['export_ratio']:.2f}x bare PyAV ({exported['bare_s']:.2f} s)"),
        ("  writer alone (frames in memory)", f"{exported['writer_s']:.2f} s", f"{exported['writer_ratio']:.2f}x"),
        (f"export peak memory, {args.memory_seconds} s 1080p + audio", f"{memory['peak_mb']:.0f} MB",
         f"RSS growth in a child (ultrafast, {memory['frames']} frames in {memory['export_s']:.1f} s); goal < 1500"),
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
        "scrub_fps_1080p_proxy": round(scrub["scrub_fps"], 1),
        "scrub_fps_1080p_full": round(scrub["full_fps"], 1),
        "proxy_build_s": round(scrub["proxy_s"], 2),
        "interp_fps_512": round(ops["interp_fps"], 1),
        "deflicker_fps_512": round(ops["deflicker_fps"], 1),
        "deflicker_gain": round(gain["gain"], 3),
        "export_ratio": round(composite["export_ratio"], 3),
        "export_passthrough_ratio": round(exported["export_ratio"], 3),
        "export_peak_mb_60s_1080p": round(memory["peak_mb"], 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
