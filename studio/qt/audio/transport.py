"""The transport bar under the tracks: Play/Pause, Stop, Loop, Follow, the
time readout and the output device, driving a
:class:`~studio.core.playback.Player`.

The player mixes the tracks in PortAudio's own thread; this bar only hands
it new sources when the mix changes (a track added, an edit, a gain, mute
or solo) and reads its position on a ~30 Hz timer to move the playhead.
Space plays and pauses, Shift+Space stops (back to where playback began),
while the focus is anywhere in the Audio workspace's output area.

Output devices are listed in the background (PortAudio scans the sound
system when it starts); the chosen device is remembered by name in the
settings (``audio.output_device``, "" for the system default). With no
device at all, the bar says that playback is unavailable and the rest of
the workspace works as before.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from studio.core.audio_mix import mix_sources
from studio.core.jobs import StudioError
from studio.core.playback import OutputDevice, PlaybackUnavailable, Player, output_devices
from studio.core.settings import Settings
from studio.qt import theme
from studio.qt.audio.time_ruler import format_time
from studio.qt.audio.tracks_view import TracksView
from studio.qt.tasks import Tasks

PLAYHEAD_INTERVAL_MS = 33
DEVICE_SETTING = "audio.output_device"
NO_DEVICE_TEXT = "Playback unavailable: no audio output device was found"


class Transport(QWidget):
    message = Signal(str)
    state_changed = Signal(str)  # "playing", "paused", "stopped"

    def __init__(self, view: TracksView, settings: Settings, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transport")
        self.view = view
        self.settings = settings
        self.tasks = tasks
        self.player = Player(device=str(settings.get(DEVICE_SETTING) or ""))
        self.devices: list[OutputDevice] | None = None  # None until listed
        self.available = True  # until a scan or a failed Play says otherwise
        self._play_icon = "play"
        self._build_ui()
        self._timer = QTimer(self)
        self._timer.setInterval(PLAYHEAD_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        view.mix_changed.connect(self.update_sources)
        view.seek_requested.connect(self.seek)
        view.timeline.selection_changed.connect(self._update_loop)
        view.timeline.cursor_changed.connect(self._update_time)
        self.update_sources()
        self._update_buttons()

    # --- layout ------------------------------------------------------------------
    def _build_ui(self) -> None:
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(4)
        self.play_action = self._action("Play", "play", "Space", self.toggle, "Play or pause (Space)")
        self.stop_action = self._action("Stop", "stop", "Shift+Space", self.stop,
                                        "Stop and return to where playback started (Shift+Space)")
        self.loop_action = self._action("Loop", "", "L", self._update_loop, "Loop the selection while playing (L)")
        self.loop_action.setCheckable(True)
        self.follow_action = self._action("Follow", "", "", self._on_follow,
                                          "Scroll to keep the playhead on screen while playing")
        self.follow_action.setCheckable(True)
        self.follow_action.setChecked(True)
        for action in (self.play_action, self.stop_action, self.loop_action, self.follow_action):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            layout.addWidget(button)
        self.time_label = QLabel()
        self.time_label.setObjectName("transportTime")
        self.time_label.setMinimumWidth(150)
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.time_label)
        self.status_label = QLabel()
        self.status_label.setObjectName("hint")
        layout.addWidget(self.status_label, 1)
        device_label = QLabel("Output")
        device_label.setProperty("dim", True)
        layout.addWidget(device_label)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("outputDevice")
        self.device_combo.setMinimumContentsLength(16)
        self.device_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setToolTip("Where playback is heard (remembered in the settings)")
        self.device_combo.addItem("Looking for devices…", None)
        self.device_combo.setEnabled(False)
        self.device_combo.activated.connect(self._on_device_chosen)
        layout.addWidget(self.device_combo)

    def _action(self, text: str, icon_name: str, key: str, slot, tip: str) -> QAction:
        action = QAction(text, self)
        if icon_name:
            theme.set_icon(action, icon_name)
        if key:
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    def shortcut_actions(self) -> list[QAction]:
        """The actions whose keys should work across the whole output area."""
        return [self.play_action, self.stop_action, self.loop_action]

    # --- devices -----------------------------------------------------------------------
    def scan_devices(self, refresh: bool = False) -> None:
        """List the output devices in the background."""
        if self.tasks.run(output_devices, refresh, finished=self._on_devices) is None:
            self._on_devices([])

    def _on_devices(self, devices: list[OutputDevice]) -> None:
        self.devices = devices
        self.available = bool(devices)
        self.device_combo.clear()
        if not devices:
            self.device_combo.addItem("No output device", None)
            self.device_combo.setEnabled(False)
            self.status_label.setText(NO_DEVICE_TEXT)
        else:
            self.device_combo.addItem("System default", "")
            for device in devices:
                self.device_combo.addItem(device.name, device.name)
            wanted = self.player.device
            index = self.device_combo.findData(wanted)
            if index < 0 and wanted:  # remembered but not connected now: keep it selectable
                self.device_combo.addItem(f"{wanted} (not connected)", wanted)
                index = self.device_combo.count() - 1
            self.device_combo.setCurrentIndex(max(index, 0))
            self.device_combo.setEnabled(True)
            if self.status_label.text() == NO_DEVICE_TEXT:
                self.status_label.clear()
        self._update_buttons()

    def _on_device_chosen(self, index: int) -> None:
        name = self.device_combo.itemData(index)
        if name is None:
            return
        self.set_device(str(name))

    def use_device(self, name: str) -> None:
        """Switch to ``name`` chosen elsewhere (the Settings dialog), and show it here."""
        if name != self.player.device:
            self.set_device(name)
            if self.devices:
                self._on_devices(self.devices)

    def set_device(self, name: str) -> None:
        was_playing = self.player.state == "playing"
        self.player.close()  # the stream belongs to the old device
        self.player.device = name
        self.settings.set(DEVICE_SETTING, name)
        if was_playing:
            self.play()
        self._update_buttons()

    # --- transport -------------------------------------------------------------------------
    def update_sources(self) -> None:
        session = self.view.session
        if session.sample_rate:
            self.player.set_sources(mix_sources(session.audible()), session.sample_rate)
        self._update_loop()
        self._update_time()
        self._update_buttons()

    def toggle(self) -> None:
        if self.player.state == "playing":
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if not self.view.session.tracks:
            self.message.emit("Nothing to play yet: generate or open a clip")
            return
        if self.player.state == "stopped":
            self.player.seek(self.view.timeline.cursor)
        try:
            self.player.play()
        except PlaybackUnavailable as exc:
            self._unavailable(str(exc))
            return
        except StudioError as exc:
            self.message.emit(str(exc))
            return
        if self.player.device_note:
            self.status_label.setText(self.player.device_note)
        self._timer.start()
        self._tick()
        self.state_changed.emit("playing")
        self._update_buttons()

    def pause(self) -> None:
        self.player.pause()
        self._timer.stop()
        self.state_changed.emit("paused")
        self._update_buttons()

    def stop(self) -> None:
        self.player.stop()
        self._timer.stop()
        self.view.timeline.set_playhead(None)
        self.view.timeline.set_cursor(self.player.position)
        self.state_changed.emit("stopped")
        self._update_buttons()

    def seek(self, frame: int) -> None:
        self.player.seek(frame)
        if self.player.state == "playing":
            self.view.timeline.set_playhead(frame)
        self._update_time()

    def close_player(self) -> None:
        self._timer.stop()
        self.player.close()

    def _tick(self) -> None:
        position = self.player.poll()
        timeline = self.view.timeline
        if self.player.state == "playing":
            timeline.set_playhead(position)
        else:  # reached the end
            self._timer.stop()
            timeline.set_playhead(None)
            self.state_changed.emit("stopped")
            self._update_buttons()
        self._update_time()

    def _unavailable(self, text: str) -> None:
        self.available = False
        self.status_label.setText(text[:1].upper() + text[1:])
        self.message.emit(text)
        self._update_buttons()

    def _update_loop(self) -> None:
        selection = self.view.timeline.selection
        self.player.set_loop(selection if self.loop_action.isChecked() and selection else None)

    def _on_follow(self, on: bool) -> None:
        self.view.timeline.follow = on

    def _update_time(self) -> None:
        timeline = self.view.timeline
        rate = timeline.sample_rate or 1
        where = timeline.playhead if timeline.playhead is not None else timeline.cursor
        step = 0.001
        self.time_label.setText(f"{format_time(where / rate, step)} / {format_time(timeline.frames / rate, step)}")

    def _update_buttons(self) -> None:
        playing = self.player.state == "playing"
        has_audio = bool(self.view.session.tracks)
        self.play_action.setEnabled(self.available and has_audio)
        icon = "pause" if playing else "play"
        if icon != self._play_icon:  # set_icon registers for re-tinting: only on a change
            self._play_icon = icon
            self.play_action.setText("Pause" if playing else "Play")
            theme.set_icon(self.play_action, icon)
        self.stop_action.setEnabled(self.available and self.player.state != "stopped")
