"""The timeline as OpenTimelineIO, so a cut made here opens in other editors
(DaVinci Resolve, Kdenlive, Premiere through adapters) and theirs open here.

Mapping: each track becomes an OTIO track of the same kind, in the same
order; gaps between clips become ``Gap`` items; a clip is an OTIO ``Clip``
whose source range is (``source_in``, ``duration``) at the project's rate
and whose media reference points at the file (with the media's available
range when it is known); a crossfade becomes an ``SMPTE_Dissolve``
transition at the cut, lasting ``transition_frames`` after it. Studio's own
fields (media kind, gain, track mute) ride along in each object's
``metadata["studio"]``, so a round trip is exact."""

from __future__ import annotations

from pathlib import Path

from studio.core.atomic import atomic_write_text
from studio.core.jobs import StudioError
from studio.engines.video.media import media_kind
from studio.engines.video.timeline import Clip, Project, Timeline, Track

OTIO_SUFFIX = ".otio"


def to_otio(project: Project):
    import opentimelineio as otio

    rate = project.fps
    timeline = otio.schema.Timeline(name=project.name)
    timeline.metadata["studio"] = {"width": project.width, "height": project.height, "fps": project.fps,
                                   "next_id": project.next_id}
    for track in project.tracks:
        kind = otio.schema.TrackKind.Video if track.kind == "video" else otio.schema.TrackKind.Audio
        otio_track = otio.schema.Track(name=track.name, kind=kind)
        otio_track.metadata["studio"] = {"muted": track.muted, "id": track.id}
        otio_track.enabled = not track.muted
        position = 0
        for clip in sorted(track.clips, key=lambda c: c.start):
            if clip.start > position:
                otio_track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(clip.start - position, rate)))
            if clip.transition == "crossfade" and clip.transition_frames:
                otio_track.append(otio.schema.Transition(
                    name="crossfade", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=otio.opentime.RationalTime(0, rate),
                    out_offset=otio.opentime.RationalTime(clip.transition_frames, rate)))
            otio_track.append(_otio_clip(clip, rate))
            position = clip.end
        timeline.tracks.append(otio_track)
    return timeline


def _otio_clip(clip: Clip, rate: float):
    import opentimelineio as otio

    reference = otio.schema.ExternalReference(target_url=Path(clip.media).resolve().as_uri())
    if clip.source_frames:
        reference.available_range = otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(clip.source_frames, rate))
    item = otio.schema.Clip(
        name=clip.name, media_reference=reference,
        source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(clip.source_in, rate),
                                             otio.opentime.RationalTime(clip.duration, rate)))
    item.metadata["studio"] = {"media_kind": clip.media_kind, "gain": clip.gain, "id": clip.id}
    return item


def write_otio(project: Project, path: Path) -> Path:
    import opentimelineio as otio

    text = otio.adapters.write_to_string(to_otio(project), "otio_json")
    return atomic_write_text(Path(path), text)


def read_otio(path: Path) -> Timeline:
    """A timeline from an ``.otio`` file (ours or another editor's)."""
    import opentimelineio as otio

    try:
        document = otio.adapters.read_from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - OTIO raises many kinds of parse errors
        raise StudioError(f"{Path(path).name} is not a readable OpenTimelineIO file: {exc}") from exc
    if not isinstance(document, otio.schema.Timeline):
        raise StudioError(f"{Path(path).name} holds no timeline")
    settings = dict(document.metadata.get("studio", {}))
    rate = float(settings.get("fps") or _first_rate(document) or 24.0)
    project = Project(fps=rate, width=int(settings.get("width", 1280)), height=int(settings.get("height", 720)),
                      name=document.name or Path(path).stem)
    next_id = 1
    for otio_track in document.tracks:
        kind = "video" if otio_track.kind == otio.schema.TrackKind.Video else "audio"
        extra = dict(otio_track.metadata.get("studio", {}))
        track_id = int(extra.get("id", next_id))
        track = Track(track_id, kind, otio_track.name or kind, muted=bool(extra.get("muted", not otio_track.enabled)))
        next_id = max(next_id, track_id) + 1
        position = 0
        pending_fade = 0
        for item in otio_track:
            if isinstance(item, otio.schema.Transition):
                pending_fade = round(item.out_offset.rescaled_to(rate).value)
                continue
            length = round(item.duration().rescaled_to(rate).value)
            if isinstance(item, otio.schema.Clip):
                clip, next_id = _studio_clip(item, position, length, rate, kind, next_id)
                if pending_fade:
                    clip.transition, clip.transition_frames = "crossfade", pending_fade
                track.clips.append(clip)
            pending_fade = 0
            position += length
        project.tracks.append(track)
    project.next_id = max([next_id, *(c.id + 1 for t in project.tracks for c in t.clips)])
    if "next_id" in settings:
        project.next_id = max(project.next_id, int(settings["next_id"]))
    return Timeline(project)


def _studio_clip(item, position: int, length: int, rate: float, track_kind: str, next_id: int
                 ) -> tuple[Clip, int]:
    import opentimelineio as otio
    from urllib.parse import unquote, urlparse

    extra = dict(item.metadata.get("studio", {}))
    reference = item.media_reference
    url = getattr(reference, "target_url", "") or ""
    media = unquote(urlparse(url).path) if url.startswith("file:") else url
    if not media:
        raise StudioError(f"clip {item.name!r} has no media file")
    source_frames = 0
    available = getattr(reference, "available_range", None)
    if available is not None:
        source_frames = round(available.duration.rescaled_to(rate).value)
    source_range = item.source_range or otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                                                otio.opentime.RationalTime(length, rate))
    source_in = round(source_range.start_time.rescaled_to(rate).value)
    default_kind = "audio" if track_kind == "audio" else _guess_kind(media)
    clip_id = int(extra.get("id", next_id))
    clip = Clip(clip_id, media, str(extra.get("media_kind", default_kind)), position, length, source_in,
                source_frames, gain=float(extra.get("gain", 1.0)), name=item.name or Path(media).stem)
    return clip, max(next_id, clip_id + 1)


def _guess_kind(media: str) -> str:
    try:
        return "image" if media_kind(Path(media)) == "image" else "video"
    except StudioError:
        return "video"


def _first_rate(document) -> float | None:
    for track in document.tracks:
        for item in track:
            range_ = getattr(item, "source_range", None)
            if range_ is not None:
                return float(range_.duration.rate)
    return None
