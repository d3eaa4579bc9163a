"""The timeline model: a project of video and audio tracks holding clips,
every edit an editor makes on it, undo/redo, and the JSON project file.

Qt-free, so the CLI, the export engine and tests use the very same model as
the timeline widget. Times are whole frames at the project's frame rate, so
edits and their undo are exact. A clip shows ``duration`` frames of its
media starting ``source_in`` frames into it (media of another frame rate is
sampled at the nearest frame). Clips on one track never overlap; a
crossfade is how a clip *enters*: for its first ``transition_frames`` frames
it is mixed with the continuation of the clip before it on the track.

Undo keeps a snapshot of the project before each edit: projects are small,
and a snapshot restores exactly what was there however complex the edit.
An edit that fails leaves the project as it was.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from studio.core.atomic import atomic_write_text
from studio.core.jobs import StudioError

PROJECT_FORMAT = "studio-video-project"
PROJECT_VERSION = 1
PROJECT_SUFFIX = ".studio-video.json"
TRACK_KINDS = ("video", "audio")
MEDIA_KINDS = ("video", "image", "audio")
TRANSITIONS = ("cut", "crossfade")
UNDO_LIMIT = 200
DEFAULT_IMAGE_FRAMES = 48


class TimelineError(StudioError):
    """An edit that cannot be made (it would overlap a clip, trim past the media ...)."""


@dataclass
class Clip:
    id: int
    media: str  # absolute path in memory; relative to the project file once saved
    media_kind: str  # "video", "image" or "audio"
    start: int  # first timeline frame
    duration: int  # frames on the timeline
    source_in: int = 0  # frames into the media where the clip starts
    source_frames: int = 0  # the media's length in project frames; 0: unlimited (a still image)
    transition: str = "cut"  # how the clip enters from the clip before it
    transition_frames: int = 0
    gain: float = 1.0  # audio clips: linear gain
    name: str = ""

    @property
    def end(self) -> int:
        """The first frame after the clip."""
        return self.start + self.duration

    def covers(self, frame: int) -> bool:
        return self.start <= frame < self.end


@dataclass
class Track:
    id: int
    kind: str  # "video" or "audio"
    name: str
    clips: list[Clip] = field(default_factory=list)
    muted: bool = False

    def clip_at(self, frame: int) -> Clip | None:
        for clip in self.clips:
            if clip.covers(frame):
                return clip
        return None

    def previous_clip(self, clip: Clip) -> Clip | None:
        before = [c for c in self.clips if c.end <= clip.start]
        return max(before, key=lambda c: c.end) if before else None


@dataclass
class Project:
    fps: float = 24.0
    width: int = 1280
    height: int = 720
    tracks: list[Track] = field(default_factory=list)
    name: str = "Untitled"
    next_id: int = 1

    def __post_init__(self) -> None:
        self.fps = float(self.fps)  # 24 and 24.0 must save and compare the same

    @property
    def duration(self) -> int:
        """Frames up to the end of the last clip."""
        return max((clip.end for track in self.tracks for clip in track.clips), default=0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Project:
        tracks = [Track(**{**t, "clips": [Clip(**c) for c in t.get("clips", [])]}) for t in data.get("tracks", [])]
        fields = {k: v for k, v in data.items() if k in ("fps", "width", "height", "name", "next_id")}
        return Project(tracks=tracks, **fields)

    def track(self, track_id: int) -> Track:
        for track in self.tracks:
            if track.id == track_id:
                return track
        raise TimelineError(f"no track {track_id}")

    def find(self, clip_id: int) -> tuple[Track, Clip]:
        for track in self.tracks:
            for clip in track.clips:
                if clip.id == clip_id:
                    return track, clip
        raise TimelineError(f"no clip {clip_id}")

    def clips(self) -> Iterable[tuple[Track, Clip]]:
        for track in self.tracks:
            for clip in track.clips:
                yield track, clip


class Timeline:
    """A project plus its edit history. Every public edit is one undo step;
    listeners are called after each change (the widget repaints)."""

    def __init__(self, project: Project | None = None) -> None:
        self.project = project or Project()
        self.path: Path | None = None
        self._undo: list[tuple[str, dict[str, Any]]] = []
        self._redo: list[tuple[str, dict[str, Any]]] = []
        self.saved_state: dict[str, Any] = self.project.to_dict()
        self.listeners: list[Callable[[], None]] = []

    # --- history -------------------------------------------------------------
    def _edit(self, label: str, change: Callable[[], Any]) -> Any:
        before = self.project.to_dict()
        try:
            result = change()
            self._check()
        except Exception:
            self.project = Project.from_dict(before)
            raise
        if self.project.to_dict() != before:
            self._undo.append((label, before))
            del self._undo[:-UNDO_LIMIT]
            self._redo.clear()
            self._notify()
        return result

    def _check(self) -> None:
        for track in self.project.tracks:
            track.clips.sort(key=lambda c: (c.start, c.id))
            for clip in track.clips:
                if clip.duration < 1:
                    raise TimelineError("a clip must last at least one frame")
                if clip.start < 0:
                    raise TimelineError("a clip cannot start before frame 0")
                if clip.media_kind == "audio" and track.kind != "audio":
                    raise TimelineError("audio clips go on audio tracks")
                if clip.media_kind != "audio" and track.kind != "video":
                    raise TimelineError("video and image clips go on video tracks")
            for left, right in zip(track.clips, track.clips[1:]):
                if right.start < left.end:
                    raise TimelineError(f"{right.name or 'the clip'} would overlap {left.name or 'another clip'}")

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str:
        return self._undo[-1][0] if self._undo else ""

    @property
    def redo_label(self) -> str:
        return self._redo[-1][0] if self._redo else ""

    def undo(self) -> bool:
        if not self._undo:
            return False
        label, state = self._undo.pop()
        self._redo.append((label, self.project.to_dict()))
        self.project = Project.from_dict(state)
        self._notify()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        label, state = self._redo.pop()
        self._undo.append((label, self.project.to_dict()))
        self.project = Project.from_dict(state)
        self._notify()
        return True

    @property
    def modified(self) -> bool:
        return self.project.to_dict() != self.saved_state

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    def _new_id(self) -> int:
        value = self.project.next_id
        self.project.next_id += 1
        return value

    # --- tracks ----------------------------------------------------------------
    def add_track(self, kind: str, name: str = "") -> int:
        if kind not in TRACK_KINDS:
            raise TimelineError(f"a track is video or audio, not {kind!r}")

        def change() -> int:
            count = sum(1 for t in self.project.tracks if t.kind == kind)
            track = Track(self._new_id(), kind, name or f"{'V' if kind == 'video' else 'A'}{count + 1}")
            self.project.tracks.append(track)
            return track.id
        return self._edit(f"Add {kind} track", change)

    def set_muted(self, track_id: int, muted: bool) -> None:
        self._edit("Mute track" if muted else "Unmute track",
                   lambda: setattr(self.project.track(track_id), "muted", bool(muted)))

    def set_project_format(self, fps: float | None = None, width: int | None = None,
                           height: int | None = None) -> None:
        def change() -> None:
            if fps is not None:
                if not 1 <= fps <= 240:
                    raise TimelineError(f"frame rate must be between 1 and 240, not {fps}")
                self.project.fps = float(fps)
            if width is not None:
                self.project.width = int(width)
            if height is not None:
                self.project.height = int(height)
        self._edit("Project settings", change)

    # --- clips -------------------------------------------------------------------
    def add_clip(self, track_id: int, media: str | Path, media_kind: str, start: int, duration: int,
                 source_frames: int = 0, source_in: int = 0, name: str = "") -> int:
        if media_kind not in MEDIA_KINDS:
            raise TimelineError(f"unknown media kind {media_kind!r}")
        if source_frames and source_in + duration > source_frames:
            raise TimelineError("the clip is longer than its media")

        def change() -> int:
            clip = Clip(self._new_id(), str(media), media_kind, int(start), int(duration), int(source_in),
                        int(source_frames), name=name or Path(media).stem)
            self.project.track(track_id).clips.append(clip)
            return clip.id
        return self._edit("Add clip", change)

    def move_clip(self, clip_id: int, start: int, track_id: int | None = None) -> None:
        def change() -> None:
            track, clip = self.project.find(clip_id)
            if track_id is not None and track_id != track.id:
                track.clips.remove(clip)
                self.project.track(track_id).clips.append(clip)
            clip.start = int(start)
        self._edit("Move clip", change)

    def trim_start(self, clip_id: int, new_start: int) -> None:
        """Move the clip's left edge to ``new_start``, keeping its right edge and its content in place."""
        def change() -> None:
            _track, clip = self.project.find(clip_id)
            delta = int(new_start) - clip.start
            if clip.source_in + delta < 0:
                raise TimelineError("cannot extend the clip before the start of its media")
            clip.start += delta
            clip.source_in += delta
            clip.duration -= delta
            clip.transition_frames = min(clip.transition_frames, max(clip.duration - 1, 0))
        self._edit("Trim clip start", change)

    def trim_end(self, clip_id: int, new_end: int) -> None:
        def change() -> None:
            _track, clip = self.project.find(clip_id)
            duration = int(new_end) - clip.start
            if clip.source_frames and clip.source_in + duration > clip.source_frames:
                raise TimelineError("cannot extend the clip past the end of its media")
            clip.duration = duration
        self._edit("Trim clip end", change)

    def split(self, clip_id: int, frame: int) -> int:
        """Cut a clip in two at ``frame``; returns the id of the right part."""
        return self._edit("Split clip", lambda: self._split(clip_id, frame))

    def _split(self, clip_id: int, frame: int) -> int:
        track, clip = self.project.find(clip_id)
        if not clip.start < frame < clip.end:
            raise TimelineError("the split point must be inside the clip")
        offset = frame - clip.start
        right = copy.deepcopy(clip)
        right.id = self._new_id()
        right.start, right.source_in, right.duration = frame, clip.source_in + offset, clip.duration - offset
        right.transition, right.transition_frames = "cut", 0
        clip.duration = offset
        clip.transition_frames = min(clip.transition_frames, max(clip.duration - 1, 0))
        track.clips.append(right)
        return right.id

    def split_at(self, frame: int, track_ids: Iterable[int] | None = None) -> list[int]:
        """Split every clip under ``frame`` (on the given tracks): one undo step."""
        wanted = set(track_ids) if track_ids is not None else None

        def change() -> list[int]:
            made = []
            for track in self.project.tracks:
                if wanted is not None and track.id not in wanted:
                    continue
                clip = track.clip_at(frame)
                if clip is not None and clip.start < frame:
                    made.append(self._split(clip.id, frame))
            return made
        return self._edit("Split at playhead", change)

    def delete(self, clip_ids: Iterable[int]) -> None:
        ids = set(clip_ids)

        def change() -> None:
            for clip_id in ids:
                track, clip = self.project.find(clip_id)
                track.clips.remove(clip)
        self._edit("Delete clip" if len(ids) == 1 else "Delete clips", change)

    def ripple_delete(self, clip_ids: Iterable[int]) -> None:
        """Delete clips and close the gaps they leave: later clips on the same
        track move left by the deleted length."""
        ids = set(clip_ids)

        def change() -> None:
            removed = sorted((self.project.find(i) for i in ids), key=lambda tc: -tc[1].start)
            for track, clip in removed:  # right to left, so earlier shifts never move a later deletion
                track.clips.remove(clip)
                for other in track.clips:
                    if other.start >= clip.end:
                        other.start -= clip.duration
        self._edit("Ripple delete", change)

    def set_transition(self, clip_id: int, kind: str, frames: int = 0) -> None:
        if kind not in TRANSITIONS:
            raise TimelineError(f"a transition is one of {', '.join(TRANSITIONS)}, not {kind!r}")

        def change() -> None:
            _track, clip = self.project.find(clip_id)
            length = 0 if kind == "cut" else int(frames)
            if kind == "crossfade" and not 1 <= length < clip.duration:
                raise TimelineError("a crossfade must be at least one frame and shorter than the clip")
            clip.transition, clip.transition_frames = kind, length
        self._edit("Set transition", change)

    def set_gain(self, clip_id: int, gain: float) -> None:
        if not 0.0 <= gain <= 4.0:
            raise TimelineError(f"gain must be between 0 and 4, not {gain}")
        self._edit("Clip gain", lambda: setattr(self.project.find(clip_id)[1], "gain", float(gain)))

    def replace_media(self, clip_id: int, media: str | Path, source_frames: int) -> None:
        """Point a clip at new media of the same timing (a deflickered or retimed render)."""
        def change() -> None:
            _track, clip = self.project.find(clip_id)
            if source_frames and clip.source_in + clip.duration > source_frames:
                clip.duration = max(1, source_frames - clip.source_in)
            clip.media, clip.source_frames = str(media), int(source_frames)
        self._edit("Replace clip media", change)

    # --- snapping --------------------------------------------------------------
    def snap_points(self, exclude: int | None = None, playhead: int | None = None) -> list[int]:
        points = {0}
        for _track, clip in self.project.clips():
            if clip.id != exclude:
                points.update((clip.start, clip.end))
        if playhead is not None:
            points.add(playhead)
        return sorted(points)

    def snap(self, frame: int, threshold: int, exclude: int | None = None, playhead: int | None = None) -> int:
        """``frame`` moved to the nearest clip edge or playhead within ``threshold`` frames."""
        near = [p for p in self.snap_points(exclude, playhead) if abs(p - frame) <= threshold]
        return min(near, key=lambda p: abs(p - frame)) if near else frame

    def snap_move(self, clip_id: int, start: int, threshold: int, playhead: int | None = None) -> int:
        """The start for a dragged clip: whichever of its edges is nearer a snap point snaps."""
        _track, clip = self.project.find(clip_id)
        by_start = self.snap(start, threshold, clip_id, playhead)
        by_end = self.snap(start + clip.duration, threshold, clip_id, playhead) - clip.duration
        return min((by_start, by_end), key=lambda s: (s == start, abs(s - start)))

    # --- files -------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        """Write the project as JSON (atomically); media paths relative to its folder."""
        path = Path(path)
        data = self.project.to_dict()
        folder = path.parent.resolve()
        for track in data["tracks"]:
            for clip in track["clips"]:
                clip["media"] = _relative(clip["media"], folder)
        document = {"format": PROJECT_FORMAT, "version": PROJECT_VERSION, "project": data}
        atomic_write_text(path, json.dumps(document, indent=1, ensure_ascii=False))
        self.path = path
        self.saved_state = self.project.to_dict()
        return path

    @classmethod
    def open(cls, path: Path) -> Timeline:
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise StudioError(f"cannot open {path.name}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise StudioError(f"{path.name} is not a Studio video project (bad JSON: {exc})") from exc
        if not isinstance(document, dict) or document.get("format") != PROJECT_FORMAT:
            raise StudioError(f"{path.name} is not a Studio video project")
        if int(document.get("version", 0)) > PROJECT_VERSION:
            raise StudioError(f"{path.name} was saved by a newer Studio; update to open it")
        data = document["project"]
        folder = path.parent.resolve()
        for track in data.get("tracks", []):
            for clip in track.get("clips", []):
                clip["media"] = str((folder / clip["media"]).resolve()) if not os.path.isabs(clip["media"]) \
                    else clip["media"]
        try:
            timeline = cls(Project.from_dict(data))
            timeline._check()
        except (TypeError, KeyError) as exc:
            raise StudioError(f"{path.name} is damaged: {exc}") from exc
        timeline.path = path
        timeline.saved_state = timeline.project.to_dict()
        return timeline


def _relative(media: str, folder: Path) -> str:
    try:
        return Path(os.path.relpath(Path(media).resolve(), folder)).as_posix()
    except ValueError:  # another drive (Windows): keep it absolute
        return media
