"""The row of frame-consistency operations under the consistency graph:
Analyse, Deflicker at a strength, Interpolate to a frame rate, Bridge the
In..Out frames (both making their in-betweens by optical flow or with an
interpolation model, RIFE or FILM, chosen in ``InterpolatorPicker``, which
the generation form uses too), and the keyframe tools (regenerate the playhead's frame
image to image, or save it to paint it elsewhere, then carry the edited
frame along the clip).

The row only asks; the editor decides what clip and range an operation
applies to and queues it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QMenu, QSpinBox, QToolButton, QWidget

from studio.core.models.cards import ModelCard
from studio.qt.shared.form import ModelPicker

SPIN_WIDTH = 78
OPTICAL_FLOW = "Optical flow"


class InterpolatorPicker(ModelPicker):
    """How in-between frames are made: optical flow (no model, the default)
    or one of the frame interpolation models the model manager found."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("video", parent)
        self.setMinimumContentsLength(10)
        self.setToolTip("How in-between frames are made: optical flow, or a frame interpolation model (RIFE, FILM)")

    def set_cards(self, cards: list[ModelCard]) -> None:
        # Unlike other pickers, nothing is preselected: optical flow needs no model.
        self._cards = [card for card in cards if card.is_interpolator]
        self._discovered = True
        self._populate()

    def _populate(self) -> None:
        super()._populate()
        self.setItemText(0, OPTICAL_FLOW)
        for index, card in enumerate(self._cards, start=1):
            self.setItemText(index, card.name)  # the row is narrow; format and size are in the Models panel
        self.setItemData(0, "Motion estimated between neighbouring frames (no model)", Qt.ItemDataRole.ToolTipRole)


class ConsistencyTools(QWidget):
    analyse_requested = Signal()
    operation_requested = Signal(str)  # "deflicker", "interpolate", "bridge"
    save_frame_requested = Signal()
    propagate_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("consistencyTools")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 6)
        row.setSpacing(4)
        self.analyse_button = _button("Analyse", "Measure the selected clip's frame consistency")
        self.analyse_button.clicked.connect(self.analyse_requested)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.05, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(0.6)
        self.strength.setToolTip("Deflicker strength")
        self.target_fps = QSpinBox()
        self.target_fps.setRange(2, 120)
        self.target_fps.setValue(24)
        self.target_fps.setSuffix(" fps")
        self.target_fps.setToolTip("Frame rate to interpolate the clip to")
        for spin in (self.strength, self.target_fps):
            spin.setMaximumWidth(SPIN_WIDTH)
        self.interpolator = InterpolatorPicker()
        self.buttons = {
            "deflicker": _button("Deflicker", "Deflicker the selected clip (between In and Out, keys I and O)"),
            "interpolate": _button("Interpolate", "Retime the selected clip, making in-between frames the chosen way"),
            "bridge": _button("Bridge", "Replace the In..Out frames by in-betweens of the frames either side"),
        }
        for name, button in self.buttons.items():
            button.clicked.connect(lambda _checked=False, n=name: self.operation_requested.emit(n))
        self.keyframe_button = _button("Keyframe edit", "Edit one frame and carry the edit along the clip")
        self.keyframe_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.keyframe_menu = QMenu(self.keyframe_button)
        self.keyframe_menu.addAction("Save the playhead's frame…", self.save_frame_requested.emit)
        self.keyframe_menu.addAction("Propagate an edited frame…", self.propagate_requested.emit)
        self.keyframe_button.setMenu(self.keyframe_menu)
        row.addWidget(self.analyse_button)
        row.addSpacing(8)
        row.addWidget(self.strength)
        row.addWidget(self.buttons["deflicker"])
        row.addSpacing(8)
        row.addWidget(self.target_fps)
        row.addWidget(self.interpolator)
        row.addWidget(self.buttons["interpolate"])
        row.addWidget(self.buttons["bridge"])
        row.addWidget(self.keyframe_button)
        row.addStretch(1)

    def add_keyframe_action(self, action: QAction) -> None:
        """An editor action (with its shortcut) at the top of the keyframe menu."""
        first = self.keyframe_menu.actions()[0]
        self.keyframe_menu.insertAction(first, action)
        self.keyframe_menu.insertSeparator(first)


def _button(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return button
