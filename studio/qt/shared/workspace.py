"""The base of every workspace tab: a form on the left, the output on the
right, Generate and Cancel under the form, and the plumbing they share.

A workspace subclass says three things: which modality it serves, which
inputs its form has (``build_form``, registering each input once with the
form under its request field name) and what shows the output
(``build_output`` plus ``show_preview`` / ``show_result``). Everything else
comes from here:

- the form persists under ``forms.<name>.<field>`` (saved shortly after each
  change and on close) and is restored on start;
- ``build_request`` turns the form into the request of the chosen engine by
  field name, so a new engine needs no GUI code beyond its inputs;
- "reuse settings" writes a past request back into the form by field name;
- while no engine of the modality is registered, an inline notice says so
  and Generate is disabled;
- the workspace follows the runner's signals for its own jobs (and for
  queued jobs of its modality resumed from an earlier session).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QScrollArea, QSplitter,
    QVBoxLayout, QWidget,
)

from studio.core.jobs import Job, JobState, Request, StudioError, UnknownRequest
from studio.core.library import LibraryItem
from studio.core.models.cards import ModelCard
from studio.core.services import Services
from studio.engines import registry
from studio.qt import theme
from studio.qt.runner import JobRunner
from studio.qt.shared.error_dialog import show_error
from studio.qt.shared.fit import fit_form, shrinkable
from studio.qt.shared.form import Form, ModelPicker, SeedField
from studio.qt.shared.status_line import StatusLine
from studio.qt.tasks import Tasks

SAVE_DELAY_MS = 800
FORM_WIDTH = 320


@dataclass
class WorkspaceContext:
    """What a workspace needs from the window."""

    services: Services
    runner: JobRunner
    tasks: Tasks


class Workspace(QWidget):
    name: ClassVar[str] = ""  # settings key and object name: "image"
    title: ClassVar[str] = ""  # tab label: "Image"
    modality: ClassVar[str] = ""
    icon_name: ClassVar[str] = ""

    job_submitted = Signal(int)
    generation_changed = Signal()  # whether Generate / Cancel make sense changed

    def __init__(self, context: WorkspaceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"workspace-{self.name}")
        self.ctx = context
        self.settings = context.services.settings
        self.runner = context.runner
        self.engines = registry.kinds_for(self.modality)
        self.form = Form(self.name, self)
        self._jobs: list[int] = []  # jobs this workspace follows that have not ended
        self._last_error = ("", "")  # message, traceback
        self._build_ui()
        self.build_form()
        fit_form(self.form_layout.parentWidget())
        self.form_layout.addStretch(1)
        self.form.load(self.settings)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_form)
        self.form.value_changed.connect(self._on_form_changed)
        self._connect_runner()
        self._update_buttons()

    # --- layout ----------------------------------------------------------------
    def _build_ui(self) -> None:
        self.form_panel = QFrame()
        self.form_panel.setObjectName("formPanel")
        self.form_panel.setMinimumWidth(FORM_WIDTH - 40)
        panel = QVBoxLayout(self.form_panel)
        panel.setContentsMargins(12, 12, 12, 12)
        panel.setSpacing(8)

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        panel.addWidget(self.notice)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        # Labels sit above their inputs: the form panel is narrow, and stacked
        # rows keep every input the same width whatever its label's length.
        self.form_layout = QVBoxLayout(body)
        self.form_layout.setContentsMargins(0, 0, 6, 0)
        self.form_layout.setSpacing(12)
        scroll.setWidget(body)
        panel.addWidget(scroll, 1)

        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        self.error_label.setTextFormat(Qt.TextFormat.RichText)
        self.error_label.linkActivated.connect(self._on_error_link)
        panel.addWidget(self.error_label)

        self.job_status = StatusLine("jobStatus")  # changes during every job: must not re-lay out the window
        panel.addWidget(self.job_status)

        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        theme.set_icon(self.generate_button, "play", "on_accent")
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel this workspace's jobs (Esc)")
        theme.set_icon(self.cancel_button, "stop")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        panel.addLayout(buttons)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.form_panel)
        self.splitter.addWidget(shrinkable(self.build_output()))  # a small screen scrolls, never overflows
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([FORM_WIDTH, 900])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.splitter)

        if not self.engines:
            self.notice.setText(
                f"<b>{self.title} generation is not available yet.</b> No {self.modality} engine is installed "
                "in this version of Studio; the form is here so your settings are ready when it arrives.")
            self.notice.setVisible(True)

    def apply_settings(self, keys: list[str]) -> None:
        """The Settings dialog changed ``keys``: a workspace follows those it owns."""

    # --- form building helpers (used by subclasses' build_form) ------------------
    def add_row(self, label: str, widget: QWidget) -> QWidget:
        """A labelled input: the label above, 4 px apart; rows are 12 px apart."""
        row = QVBoxLayout()
        row.setSpacing(4)
        title = QLabel(label)
        title.setObjectName("fieldLabel")
        title.setBuddy(widget)
        row.addWidget(title)
        row.addWidget(widget)
        self.form_layout.addLayout(row)
        return widget

    def add_field(self, name: str, label: str, widget: QWidget, in_request: bool = True,
                  tooltip: str = "") -> QWidget:
        self.form.add(name, widget, in_request=in_request)
        if tooltip:
            widget.setToolTip(tooltip)
        return self.add_row(label, widget)

    def add_engine_picker(self) -> QComboBox:
        combo = QComboBox()
        for entry in self.engines:
            combo.addItem(entry.title, entry.kind)
        if not self.engines:
            combo.addItem("None available yet", "")
            combo.setEnabled(False)
        self.engine_picker = combo
        return self.add_field("kind", "Engine", combo)  # type: ignore[return-value]

    def add_prompt(self, placeholder: str, label: str = "Prompt", name: str = "prompt") -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setPlaceholderText(placeholder)
        edit.setTabChangesFocus(True)
        edit.setFixedHeight(96)
        self.form.add(name, edit)
        self.add_row(label, edit)
        if name == "prompt":
            self.prompt_edit = edit
        return edit

    def add_model_picker(self) -> ModelPicker:
        self.model_picker = ModelPicker(self.modality)
        self.model_picker.setToolTip(f"{self.title} models found on this computer (see the Models panel)")
        return self.add_field("model_id", "Model", self.model_picker)  # type: ignore[return-value]

    def add_seed(self) -> SeedField:
        self.seed_field = SeedField()
        self.form.add_seed(self.seed_field)
        self.add_row("Seed", self.seed_field)
        return self.seed_field

    # --- what subclasses provide ---------------------------------------------------
    def build_form(self) -> None:
        raise NotImplementedError

    def build_output(self) -> QWidget:
        raise NotImplementedError

    def show_preview(self, payload: Any) -> None:
        """A preview from the running job (QImage, text delta, audio chunk ...)."""

    def show_result(self, item: LibraryItem) -> None:
        """A finished job's library item."""

    def show_item(self, item: LibraryItem) -> None:
        """Show a library item chosen in the Library panel."""
        self.show_result(item)

    # --- requests -------------------------------------------------------------------
    @property
    def can_generate(self) -> bool:
        return bool(self.engines)

    def current_engine(self) -> registry.EngineEntry | None:
        kind = self.form.value("kind") if "kind" in self.form.fields else ""
        for entry in self.engines:
            if entry.kind == kind:
                return entry
        return self.engines[0] if self.engines else None

    def build_request(self) -> Request:
        """The form as a request for the chosen engine (raises StudioError)."""
        entry = self.current_engine()
        if entry is None:
            raise StudioError(f"{self.title} generation is not available yet")
        registry.load_request_types()
        request = Request.from_dict({**self.form.request_values(), "kind": entry.kind})
        if isinstance(request, UnknownRequest):
            raise StudioError(f"the {entry.title} engine is not installed correctly")
        validate = getattr(request, "validate", None)
        if callable(validate):
            validate()
        return request

    def generate(self) -> Job | None:
        if not self.can_generate:
            return None
        self._set_error("")
        if hasattr(self, "seed_field"):
            self.seed_field.roll()
        try:
            request = self.build_request()
        except StudioError as exc:
            self._set_error(str(exc))
            return None
        job = self.runner.submit(request)
        self._jobs.append(job.id)
        self.save_form()
        self.job_status.setText(f"Job {job.id} queued")
        self.job_submitted.emit(job.id)
        self._update_buttons()
        return job

    def cancel(self) -> None:
        for job_id in list(self._jobs):
            self.runner.cancel(job_id)

    def apply_request(self, request: Request) -> None:
        """Restore a past request into the form ("reuse settings")."""
        if isinstance(request, UnknownRequest):
            raise StudioError(f"this item was made by an engine that is not installed ({request.raw.get('kind')!r})")
        if request.modality != self.modality:
            raise StudioError(f"a {request.modality} request cannot be reused in the {self.title} workspace")
        values = request.to_dict()
        self.form.set_values(values)
        if "seed_random" in self.form.fields:
            self.form.set_value("seed_random", False)  # reuse means "make that again": lock its seed
        self.save_form()

    # --- models ---------------------------------------------------------------------
    def set_model_cards(self, cards: list[ModelCard]) -> None:
        if hasattr(self, "model_picker"):
            self.model_picker.set_cards(cards)

    # --- persistence ----------------------------------------------------------------
    def _on_form_changed(self, _name: str) -> None:
        self._save_timer.start()

    def save_form(self) -> None:
        self._save_timer.stop()
        self.form.save(self.settings)

    # --- following jobs ---------------------------------------------------------------
    @property
    def active_jobs(self) -> list[int]:
        return list(self._jobs)

    def watch_job(self, job: Job) -> None:
        """Follow a started job this workspace did not submit (one resumed from
        an earlier session, or retried from the Queue panel)."""
        if job.id not in self._jobs:
            self._jobs.append(job.id)
            self.job_status.setText(f"Job {job.id} running")
            self._update_buttons()

    def sync_jobs(self) -> None:
        """Drop followed jobs that ended without running: cancelled while
        queued, or removed from the queue. (Jobs that ran end through the
        runner's signals, which also deliver their result.)"""
        for job_id in list(self._jobs):
            try:
                job = self.ctx.services.queue.get(job_id)
            except StudioError:
                self._end_job(job_id)
                continue
            if job.state is JobState.CANCELLED and job.started is None and self._end_job(job_id):
                self.job_status.setText(f"Job {job_id} cancelled")

    def _connect_runner(self) -> None:
        self.runner.job_started.connect(self._on_job_started)
        self.runner.job_progress.connect(self._on_job_progress)
        self.runner.job_preview.connect(self._on_job_preview)
        self.runner.job_finished.connect(self._on_job_finished)
        self.runner.job_failed.connect(self._on_job_failed)
        self.runner.job_cancelled.connect(self._on_job_cancelled)
        self.runner.queue_changed.connect(self.sync_jobs)

    def _on_job_started(self, job_id: int) -> None:
        if job_id in self._jobs:
            self.job_status.setText(f"Job {job_id} running")

    def _on_job_progress(self, job_id: int, done: int, total: int, message: str) -> None:
        if job_id in self._jobs:
            text = f"Job {job_id}: step {done} of {total}" if total else f"Job {job_id} running"
            self.job_status.setText(f"{text} · {message}" if message else text)

    def _on_job_preview(self, job_id: int, payload: object) -> None:
        if job_id in self._jobs:
            self.show_preview(payload)

    def _on_job_finished(self, job_id: int, item: LibraryItem) -> None:
        if self._end_job(job_id):
            self.job_status.setText(f"Job {job_id} finished")
            self.show_result(item)

    def _on_job_failed(self, job_id: int, message: str, details: str) -> None:
        if self._end_job(job_id):
            self.job_status.setText(f"Job {job_id} failed")
            self._set_error(message, details)

    def _on_job_cancelled(self, job_id: int) -> None:
        if self._end_job(job_id):
            self.job_status.setText(f"Job {job_id} cancelled")

    def _end_job(self, job_id: int) -> bool:
        if job_id not in self._jobs:
            return False
        self._jobs.remove(job_id)
        self._update_buttons()
        return True

    def _update_buttons(self) -> None:
        self.generate_button.setEnabled(self.can_generate)
        self.cancel_button.setEnabled(bool(self._jobs))
        self.generation_changed.emit()

    # --- errors -----------------------------------------------------------------------
    def _set_error(self, message: str, details: str = "") -> None:
        self._last_error = (message, details)
        if not message:
            self.error_label.clear()
            self.error_label.setVisible(False)
            return
        text = message.replace("&", "&amp;").replace("<", "&lt;")
        if details:
            text += ' &nbsp;<a href="details">Details…</a>'
        self.error_label.setText(text)
        self.error_label.setVisible(True)

    def error_text(self) -> str:
        return self._last_error[0] if self.error_label.isVisible() else ""

    def _on_error_link(self, _link: str) -> None:
        message, details = self._last_error
        show_error(self, f"{self.title} job failed", message, details)
