"""A workspace's job status line: a new text repaints the line alone (the
window is not laid out again at every step), long texts are elided with the
whole text as the tooltip."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.qt.shared.status_line import StatusLine


class LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_a_new_status_asks_the_panel_for_no_layout_pass(qtbot):
    panel = QWidget()
    qtbot.addWidget(panel)
    layout = QVBoxLayout(panel)
    line = StatusLine("jobStatus")
    layout.addWidget(line)
    panel.resize(320, 80)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.wait(20)
    requests = LayoutRequests()
    panel.installEventFilter(requests)
    for step in range(1, 6):
        line.setText(f"Job 3: step {step} of 30 · image")
        qtbot.wait(10)
    assert requests.count == 0
    assert line.text() == "Job 3: step 5 of 30 · image" and line.label.text() == line.text()
    assert line.height() == line.label.height() > 0


def test_a_long_status_is_elided_with_the_whole_text_as_tooltip(qtbot):
    line = StatusLine("jobStatus")
    qtbot.addWidget(line)
    line.resize(120, line.height())
    line.show()
    long_text = "Job 12 failed: the model file starter-shapes could not be read from the models folder"
    line.setText(long_text)
    assert line.text() == long_text
    assert line.label.text() != long_text and line.label.text().endswith("…")
    assert line.toolTip() == long_text
    line.resize(2000, line.height())
    assert line.label.text() == long_text and line.toolTip() == ""
