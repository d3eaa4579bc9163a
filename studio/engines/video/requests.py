"""The video requests the GUI and the CLI build: a generated clip
(``video``), a frame-consistency edit of an existing clip (``video-edit``)
and a timeline export (``video-export``).

This module is light (dataclasses only): the window and the CLI build
requests without importing torch, OpenCV or PyAV. ``validate`` catches what
can be known without a model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from studio.core.jobs import Request, StudioError

MAX_SIDE = 2048
MAX_FRAMES = 2000
DEFAULT_FRAMES = 49
EDIT_OPERATIONS = ("deflicker", "interpolate", "bridge", "propagate", "analyse")
EXPORT_FORMATS = ("mp4", "png", "webp", "gif", "otio")
INTERPOLATING_OPERATIONS = ("interpolate", "bridge")


def parse_keyframes(entries: tuple, fallback_prompt: str = "") -> list[tuple[int, str]]:
    """``("0:a red fox", "48:a fox in snow")`` as sorted (frame, prompt) pairs;
    with no entries, the fallback prompt at frame 0 (or nothing)."""
    keys: dict[int, str] = {}
    for entry in entries:
        frame_text, sep, prompt = str(entry).partition(":")
        try:
            frame = int(frame_text.strip())
        except ValueError:
            frame = -1
        if not sep or frame < 0:
            raise StudioError(f"a keyframe looks like \"48:a prompt\", not {entry!r}")
        if frame in keys:
            raise StudioError(f"frame {frame} has two keyframes")
        if not prompt.strip():
            raise StudioError(f"the keyframe at frame {frame} has no prompt")
        keys[frame] = prompt.strip()
    if not keys and fallback_prompt.strip():
        keys[0] = fallback_prompt.strip()
    return sorted(keys.items())


def _check_fps(name: str, value: float) -> None:
    if not 1 <= value <= 120:
        raise StudioError(f"{name} must be between 1 and 120 fps, not {value}")


def _check_interpolator(model_id: str) -> None:
    """A model id, not a path or a phrase: whether the model exists is
    known only to the model manager, when the job runs."""
    if model_id != model_id.strip() or any(ch.isspace() for ch in model_id):
        raise StudioError(f"an interpolator is a model id (see `studio models list`), not {model_id!r}")


@dataclass(frozen=True)
class VideoRequest(Request):
    """One generated clip. What makes it depends on the model: a GAN walks
    its latent space; an image diffusion model renders prompt keyframes
    (embeddings interpolated, initial noise slerped, optionally each frame
    image-to-image from the previous one moved by the camera); a video
    diffusion pipeline (AnimateDiff, Stable Video Diffusion, CogVideoX, LTX,
    Wan ...) makes the frames itself."""

    kind = "video"
    modality = "video"
    prompt: str = ""
    negative: str = ""
    keyframes: tuple[str, ...] = ()  # "frame:prompt" strings; empty: ``prompt`` at frame 0
    frames: int = 0  # 0: the last keyframe + 1, or 49
    fps: int = 12
    width: int = 512
    height: int = 512
    steps: int = 20
    cfg: float = 7.0
    init_image: str = ""  # image-to-video: the first frame
    strength: float = 0.0  # >0: each frame image-to-image from the previous one (Deforum style)
    zoom: float = 1.0  # camera per frame when chaining: scale, pan (px), rotation (degrees)
    pan_x: float = 0.0
    pan_y: float = 0.0
    rotate: float = 0.0
    walk_speed: float = 0.25  # GAN latent walk: loops per second
    interpolate: int = 0  # >0: retime to this many fps by frame interpolation
    interpolator: str = ""  # interpolation model id (RIFE, FILM); empty: optical flow
    deflicker: float = 0.0  # 0..1: deflicker strength applied to the generated frames

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "a GAN, an image diffusion model or a video model, by id (see `studio models list`)",
        "prompt": "what the clip should show (the keyframe at frame 0 when no --keyframe is given)",
        "negative": "what the clip should not show",
        "keyframes": "a prompt at a frame, as FRAME:PROMPT (e.g. \"48:a fox in snow\")",
        "frames": f"clip length in frames (1-{MAX_FRAMES}; 0: the last keyframe + 1, else {DEFAULT_FRAMES})",
        "fps": "frame rate (1-120)",
        "width": "frame width in pixels, a multiple of 8",
        "height": "frame height in pixels, a multiple of 8",
        "steps": "diffusion steps per frame (1-500)",
        "cfg": "classifier-free guidance scale (0-50): how closely to follow the prompt",
        "init_image": "image-to-video: the first frame",
        "strength": "above 0: each frame image-to-image from the previous one, this much changed (below 1)",
        "zoom": "camera zoom per frame when chaining frames (0.5-2; 1: none)",
        "pan_x": "camera pan per frame when chaining frames, in pixels (+: the picture moves right)",
        "pan_y": "camera pan per frame when chaining frames, in pixels (+: the picture moves down)",
        "rotate": "camera rotation per frame when chaining frames, in degrees",
        "walk_speed": "GAN latent walk: loops per second (above 0, at most 10)",
        "interpolate": "retime to this many fps by frame interpolation (0: no retiming)",
        "interpolator": "interpolation model id (RIFE, FILM) for --interpolate (empty: optical flow)",
        "deflicker": "deflicker strength applied to the generated frames (0-1)",
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "keyframes", tuple(str(k) for k in self.keyframes))

    @property
    def keyframe_list(self) -> list[tuple[int, str]]:
        return parse_keyframes(self.keyframes, self.prompt)

    @property
    def frame_count(self) -> int:
        if self.frames:
            return self.frames
        keys = self.keyframe_list
        return keys[-1][0] + 1 if keys and keys[-1][0] > 0 else DEFAULT_FRAMES

    @property
    def output_fps(self) -> int:
        return self.interpolate or self.fps

    def describe(self) -> str:
        keys = self.keyframe_list
        if len(keys) > 1:
            return f"{keys[0][1]} → {keys[-1][1]}"
        return keys[0][1] if keys else "video"

    def validate(self) -> None:
        if not self.model_id:
            raise StudioError("choose a model: a GAN, an image diffusion model or a video model (--model ID)")
        keys = self.keyframe_list
        if not 1 <= self.frame_count <= MAX_FRAMES:
            raise StudioError(f"frames must be between 1 and {MAX_FRAMES}, not {self.frame_count}")
        if keys and keys[-1][0] >= self.frame_count:
            raise StudioError(f"keyframe {keys[-1][0]} is past the clip's last frame ({self.frame_count - 1})")
        _check_fps("frame rate", self.fps)
        if self.interpolate:
            _check_fps("interpolation target", self.interpolate)
        if self.interpolator:
            _check_interpolator(self.interpolator)
            if not self.interpolate:
                raise StudioError("an interpolator model is used only when retiming: "
                                  "set a frame rate to interpolate to")
        for name, side in (("width", self.width), ("height", self.height)):
            if side % 8 or not 64 <= side <= MAX_SIDE:
                raise StudioError(f"{name} must be a multiple of 8 between 64 and {MAX_SIDE}, not {side}")
        if not 1 <= self.steps <= 500:
            raise StudioError(f"steps must be between 1 and 500, not {self.steps}")
        if not 0.0 <= self.cfg <= 50.0:
            raise StudioError(f"CFG scale must be between 0 and 50, not {self.cfg}")
        if not 0.0 <= self.strength < 1.0:
            raise StudioError(f"chaining strength must be at least 0 and below 1, not {self.strength}")
        if not 0.5 <= self.zoom <= 2.0:
            raise StudioError(f"zoom per frame must be between 0.5 and 2, not {self.zoom}")
        if not 0.0 <= self.deflicker <= 1.0:
            raise StudioError(f"deflicker strength must be between 0 and 1, not {self.deflicker}")
        if not 0.0 < self.walk_speed <= 10.0:
            raise StudioError(f"walk speed must be above 0 and at most 10, not {self.walk_speed}")
        if self.init_image and not Path(self.init_image).expanduser().is_file():
            raise StudioError(f"init image not found: {self.init_image}")


@dataclass(frozen=True)
class VideoEditRequest(Request):
    """A frame-consistency operation on a clip file, over frames ``start``
    to ``end`` (0: to the last frame); the result is a new clip.

    ``deflicker`` smooths the range at ``strength``; ``interpolate`` retimes
    the clip to ``target_fps``; ``bridge`` replaces the range by in-betweens
    of the frames either side; ``propagate`` carries edited keyframes
    (``edits``) along the clip; ``analyse`` only measures it. ``interpolate``
    and ``bridge`` make their in-betweens with the ``interpolator`` model
    (RIFE, FILM) when one is named, else by optical flow."""

    kind = "video-edit"
    modality = "video"
    source: str = ""  # the clip to edit (a video file)
    operation: str = "deflicker"
    strength: float = 0.5  # deflicker
    start: int = 0
    end: int = 0
    target_fps: int = 0  # interpolate: the new frame rate (0: double)
    interpolator: str = ""  # interpolate, bridge: interpolation model id; empty: optical flow
    edits: tuple[str, ...] = ()  # propagate: "frame:path/to/edited.png" strings
    prompt: str = ""  # label only

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "unused: name an interpolation model with --interpolator",
        "source": "the clip to edit (a video file)",
        "operation": "deflicker the range, interpolate (retime), bridge the range with in-betweens, "
                     "propagate edited keyframes, or analyse only",
        "strength": "deflicker: how strongly (0-1)",
        "start": "first frame of the range",
        "end": "frame after the range (0: to the last frame)",
        "target_fps": "interpolate: the new frame rate (0: double)",
        "interpolator": "interpolate, bridge: interpolation model id (RIFE, FILM); empty: optical flow",
        "edits": "propagate: an edited keyframe as FRAME:PATH (e.g. 12:/path/frame.png)",
        "prompt": "a label for the library",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"operation": EDIT_OPERATIONS}

    def __post_init__(self) -> None:
        object.__setattr__(self, "edits", tuple(str(e) for e in self.edits))

    @property
    def edit_list(self) -> list[tuple[int, str]]:
        pairs = []
        for entry in self.edits:
            frame_text, _sep, path = entry.partition(":")
            try:
                pairs.append((int(frame_text), path))
            except ValueError:
                raise StudioError(f"an edit looks like \"12:/path/frame.png\", not {entry!r}") from None
        return sorted(pairs)

    def describe(self) -> str:
        return self.prompt or f"{Path(self.source).stem}: {self.operation}"

    def validate(self) -> None:
        if not self.source or not Path(self.source).expanduser().is_file():
            raise StudioError(f"clip not found: {self.source or '(none chosen)'}")
        if self.operation not in EDIT_OPERATIONS:
            raise StudioError(f"operation must be one of {', '.join(EDIT_OPERATIONS)}, not {self.operation!r}")
        if not 0.0 <= self.strength <= 1.0:
            raise StudioError(f"strength must be between 0 and 1, not {self.strength}")
        if self.start < 0 or (self.end and self.end <= self.start):
            raise StudioError(f"the range {self.start}..{self.end} is empty")
        if self.target_fps:
            _check_fps("target frame rate", self.target_fps)
        if self.interpolator:
            _check_interpolator(self.interpolator)
            if self.operation not in INTERPOLATING_OPERATIONS:
                raise StudioError(f"an interpolator model is used by {' and '.join(INTERPOLATING_OPERATIONS)}, "
                                  f"not by {self.operation}")
        if self.operation == "propagate":
            if not self.edits:
                raise StudioError("propagation needs at least one edited keyframe")
            for frame, path in self.edit_list:
                if not Path(path).expanduser().is_file():
                    raise StudioError(f"the edited frame {frame} was not found: {path}")


@dataclass(frozen=True)
class VideoExportRequest(Request):
    """Render a saved timeline project to a file."""

    kind = "video-export"
    modality = "video"
    project: str = ""  # the project file (.studio-video.json)
    format: str = "mp4"
    destination: str = ""  # also write the result here (a folder for a PNG sequence)
    start: int = 0
    end: int = 0  # 0: to the end of the timeline
    prompt: str = ""  # label only

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "unused: exporting needs no model",
        "project": "the timeline project file (.studio-video.json)",
        "format": "file format (png: a numbered PNG sequence in a folder; otio: OpenTimelineIO)",
        "destination": "also write the result here (a folder for a PNG sequence)",
        "start": "first frame to export",
        "end": "frame after the last one exported (0: to the end of the timeline)",
        "prompt": "a label for the library",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"format": EXPORT_FORMATS}

    def describe(self) -> str:
        return self.prompt or f"{Path(self.project).name.split('.')[0]} → {self.format.upper()}"

    def validate(self) -> None:
        if not self.project or not Path(self.project).expanduser().is_file():
            raise StudioError(f"project not found: {self.project or '(none chosen)'}")
        if self.format not in EXPORT_FORMATS:
            raise StudioError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {self.format!r}")
        if self.start < 0 or (self.end and self.end <= self.start):
            raise StudioError(f"the range {self.start}..{self.end} is empty")
        if self.format == "png" and not self.destination:
            raise StudioError("a PNG sequence needs an output folder (--destination FOLDER)")
