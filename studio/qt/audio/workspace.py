"""The Audio workspace: Speech, Music and Sound effects forms on the left;
on the right a multi-track waveform editor with playback.

The forms (one per request kind, see :mod:`.audio_forms`) share the base
class's Generate and Cancel. The Speech form is the base class's own form
(settings ``forms.audio.*``), Music and Sound effects have theirs
(``forms.audio.music.*``, ``forms.audio.sfx.*``); the tab in front is the
kind that Generate makes.

A running job's audio arrives as chunks (each knows its sample rate and the
frame where it starts) and is placed on a new track as it comes, so the
waveform grows and playback can begin before the job ends; a chunk the
runner dropped to keep up shows as a short gap, because the finished file,
decoded in the background, then replaces the live track. Tracks play
together, with per-track gain, mute and solo, and are edited in place; the
session runs at 48 kHz (clips are resampled when they are added) and
Export writes the mix as WAV or FLAC with every track's recipe, or the MIDI
of a composed music track.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QInputDialog, QLabel, QSizePolicy, QStackedWidget, QTabBar, QToolButton, QVBoxLayout,
    QWidget,
)

from studio.core.audio_mix import Track, decode, export_mix, resample
from studio.core.credentials import write_signed
from studio.core.jobs import Request, StudioError
from studio.core.library import LibraryItem
from studio.core.models.cards import ModelCard
from studio.core.waveform_pyramid import WaveformPyramid
from studio.engines import registry
from studio.engines.audio import requests as audio_requests
from studio.qt.audio.forms import KIND_TITLES, TAB_TITLES, ModePage
from studio.qt.audio.tracks_view import TracksView
from studio.qt.audio.transport import Transport
from studio.qt.shared.fit import OverflowRow
from studio.qt.shared.form import Form, SeedField
from studio.qt.shared.workspace import Workspace
from studio.qt.tasks import Tasks

SESSION_RATE = 48_000
KINDS = (("speech", audio_requests.SpeechRequest), ("music", audio_requests.MusicRequest),
         ("sfx", audio_requests.SfxRequest))
MODE_SETTING = "forms.audio.kind"


def load_clip(path: Path, rate: int) -> tuple[str, np.ndarray, WaveformPyramid]:
    """Decode a file at ``rate`` and build its pyramid (runs in a background task)."""
    samples, file_rate = decode(path)
    samples = resample(samples, file_rate, rate)
    return str(path), samples, WaveformPyramid(samples)


def espeak_voice_names() -> list[str]:
    """eSpeak NG voice names and language codes, for the voice box's completions."""
    from studio.engines.audio.speech import espeak

    voices = espeak.list_voices()
    return sorted({v.name for v in voices} | {v.language for v in voices}, key=str.lower)


