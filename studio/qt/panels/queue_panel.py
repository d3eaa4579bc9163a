"""The Queue panel: every job in the persistent queue (queued, running,
finished, failed, cancelled, interrupted) with its progress, and the
commands on it: cancel one, cancel all, move a queued job up or down, retry
a failed / cancelled / interrupted one, clear finished jobs, and the details
(message plus traceback) of a failed one.

Rows are rebuilt from the database when the queue changes (state changes
are rare); progress of the running job arrives through the runner's
coalesced ``job_progress`` and only repaints its cell."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QToolButton,
    QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from studio.core.jobs import Job, JobState, StudioError
from studio.core.queue import JobQueue
from studio.qt import theme
from studio.qt.runner import JobRunner
from studio.qt.shared.error_dialog import show_error

COLUMNS = ("#", "Job", "State", "Progress")
STATE_COLUMN = 2
PROGRESS_COLUMN = 3
ID_ROLE = Qt.ItemDataRole.UserRole
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 1
STATE_COLORS = {
    JobState.QUEUED: "text", JobState.RUNNING: "accent", JobState.FINISHED: "success",
    JobState.FAILED: "danger", JobState.CANCELLED: "dim", JobState.INTERRUPTED: "warning",
}
RETRYABLE = (JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED)


class ProgressDelegate(QStyledItemDelegate):
    """Draws a slim progress bar in the theme's colours (a style-sheeted
    QProgressBar cannot be drawn by a delegate, so it is painted directly)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        style = option.widget.style() if option.widget else None
        if style is not None:  # selection and hover background
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        value = index.data(PROGRESS_ROLE)
        if value is None:
            return
        fraction = max(0.0, min(1.0, float(value)))
        rect: QRect = option.rect.adjusted(6, 0, -6, 0)
        bar = QRect(rect.x(), rect.center().y() - 3, rect.width() - 40, 6)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.color("border"))
        painter.drawRoundedRect(bar, 3, 3)
        if fraction > 0:
            filled = QRect(bar.x(), bar.y(), max(6, int(bar.width() * fraction)), bar.height())
            painter.setBrush(theme.color("accent"))
            painter.drawRoundedRect(filled, 3, 3)
        painter.setPen(theme.color("dim"))
        painter.drawText(QRect(bar.right() + 4, rect.y(), 36, rect.height()),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{fraction:.0%}")
        painter.restore()


class QueuePanel(QWidget):
    selection_changed = Signal()

    def __init__(self, queue: JobQueue, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.queue = queue
        self.runner = runner
        self._progress: dict[int, float] = {}
        self._items: dict[int, QTreeWidgetItem] = {}
        self._jobs: dict[int, Job] = {}
        self.error_dialog = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        bar = QHBoxLayout()
        bar.setSpacing(2)
        self.up_button = self._tool("up", "Move the selected queued job earlier", self.move_up)
        self.down_button = self._tool("down", "Move the selected queued job later", self.move_down)
        self.cancel_button = self._tool("stop", "Cancel the selected job", self.cancel_selected)
        self.retry_button = self._tool("retry", "Run the selected failed, cancelled or interrupted job again",
                                       self.retry_selected)
        self.details_button = self._tool("details", "Show why the selected job failed", self.show_details)
        self.cancel_all_button = self._tool("cancel-all", "Cancel every queued and running job", self.cancel_all)
        self.clear_button = self._tool("clear", "Remove finished, failed and cancelled jobs from the list",
                                       self.clear_finished)
        for button in (self.up_button, self.down_button, self.cancel_button, self.retry_button,
                       self.details_button):
            bar.addWidget(button)
        bar.addStretch(1)
        bar.addWidget(self.cancel_all_button)
        bar.addWidget(self.clear_button)
        layout.addLayout(bar)

        self.tree = QTreeWidget()
        self.tree.setObjectName("queueTree")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.tree))
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column, width in ((0, 34), (STATE_COLUMN, 84), (PROGRESS_COLUMN, 96)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            self.tree.setColumnWidth(column, width)
        self.tree.itemSelectionChanged.connect(self._on_selection_changed)
        self.tree.itemDoubleClicked.connect(self._on_double_clicked)
        layout.addWidget(self.tree, 1)

        self.message = QLabel()
        self.message.setObjectName("hint")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        layout.addWidget(self.message)

        runner.queue_changed.connect(self.reload)
        runner.job_progress.connect(self._on_job_progress)
        self.reload()

    def _tool(self, icon_name: str, tip: str, slot) -> QToolButton:
        button = QToolButton()
        theme.set_icon(button, icon_name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # --- rows -------------------------------------------------------------------------
    def reload(self) -> None:
        selected = self.selected_id()
        jobs = self.queue.jobs()
        self._jobs = {job.id: job for job in jobs}
        self._progress = {jid: p for jid, p in self._progress.items() if jid in self._jobs}
        self.tree.clear()
        self._items.clear()
        for job in jobs:
            item = QTreeWidgetItem([str(job.id), job.label, job.state.value.capitalize(), ""])
            item.setData(0, ID_ROLE, job.id)
            item.setForeground(STATE_COLUMN, theme.color(STATE_COLORS[job.state]))
            if job.state is JobState.FINISHED:
                self._progress[job.id] = 1.0
            if job.state is not JobState.QUEUED:
                item.setData(PROGRESS_COLUMN, PROGRESS_ROLE, self._progress.get(job.id, 0.0))
            tip = f"{job.label}\n{job.request.kind or 'unknown'} job, {job.state.value}"
            if job.error:
                tip += f": {job.error}"
            for column in range(len(COLUMNS)):
                item.setToolTip(column, tip)
            self.tree.addTopLevelItem(item)
            self._items[job.id] = item
            if job.id == selected:
                item.setSelected(True)
                self.tree.setCurrentItem(item)
        self._on_selection_changed()

    def _on_job_progress(self, job_id: int, done: int, total: int, _message: str) -> None:
        if total <= 0:
            return
        self._progress[job_id] = done / total
        item = self._items.get(job_id)
        if item is not None:
            item.setData(PROGRESS_COLUMN, PROGRESS_ROLE, done / total)

    def states(self) -> dict[int, str]:
        """Each listed job's state as shown (for checks and tests)."""
        return {jid: item.text(STATE_COLUMN).lower() for jid, item in self._items.items()}

    def progress(self, job_id: int) -> float | None:
        item = self._items.get(job_id)
        return None if item is None else item.data(PROGRESS_COLUMN, PROGRESS_ROLE)

    def job_ids(self) -> list[int]:
        return [int(self.tree.topLevelItem(i).data(0, ID_ROLE)) for i in range(self.tree.topLevelItemCount())]

    def select(self, job_id: int) -> None:
        item = self._items.get(job_id)
        if item is not None:
            self.tree.setCurrentItem(item)

    def selected_id(self) -> int | None:
        items = self.tree.selectedItems()
        return int(items[0].data(0, ID_ROLE)) if items else None

    def selected_job(self) -> Job | None:
        job_id = self.selected_id()
        return self._jobs.get(job_id) if job_id is not None else None

    def _on_selection_changed(self) -> None:
        job = self.selected_job()
        state = job.state if job else None
        self.up_button.setEnabled(state is JobState.QUEUED)
        self.down_button.setEnabled(state is JobState.QUEUED)
        self.cancel_button.setEnabled(state in (JobState.QUEUED, JobState.RUNNING, JobState.INTERRUPTED))
        self.retry_button.setEnabled(state in RETRYABLE)
        self.details_button.setEnabled(bool(job and job.error))
        any_active = any(j.state in (JobState.QUEUED, JobState.RUNNING) for j in self._jobs.values())
        self.cancel_all_button.setEnabled(any_active)
        self.clear_button.setEnabled(any(j.state.is_final for j in self._jobs.values()))
        if job is not None and job.error:
            self.message.setText(f"<b>{job.state.value.capitalize()}:</b> {_escape(job.error)}")
            self.message.setVisible(True)
        else:
            self.message.setVisible(False)
        self.selection_changed.emit()

    def _on_double_clicked(self, _item: QTreeWidgetItem, _column: int) -> None:
        if self.details_button.isEnabled():
            self.show_details()

    # --- commands ------------------------------------------------------------------------
    def cancel_selected(self) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            self.runner.cancel(job_id)
            self.reload()

    def cancel_all(self) -> None:
        self.runner.cancel_all()
        self.reload()

    def move_up(self) -> None:
        self._move(-1)

    def move_down(self) -> None:
        self._move(1)

    def _move(self, offset: int) -> None:
        job_id = self.selected_id()
        if job_id is None:
            return
        try:
            self.queue.move(job_id, offset)
        except StudioError as exc:
            self.message.setText(_escape(str(exc)))
            self.message.setVisible(True)
        self.reload()

    def retry_selected(self) -> None:
        job = self.selected_job()
        if job is not None and job.state in RETRYABLE:
            self._progress.pop(job.id, None)
            self.queue.retry(job.id)
            self.runner.start()
            self.reload()

    def clear_finished(self) -> None:
        self.queue.clear_finished()
        self.reload()

    def show_details(self) -> None:
        job = self.selected_job()
        if job is None or not job.error:
            return
        self.error_dialog = show_error(self, f"Job {job.id} {job.state.value}", job.error, job.details)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
