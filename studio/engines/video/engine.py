"""The ``video-edit`` and ``video-export`` jobs (``video`` generation is in
``generate``).

An edit job reads a clip, applies one frame-consistency operation,
measures the clip's consistency before and after (the mean warp error drop
goes into the recipe) and returns the new clip. An export job renders a
saved timeline project; cancelling it leaves no file behind."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from studio.core import credentials
from studio.core.atomic import atomic_write_bytes
from studio.core.jobs import Artifact, CancelToken, Reporter, StudioError
from studio.core.library import make_recipe
from studio.engines.video.requests import VideoEditRequest, VideoExportRequest


def consistency_change(before, after) -> dict:
    drop = before.mean_warp_error - after.mean_warp_error
    return {
        "mean_warp_error_before": round(before.mean_warp_error, 4),
        "mean_warp_error_after": round(after.mean_warp_error, 4),
        "mean_warp_error_drop": round(drop, 4),
        "relative_drop": round(drop / before.mean_warp_error, 4) if before.mean_warp_error else 0.0,
    }


def consistency_of_file(path: Path, report: Reporter | None = None):
    """The consistency graph of a clip file, and its frame rate."""
    from studio.engines.video.flow import analyse
    from studio.engines.video.media import probe, read_frames

    info = probe(Path(path).expanduser())
    if info.kind != "video":
        raise StudioError(f"{info.path.name} is not a video clip")
    frames = read_frames(info.path)
    if len(frames) < 2:
        raise StudioError(f"{info.path.name} has a single frame: nothing to compare")
    progress = (lambda d, t: report.progress(d, t, "measuring")) if report is not None else None
    return analyse(frames, progress=progress), info.fps


def consistency_table(report, fps: float) -> str:
    """The summary, then one line per frame with a bar and a mark on spikes."""
    lines = [report.summary(), "", f"{'frame':>6} {'time':>8} {'warp err':>9} {'luma jump':>9}"]
    scale = max(report.max_warp_error, 1e-6)
    spikes = set(report.spikes)
    for index, (error, jump) in enumerate(zip(report.warp_error, report.luma_jump)):
        bar = "#" * int(round(30 * error / scale))
        mark = "  <- spike" if index in spikes else ""
        lines.append(f"{index:>6} {index / fps:>7.2f}s {error:>9.3f} {jump:>9.3f}  {bar}{mark}")
    return "\n".join(lines)


def _read_edit(path: str, size: tuple[int, int]) -> np.ndarray:
    from studio.engines.video.media import read_image

    return read_image(Path(path).expanduser(), size)


def apply_edit(request: VideoEditRequest, frames: list[np.ndarray], fps: float, report: Reporter,
               cancel: CancelToken) -> tuple[list[np.ndarray], float]:
    """The operation on ``frames``; returns the new frames and their frame rate."""
    end = request.end or len(frames)
    if end > len(frames):
        raise StudioError(f"the range ends at frame {end}, past the clip's {len(frames)} frames")

    def progress(done: int, total: int) -> None:
        report.progress(done, total, request.operation)

    if request.operation == "deflicker":
        from studio.engines.video.deflicker import deflicker

        return deflicker(frames, request.strength, request.start, end, cancel=cancel, progress=progress), fps
    if request.operation == "interpolate":
        from studio.engines.video.interpolate import interpolator_for, retime

        target = request.target_fps or fps * 2
        interpolator = interpolator_for(request.interpolator)
        return retime(frames, fps, target, cancel=cancel, progress=progress, interpolator=interpolator), target
    if request.operation == "bridge":
        from studio.engines.video.interpolate import bridge, interpolator_for

        interpolator = interpolator_for(request.interpolator)
        try:
            return bridge(frames, request.start, end, interpolator=interpolator), fps
        except ValueError as exc:
            raise StudioError(str(exc)) from exc
    if request.operation == "propagate":
        from studio.engines.video.propagate import propagate

        height, width = frames[0].shape[:2]
        edits = {frame: _read_edit(path, (width, height)) for frame, path in request.edit_list}
        lo = request.start
        window = frames[lo:end]
        local = {frame - lo: pixels for frame, pixels in edits.items() if lo <= frame < end}
        if not local:
            raise StudioError("no edited keyframe falls inside the chosen range")
        result = propagate(window, local, cancel=cancel, progress=progress)
        return frames[:lo] + result + frames[end:], fps
    return frames, fps  # analyse: nothing changes


def run_edit(request: VideoEditRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines.video.flow import analyse
    from studio.engines.video.generate import encode_clip
    from studio.engines.video.media import probe, read_frames

    request.validate()
    info = probe(Path(request.source).expanduser())
    if info.kind != "video":
        raise StudioError(f"{info.path.name} is not a video clip")
    if request.interpolator:  # an unknown model is said before the clip is read and measured
        from studio.engines.video.interpolate import interpolator_card

        interpolator_card(request.interpolator)
    report.progress(0, 1, "reading frames")
    frames = read_frames(info.path, cancel=cancel)
    before = analyse(frames, cancel, lambda d, t: report.progress(d, t, "measuring"))
    if request.operation == "analyse":
        document = {"source": str(info.path), "fps": info.fps, "consistency": before.to_dict()}
        return Artifact(json.dumps(document).encode("utf-8"), ".json", info.width, info.height, info.duration_s,
                        meta={"recipe": {"consistency": {"mean_warp_error": round(before.mean_warp_error, 4)}}})
    edited, fps = apply_edit(request, frames, info.fps, report, cancel)
    after = analyse(edited, cancel, lambda d, t: report.progress(d, t, "measuring the result"))
    extra = {"source": str(info.path), "operation": request.operation,
             "consistency": consistency_change(before, after)}
    return encode_clip(request, edited, fps, report, extra)


def run_export(request: VideoExportRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines.video.render import FORMAT_SUFFIX, export_timeline, frame_range, zip_folder
    from studio.engines.video.timeline import Timeline

    request.validate()
    timeline = Timeline.open(Path(request.project).expanduser())
    project = timeline.project
    sources = sorted({clip.media for _track, clip in project.clips()})
    extra = {"project": str(Path(request.project).expanduser()), "sources": sources,
             "timeline": {"fps": project.fps, "tracks": len(project.tracks),
                          "clips": sum(len(t.clips) for t in project.tracks)}}
    recipe = make_recipe(request, Artifact(b"", FORMAT_SUFFIX[request.format] or ".png", meta={"recipe": extra}))
    start, end = (0, project.duration) if request.format == "otio" else frame_range(project, request.start,
                                                                                    request.end)

    def progress(done: int, total: int) -> None:
        report.progress(done, total, f"exporting frame {done} of {total}")

    with tempfile.TemporaryDirectory(prefix="studio-export-") as folder:
        target = Path(folder) / ("frames" if request.format == "png" else f"export{FORMAT_SUFFIX[request.format]}")
        export_timeline(project, target, request.format, start, end, recipe, cancel, progress)
        cancel.raise_if_cancelled()
        if request.format == "png":
            data, suffix = zip_folder(target), ".zip"
            if request.destination:
                import shutil

                out = Path(request.destination).expanduser()
                if out.exists() and any(out.iterdir()):
                    raise StudioError(f"{out} is not empty: choose a new folder for the PNG sequence")
                from studio.core.atomic import atomic_output

                with atomic_output(out) as temp:
                    shutil.copytree(target, temp)
        else:
            signed = _sign_export(target, recipe, sources)
            data, suffix = target.read_bytes(), FORMAT_SUFFIX[request.format]
            if request.destination:
                out = Path(request.destination).expanduser()
                if signed:
                    atomic_write_bytes(out, data)
                else:  # a format C2PA cannot hold (OTIO): the file gets its own sidecar manifest
                    credentials.write_signed(out, data, recipe, sources, placed=True)
            if signed:  # the file the user asked for and the library's copy carry one manifest
                return Artifact(data, suffix, project.width, project.height, (end - start) / project.fps,
                                meta={"recipe": extra, "signed": True, "content_credentials": signed})
    return Artifact(data, suffix, project.width, project.height, (end - start) / project.fps,
                    meta={"recipe": extra})


def _sign_export(target: Path, recipe: dict, sources: list[str]) -> dict | None:
    """Sign an exported file in place (its clips as placed ingredients) when
    this installation signs and C2PA embeds in its format; None otherwise,
    and the library signs (or sidecars) its copy."""
    signing = credentials.current()
    if signing is None or not signing.enabled or target.suffix.lower() not in credentials.EMBEDDED_MIME:
        return None
    result = signing.sign_file(target, recipe, sources, placed=True)
    return result.summary()
