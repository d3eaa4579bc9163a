"""The three forms of the Audio workspace (Speech, Music, Sound effects),
built from the engines' request dataclasses.

Each page walks the fields of its request class in order and makes one
input per field: a known field gets the input, range and words it deserves
(``FIELD_SPECS``: a speaking rate is a spin box from 0.25x to 4x, a key is
a list of keys); an unknown one still gets a plain input for its type, so a
field an engine adds appears without GUI work. Every input is registered
with the page's :class:`~studio.qt.shared.form.Form` under the field name,
which gives persistence and "reuse settings" for free.

Music's per-part mute and solo (``muted_tracks`` / ``solo_tracks``) depend
on the style, so they are a small widget of their own that the page reads
and writes by hand.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QCompleter, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
    QPlainTextEdit, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from studio.core.models.cards import ModelCard
from studio.engines.audio import requests as audio_requests
from studio.qt.shared.form import MAX_SEED, Form, ModelPicker, SeedField

SKIPPED = {"seed", "model_id", "muted_tracks", "solo_tracks"}  # made by the page itself
KIND_TITLES = {"speech": "Speech", "music": "Music", "sfx": "Sound effects"}
TAB_TITLES = {"speech": "Speech", "music": "Music", "sfx": "Effects"}  # the form panel is narrow
ESPEAK_LABEL = "eSpeak NG (100+ languages and accents)"
DEFAULT_MODEL_LABELS = {
    "speech": "Piper starter voice (or eSpeak NG)",
    "music": "Composer (General MIDI)",
    "sfx": "Procedural foley (presets)",
}


# --- inputs ------------------------------------------------------------------
def _choices(values: tuple[str, ...], labels: dict[str, str] | None = None) -> Callable[[], QWidget]:
    def build() -> QComboBox:
        combo = QComboBox()
        for value in values:
            combo.addItem((labels or {}).get(value, value.replace("-", " ").capitalize()), value)
        return combo
    return build


def _number(low: float, high: float, step: float, suffix: str = "", decimals: int = 2,
            special: str = "") -> Callable[[], QWidget]:
    def build() -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setDecimals(decimals)
        spin.setSuffix(suffix)
        if special:
            spin.setSpecialValueText(special)  # shown at the minimum
        return spin
    return build


def _integer(low: int, high: int, suffix: str = "", special: str = "") -> Callable[[], QWidget]:
    def build() -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setSuffix(suffix)
        if special:
            spin.setSpecialValueText(special)
        return spin
    return build


def _text(placeholder: str) -> Callable[[], QWidget]:
    def build() -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        edit.setClearButtonEnabled(True)
        return edit
    return build


def _check(text: str) -> Callable[[], QWidget]:
    return lambda: QCheckBox(text)


@dataclass(frozen=True)
class FieldSpec:
    label: str
    build: Callable[[], QWidget]
    tooltip: str = ""


_R = audio_requests
FIELD_SPECS: dict[str, FieldSpec] = {
    "voice": FieldSpec("Voice", _text("default"), "An eSpeak NG voice or language (en-us, fr, English (Scotland)),"
                       " optionally +variant (en-gb+f3), or the speaker of a multi-speaker model"),
    "language": FieldSpec("Language", _text("en-us"), "Pick an eSpeak NG voice by language when Voice is empty"),
    "preset": FieldSpec("Expression", _choices(_R.SPEECH_PRESETS), "An expressive preset, mapped onto what the "
                        "voice supports (speed and variation for Piper; rate, pitch, range, variant for eSpeak)"),
    "rate": FieldSpec("Speaking rate", _number(0.25, 4.0, 0.05, " ×"), "1 × is the voice's own pace"),
    "pitch": FieldSpec("Pitch", _number(-12.0, 12.0, 0.5, " st", 1), "Semitones up (+) or down (-)"),
    "volume": FieldSpec("Volume", _number(0.0, 2.0, 0.05, " ×")),
    "sentence_pause_s": FieldSpec("Pause between sentences", _number(0.0, 5.0, 0.05, " s")),
    "reference_audio": FieldSpec("Voice to clone", _text("a clip of the voice (models that can clone only)")),
    "consent_to_clone": FieldSpec("", _check("The speaker consents to cloning"),
                                  "Tick only if the person in the clip agreed to have their voice cloned."
                                  " Required for cloning, and recorded in the file's recipe"),
    "style": FieldSpec("Style", _choices(_R.MUSIC_STYLES, {"lofi": "Lo-fi"}),
                       "Chooses the instruments, progression, melody, bass and drum patterns"),
    "key": FieldSpec("Key", _choices(_R.KEYS, {k: k for k in _R.KEYS})),
    "mode": FieldSpec("Scale", _choices(_R.MODES)),
    "tempo": FieldSpec("Tempo", _number(30.0, 300.0, 1.0, " BPM", 0)),
    "time_signature": FieldSpec("Time signature", _choices(_R.TIME_SIGNATURES, {t: t for t in _R.TIME_SIGNATURES})),
    "bars": FieldSpec("Length", _integer(1, 512, " bars")),
    "variation_of": FieldSpec("Variation of", _integer(-1, MAX_SEED, special="None (a new piece)"),
                              "The seed of an earlier piece: keep its structure and vary it"),
    "variation_amount": FieldSpec("Variation amount", _number(0.0, 1.0, 0.05)),
    "intensity": FieldSpec("Intensity", _number(0.0, 1.0, 0.05), "Light drizzle … downpour"),
    "brightness": FieldSpec("Brightness", _number(0.0, 1.0, 0.05), "Dull … bright"),
    "pace": FieldSpec("Pace", _number(0.0, 1.0, 0.05), "Speed of events: steps per second, flicker, sweep"),
    "distance": FieldSpec("Distance", _number(0.0, 1.0, 0.05), "Near and dry … far and reverberant"),
    "surface": FieldSpec("Surface", _choices(_R.SURFACES), "Footsteps only"),
    "frequency_hz": FieldSpec("Frequency", _number(20.0, 20000.0, 10.0, " Hz", 0),
                              "Tone, laser start, engine fundamental"),
    "stereo": FieldSpec("", _check("Stereo")),
    "steps": FieldSpec("Steps", _integer(1, 500), "Diffusion models only"),
}
KIND_SPECS: dict[str, dict[str, FieldSpec]] = {
    "speech": {"format": FieldSpec("File format", _choices(_R.AUDIO_FORMATS, {"wav": "WAV", "flac": "FLAC"}))},
    "music": {
        "format": FieldSpec("File format", _choices(_R.AUDIO_FORMATS, {"wav": "WAV", "flac": "FLAC"}),
                            "MIDI for a DAW: Export… with a music track selected"),
        "duration_s": FieldSpec("Duration", _number(0.0, _R.MAX_DURATION_S, 1.0, " s", 1, "As long as the bars"),
                                "Above 0: cut the piece to exactly this length"),
    },
    "sfx": {
        "format": FieldSpec("File format", _choices(_R.AUDIO_FORMATS, {"wav": "WAV", "flac": "FLAC"})),
        "preset": FieldSpec("Effect", _choices(_R.SFX_PRESETS, {"ui-click": "UI click", "ui-confirm": "UI confirm",
                                                               "ui-error": "UI error"})),
        "duration_s": FieldSpec("Duration", _number(0.05, _R.MAX_DURATION_S, 0.5, " s")),
    },
}
PROMPTS = {
    "speech": ("Text to speak", "Type or paste the words to speak. Long texts are spoken sentence by sentence, "
               "and playback can start before the end is ready."),
    "music": ("Description", "For MusicGen models: describe the music. The composer uses the controls below."),
    "sfx": ("Description", "For AudioLDM / Stable Audio models: describe the sound. Presets use the controls."),
}


def _plain_input(kind: Any) -> Callable[[], QWidget] | None:
    """An input for a field nobody described, from its type."""
    name = kind if isinstance(kind, str) else getattr(kind, "__name__", "")
    if name.startswith("bool"):
        return _check("")
    if name.startswith("int"):
        return _integer(-2**31 + 1, 2**31 - 1)
    if name.startswith("float"):
        return _number(-1e9, 1e9, 0.1, "", 3)
    if name.startswith("str"):
        return _text("")
    return None  # tuples and the like: not editable in a form


class AudioModelPicker(ModelPicker):
    """The audio models one kind can use; the empty choice says what the
    engine uses without one, and speech offers eSpeak NG by name."""

    def __init__(self, kind: str, parent: QWidget | None = None) -> None:
        self.kind = kind
        super().__init__("audio", parent)

    def set_cards(self, cards: list[ModelCard]) -> None:
        super().set_cards([card for card in cards if _serves(card, self.kind)])

    def _populate(self) -> None:
        super()._populate()
        self.blockSignals(True)
        self.setItemText(0, DEFAULT_MODEL_LABELS[self.kind])
        if self.kind == "speech":  # eSpeak NG is built in, not a card discovery finds
            index = self.findData(_R.ESPEAK_MODEL_ID)
            if index >= 0:
                self.removeItem(index)  # listed as "not found": it is always there
            self.insertItem(1, ESPEAK_LABEL, _R.ESPEAK_MODEL_ID)
            self.setCurrentIndex(max(self.findData(self._wanted), 0))
        self.blockSignals(False)


def _serves(card: ModelCard, kind: str) -> bool:
    musicgen = "musicgen" in card.architecture.lower()
    if kind == "speech":
        return card.format == "onnx-voice" or (card.format == "transformers" and not musicgen)
    if kind == "music":
        return card.format == "soundfont" or musicgen
    return card.format == "diffusers"


class PartToggles(QWidget):
    """Mute and solo for each part (melody, chords, bass, drums …) of a style."""

    value_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(4)
        self._grid.setVerticalSpacing(2)
        self.buttons: dict[str, tuple[QToolButton, QToolButton]] = {}

    def set_parts(self, parts: tuple[str, ...]) -> None:
        muted, solo = self.muted(), self.solo()
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.buttons = {}
        for row, part in enumerate(parts):
            self._grid.addWidget(QLabel(part.capitalize()), row // 2, (row % 2) * 3)
            mute, solo_button = QToolButton(), QToolButton()
            for button, text, tip in ((mute, "M", f"Leave the {part} out"), (solo_button, "S", f"Only the {part}")):
                button.setText(text)
                button.setToolTip(tip)
                button.setCheckable(True)
                button.toggled.connect(self.value_changed)
            mute.setChecked(part in muted)
            solo_button.setChecked(part in solo)
            self._grid.addWidget(mute, row // 2, (row % 2) * 3 + 1)
            self._grid.addWidget(solo_button, row // 2, (row % 2) * 3 + 2)
            self.buttons[part] = (mute, solo_button)
        self.value_changed.emit()

    def muted(self) -> tuple[str, ...]:
        return tuple(part for part, (mute, _) in self.buttons.items() if mute.isChecked())

    def solo(self) -> tuple[str, ...]:
        return tuple(part for part, (_, solo) in self.buttons.items() if solo.isChecked())

    def set_value(self, muted: tuple[str, ...] | list[str], solo: tuple[str, ...] | list[str]) -> None:
        for part, (mute_button, solo_button) in self.buttons.items():
            mute_button.setChecked(part in muted)
            solo_button.setChecked(part in solo)


class ModePage(QWidget):
    """The form of one audio kind."""

    def __init__(self, kind: str, request_cls: type, form: Form, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.request_cls = request_cls
        self.form = form
        self.inputs: dict[str, QWidget] = {}
        # Labels above inputs, as in every workspace's form (see Workspace.add_row).
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 8, 0, 0)
        self.layout_.setSpacing(12)
        self.parts: PartToggles | None = None
        self._build()
        self.layout_.addStretch(1)

    def _row(self, label: str, widget: QWidget) -> None:
        if not label:
            self.layout_.addWidget(widget)
            return
        row = QVBoxLayout()
        row.setSpacing(4)
        title = QLabel(label)
        title.setObjectName("fieldLabel")
        title.setBuddy(widget)
        row.addWidget(title)
        row.addWidget(widget)
        self.layout_.addLayout(row)

    def _build(self) -> None:
        hints = typing.get_type_hints(self.request_cls)
        for field in dataclasses.fields(self.request_cls):
            if field.name == "prompt":
                self._add_prompt()
                self._add_model_picker()
            elif field.name not in SKIPPED:
                self._add_field(field.name, hints.get(field.name, field.type))
        if "model_id" not in self.form.fields:
            self._add_model_picker()
        if "muted_tracks" in hints:
            self.parts = PartToggles()
            self._row("Parts", self.parts)
            style = self.inputs.get("style")
            if isinstance(style, QComboBox):
                style.currentIndexChanged.connect(self._on_style_changed)
                self._on_style_changed()
        self.seed_field = SeedField()
        self.form.add_seed(self.seed_field)
        self._row("Seed", self.seed_field)
        # Start from the request's own defaults; saved settings are applied over them.
        self.set_values({f.name: f.default for f in dataclasses.fields(self.request_cls)
                         if f.default is not dataclasses.MISSING and f.name != "seed"})

    def _add_prompt(self) -> None:
        label, placeholder = PROMPTS.get(self.kind, ("Prompt", ""))
        edit = QPlainTextEdit()
        edit.setPlaceholderText(placeholder)
        edit.setTabChangesFocus(True)
        edit.setFixedHeight(120 if self.kind == "speech" else 64)
        self.form.add("prompt", edit)
        self._row(label, edit)
        self.prompt_edit = edit
        self.inputs["prompt"] = edit

    def _add_model_picker(self) -> None:
        self.model_picker = AudioModelPicker(self.kind)
        self.model_picker.setToolTip("Models found on this computer that can make this kind of audio")
        self.form.add("model_id", self.model_picker)
        self._row("Model", self.model_picker)
        self.inputs["model_id"] = self.model_picker

    def _add_field(self, name: str, kind: Any) -> None:
        spec = KIND_SPECS.get(self.kind, {}).get(name) or FIELD_SPECS.get(name)
        build = spec.build if spec else _plain_input(kind)
        if build is None:
            return
        widget = build()
        if spec and spec.tooltip:
            widget.setToolTip(spec.tooltip)
        self.form.add(name, widget)
        self.inputs[name] = widget
        label = spec.label if spec else name.replace("_", " ").capitalize()
        shown: QWidget = widget
        if name == "reference_audio":
            shown = self._with_browse(widget)  # type: ignore[arg-type]
        self._row(label, shown)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(edit, 1)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose an audio clip")
        browse.clicked.connect(self._browse_reference)
        layout.addWidget(browse)
        return row

    def _browse_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Voice to clone", "", "Audio (*.wav *.flac *.ogg *.mp3)")
        if path:
            self.form.set_value("reference_audio", path)

    def set_voice_names(self, names: list[str]) -> None:
        """Offer eSpeak NG voices and languages as completions."""
        for name in ("voice", "language"):
            edit = self.inputs.get(name)
            if isinstance(edit, QLineEdit):
                completer = QCompleter(QStringListModel(names, edit), edit)
                completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
                completer.setFilterMode(Qt.MatchFlag.MatchContains)
                edit.setCompleter(completer)

    def _on_style_changed(self, _index: int = 0) -> None:
        style = self.form.value("style")
        if self.parts is not None and style in _R.STYLE_TRACKS:
            self.parts.set_parts(_R.STYLE_TRACKS[style])

    # --- values -----------------------------------------------------------------------
    def request_values(self) -> dict[str, Any]:
        values = self.form.request_values()
        if self.parts is not None:
            values["muted_tracks"] = list(self.parts.muted())
            values["solo_tracks"] = list(self.parts.solo())
        return values

    def set_values(self, values: dict[str, Any]) -> None:
        self.form.set_values(values)
        if self.parts is not None:
            self.parts.set_value(values.get("muted_tracks") or (), values.get("solo_tracks") or ())
