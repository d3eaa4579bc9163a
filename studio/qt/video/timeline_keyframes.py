"""The video editor's keyframe edits: save the playhead's frame, carry an
edited frame along its clip (EbSynth-like propagation), and regenerate the
playhead's frame image-to-image in one go.

Regenerating is two jobs in the normal queue. The frame is decoded at full
size from the clip's media (the frames the propagation job reads) and
written to a PNG in the project's media folder; an ``image`` img2img job
redraws it; its result then either goes to a ``propagate`` edit job that
carries it to the neighbouring frames, or replaces that one frame (a
propagation over a one-frame range). Only the edit job's result touches the
timeline, through the same undoable media replacement as every other
consistency operation, so a failed or cancelled image job leaves the clip
as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from studio import __version__
from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.qt.video.regenerate_dialog import RegenerateChoice, RegenerateDialog, generation_size, redraws_images

if TYPE_CHECKING:
    from studio.engines.video.timeline import Timeline
    from studio.qt.tasks import Tasks
    from studio.qt.video.timeline_playback import TimelinePlayback

log = logging.getLogger(__name__)

RECIPE_DEPTH = 6  # edits of edits of a generated clip: how far back its prompt is looked for
DEFAULT_GUIDANCE = 7.0


def render_still(project_state: dict, frame: int) -> tuple[int, Any]:
    """The timeline's full-size frame (runs in a task: decoding stays off the GUI thread)."""
    from studio.engines.video.compose import DecodingSource, render_frame
    from studio.engines.video.timeline import Project

    project = Project.from_dict(project_state)
    source = DecodingSource()
    try:
        return frame, render_frame(project, frame, source)
    finally:
        source.close()


def write_media_frame(media: str, index: int, path: Path) -> tuple[Path, int, int]:
    """Frame ``index`` of a clip's media at full size, as a PNG written
    atomically (the frame as the propagation job will read it) with Content
    Credentials naming the clip as its parent; returns the file and the
    frame's width and height."""
    from itertools import islice

    from studio.core.credentials import write_signed
    from studio.core.images import encode_png
    from studio.engines.video.media import iter_frames

    pixels = next(islice(iter_frames(Path(media)), index, None), None)
    if pixels is None:
        raise StudioError(f"{Path(media).name} has no frame {index}")
    height, width = pixels.shape[:2]
    recipe = {"title": f"Frame {index} of {Path(media).name}", "kind": "video-frame", "source": str(media),
              "frame": index}
    warning = write_signed(Path(path), encode_png(pixels), recipe, [media])
    if warning:  # the frame is still regenerated; only its own credentials are missing
        log.warning("%s: %s", Path(path).name, warning)
    return Path(path), width, height


@dataclass(frozen=True)
class RecipeHints:
    prompt: str = ""
    negative: str = ""
    model_id: str = ""


def recipe_hints(media: str, media_frame: int) -> RecipeHints:
    """The prompt in effect at ``media_frame`` when the clip was generated
    here (its keyframe prompt), following edits back to the generated clip."""
    from studio.core.provenance import read_container_recipe
    from studio.engines.video.requests import parse_keyframes

    path, frame = Path(media), float(media_frame)
    for _ in range(RECIPE_DEPTH):
        recipe = read_container_recipe(path)
        if not recipe:
            return RecipeHints()
        request = recipe.get("request") or {}
        if request.get("kind") == "video":
            fps = float(request.get("fps") or 1)
            frame *= fps / float(request.get("interpolate") or fps)  # back to the generated frames
            try:
                keys = parse_keyframes(tuple(request.get("keyframes") or ()), str(request.get("prompt") or ""))
            except StudioError:
                keys = []
            earlier = [prompt for key, prompt in keys if key <= frame + 0.5] or [prompt for _k, prompt in keys[:1]]
            return RecipeHints(earlier[-1] if earlier else "", str(request.get("negative") or ""),
                               str(request.get("model_id") or ""))
        source = recipe.get("source") or request.get("source")
        if not source or not Path(source).is_file():
            return RecipeHints()
        if recipe.get("operation") == "interpolate" and recipe.get("fps"):
            from studio.engines.video.media import probe

            frame *= probe(Path(source)).fps / float(recipe["fps"])
        path = Path(source)
    return RecipeHints()


@dataclass(frozen=True)
class RegeneratePlan:
    """What to do with a regenerated frame once its image job finishes."""

    clip_id: int
    media: str  # the clip's media when the frame was chosen
    frame: int  # timeline frame
    media_frame: int
    carry: bool
    frame_path: str = ""  # the original frame, written for the image job


