"""Exporting a timeline to a file: its frames rendered in order (decoded
from the media, crossfades mixed) and its audio tracks mixed, written as
MP4, a PNG sequence, animated WebP/GIF, or the cut itself as OpenTimelineIO.

Used by the ``video-export`` job and directly by the benchmark; the writers
in ``export`` make every output appear whole or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from studio.core.jobs import CancelToken, StudioError
from studio.engines.video import export
from studio.engines.video.compose import DecodingSource, iter_mix, layers_at, render_frame
from studio.engines.video.timeline import Project

FORMAT_SUFFIX = {"mp4": ".mp4", "png": "", "webp": ".webp", "gif": ".gif", "otio": ".otio"}

Progress = Callable[[int, int], None]


def frame_range(project: Project, start: int = 0, end: int = 0) -> tuple[int, int]:
    end = end or project.duration
    if not 0 <= start < end:
        raise StudioError("the timeline is empty: add a clip before exporting" if not project.duration
                          else f"the range {start}..{end} is empty")
    return start, end


def iter_timeline_frames(project: Project, start: int, end: int, passthrough: bool = False) -> Iterator:
    """The timeline's frames in order, as RGB arrays; with ``passthrough``, a
    frame that is one video clip at the project's size comes as the
    decoder's own (YUV) frame, which the MP4 writer encodes as it is."""
    source = DecodingSource()
    size = (project.width - project.width % 2, project.height - project.height % 2)
    try:
        for frame in range(start, end):
            layers = layers_at(project, frame)
            if passthrough and len(layers) == 1 and layers[0][2] == 1.0:
                decoded = source.passthrough(layers[0][0], layers[0][1], size)
                if decoded is not None:
                    yield decoded
                    continue
            yield render_frame(project, frame, source, size)
    finally:
        source.close()


def has_audio(project: Project) -> bool:
    return any(t.kind == "audio" and not t.muted and t.clips for t in project.tracks)


def export_timeline(project: Project, path: Path, fmt: str, start: int = 0, end: int = 0,
                    recipe: dict[str, Any] | None = None, cancel: CancelToken | None = None,
                    progress: Progress | None = None) -> Path:
    """Write ``project`` (frames ``start..end``) to ``path`` as ``fmt``."""
    path = Path(path)
    if fmt == "otio":
        from studio.engines.video.otio import write_otio

        return write_otio(project, path)
    start, end = frame_range(project, start, end)
    total = end - start
    frames = iter_timeline_frames(project, start, end, passthrough=fmt == "mp4")
    if fmt == "mp4":
        # The mix is streamed alongside the frames: each chunk is mixed as the video reaches it.
        audio = iter_mix(project, start, end, cancel=cancel) if has_audio(project) else None
        try:
            export.write_mp4(path, frames, project.fps, total, audio=audio, recipe=recipe, cancel=cancel,
                             progress=progress)
        finally:
            if audio is not None:
                audio.close()
    elif fmt == "png":
        export.write_png_sequence(path, frames, total, recipe=recipe, cancel=cancel, progress=progress)
    elif fmt in ("webp", "gif"):
        export.write_animation(path, frames, project.fps, total, recipe=recipe, cancel=cancel, progress=progress)
    else:
        raise StudioError(f"cannot export as {fmt!r}")
    return path


def zip_folder(folder: Path) -> bytes:
    """A PNG sequence folder as one stored (uncompressed: PNGs are) zip archive."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for item in sorted(Path(folder).iterdir()):
            archive.write(item, f"{Path(folder).name}/{item.name}")
    return buffer.getvalue()
