"""The Video workspace's editor: the viewer with its transport, the timeline
with its toolbar, and the consistency graph with the operations it
measures (deflicker, interpolation, bridging a bad stretch, carrying an
edited keyframe along the clip).

The editor owns the timeline model, the media cache and the playback. It
does not run jobs itself: operations and exports are handed to the
workspace as requests (``edit_requested`` / ``export_requested``), which
queues them like any job (progress, cancel, the library) and hands the
result back (``edit_finished``). The keyframe tools (save, propagate,
regenerate a frame) are in ``timeline_keyframes``. Analysis of a clip for
the graph runs in the window's task pool on the clip's proxy frames.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QMenu, QSizePolicy, QSplitter, QToolButton, QVBoxLayout, QWidget,
)

from studio.core.jobs import StudioError
from studio.core.models.cards import ModelCard
from studio.engines.video.timeline import DEFAULT_IMAGE_FRAMES, PROJECT_SUFFIX, Timeline
from studio.qt import theme
from studio.qt.shared.fit import OverflowRow
from studio.qt.shared.image_view import ImageView
from studio.qt.shared.qimage import array_to_qimage
from studio.qt.tasks import Tasks
from studio.qt.video.consistency_graph import ConsistencyGraph
from studio.qt.video.timeline import HEADER_WIDTH, TimelineWidget
from studio.qt.video.timeline_keyframes import KeyframeEdits, render_still
from studio.qt.video.timeline_media import CachedAudio, MediaCache, ProxySource
from studio.qt.video.timeline_playback import TimelinePlayback
from studio.qt.video.timeline_tools import ConsistencyTools

PREVIEW_SIDE = 640
STILL_DELAY_MS = 150  # after the playhead rests this long, the viewer shows the full-size frame
REGENERATE_KEYS = "Ctrl+R"  # free in the editor and the window (the timeline's own keys are unmodified letters)
EXPORT_FILTERS = {"MP4 video (*.mp4)": "mp4", "Animated WebP (*.webp)": "webp", "Animated GIF (*.gif)": "gif",
                  "OpenTimelineIO (*.otio)": "otio"}


def analyse_frames(frames: list) -> Any:
    from studio.engines.video.flow import analyse

    return analyse(frames)


class TimelineEditor(QWidget):
    message = Signal(str)
    edit_requested = Signal(object, int)  # VideoEditRequest, clip id
    export_requested = Signal(object)  # VideoExportRequest

    def __init__(self, tasks: Tasks, work_folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.work_folder = Path(work_folder)
        self.timeline = Timeline()
        self.cache = MediaCache(tasks, self)
        self.playback = TimelinePlayback(self.timeline.project.fps, self)
        self.playback.end_frame = lambda: self.timeline.project.duration
        self.playback.audio_source = self._audio_for_playback
        self.library_items: Callable[[], list] = list  # set by the workspace: recent library items
        self._reports: dict[str, Any] = {}  # media path -> its consistency report
        self._before: dict[int, Any] = {}  # clip id -> report before its pending operation
        self._graph_clip: int | None = None  # the clip the graph measures
        self.keyframes = KeyframeEdits(self)
        self._build()
        self.timeline.listeners.append(self._on_model_changed)
        self.playback.playhead_changed.connect(self._on_playhead)
        self.playback.state_changed.connect(self._update_transport)
        self.playback.message.connect(self.message)
        self.cache.media_ready.connect(self._on_media_ready)
        self.cache.media_failed.connect(self._on_media_failed)
        self.view.message.connect(self.message)
        self.keyframes.message.connect(self.message)
        self.view.selection_changed.connect(self._on_selection)
        self.view.view_changed.connect(self._sync_graph)
        self.graph.frame_clicked.connect(self.playback.seek)
        self._on_model_changed()

    # --- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.viewer = ImageView("Generated clips, imported video and the timeline's frames show here.")
        self.viewer.setMinimumHeight(160)
        transport = QHBoxLayout()
        transport.setContentsMargins(8, 4, 8, 4)
        self.play_button = self._button("", "Play / pause (Space); J, K, L shuttle", self.playback.toggle)
        theme.set_icon(self.play_button, "play")
        self.time_label = QLabel()
        self.time_label.setObjectName("hint")
        self.time_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        transport.addWidget(self.play_button)
        transport.addWidget(self.time_label, 1)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(0)
        top_layout.addWidget(self.viewer, 1)
        top_layout.addLayout(transport)

        self.timeline_widget = TimelineWidget(self.timeline, self.cache, self.playback)
        self.view = self.timeline_widget.view
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.setSpacing(0)
        middle_layout.addWidget(OverflowRow(self._build_toolbar()))
        middle_layout.addWidget(self.timeline_widget, 1)

        self.graph = ConsistencyGraph()
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.setSpacing(0)
        bottom_layout.addWidget(self.graph, 1)
        bottom_layout.addWidget(OverflowRow(self._build_tools()))

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        for part in (top, middle, bottom):
            self.splitter.addWidget(part)
        self.splitter.setSizes([380, 200, 150])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def _button(self, text: str, tip: str, slot: Callable[[], Any] | None = None) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        if slot is not None:
            button.clicked.connect(slot)
        return button

    def _build_toolbar(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("videoToolbar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 4, 8, 4)
        row.setSpacing(2)
        self.add_button = self._button("Add media", "Import video, images or audio, or add a library item")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_menu = QMenu(self.add_button)
        self.add_menu.aboutToShow.connect(self._fill_add_menu)
        self.add_button.setMenu(self.add_menu)
        theme.set_icon(self.add_button, "add")
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        row.addWidget(self.add_button)
        row.addSpacing(8)
        self.edit_buttons = {
            "split": self._button("Split", "Split at the playhead (S)", self.view.split_at_playhead),
            "delete": self._button("Delete", "Delete the selected clips (Delete)", self.view.delete_selected),
            "ripple": self._button("Ripple", "Ripple delete: delete and close the gap (Shift+Delete)",
                                   lambda: self.view.delete_selected(ripple=True)),
            "crossfade": self._button("Crossfade", "Crossfade into the selected clip, or back to a cut (X)",
                                      self.view.crossfade_selected),
            "undo": self._button("Undo", "Undo (Ctrl+Z)", self.timeline_undo),
            "redo": self._button("Redo", "Redo (Ctrl+Shift+Z)", self.timeline_redo),
        }
        for name, button in self.edit_buttons.items():
            row.addWidget(button)
            if name in ("crossfade",):
                row.addSpacing(8)
        row.addStretch(1)
        project = self._button("Project", "Open or save the video project")
        project.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        project_menu = QMenu(project)
        project_menu.addAction("Open…", self.choose_project)
        project_menu.addAction("Save as…", self.choose_save)
        project.setMenu(project_menu)
        row.addWidget(project)
        self.export_button = self._button("Export…", "Export the timeline: MP4, WebP, GIF, PNG sequence or OTIO",
                                          self.choose_export)
        row.addWidget(self.export_button)
        return bar

    def _build_tools(self) -> QWidget:
        self.tools = ConsistencyTools()
        self.tools.analyse_requested.connect(self.analyse_selected)
        self.tools.operation_requested.connect(self.request_edit)
        self.tools.save_frame_requested.connect(self.keyframes.choose_save_frame)
        self.tools.propagate_requested.connect(self.keyframes.choose_propagation)
        self.regenerate_action = QAction("Regenerate frame…", self)
        self.regenerate_action.setShortcut(QKeySequence(REGENERATE_KEYS))
        self.regenerate_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.regenerate_action.setToolTip("Redraw the playhead's frame image to image and carry it along the clip")
        self.regenerate_action.triggered.connect(self.keyframes.choose_regeneration)
        self.addAction(self.regenerate_action)
        self.tools.add_keyframe_action(self.regenerate_action)
        self.strength, self.target_fps = self.tools.strength, self.tools.target_fps
        return self.tools

    def set_model_cards(self, cards: list[ModelCard]) -> None:
        self.keyframes.set_model_cards(cards)
        self.tools.interpolator.set_cards(cards)

    # --- media --------------------------------------------------------------------------------
    def add_media(self, path: str | Path, start: int | None = None) -> int:
        """Put a media file on the timeline (after the last clip of a track of
        its kind, made if needed); returns the clip id."""
        from studio.engines.video.media import probe

        info = probe(Path(path))
        project = self.timeline.project
        if not project.duration and info.kind == "video":  # the first clip sets the project's format
            self.timeline.set_project_format(fps=round(info.fps, 3), width=info.width - info.width % 2,
                                             height=info.height - info.height % 2)
            self.playback.fps = self.timeline.project.fps
        kind = "audio" if info.kind == "audio" else "video"
        track = next((t for t in project.tracks if t.kind == kind), None)
        track_id = track.id if track is not None else self.timeline.add_track(kind)
        track = self.timeline.project.track(track_id)
        source_frames = info.frames_at(self.timeline.project.fps)
        duration = source_frames or DEFAULT_IMAGE_FRAMES
        if start is None:
            start = max((c.end for c in track.clips), default=0)
        clip_id = self.timeline.add_clip(track_id, str(Path(path).resolve()), info.kind, start, duration,
                                         source_frames=source_frames)
        self.cache.request(str(Path(path).resolve()))
        if len(list(self.timeline.project.clips())) == 1:
            self.view.zoom_to_fit()
        return clip_id

    def import_files(self, paths: list[str]) -> None:
        for path in paths:
            try:
                self.add_media(path)
            except StudioError as exc:
                self.message.emit(str(exc))

    def _fill_add_menu(self) -> None:
        self.add_menu.clear()
        self.add_menu.addAction("Import files…", self.choose_import)
        items = [item for item in self.library_items() if item.modality in ("video", "audio", "image")
                 and item.path.suffix.lower() not in (".json", ".zip", ".otio")]
        if items:
            self.add_menu.addSection("From the library")
        for item in items[:15]:
            label = f"{item.modality.title()}: {(item.prompt or item.path.name)[:48]}"
            self.add_menu.addAction(label, lambda path=str(item.path): self.import_files([path]))

    def choose_import(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import media", "",
                                                "Media (*.mp4 *.mov *.mkv *.webm *.gif *.png *.jpg *.jpeg *.webp "
                                                "*.wav *.flac *.mp3 *.ogg *.m4a);;All files (*)")
        self.import_files(paths)

    def _on_media_ready(self, path: str) -> None:
        self._render_playhead()

    def _on_media_failed(self, path: str, message: str) -> None:
        self.message.emit(f"{Path(path).name}: {message}")

    # --- projects --------------------------------------------------------------------------------
    def set_timeline(self, timeline: Timeline) -> None:
        if self._on_model_changed in self.timeline.listeners:
            self.timeline.listeners.remove(self._on_model_changed)
        self.playback.pause()
        self.timeline = timeline
        self.timeline.listeners.append(self._on_model_changed)
        self.playback.fps = timeline.project.fps
        self.view.set_timeline(timeline)
        self._graph_clip = None
        self.graph.clear("Select a clip and press Analyse to measure its frame consistency")
        for _track, clip in timeline.project.clips():
            self.cache.request(clip.media)
        self.view.zoom_to_fit()
        self.playback.seek(0)
        self._on_model_changed()

    def timeline_undo(self) -> None:
        if not self.timeline.undo():
            self.message.emit("Nothing to undo")

    def timeline_redo(self) -> None:
        if not self.timeline.redo():
            self.message.emit("Nothing to redo")

    def open_project(self, path: Path) -> None:
        if path.suffix.lower() == ".otio":
            from studio.engines.video.otio import read_otio

            self.set_timeline(read_otio(path))
        else:
            self.set_timeline(Timeline.open(path))
        self.message.emit(f"Opened {path.name}")

    def save_project(self, path: Path) -> Path:
        saved = self.timeline.save(path)
        self.message.emit(f"Saved {saved.name}")
        return saved

    def choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video project", str(self.work_folder),
                                              f"Video projects (*{PROJECT_SUFFIX} *.otio)")
        if path:
            try:
                self.open_project(Path(path))
            except StudioError as exc:
                self.message.emit(str(exc))

    def choose_save(self) -> None:
        start = str(self.timeline.path or self.work_folder / f"untitled{PROJECT_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self, "Save video project", start, f"Video projects (*{PROJECT_SUFFIX})")
        if path:
            if not path.endswith(PROJECT_SUFFIX):
                path = path.removesuffix(".json") + PROJECT_SUFFIX
            self.save_project(Path(path))

    # --- export ---------------------------------------------------------------------------------
    def snapshot(self) -> Path:
        """The project as it is now, in a file an export job can read."""
        folder = self.work_folder / "exports"
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = folder / f"{self.timeline.project.name or 'timeline'}-{stamp}{PROJECT_SUFFIX}"
        Timeline(self.timeline.project).save(path)
        return path

    def request_export(self, fmt: str, destination: str = "") -> None:
        from studio.engines.video.requests import VideoExportRequest

        if not self.timeline.project.duration:
            self.message.emit("The timeline is empty: add a clip before exporting")
            return
        request = VideoExportRequest(project=str(self.snapshot()), format=fmt, destination=destination,
                                     prompt=f"{self.timeline.project.name} → {fmt.upper()}")
        self.export_requested.emit(request)

    def choose_export(self) -> None:
        filters = ";;".join([*EXPORT_FILTERS, "PNG sequence (folder)"])
        path, chosen = QFileDialog.getSaveFileName(self, "Export timeline", str(self.work_folder / "export.mp4"),
                                                   filters)
        if not path:
            return
        fmt = EXPORT_FILTERS.get(chosen, "png")
        if fmt != "png" and not path.lower().endswith("." + fmt):
            path += "." + fmt
        self.request_export(fmt, path)

    # --- consistency ---------------------------------------------------------------------------
    def target_clip(self):
        """The selected clip, or the video clip under the playhead."""
        clips = [c for c in self.view.selected_clips() if c.media_kind == "video"]
        if clips:
            return clips[0]
        for track in self.timeline.project.tracks:
            clip = track.clip_at(self.playback.playhead)
            if track.kind == "video" and clip is not None and clip.media_kind == "video":
                return clip
        return None

    def clip_frames(self, clip) -> list | None:
        """The clip's frames at proxy size, one per media frame it shows."""
        prepared = self.cache.request(clip.media)
        if prepared is None or prepared.proxy is None:
            return None
        fps_ratio = prepared.info.fps / self.timeline.project.fps
        first = int(round(clip.source_in * fps_ratio))
        last = int(round((clip.source_in + clip.duration) * fps_ratio))
        return list(prepared.proxy[first:max(last, first + 1)])

    def analyse_selected(self) -> None:
        clip = self.target_clip()
        if clip is None:
            self.message.emit("Select a video clip to analyse")
            return
        frames = self.clip_frames(clip)
        if frames is None:
            self.message.emit("The clip is still being prepared; try again in a moment")
            return
        if len(frames) < 2:
            self.message.emit("The clip has a single frame: nothing to compare")
            return
        self.graph.clear(f"Analysing {clip.name}…")
        self.tasks.run(analyse_frames, frames, finished=lambda report, c=clip: self._on_analysed(c, report),
                       failed=lambda message, _details: self.message.emit(message))

    def _on_analysed(self, clip, report) -> None:
        self._reports[clip.media] = report
        prepared = self.cache.request(clip.media)
        media_fps = prepared.info.fps if prepared is not None and prepared.info.fps else self.timeline.project.fps
        self.graph.set_report(report, offset=clip.start, before=self._before.pop(clip.id, None),
                              scale=self.timeline.project.fps / media_fps)
        self._graph_clip = clip.id
        self._sync_graph()

    def _sync_graph(self) -> None:
        """The graph follows the timeline's zoom and scroll, and its clip if the clip moved."""
        graph_clip = self._graph_clip
        if graph_clip is not None and self.graph.report is not None:
            try:
                self.graph.offset = self.timeline.project.find(graph_clip)[1].start
            except StudioError:  # the clip is gone: its measures no longer apply
                self._graph_clip = None
                self.graph.clear("Select a clip and press Analyse to measure its frame consistency")
        self.graph.set_mapping(self.view.x_of, HEADER_WIDTH)

    def _media_ratio(self, clip) -> float:
        """Media frames per timeline frame."""
        prepared = self.cache.request(clip.media)
        return (prepared.info.fps / self.timeline.project.fps) if prepared is not None and prepared.info.fps else 1.0

    def media_frame(self, clip, frame: int) -> int:
        """The frame of ``clip``'s media shown at timeline ``frame``."""
        return int(round((clip.source_in + frame - clip.start) * self._media_ratio(clip)))

    def clip_range(self, clip) -> tuple[int, int]:
        """The clip's frames in its media."""
        return self.media_frame(clip, clip.start), self.media_frame(clip, clip.end)

    def edit_range(self, clip) -> tuple[int, int]:
        """The clip's frames (in its media) the operation covers: In..Out if set inside it, else all."""
        lo = max(clip.start, self.view.mark_in if self.view.mark_in is not None else clip.start)
        hi = min(clip.end, self.view.mark_out if self.view.mark_out is not None else clip.end)
        if hi <= lo:
            lo, hi = clip.start, clip.end
        return self.media_frame(clip, lo), self.media_frame(clip, hi)

    def request_edit(self, operation: str, edits: tuple[str, ...] = (), clip=None,
                     span: tuple[int, int] | None = None, label: str = "") -> None:
        """Queue ``operation`` on ``clip`` (default: the target clip) over
        ``span`` media frames (default: its edit range)."""
        from studio.engines.video.requests import INTERPOLATING_OPERATIONS, VideoEditRequest

        if clip is None:
            clip = self.target_clip()
        if clip is None:
            self.message.emit("Select a video clip first")
            return
        start, end = span or self.edit_range(clip)
        interpolator = self.tools.interpolator.value() if operation in INTERPOLATING_OPERATIONS else ""
        request = VideoEditRequest(source=clip.media, operation=operation, strength=self.strength.value(),
                                   start=start, end=end, target_fps=self.target_fps.value(), edits=edits,
                                   interpolator=interpolator, prompt=label or f"{clip.name}: {operation}")
        try:
            request.validate()
        except StudioError as exc:
            self.message.emit(str(exc))
            return
        if clip.media in self._reports:
            self._before[clip.id] = self._reports[clip.media]
        self.edit_requested.emit(request, clip.id)

    def edit_finished(self, clip_id: int, path: Path) -> None:
        """An operation's result replaces the clip's media (undoable) and is measured."""
        from studio.engines.video.media import probe

        info = probe(path)
        self.timeline.replace_media(clip_id, str(path), info.frames_at(self.timeline.project.fps))
        _track, clip = self.timeline.project.find(clip_id)
        self.view.select({clip_id})
        self.cache.request(clip.media)
        self._analyse_when_ready(clip_id)

    def _analyse_when_ready(self, clip_id: int, tries: int = 100) -> None:
        try:
            _track, clip = self.timeline.project.find(clip_id)
        except StudioError:
            return
        if self.clip_frames(clip) is not None:
            self.analyse_selected()
        elif tries:
            QTimer.singleShot(100, lambda: self._analyse_when_ready(clip_id, tries - 1))

    # --- viewer ---------------------------------------------------------------------------------
    def preview_size(self) -> tuple[int, int]:
        from studio.engines.video.media import fit_size

        project = self.timeline.project
        return fit_size(project.width, project.height, PREVIEW_SIDE)

    def render_playhead(self) -> QImage | None:
        """The playhead's frame from proxies, shown in the viewer; returns it."""
        from studio.engines.video.compose import render_frame

        if not self.timeline.project.duration:
            return None
        pixels = render_frame(self.timeline.project, self.playback.playhead, ProxySource(self.cache),
                              self.preview_size())
        image = array_to_qimage(pixels)
        self.viewer.set_image(image)
        return image

    def _render_playhead(self) -> None:
        self.render_playhead()
        self._update_time()
        if not self.playback.playing:
            self._still_timer().start()

    def _still_timer(self) -> QTimer:
        if not hasattr(self, "_still"):
            self._still = QTimer(self)
            self._still.setSingleShot(True)
            self._still.setInterval(STILL_DELAY_MS)
            self._still.timeout.connect(self._request_still)
        return self._still

    def _request_still(self) -> None:
        project = self.timeline.project
        if not project.duration or self.playback.playing:
            return
        if self.preview_size() == (project.width, project.height):
            return  # the proxy already is full size
        state = project.to_dict()
        self.tasks.run(render_still, state, self.playback.playhead,
                       finished=lambda result, s=state: self._on_still(result, s))

    def _on_still(self, result: tuple[int, Any], state: dict) -> None:
        frame, pixels = result
        if frame == self.playback.playhead and state == self.timeline.project.to_dict() and not self.playback.playing:
            self.viewer.set_image(array_to_qimage(pixels))

    def show_preview(self, image: QImage) -> None:
        """A frame from a running generation job."""
        self.viewer.set_image(image)

    def _on_playhead(self, _frame: int) -> None:
        self._render_playhead()

    def _update_time(self) -> None:
        project = self.timeline.project
        frame = self.playback.playhead
        seconds = frame / project.fps
        speed = f"  ·  {self.playback.speed:+g}×" if self.playback.playing and self.playback.speed != 1 else ""
        self.time_label.setText(f"{int(seconds // 60)}:{seconds % 60:05.2f}  ·  frame {frame} of "
                                f"{project.duration}  ·  {project.width}×{project.height} at {project.fps:g} fps"
                                f"{speed}")

    def _update_transport(self) -> None:
        theme.set_icon(self.play_button, "pause" if self.playback.playing else "play")
        self._update_time()

    def _audio_for_playback(self):
        from studio.engines.video.compose import mix_audio

        project = self.timeline.project
        if not any(t.kind == "audio" and not t.muted and t.clips for t in project.tracks):
            return None
        audio = CachedAudio(self.cache)
        return mix_audio(project, cache=audio).T.copy(), audio.sample_rate

    # --- state ----------------------------------------------------------------------------------
    def _on_model_changed(self) -> None:
        has_clips = bool(self.timeline.project.duration)
        self.edit_buttons["undo"].setEnabled(self.timeline.can_undo)
        self.edit_buttons["redo"].setEnabled(self.timeline.can_redo)
        self.export_button.setEnabled(has_clips)
        self.playback.fps = self.timeline.project.fps
        self._on_selection()
        self._render_playhead()

    def _on_selection(self) -> None:
        selected = bool(self.view.selected)
        for name in ("delete", "ripple", "crossfade"):
            self.edit_buttons[name].setEnabled(selected)
        self._sync_graph()

    def shutdown(self) -> None:
        self.playback.close()
        self.cache.shutdown()