class KeyframeHost(Protocol):
    """What the keyframe tools use of their editor, a QWidget (the
    ``TimelineEditor``, which owns them: a protocol keeps this module from
    importing the module that imports it)."""

    timeline: Timeline
    playback: TimelinePlayback
    tasks: Tasks
    view: Any  # the tracks view, for selecting the edited clip
    work_folder: Path

    def target_clip(self) -> Any: ...

    def media_frame(self, clip: Any, frame: int) -> int: ...

    def clip_range(self, clip: Any) -> tuple[int, int]: ...

    def edit_range(self, clip: Any) -> tuple[int, int]: ...

    def request_edit(self, operation: str, edits: tuple[str, ...] = (), clip: Any = None,
                     span: tuple[int, int] | None = None, label: str = "") -> None: ...


class KeyframeEdits(QObject):
    """The keyframe tools of one timeline editor."""

    message = Signal(str)
    regenerate_requested = Signal(object, object)  # ImageRequest, RegeneratePlan

    def __init__(self, editor: KeyframeHost) -> None:
        super().__init__(editor)
        self.editor = editor
        self.cards: list[ModelCard] = []
        self.dialog: RegenerateDialog | None = None
        self._last: RegenerateChoice | None = None  # the previous regeneration's settings
        self._pending: RegeneratePlan | None = None  # the open dialog's frame

    def set_model_cards(self, cards: list[ModelCard]) -> None:
        self.cards = list(cards)

    def media_folder(self) -> Path:
        """Where frames written for jobs go: beside a saved project, else in the editor's folder."""
        path = self.editor.timeline.path
        return (Path(path).parent if path else self.editor.work_folder) / "media"

    # --- saving and propagating -----------------------------------------------------------
    def choose_save_frame(self) -> None:
        folder = self.editor.work_folder
        path, _ = QFileDialog.getSaveFileName(self.editor, "Save frame", str(folder / "frame.png"), "PNG (*.png)")
        if path:
            self.save_frame(Path(path))

    def save_frame(self, path: Path) -> Path:
        """The playhead's frame as a PNG with its recipe and Content
        Credentials (the clips it shows as placed ingredients)."""
        from studio.core import provenance
        from studio.core.credentials import write_signed
        from studio.core.images import encode_png
        from studio.engines.video.compose import layers_at

        project = self.editor.timeline.project
        frame, pixels = render_still(project.to_dict(), self.editor.playback.playhead)
        sources = list(dict.fromkeys(clip.media for clip, _time, _weight in layers_at(project, frame)))
        recipe = {"generator": f"Studio {__version__}", "title": f"Frame {frame} of {project.name or 'the timeline'}",
                  "kind": "video-frame", "frame": frame, "sources": sources,
                  "project": str(self.editor.timeline.path or "")}
        path = Path(path)
        warning = write_signed(path, provenance.embed(encode_png(pixels), ".png", recipe), recipe, sources,
                               placed=True)
        self.message.emit(f"Saved {path.name}" + (f" ({warning})" if warning else ""))
        return path

    def choose_propagation(self) -> None:
        clip = self.editor.target_clip()
        if clip is None:
            self.message.emit("Select a video clip first")
            return
        path, _ = QFileDialog.getOpenFileName(self.editor, "The edited frame", str(self.editor.work_folder),
                                              "Images (*.png *.jpg *.jpeg *.webp)")
        if path:
            self.propagate_from(clip, self.editor.playback.playhead, path)

    def propagate_from(self, clip, frame: int, path: str) -> None:
        """Carry the edited image of timeline ``frame`` along ``clip``."""
        self.propagate_media_frame(clip, self.editor.media_frame(clip, frame), path)

    def propagate_media_frame(self, clip, media_frame: int, path: str, carry: bool = True,
                              label: str = "") -> None:
        """Put the image at ``media_frame`` of ``clip``'s media: carried over
        the edit range (In..Out, or the whole clip when the frame is outside
        it), or, with ``carry`` off, in that frame alone."""
        span = self.editor.edit_range(clip)
        if not carry:
            span = (media_frame, media_frame + 1)
        elif not span[0] <= media_frame < span[1]:
            span = self.editor.clip_range(clip)
        self.editor.view.select({clip.id})
        self.editor.request_edit("propagate", (f"{media_frame}:{path}",), clip=clip, span=span, label=label)

    # --- regenerating ------------------------------------------------------------------------
    def choose_regeneration(self) -> RegenerateDialog | None:
        """Open the dialog for the playhead's frame of the selected clip."""
        editor = self.editor
        clip = editor.target_clip()
        frame = editor.playback.playhead
        if clip is None:
            self.message.emit("Select a video clip first")
            return None
        if not clip.covers(frame):
            self.message.emit(f"Move the playhead onto {clip.name or 'the clip'} to choose the frame to regenerate")
            return None
        media_frame = editor.media_frame(clip, frame)
        self._pending = RegeneratePlan(clip.id, clip.media, frame, media_frame, carry=True)
        if self.dialog is not None:
            self.dialog.close()
        title = f"Frame {frame} of {clip.name or 'the clip'}"
        if media_frame != frame - clip.start:
            title += f" (frame {media_frame} of its media)"
        prepared = editor.cache.request(clip.media)
        size = (prepared.info.width, prepared.info.height) if prepared is not None else None
        self.dialog = RegenerateDialog(editor.render_playhead(), title, size, self.cards,
                                       self._defaults(clip.media, media_frame), editor)
        self.dialog.accepted.connect(self._on_dialog_accepted)
        self.dialog.finished.connect(self._on_dialog_finished)
        self.dialog.open()
        return self.dialog

    def _defaults(self, media: str, media_frame: int) -> RegenerateChoice:
        hints = recipe_hints(media, media_frame)
        diffusion = {card.id for card in self.cards if redraws_images(card)}
        last = self._last or RegenerateChoice(prompt="")
        model = last.model_id or (hints.model_id if hints.model_id in diffusion else "")
        # The model, strength, steps and seed carry over from the last time; carrying always starts on.
        return replace(last, prompt=hints.prompt, negative=hints.negative, model_id=model, carry=True)

    def _on_dialog_finished(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def _on_dialog_accepted(self) -> None:
        plan, dialog = self._pending, self.dialog
        if plan is None or dialog is None:
            return
        choice = dialog.choice()
        self._last = choice
        plan = replace(plan, carry=choice.carry)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = self.media_folder() / f"{Path(plan.media).stem}-frame{plan.media_frame:05d}-{stamp}.png"
        self.message.emit(f"Regenerating frame {plan.frame}: reading it…")
        self.editor.tasks.run(write_media_frame, plan.media, plan.media_frame, path,
                              finished=lambda written, p=plan, c=choice: self._submit(p, c, written),
                              failed=self._on_frame_failed)

    def _on_frame_failed(self, message: str, _details: str) -> None:
        self.message.emit(f"Could not read the frame to regenerate: {message}")

    def _submit(self, plan: RegeneratePlan, choice: RegenerateChoice, written: tuple[Path, int, int]) -> None:
        from studio.engines.image.requests import ImageRequest

        path, frame_width, frame_height = written
        card = next((c for c in self.cards if c.id == choice.model_id), None)
        extra = card.extra if card is not None else {}
        width, height = generation_size(frame_width, frame_height, extra.get("native_size"))
        request = ImageRequest(prompt=choice.prompt, negative=choice.negative, model_id=choice.model_id,
                               seed=choice.seed, steps=choice.steps, strength=choice.strength,
                               cfg=float(extra.get("default_guidance") or DEFAULT_GUIDANCE), width=width,
                               height=height, mode="img2img", init_image=str(path))
        try:
            request.validate()
        except StudioError as exc:
            self.message.emit(f"Cannot regenerate frame {plan.frame}: {exc}")
            return
        self.regenerate_requested.emit(request, replace(plan, frame_path=str(path)))

    def regenerated(self, plan: RegeneratePlan, image: Path) -> None:
        """The image job made the new frame: carry it, or put it in its frame alone."""
        try:
            _track, clip = self.editor.timeline.project.find(plan.clip_id)
        except StudioError:
            self.message.emit(f"The clip was deleted while its frame was regenerated; the new frame is in the "
                              f"library ({image.name})")
            return
        if clip.media != plan.media:
            self.message.emit(f"The clip changed while its frame was regenerated, so the new frame was not put "
                              f"in; it is in the library ({image.name})")
            return
        how = "carried along the clip" if plan.carry else "replacing it"
        self.propagate_media_frame(clip, plan.media_frame, str(image), plan.carry,
                                   label=f"{clip.name}: frame {plan.frame} regenerated, {how}")

    def regeneration_ended(self, plan: RegeneratePlan, reason: str) -> None:
        """The image job failed or was cancelled: the timeline is left as it was."""
        self.message.emit(f"Frame {plan.frame} was not regenerated and the clip is unchanged: {reason.rstrip('. ')}")
