"""The LoRA picker: the LoRAs the model manager found, added to the request
with a weight each (-2 to 2; 0 keeps it listed but off). It holds the
``loras`` field of the image request; ``<lora:name:weight>`` tags typed in
the prompt work too and win over the list for the same name."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.qt import theme


class _LoraRow(QWidget):
    remove_requested = Signal(object)
    changed = Signal()

    def __init__(self, name: str, weight: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        label = QLabel(name)
        label.setToolTip(name)
        label.setMinimumWidth(40)
        self.weight = QDoubleSpinBox()
        self.weight.setRange(-2.0, 2.0)
        self.weight.setSingleStep(0.05)
        self.weight.setDecimals(2)
        self.weight.setValue(weight)
        self.weight.setToolTip("LoRA weight: 1 as trained, 0 off, negative to push away")
        self.weight.valueChanged.connect(self.changed)
        remove = QToolButton()
        remove.setToolTip(f"Remove {name}")
        theme.set_icon(remove, "remove")
        remove.clicked.connect(self._on_remove)
        row.addWidget(label, 1)
        row.addWidget(self.weight)
        row.addWidget(remove)

    def _on_remove(self) -> None:
        self.remove_requested.emit(self)


class LoraPicker(QWidget):
    value_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loraPicker")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.rows_layout = QVBoxLayout()
        self.rows_layout.setSpacing(4)
        layout.addLayout(self.rows_layout)
        self.add_combo = QComboBox()
        self.add_combo.setObjectName("loraAdd")
        self.add_combo.setToolTip("LoRAs found in your model folders (a Lora or loras folder)")
        self.add_combo.activated.connect(self._on_add)
        layout.addWidget(self.add_combo)
        self._rows: list[_LoraRow] = []
        self._available: list[str] = []
        self._refresh_combo()

    # --- available LoRAs ---------------------------------------------------------------
    def set_available(self, names: list[str]) -> None:
        self._available = sorted(set(names), key=str.lower)
        self._refresh_combo()

    def _refresh_combo(self) -> None:
        self.add_combo.blockSignals(True)
        self.add_combo.clear()
        chosen = {row.name for row in self._rows}
        left = [name for name in self._available if name not in chosen]
        if not self._available:
            self.add_combo.addItem("No LoRA found in the model folders", "")
        else:
            self.add_combo.addItem("Add a LoRA…" if left else "All LoRAs added", "")
            for name in left:
                self.add_combo.addItem(name, name)
        self.add_combo.setEnabled(bool(left))
        self.add_combo.setCurrentIndex(0)
        self.add_combo.blockSignals(False)

    def _on_add(self, index: int) -> None:
        name = self.add_combo.itemData(index)
        if name:
            self.add(name, 1.0)

    # --- value ------------------------------------------------------------------------
    def add(self, name: str, weight: float = 1.0) -> None:
        for row in self._rows:
            if row.name == name:
                row.weight.setValue(weight)
                return
        self._append(name, weight)
        self._refresh_combo()
        self.value_changed.emit()

    def _append(self, name: str, weight: float) -> None:
        row = _LoraRow(name, weight)
        row.remove_requested.connect(self._remove)
        row.changed.connect(self.value_changed)
        self._rows.append(row)
        self.rows_layout.addWidget(row)

    def _remove(self, row: _LoraRow) -> None:
        self._rows.remove(row)
        row.setParent(None)
        row.deleteLater()
        self._refresh_combo()
        self.value_changed.emit()

    def value(self) -> tuple[tuple[str, float], ...]:
        return tuple((row.name, round(row.weight.value(), 3)) for row in self._rows)

    def set_value(self, pairs) -> None:
        for row in list(self._rows):
            self._rows.remove(row)
            row.setParent(None)
            row.deleteLater()
        for entry in pairs or ():
            if isinstance(entry, (list, tuple)) and len(entry) == 2:
                self._append(str(entry[0]), float(entry[1]))
        self._refresh_combo()
        self.value_changed.emit()

    def row_names(self) -> list[str]:
        return [row.name for row in self._rows]


def lora_names(cards) -> list[str]:
    return [card.name for card in cards if card.format == "lora" and card.usable]