class AudioWorkspace(Workspace):
    name = "audio"
    title = "Audio"
    modality = "audio"
    icon_name = "audio"

    # --- form -------------------------------------------------------------------
    def build_form(self) -> None:
        self.mode_tabs = QTabBar()
        self.mode_tabs.setObjectName("audioModes")
        self.mode_tabs.setExpanding(True)
        self.mode_tabs.setDrawBase(False)
        self.mode_tabs.setUsesScrollButtons(False)  # all three always in view, however narrow the panel
        self.mode_tabs.setElideMode(Qt.TextElideMode.ElideRight)
        self.pages: dict[str, ModePage] = {}
        self.mode_stack = QStackedWidget()
        for kind, request_cls in KINDS:
            form = self.form if kind == "speech" else Form(f"audio.{kind}", self)
            page = ModePage(kind, request_cls, form)
            self.pages[kind] = page
            self.mode_stack.addWidget(page)
            self.mode_tabs.setTabToolTip(self.mode_tabs.addTab(TAB_TITLES[kind]), KIND_TITLES[kind])
            if form is not self.form:  # the base class loads and follows its own form
                page.set_values(self.settings.section(form.settings_prefix()))
                form.value_changed.connect(self._on_form_changed)
            if page.parts is not None:
                page.parts.value_changed.connect(self._on_parts_changed)
        self.form_layout.addWidget(self.mode_tabs)
        self.form_layout.addWidget(self.mode_stack)
        self.form_layout.addStretch(1)
        speech = self.pages["speech"]
        self.prompt_edit = speech.prompt_edit
        self.model_picker = speech.model_picker
        kinds = [kind for kind, _ in KINDS]
        saved = self.settings.get(MODE_SETTING)
        self.mode_tabs.setCurrentIndex(kinds.index(saved) if saved in kinds else 0)
        self.mode_stack.setCurrentIndex(self.mode_tabs.currentIndex())
        self._fit_stack_to_page()
        self.mode_tabs.currentChanged.connect(self._on_mode_changed)
        self.ctx.tasks.run(espeak_voice_names, finished=speech.set_voice_names)

    def _on_parts_changed(self) -> None:
        self._on_form_changed("parts")

    @property
    def kind(self) -> str:
        return KINDS[self.mode_tabs.currentIndex()][0]

    @property
    def page(self) -> ModePage:
        return self.pages[self.kind]

    @property
    def seed_field(self) -> SeedField:  # the base class rolls the seed of the form in front
        return self.page.seed_field

    def _fit_stack_to_page(self) -> None:
        """Size the form to the page in front, not to the largest page."""
        for page in self.pages.values():
            policy = QSizePolicy.Policy.Preferred if page is self.page else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)
        self.mode_stack.adjustSize()

    def set_kind(self, kind: str) -> None:
        self.mode_tabs.setCurrentIndex([k for k, _ in KINDS].index(kind))

    def _on_mode_changed(self, index: int) -> None:
        self.mode_stack.setCurrentIndex(index)
        self._fit_stack_to_page()
        self.settings.set(MODE_SETTING, self.kind)
        self._update_buttons()

    @property
    def can_generate(self) -> bool:
        return self.kind in registry.ENGINES

    def current_engine(self) -> registry.EngineEntry | None:
        return registry.ENGINES.get(self.kind)

    def build_request(self) -> Request:
        entry = self.current_engine()
        if entry is None:
            raise StudioError(f"{KIND_TITLES[self.kind]} generation is not installed in this version of Studio")
        registry.load_request_types()
        request = Request.from_dict({**self.page.request_values(), "kind": entry.kind})
        validate = getattr(request, "validate", None)
        if callable(validate):
            validate()
        return request

    def apply_request(self, request: Request) -> None:
        kind = getattr(request, "kind", "") or ""
        if request.modality != self.modality or kind not in self.pages:
            super().apply_request(request)  # raises the base class's message
            return
        self.set_kind(kind)
        values = request.to_dict()
        if kind == "music" and values.get("format") == "mid":
            values.pop("format")  # the workspace makes audio; MIDI comes from Export
        page = self.pages[kind]
        page.set_values(values)
        page.form.set_value("seed_random", False)  # reuse means "make that again": lock its seed
        self.save_form()

    def save_form(self) -> None:
        super().save_form()
        for page in self.pages.values():
            if page.form is not self.form:
                page.form.save(self.settings)
            if page.parts is not None:
                prefix = page.form.settings_prefix()
                self.settings.update({f"{prefix}.muted_tracks": list(page.parts.muted()),
                                      f"{prefix}.solo_tracks": list(page.parts.solo())})

    def set_model_cards(self, cards: list[ModelCard]) -> None:
        for page in self.pages.values():
            page.model_picker.set_cards(cards)

    # --- output -------------------------------------------------------------------
    def build_output(self) -> QWidget:
        area = QWidget()
        area.setObjectName("audioOutput")
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        # One thread, so loads, exports and spectrograms of this workspace run in order.
        self.audio_tasks = Tasks(self, max_threads=1, name="studio-audio")
        self.tracks = TracksView(self.audio_tasks)
        self.transport = Transport(self.tracks, self.settings, self.ctx.tasks)
        layout.addWidget(OverflowRow(self._build_toolbar()))
        layout.addWidget(self.tracks, 1)
        layout.addWidget(OverflowRow(self.transport))
        self.message_label = QLabel()
        self.message_label.setObjectName("hint")
        self.message_label.setContentsMargins(12, 2, 12, 6)
        layout.addWidget(self.message_label)
        area.addActions(self.transport.shortcut_actions())
        self.tracks.message.connect(self.show_message)
        self.tracks.edited.connect(self.show_message)
        self.tracks.current_changed.connect(self._update_track_buttons)
        self.tracks.tracks_changed.connect(self._update_track_buttons)
        self.transport.message.connect(self.show_message)
        self._live: dict[int, Track] = {}  # job id -> the track its chunks grow
        self._loading: dict[str, int | None] = {}  # file being decoded -> the job whose live track it replaces
        self._items: dict[str, LibraryItem] = {}  # file being decoded -> its library item
        self._closing_watched = False
        self.transport.scan_devices()
        self._update_track_buttons()
        return area

    def apply_settings(self, keys: list[str]) -> None:
        if "audio.output_device" in keys:
            self.transport.use_device(str(self.settings.get("audio.output_device") or ""))

    def _build_toolbar(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("audioToolbar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 6, 8, 4)
        row.setSpacing(2)
        actions = self.tracks.actions_by_name
        groups = (("cut", "copy", "paste", "delete", "trim"), ("fade_in", "fade_out", "normalise"),
                  ("undo", "redo"), ("zoom_in", "zoom_out", "zoom_fit"))
        for group in groups:
            for name in group:
                row.addWidget(self._tool_button(action=actions[name]))
            if group[0] == "fade_in":
                self.gain_button = self._tool_button("Gain…", "Change the level of the selection by some dB")
                self.gain_button.clicked.connect(self.ask_gain)
                row.addWidget(self.gain_button)
            row.addSpacing(10)
        row.addStretch(1)
        self.reuse_button = self._tool_button("Reuse settings", "Put the settings that made this track in the form")
        self.reuse_button.clicked.connect(self.reuse_current_track)
        self.export_button = self._tool_button("Export…", "Save the mix as WAV or FLAC, or a music track as MIDI")
        self.export_button.clicked.connect(self.choose_export)
        row.addWidget(self.reuse_button)
        row.addWidget(self.export_button)
        return bar

    def _tool_button(self, text: str = "", tip: str = "", action=None) -> QToolButton:
        button = QToolButton()
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        if action is not None:
            button.setDefaultAction(action)
        else:
            button.setText(text)
            button.setToolTip(tip)
        return button

    def show_message(self, text: str) -> None:
        self.message_label.setText(text)

    def _update_track_buttons(self) -> None:
        track = self.tracks.current
        self.reuse_button.setEnabled(bool(track and track.recipe.get("request")))
        self.export_button.setEnabled(bool(self.tracks.session.tracks))

    # --- live audio from a job ----------------------------------------------------------
    def _on_job_preview(self, job_id: int, payload: object) -> None:
        if job_id not in self._jobs or not isinstance(payload, np.ndarray) or payload.size == 0:
            return
        rate = int(getattr(payload, "sample_rate", 0) or SESSION_RATE)
        start = getattr(payload, "start", None)
        chunk = np.asarray(payload, dtype=np.float32)
        chunk = chunk[:, None] if chunk.ndim == 1 else chunk
        if rate != SESSION_RATE:  # a quick linear resample is enough for a preview the file replaces
            chunk = _linear_resample(chunk, rate, SESSION_RATE)
        track = self._live.get(job_id)
        if track is None or track not in self.tracks.session.tracks:
            track = self._start_live_track(job_id, chunk.shape[1])
        clip = track.clip
        at = clip.frames if start is None else round(int(start) * SESSION_RATE / rate)
        if at > clip.frames:  # chunks the runner dropped: leave a gap until the file arrives
            chunk = np.concatenate([np.zeros((at - clip.frames, chunk.shape[1]), np.float32), chunk])
        elif at < clip.frames:
            chunk = chunk[clip.frames - at:]
        if len(chunk):
            clip.append(chunk)

    def _start_live_track(self, job_id: int, channels: int) -> Track:
        label = self._job_label(job_id)
        track = self.tracks.add_track(f"{label} (generating…)", np.zeros((0, channels), np.float32), SESSION_RATE)
        self._live[job_id] = track
        return track

    def _job_label(self, job_id: int) -> str:
        try:
            request = self.ctx.services.queue.get(job_id).request
        except StudioError:
            return "Audio"
        return f"{KIND_TITLES.get(request.kind, 'Audio')}: {request.describe()[:48]}"

    def _on_job_finished(self, job_id: int, item: LibraryItem) -> None:
        if job_id in self._jobs:
            self._loading[str(item.path)] = job_id
        super()._on_job_finished(job_id, item)

    def _on_job_failed(self, job_id: int, message: str, details: str) -> None:
        track = self._live.pop(job_id, None)
        if track is not None:
            self.tracks.remove_track(track)
        super()._on_job_failed(job_id, message, details)

    def _on_job_cancelled(self, job_id: int) -> None:
        track = self._live.pop(job_id, None)
        if track is not None and job_id in self._jobs:
            self.tracks.header(track).set_name(track.name.replace("(generating…)", "(cancelled)"))
        super()._on_job_cancelled(job_id)

    # --- results and library items ---------------------------------------------------------
    def show_result(self, item: LibraryItem) -> None:
        self.load_item(item)

    def show_item(self, item: LibraryItem) -> None:
        existing = self.tracks.track_for_source(str(item.path))
        if existing is not None:
            self.tracks.set_current(existing)
            return
        self.load_item(item)

    def load_item(self, item: LibraryItem) -> None:
        """Decode ``item``'s file in the background, then show it as a track."""
        path = str(item.path)
        if item.path.suffix.lower() not in (".wav", ".flac"):
            self.show_message(f"{item.path.name} is not audio this editor can show")
            self._loading.pop(path, None)
            return
        self._loading.setdefault(path, None)
        self._items[path] = item
        self.audio_tasks.run(load_clip, item.path, SESSION_RATE, finished=self._on_clip_loaded,
                             failed=self._on_clip_failed)

    def _on_clip_loaded(self, result: tuple[str, np.ndarray, WaveformPyramid]) -> None:
        path, samples, pyramid = result
        item = self._items.pop(path, None)
        job_id = self._loading.pop(path, None)
        if item is None:
            return
        name = f"{KIND_TITLES.get(item.kind, 'Audio')}: {_describe(item)[:48]}"
        live = self._live.pop(job_id, None) if job_id is not None else None
        if live is not None and live in self.tracks.session.tracks:
            live.source, live.recipe = path, dict(item.recipe)
            self.tracks.header(live).set_name(name)
            live.clip.replace_all(samples, SESSION_RATE)
            self.tracks.set_current(live)
        else:
            self.tracks.add_track(name, samples, SESSION_RATE, source=path, recipe=item.recipe, pyramid=pyramid,
                                  copy=False)
        self._update_track_buttons()
        self.show_message(f"{Path(path).name}: {len(samples) / SESSION_RATE:.2f} s")

    def _on_clip_failed(self, message: str, _details: str) -> None:
        self.show_message(message)

    # --- commands --------------------------------------------------------------------------
    def ask_gain(self) -> None:
        db, ok = QInputDialog.getDouble(self, "Gain", "Change the level by (dB):", 3.0, -60.0, 24.0, 1)
        if ok:
            self.tracks.gain(db)

    def reuse_current_track(self) -> None:
        track = self.tracks.current
        try:
            if track is None or not track.recipe.get("request"):
                raise StudioError("this track has no recipe to reuse")
            registry.load_request_types()
            self.apply_request(Request.from_dict(track.recipe["request"]))
        except StudioError as exc:
            self.show_message(str(exc))
            return
        self.show_message("Settings restored into the form")

    def choose_export(self) -> None:
        filters = "WAV audio (*.wav);;FLAC audio (*.flac);;MIDI of the selected music track (*.mid)"
        path, chosen = QFileDialog.getSaveFileName(self, "Export", "mix.wav", filters)
        if path:
            if not Path(path).suffix:
                path += {"FLAC": ".flac", "MIDI": ".mid"}.get(chosen.split()[0], ".wav")
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Write the mix (.wav/.flac) or the current music track's MIDI (.mid) in the background."""
        path = Path(path)
        if path.suffix.lower() == ".mid":
            self.audio_tasks.run(_export_midi, self.tracks.current.recipe if self.tracks.current else {}, path,
                                 finished=self._on_exported, failed=self._on_clip_failed)
            return
        self.audio_tasks.run(_export_mix, self.tracks.session, path, finished=self._on_exported,
                             failed=self._on_clip_failed)

    def _on_exported(self, text: str) -> None:
        self.show_message(text)

    # --- life cycle --------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._closing_watched:
            self._closing_watched = True
            self.window().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is self.window():
            self.transport.close_player()  # no stream may outlive the window
            self.audio_tasks.shutdown()
        return super().eventFilter(watched, event)


def _describe(item: LibraryItem) -> str:
    """What a track made from ``item`` is called: its request's own words
    ("lofi in A minor", "rain"), else the prompt, else the file name."""
    try:
        registry.load_request_types()
        return item.request.describe() or item.path.stem
    except (KeyError, TypeError, StudioError):
        return item.prompt or item.path.stem


def _linear_resample(chunk: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    frames = int(round(chunk.shape[0] * rate_to / rate_from))
    positions = np.arange(frames) * (rate_from / rate_to)
    source = np.arange(chunk.shape[0])
    return np.stack([np.interp(positions, source, chunk[:, c]) for c in range(chunk.shape[1])], axis=1) \
        .astype(np.float32)


def _export_mix(session, path: Path) -> str:
    summary = export_mix(session, path)
    notes = ["scaled down to avoid clipping"] if summary["scaled_down"] else []
    notes += [summary["credentials"]] if summary.get("credentials") else []
    return f"Exported {path.name}" + (f" ({'; '.join(notes)})" if notes else "")


def _export_midi(recipe: dict[str, Any], path: Path) -> str:
    request = recipe.get("request") or {}
    if request.get("kind") != "music" or recipe.get("engine", "composer") != "composer":
        raise StudioError("MIDI export needs a track made by the music composer: select one first")
    from studio.engines.audio.music.composer import compose, midi_bytes

    registry.load_request_types()
    # Every part, muted ones included: in a DAW they are one click from being heard.
    data = midi_bytes(compose(Request.from_dict(request), apply_mute=False))
    # MIDI holds no manifest: its Content Credentials go in a .c2pa sidecar, the recipe with them.
    made = {key: value for key, value in recipe.items() if key != "content_credentials"}  # those were the audio's
    warning = write_signed(path, data, {**made, "export": "midi", "muted_parts": "included"})
    return f"Exported {path.name} (every part, for a DAW)" + (f" ({warning})" if warning else "")
