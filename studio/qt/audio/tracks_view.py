"""The multi-track waveform editor: a time ruler, one row per track (a
header with name, gain, mute, solo and view mode, then the waveform lane),
and a scroll bar, all on one shared :class:`Timeline`.

It owns the session's tracks (:class:`~studio.core.audio_mix.Session`) and
the editing commands, which act on the *current* track (the last one
clicked) over the selection: cut, copy, paste, delete, trim, fade in/out,
normalise, gain, and undo/redo across tracks in the order the edits were
made. Each command is a QAction with its shortcut, active while the focus is
inside the view, so the workspace's toolbar shows the same actions.

Each track's pyramid follows its clip (edits update only what changed);
spectrograms are computed on a background Python thread for what is on
screen, and recomputed shortly after the view settles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QMouseEvent, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QDoubleSpinBox, QFrame, QHBoxLayout, QLabel, QScrollArea, QScrollBar, QToolButton, QVBoxLayout,
    QWidget,
)

from studio.core.audio_buffer import Change
from studio.core.audio_mix import MAX_GAIN_DB, MIN_GAIN_DB, Session, Track
from studio.core.jobs import StudioError
from studio.core.spectrogram import mel_columns
from studio.core.waveform_pyramid import WaveformPyramid
from studio.qt import theme
from studio.qt.audio.time_ruler import TimeRuler
from studio.qt.audio.waveform import ZOOM_STEP, Timeline, WaveformLane, levels_to_image
from studio.qt.tasks import Tasks

HEADER_WIDTH = 176
ROW_MIN_HEIGHT = 96
SPECTROGRAM_DELAY_MS = 80
KEY_SCROLL_PIXELS = 40


class TrackHeader(QFrame):
    """Name, gain, mute, solo, waveform/spectrogram and remove for one track."""

    changed = Signal()  # gain, mute or solo: what is heard changed
    remove_requested = Signal(object)  # the track
    mode_changed = Signal(object)  # the track
    activated = Signal(object)

    def __init__(self, track: Track, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trackHeader")
        self.track = track
        self.current = False
        self.setFixedWidth(HEADER_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.setSpacing(4)
        top = QHBoxLayout()
        top.setSpacing(2)
        self.name_label = QLabel()
        self.name_label.setObjectName("trackName")
        self.name_label.setToolTip(track.source or track.name)
        self.set_name(track.name)
        top.addWidget(self.name_label, 1)
        self.remove_button = self._button("×", "Remove this track")
        self.remove_button.clicked.connect(self._on_remove)
        top.addWidget(self.remove_button)
        layout.addLayout(top)
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        self.mute_button = self._button("M", "Mute: leave this track out of playback and the mix", checkable=True)
        self.solo_button = self._button("S", "Solo: hear only the soloed tracks", checkable=True)
        self.spectrum_button = self._button("Spectrum", "Show the mel spectrogram instead of the waveform",
                                            checkable=True)
        self.mute_button.toggled.connect(self._on_mute)
        self.solo_button.toggled.connect(self._on_solo)
        self.spectrum_button.toggled.connect(self._on_spectrum)
        for button in (self.mute_button, self.solo_button, self.spectrum_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.gain_spin = QDoubleSpinBox()
        self.gain_spin.setObjectName("trackGain")
        self.gain_spin.setRange(MIN_GAIN_DB, MAX_GAIN_DB)
        self.gain_spin.setSingleStep(0.5)
        self.gain_spin.setDecimals(1)
        self.gain_spin.setSuffix(" dB")
        self.gain_spin.setPrefix("Gain ")
        self.gain_spin.setValue(track.gain_db)
        self.gain_spin.setToolTip("Level of this track in playback and in the exported mix")
        self.gain_spin.valueChanged.connect(self._on_gain)
        layout.addWidget(self.gain_spin)
        layout.addStretch(1)

    def _button(self, text: str, tip: str, checkable: bool = False) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(checkable)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space stays Play/Pause
        return button

    def set_name(self, name: str) -> None:
        self.track.name = name
        metrics = self.name_label.fontMetrics()
        self.name_label.setText(metrics.elidedText(name, Qt.TextElideMode.ElideRight, HEADER_WIDTH - 44))

    def set_current(self, current: bool) -> None:
        self.current = current
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        colors = theme.current()
        painter.fillRect(QRectF(0, 0, 3, self.height()), QColor(colors.accent if self.current else colors.border))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.activated.emit(self.track)
        super().mousePressEvent(event)

    def _on_remove(self) -> None:
        self.remove_requested.emit(self.track)

    def _on_mute(self, on: bool) -> None:
        self.track.mute = on
        self.changed.emit()

    def _on_solo(self, on: bool) -> None:
        self.track.solo = on
        self.changed.emit()

    def _on_gain(self, value: float) -> None:
        self.track.gain_db = float(value)
        self.changed.emit()

    def _on_spectrum(self, on: bool) -> None:
        self.mode_changed.emit(self.track)


class _Lane(WaveformLane):
    """A lane that tells the timeline how wide the lanes are."""

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.timeline.set_width(self.width())


@dataclass
class _Row:
    track: Track
    pyramid: WaveformPyramid
    header: TrackHeader
    lane: WaveformLane
    widget: QWidget
    spectrogram_busy: bool = False
    spectrogram_dirty: bool = False


class TracksView(QWidget):
    mix_changed = Signal()  # what the player plays changed (tracks, edits, gain, mute, solo)
    tracks_changed = Signal()  # a track was added or removed
    current_changed = Signal()
    edited = Signal(str)  # an edit, undo or redo was done: its description
    message = Signal(str)  # something to tell the user ("select a part of the clip first")
    seek_requested = Signal(int)

    def __init__(self, tasks: Tasks | None = None, parent: QWidget | None = None) -> None:
        """``tasks`` runs the spectrograms (torch) off the GUI thread."""
        super().__init__(parent)
        self.setObjectName("tracksView")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.session = Session()
        self.timeline = Timeline(self)
        self.tasks = tasks if tasks is not None else Tasks(self, max_threads=1)
        self.clipboard: np.ndarray | None = None
        self.rows: dict[int, _Row] = {}
        self.current: Track | None = None
        self._undo_order: list[int] = []  # track ids, in the order their edits were made
        self._redo_order: list[int] = []
        self._syncing_scrollbar = False
        self._build_ui()
        self._build_actions()
        self._spectrogram_timer = QTimer(self)
        self._spectrogram_timer.setSingleShot(True)
        self._spectrogram_timer.setInterval(SPECTROGRAM_DELAY_MS)
        self._spectrogram_timer.timeout.connect(self._refresh_spectrograms)
        self.timeline.view_changed.connect(self._on_view_changed)
        self.timeline.selection_changed.connect(self._update_actions)
        self._update_actions()

    # --- layout ---------------------------------------------------------------------
    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.ruler = TimeRuler(self.timeline)
        self.ruler.seek_requested.connect(self.seek_requested)
        outer.addLayout(self._with_gutter(self.ruler))
        self.rows_widget = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_widget)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(1)
        self.empty_label = QLabel("Generated speech, music and effects appear here as tracks.\n"
                                  "Click to place the cursor, drag to select, scroll the wheel to zoom.")
        self.empty_label.setObjectName("hint")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.rows_layout.addWidget(self.empty_label, 1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setWidget(self.rows_widget)
        outer.addWidget(self.scroll_area, 1)
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal)
        self.scrollbar.setObjectName("timelineScroll")
        self.scrollbar.valueChanged.connect(self._on_scrollbar)
        outer.addLayout(self._with_gutter(self.scrollbar))

    def _with_gutter(self, widget: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(1)
        gutter = QWidget()
        gutter.setFixedWidth(HEADER_WIDTH)
        row.addWidget(gutter)
        row.addWidget(widget, 1)
        return row

    def _action(self, name: str, text: str, slot: Any, keys: list[str], tip: str = "") -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        action.setShortcuts([QKeySequence(key) for key in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut = f" ({QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)})" if keys else ""
        action.setToolTip((tip or text) + shortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        self.actions_by_name[name] = action
        return action

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        add = self._action
        add("cut", "Cut", self.cut, ["Ctrl+X"], "Cut the selection to the clipboard")
        add("copy", "Copy", self.copy, ["Ctrl+C"], "Copy the selection")
        add("paste", "Paste", self.paste, ["Ctrl+V"], "Paste at the cursor, or over the selection")
        add("delete", "Delete", self.delete, ["Delete", "Backspace"], "Delete the selection")
        add("trim", "Trim", self.trim, ["Ctrl+T"], "Keep only the selection")
        add("fade_in", "Fade in", self.fade_in, [], "Fade the selection in from silence")
        add("fade_out", "Fade out", self.fade_out, [], "Fade the selection out to silence")
        add("normalise", "Normalise", self.normalise, [], "Bring the loudest peak of the selection to -1 dBFS")
        add("undo", "Undo", self.undo, ["Ctrl+Z"])
        add("redo", "Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        add("select_all", "Select all", self.select_all, ["Ctrl+A"])
        add("zoom_in", "Zoom in", self.zoom_in, ["=", "+", "Ctrl+=", "Ctrl++"])
        add("zoom_out", "Zoom out", self.zoom_out, ["-", "Ctrl+-"])
        add("zoom_fit", "Fit", self.timeline.zoom_fit, ["Ctrl+F"], "Zoom to show everything")
        add("zoom_selection", "Zoom to selection", self.zoom_selection, ["Ctrl+E"])
        add("start", "Go to start", self.go_to_start, ["Home"])
        add("end", "Go to end", self.go_to_end, ["End"])
        add("left", "Scroll left", self.scroll_left, ["Left"])
        add("right", "Scroll right", self.scroll_right, ["Right"])

    # --- tracks ---------------------------------------------------------------------
    def add_track(self, name: str, samples: np.ndarray, sample_rate: int, source: str = "",
                  recipe: dict[str, Any] | None = None, pyramid: WaveformPyramid | None = None,
                  copy: bool = True) -> Track:
        """Add a track (resampled to the session's rate if it differs); a
        pyramid built in the background for these samples can be passed in."""
        track = self.session.add(name, samples, sample_rate, source=source, recipe=recipe, copy=copy)
        if pyramid is None or pyramid.frames != track.clip.frames:
            pyramid = WaveformPyramid(track.clip.samples)
        self.empty_label.setVisible(False)
        header = TrackHeader(track)
        lane = _Lane(track, pyramid, self.timeline)
        widget = QWidget()
        widget.setMinimumHeight(ROW_MIN_HEIGHT)
        row_layout = QHBoxLayout(widget)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.setSpacing(1)
        row_layout.addWidget(header)
        row_layout.addWidget(lane, 1)
        self.rows_layout.addWidget(widget, 1)
        row = _Row(track, pyramid, header, lane, widget)
        self.rows[track.id] = row
        header.changed.connect(self._on_header_changed)
        header.remove_requested.connect(self.remove_track)
        header.mode_changed.connect(self._on_mode_changed)
        header.activated.connect(self.set_current)
        lane.activated.connect(self.set_current)
        lane.seek_requested.connect(self.seek_requested)
        track.clip.listeners.append(partial(self._on_clip_changed, track.id))
        self.timeline.set_content(self.session.frames, self.session.sample_rate)
        self.set_current(track)
        self.tracks_changed.emit()
        self.mix_changed.emit()
        return track

    def remove_track(self, track: Track) -> None:
        row = self.rows.pop(track.id, None)
        if row is None:
            return
        self.session.remove(track)
        track.clip.listeners.clear()
        row.widget.setParent(None)
        row.widget.deleteLater()
        if self.current is track:
            self.current = None
            self.set_current(self.session.tracks[-1] if self.session.tracks else None)
        self.empty_label.setVisible(not self.rows)
        self.timeline.set_content(self.session.frames)
        self._update_actions()
        self.tracks_changed.emit()
        self.mix_changed.emit()

    def clear(self) -> None:
        for track in list(self.session.tracks):
            self.remove_track(track)

    def track_for_source(self, source: str) -> Track | None:
        return next((t for t in self.session.tracks if source and t.source == source), None)

    def lane(self, track: Track) -> WaveformLane:
        return self.rows[track.id].lane

    def header(self, track: Track) -> TrackHeader:
        return self.rows[track.id].header

    def set_current(self, track: Track | None) -> None:
        if track is self.current:
            return
        self.current = track
        for row in self.rows.values():
            row.header.set_current(row.track is track)
            row.lane.set_current(row.track is track)
        self._update_actions()
        self.current_changed.emit()

    def _on_clip_changed(self, track_id: int, change: Change) -> None:
        row = self.rows.get(track_id)
        if row is None:
            return
        row.pyramid.update(row.track.clip.samples, change.start)
        row.lane.content_changed()
        if change.resized:
            self.timeline.set_content(self.session.frames)
        self._schedule_spectrograms()
        self._update_actions()
        self.mix_changed.emit()

    def _on_header_changed(self) -> None:
        for row in self.rows.values():
            row.lane.update()  # a muted track is drawn dimmed
        self.mix_changed.emit()

    # --- editing ---------------------------------------------------------------------
    def _edit(self, name: str, operation: Any, need_selection: bool = False) -> bool:
        track = self.current
        if track is None:
            self.message.emit("Add or generate a clip first")
            return False
        if need_selection and self.timeline.selection is None:
            self.message.emit("Select a part of the clip first (drag across the waveform)")
            return False
        first, last = self.timeline.edit_range()
        try:
            operation(track.clip, first, last)
        except StudioError as exc:
            self.message.emit(str(exc)[:1].upper() + str(exc)[1:])
            return False
        self._undo_order.append(track.id)
        self._redo_order.clear()
        self._update_actions()
        self.edited.emit(name)
        return True

    def cut(self) -> None:
        def operation(clip, first, last):
            self.clipboard, _ = clip.cut(first, last)
        if self._edit("Cut", operation, need_selection=True):
            self._collapse_selection()

    def copy(self) -> None:
        track, selection = self.current, self.timeline.selection
        if track is None or selection is None:
            self.message.emit("Select a part of the clip first (drag across the waveform)")
            return
        self.clipboard = track.clip.copy(*selection)
        self._update_actions()
        self.message.emit(f"Copied {self.clipboard.shape[0] / self.session.sample_rate:.2f} s")

    def paste(self) -> None:
        clipboard = self.clipboard
        if clipboard is None:
            self.message.emit("The clipboard is empty: cut or copy a selection first")
            return
        selection = self.timeline.selection
        at = selection[0] if selection else self.timeline.cursor

        def operation(clip, _first, _last):
            clip.paste(min(at, clip.frames), clipboard, replace_end=selection[1] if selection else None)
        if self._edit("Paste", operation):
            self.timeline.set_selection(at, at + clipboard.shape[0])

    def delete(self) -> None:
        if self._edit("Delete", lambda clip, first, last: clip.delete(first, last), need_selection=True):
            self._collapse_selection()

    def trim(self) -> None:
        if self._edit("Trim", lambda clip, first, last: clip.trim(first, last), need_selection=True):
            self.timeline.clear_selection()
            self.timeline.set_cursor(0)
            self.timeline.zoom_fit()

    def fade_in(self) -> None:
        self._edit("Fade in", lambda clip, first, last: clip.fade_in(first, last))

    def fade_out(self) -> None:
        self._edit("Fade out", lambda clip, first, last: clip.fade_out(first, last))

    def normalise(self, peak_db: float = -1.0) -> None:
        self._edit("Normalise", lambda clip, first, last: clip.normalise(first, last, peak_db))

    def gain(self, db: float) -> None:
        self._edit(f"Gain {db:+.1f} dB", lambda clip, first, last: clip.gain(first, last, db))

    def _collapse_selection(self) -> None:
        first = self.timeline.selection[0] if self.timeline.selection else self.timeline.cursor
        self.timeline.clear_selection()
        self.timeline.set_cursor(first)

    def undo(self) -> None:
        self._step(self._undo_order, self._redo_order, undo=True)

    def redo(self) -> None:
        self._step(self._redo_order, self._undo_order, undo=False)

    def _step(self, source: list[int], target: list[int], undo: bool) -> None:
        while source:
            track_id = source.pop()
            row = self.rows.get(track_id)
            clip = row.track.clip if row else None
            if clip is None or not (clip.can_undo if undo else clip.can_redo):
                continue  # the track is gone, or its history was reset
            name = clip.undo_name if undo else clip.redo_name
            clip.undo() if undo else clip.redo()
            target.append(track_id)
            self.set_current(row.track)
            self._update_actions()
            self.edited.emit(f"{'Undo' if undo else 'Redo'} {name.lower()}")
            return
        self.message.emit("Nothing to undo" if undo else "Nothing to redo")
        self._update_actions()

    def select_all(self) -> None:
        if self.current is not None:
            self.timeline.set_selection(0, self.current.clip.frames)

    # --- navigation -----------------------------------------------------------------------
    def zoom_in(self) -> None:
        self.timeline.zoom(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.timeline.zoom(1 / ZOOM_STEP)

    def zoom_selection(self) -> None:
        if self.timeline.selection is not None:
            self.timeline.zoom_to(*self.timeline.selection)

    def go_to_start(self) -> None:
        self.timeline.set_cursor(0)
        self.timeline.scroll_to(0)
        self.seek_requested.emit(0)

    def go_to_end(self) -> None:
        self.timeline.set_cursor(self.timeline.frames)
        self.timeline.scroll_to(self.timeline.frames)
        self.seek_requested.emit(self.timeline.frames)

    def scroll_left(self) -> None:
        self.timeline.scroll_by_pixels(-KEY_SCROLL_PIXELS)

    def scroll_right(self) -> None:
        self.timeline.scroll_by_pixels(KEY_SCROLL_PIXELS)

    def _on_view_changed(self) -> None:
        self._sync_scrollbar()
        self._schedule_spectrograms()

    def _sync_scrollbar(self) -> None:
        timeline = self.timeline
        unit = max(1.0, timeline.frames / 1_000_000)  # QScrollBar counts in ints
        self._syncing_scrollbar = True
        self.scrollbar.setRange(0, round(timeline.max_start / unit))
        self.scrollbar.setPageStep(max(1, round(timeline.visible_frames / unit)))
        self.scrollbar.setSingleStep(max(1, round(timeline.visible_frames / unit / 10)))
        self.scrollbar.setValue(round(timeline.start / unit))
        self._syncing_scrollbar = False
        self._scroll_unit = unit

    def _on_scrollbar(self, value: int) -> None:
        if not self._syncing_scrollbar:
            self.timeline.scroll_to(value * getattr(self, "_scroll_unit", 1.0))

    # --- spectrograms ----------------------------------------------------------------------
    def _on_mode_changed(self, track: Track) -> None:
        row = self.rows[track.id]
        row.lane.set_mode("spectrogram" if row.header.spectrum_button.isChecked() else "waveform")
        self._schedule_spectrograms()

    def _schedule_spectrograms(self) -> None:
        if any(row.lane.mode == "spectrogram" for row in self.rows.values()):
            self._spectrogram_timer.start()

    def _refresh_spectrograms(self) -> None:
        timeline = self.timeline
        for row in self.rows.values():
            if row.lane.mode != "spectrogram":
                continue
            if row.spectrogram_busy:
                row.spectrogram_dirty = True  # one at a time per lane; the latest view wins
                continue
            row.spectrogram_busy = True
            row.spectrogram_dirty = False
            self.tasks.run(mel_columns, row.track.clip.samples, self.session.sample_rate, timeline.start,
                           timeline.fpp, max(1, timeline.width),
                           finished=partial(self._on_spectrogram, row.track.id),
                           failed=partial(self._on_spectrogram_failed, row.track.id))

    def _on_spectrogram(self, track_id: int, levels: np.ndarray) -> None:
        row = self.rows.get(track_id)
        if row is None:
            return
        row.spectrogram_busy = False
        row.lane.spectrogram = levels_to_image(levels)
        row.lane.update()
        if row.spectrogram_dirty:
            self._refresh_spectrograms()

    def _on_spectrogram_failed(self, track_id: int, message: str, _details: str) -> None:
        row = self.rows.get(track_id)
        if row is not None:
            row.spectrogram_busy = False
        self.message.emit(f"The spectrogram could not be computed: {message}")

    def spectrogram_pending(self) -> bool:
        return any(row.spectrogram_busy or row.spectrogram_dirty for row in self.rows.values()) or \
            self._spectrogram_timer.isActive()

    # --- state ------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        has_track = self.current is not None
        selected = has_track and self.timeline.selection is not None
        for name in ("cut", "copy", "delete", "trim"):
            self.actions_by_name[name].setEnabled(selected)
        for name in ("fade_in", "fade_out", "normalise", "select_all"):
            self.actions_by_name[name].setEnabled(has_track)
        self.actions_by_name["paste"].setEnabled(has_track and self.clipboard is not None)
        self.actions_by_name["undo"].setEnabled(any(self._can(i, True) for i in self._undo_order))
        self.actions_by_name["redo"].setEnabled(any(self._can(i, False) for i in self._redo_order))
        self.actions_by_name["zoom_selection"].setEnabled(self.timeline.selection is not None)

    def _can(self, track_id: int, undo: bool) -> bool:
        row = self.rows.get(track_id)
        return bool(row and (row.track.clip.can_undo if undo else row.track.clip.can_redo))
