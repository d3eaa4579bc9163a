"""The Text workspace: chat and writing with a local language model.

On the left, the task preset (a system prompt and sampling defaults), the
model, the system prompt, the sampling controls and the seed; on the right,
the conversation: a title, the transcript (answers stream into it as they
are written, with time to first token and tokens per second under each),
and the composer with Send and Stop.

Each Send is one job of the text engine carrying the conversation so far;
the finished reply (a conversation document in the library) supplies the
answer with its settings and speed. While a reply is being written Send is
off: the next question needs the answer in its history. A reply that fails,
or is cancelled before its first word, gives its question back to the
composer and restores any turns an edit had replaced, so nothing typed is
lost. Stopping keeps the partial answer (the engine returns it).

Turn actions: copy, edit a past question (Send then replaces it and what
followed), regenerate an answer, delete a turn, and for answers written
with a preset that feeds another workspace (the image-prompt preset) "Send
to Image", which puts the answer in the Image workspace's prompt.

The open conversation is kept in ``<data>/text/open-conversation.json`` after
every change and reopened at start; Save puts it in the library (one saved
copy per conversation, the latest), where it reopens exactly; Export writes
Markdown or JSON carrying the recipe and the AI-generated mark."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import provenance
from studio.core.atomic import atomic_write_text
from studio.core.credentials import write_signed
from studio.core.jobs import Artifact, Job, Request, StudioError
from studio.core.library import LibraryItem, make_recipe
from studio.core.models.cards import ModelCard
from studio.engines.text.conversation import Conversation, Turn, title_from
from studio.engines.text.presets import Preset, PresetStore, clean_image_prompt, format_stop, parse_stop
from studio.engines.text.requests import ConversationRequest, TextRequest
from studio.engines.text.streaming import StreamedText
from studio.qt import theme
from studio.qt.shared.workspace import Workspace, WorkspaceContext
from studio.qt.text.chat_composer import ChatComposer
from studio.qt.text.chat_presets import PresetBar
from studio.qt.text.chat_view import ChatView
from studio.qt.text.personalise import add_text_personalise_button
from studio.qt.text.write_view import add_write_view

log = logging.getLogger(__name__)

OPEN_CONVERSATION = "open-conversation.json"
STARTER_MODEL = "smollm2-135m-instruct"
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens")


@dataclass
class PendingReply:
    user_index: int  # where the question sits in the conversation
    replaced: list[Turn] = field(default_factory=list)  # turns an edit or regenerate took out


class TextWorkspace(Workspace):
    name = "text"
    title = "Text"
    modality = "text"
    icon_name = "text"

    def __init__(self, context: WorkspaceContext, parent: QWidget | None = None) -> None:
        self.presets = PresetStore(context.services.paths.config)
        self.conversation = Conversation()
        self._pending: dict[int, PendingReply] = {}
        self._editing: int | None = None
        self._resend: tuple[str, int] | None = None  # question and where it sits, for Regenerate
        self._saved_items: dict[str, int] = {}  # conversation id -> library item of its saved copy
        self.export_warning = ""  # why the last exported file carries no Content Credentials, if it does not
        super().__init__(context, parent)
        # Send and Stop live beside the composer; the form's buttons stay as the
        # shared state they mirror (and what the window's actions follow).
        self.generate_button.hide()
        self.cancel_button.hide()
        self.generation_changed.connect(self._sync_buttons)
        self.runner.job_failed.connect(self._on_reply_failed)
        self.runner.job_cancelled.connect(self._on_reply_cancelled)
        self.runner.job_progress.connect(self._on_reply_progress)
        self._restore_open_conversation()
        self._sync_buttons()
        self.personalise_button = add_text_personalise_button(self)  # text LoRA training

    # --- form ---------------------------------------------------------------------------
    def build_form(self) -> None:
        self.preset_bar = PresetBar(self.presets, self.preset_values)
        self.form.add("preset", self.preset_bar.combo)
        self.add_row("Task", self.preset_bar)
        self.preset_bar.preset_chosen.connect(self.apply_preset)
        self.add_model_picker()
        self.system_edit = QPlainTextEdit()
        self.system_edit.setPlaceholderText("How the assistant should behave (optional)")
        self.system_edit.setTabChangesFocus(True)
        self.system_edit.setFixedHeight(104)
        self.form.add("system", self.system_edit)
        self.add_row("System prompt", self.system_edit)
        section = QLabel("SAMPLING")
        section.setObjectName("sectionTitle")
        self.form_layout.addWidget(section)
        self.temperature = self._spin(0.0, 2.0, 0.05, 0.7)
        self.temperature.setToolTip("Lower: focused and repeatable; higher: more varied. 0: always the likeliest word")
        self.top_p = self._spin(0.01, 1.0, 0.05, 0.9)
        self.top_p.setToolTip("Sample only from the likeliest words that together reach this probability")
        self._pair(("temperature", "Temperature", self.temperature), ("top_p", "Top-p", self.top_p))
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1000)
        self.top_k.setValue(40)
        self.top_k.setSpecialValueText("Off")
        self.top_k.setToolTip("Sample only from this many likeliest words")
        self.repetition_penalty = self._spin(0.5, 2.0, 0.05, 1.1)
        self.repetition_penalty.setToolTip("Above 1 discourages repeating what was already written")
        self._pair(("top_k", "Top-k", self.top_k), ("repetition_penalty", "Repetition", self.repetition_penalty))
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 32768)
        self.max_tokens.setValue(256)
        self.max_tokens.setToolTip("Upper bound on the length of each answer")
        self.context_length = QSpinBox()
        self.context_length.setRange(0, 131072)
        self.context_length.setSingleStep(512)
        self.context_length.setSpecialValueText("Model's own")
        self.context_length.setToolTip("Tokens of conversation the model sees; older turns are left out beyond it")
        self._pair(("max_new_tokens", "Max new tokens", self.max_tokens),
                   ("context_length", "Context", self.context_length))
        self.stop_edit = QLineEdit()
        self.stop_edit.setPlaceholderText(r"e.g. \n\n | THE END")
        self.add_field("stop", "Stop strings", self.stop_edit, in_request=False,
                       tooltip=r"The answer ends before any of these; separate with |, write \n for a line break")
        self.add_seed()

    def _pair(self, *fields: tuple[str, str, QWidget]) -> None:
        """Inputs side by side, each with its label above (the panel is narrow)."""
        line = QHBoxLayout()
        line.setSpacing(8)
        for name, label, widget in fields:
            self.form.add(name, widget)
            row = QVBoxLayout()
            row.setSpacing(4)
            title = QLabel(label)
            title.setObjectName("fieldLabel")
            title.setBuddy(widget)
            row.addWidget(title)
            row.addWidget(widget)
            line.addLayout(row, 1)
        self.form_layout.addLayout(line)

    @staticmethod
    def _spin(low: float, high: float, step: float, value: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setDecimals(2)
        spin.setValue(value)
        return spin

    def preset_values(self) -> dict[str, Any]:
        """The form's values a preset holds (what "save as preset" keeps)."""
        values = {key: self.form.value(key) for key in (*SAMPLING_KEYS, "system")}
        values["stop"] = parse_stop(self.stop_edit.text())
        return values

    def apply_preset(self, preset: Preset) -> None:
        self.form.set_values({"system": preset.system, **{k: getattr(preset, k) for k in SAMPLING_KEYS}})
        self.stop_edit.setText(format_stop(preset.stop))
        self.composer.set_placeholder(preset.placeholder)
        self.save_form()

    # --- output -----------------------------------------------------------------------------
    def build_output(self) -> QWidget:
        area = QWidget()
        column = QVBoxLayout(area)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)

        header = QHBoxLayout()
        header.setContentsMargins(16, 10, 16, 8)
        header.setSpacing(6)
        self.title_edit = QLineEdit()
        self.title_edit.setObjectName("chatTitle")
        self.title_edit.setPlaceholderText("Untitled conversation")
        self.title_edit.editingFinished.connect(self._on_title_edited)
        self.new_button = self._button("New chat", "add", self.new_conversation, "Start an empty conversation")
        self.save_button = self._button("Save", "library", self.save_conversation,
                                        "Save this conversation in the Library")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setToolTip("Export the conversation as Markdown or JSON")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        theme.set_icon(self.export_button, "down")
        self.export_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        menu = QMenu(self.export_button)
        menu.addAction("Markdown…", self._ask_export_markdown)
        menu.addAction("JSON…", self._ask_export_json)
        self.export_button.setMenu(menu)
        header.addWidget(self.title_edit, 1)
        for widget in (self.new_button, self.save_button, self.export_button):
            header.addWidget(widget)
        column.addLayout(header)

        self.chat = ChatView()
        self.chat.action_triggered.connect(self._on_turn_action)
        column.addWidget(self.chat, 1)

        self.edit_banner = QLabel()
        self.edit_banner.setObjectName("notice")
        self.edit_banner.setTextFormat(Qt.TextFormat.RichText)
        self.edit_banner.linkActivated.connect(self._cancel_edit)
        self.edit_banner.setVisible(False)
        column.addWidget(self.edit_banner)

        self.composer = ChatComposer()
        self.prompt_edit = self.composer.edit
        self.send_button, self.stop_button = self.composer.send_button, self.composer.stop_button
        self.form.add("prompt", self.prompt_edit)
        self.composer.send_requested.connect(self.generate)
        self.composer.stop_requested.connect(self.cancel)
        self.composer.first_focus.connect(self._warm_up)
        column.addWidget(self.composer)
        return add_write_view(self, area)  # the Write view beside Chat (studio.qt.text.write_view)

    def _button(self, text: str, icon_name: str, slot, tooltip: str, role: str = "") -> QPushButton:
        button = QPushButton(text)
        theme.set_icon(button, icon_name, role)
        button.setToolTip(tooltip)
        button.clicked.connect(slot)
        return button

    def _warm_up(self) -> None:
        """Import the engine's libraries in the background once the person
        starts writing, so the first answer does not wait for them."""
        if self.engines:
            from studio.engines.text.engine import warm_up

            self.ctx.tasks.run(warm_up)

    def set_model_cards(self, cards: list[ModelCard]) -> None:
        """New discovery results; with no model chosen yet, choose the starter
        (or the first usable text model) so the workspace works out of the box."""
        super().set_model_cards(cards)
        if not self.model_picker.value():
            usable = [c for c in cards if c.modality == "text" and c.usable]
            starter = next((c for c in usable if c.id == STARTER_MODEL), usable[0] if usable else None)
            if starter is not None:
                self.model_picker.set_value(starter.id)
                self.save_form()

    # --- sending -------------------------------------------------------------------------------
    @property
    def can_generate(self) -> bool:
        return bool(self.engines) and not self._pending

    def _history_end(self) -> int:
        if self._resend is not None:
            return self._resend[1]
        if self._editing is not None:
            return self._editing
        return len(self.conversation.turns)

    def build_request(self) -> TextRequest:
        if self.current_engine() is None:
            raise StudioError(f"{self.title} generation is not available yet")
        values = self.form.request_values()
        prompt = self._resend[0] if self._resend is not None else str(values.get("prompt", ""))
        end = self._history_end()
        first_prompt = next((t.content for t in self.conversation.turns[:end] if t.role == "user"), prompt)
        names = {f.name for f in dataclasses.fields(TextRequest)}
        data = {key: value for key, value in values.items() if key in names}
        data.update(prompt=prompt, stop=parse_stop(self.stop_edit.text()),
                    history=self.conversation.history_before(end), conversation_id=self.conversation.id,
                    title=self.title_edit.text().strip() or self.conversation.title or title_from(first_prompt),
                    preset=str(values.get("preset") or ""))
        request = TextRequest(**data)
        request.validate()
        if not request.model_id:
            raise StudioError("choose a text model in the Model list first")
        return request

    def generate(self) -> Job | None:
        end = self._history_end()
        job = super().generate()
        if job is None:
            return None
        request: TextRequest = job.request  # type: ignore[assignment]
        replaced = self.conversation.truncate(end)
        self.conversation.turns.append(Turn("user", request.prompt))
        self.conversation.title = request.title
        self.conversation.model_id, self.conversation.system = request.model_id, request.system
        self.conversation.preset = request.preset
        self._pending[job.id] = PendingReply(end, replaced)
        if self._resend is None:
            self.prompt_edit.clear()
        self._set_editing(None)
        self._show_conversation()
        self.chat.begin_answer(end + 1)
        self._store_open_conversation()
        self._update_buttons()
        return job

    def regenerate(self, index: int) -> Job | None:
        """Write answer ``index`` again (with the current settings)."""
        user_index = index - 1
        while user_index >= 0 and self.conversation.turns[user_index].role != "user":
            user_index -= 1
        if user_index < 0 or self._pending:
            return None
        self._resend = (self.conversation.turns[user_index].content, user_index)
        try:
            return self.generate()
        finally:
            self._resend = None

    def show_preview(self, payload: Any) -> None:
        if isinstance(payload, StreamedText) and not payload.closing:
            self.chat.show_streaming(payload.full, payload.tokens, payload.elapsed_s)

    def show_result(self, item: LibraryItem) -> None:
        """A finished reply: its answer (with settings and speed) joins the conversation."""
        try:
            reply = Conversation.from_json(item.path.read_bytes())
        except (OSError, StudioError) as exc:
            self._set_error(f"could not read the reply {item.path.name}: {exc}")
            return
        if getattr(item.request, "conversation_id", "") != self.conversation.id or not self._pending:
            self.job_status.setText(f"A reply to another conversation was saved in the Library: {item.path.name}")
            return
        pending = self._pending.pop(next(iter(self._pending)))
        self.chat.drop_streaming()
        del self.conversation.turns[pending.user_index + 1:]
        self.conversation.turns.append(reply.turns[-1])
        self._show_conversation()
        self._store_open_conversation()
        self._update_buttons()

    def _on_reply_progress(self, job_id: int, done: int, total: int, message: str) -> None:
        # The engine reports progress only while it prepares the model (the
        # first use of a GGUF converts it): say so where the answer will appear.
        if job_id in self._pending and message:
            percent = f" ({100 * done // total}%)" if total else ""
            self.chat.show_status(f"{message}{percent}")

    def _on_reply_failed(self, job_id: int, _message: str, _details: str) -> None:
        self._give_back(job_id)

    def _on_reply_cancelled(self, job_id: int) -> None:
        self._give_back(job_id)

    def _give_back(self, job_id: int) -> None:
        """A reply that wrote nothing: its question returns to the composer and
        whatever an edit replaced comes back."""
        pending = self._pending.pop(job_id, None)
        if pending is None:
            return
        self.chat.drop_streaming()
        question = self.conversation.turns[pending.user_index].content
        del self.conversation.turns[pending.user_index:]
        self.conversation.turns.extend(pending.replaced)
        if not self.prompt_edit.toPlainText().strip() and not pending.replaced:
            self.prompt_edit.setPlainText(question)
        self._show_conversation()
        self._store_open_conversation()
        self._update_buttons()

    # --- turn actions -------------------------------------------------------------------------
    def _on_turn_action(self, action: str, index: int) -> None:
        if action == "edit":
            self.edit_turn(index)
        elif action == "regenerate":
            self.regenerate(index)
        elif action == "delete":
            self.delete_turn(index)
        elif action == "send":
            self.send_to_workspace(index)
        elif action == "copy":
            self.job_status.setText("Copied to the clipboard")

    def edit_turn(self, index: int) -> None:
        if self._pending or self.conversation.turns[index].role != "user":
            return
        self.prompt_edit.setPlainText(self.conversation.turns[index].content)
        self._set_editing(index)
        self.prompt_edit.setFocus()

    def _set_editing(self, index: int | None) -> None:
        self._editing = index
        self.edit_banner.setVisible(index is not None)
        if index is not None:
            later = len(self.conversation.turns) - index - 1
            self.edit_banner.setText(f"Editing message {index + 1}: Send replaces it"
                                     + (f" and the {later} turn{'s' if later != 1 else ''} after it" if later else "")
                                     + '. <a href="cancel">Cancel editing</a>')

    def _cancel_edit(self, _link: str = "") -> None:
        self._set_editing(None)
        self.prompt_edit.clear()

    def delete_turn(self, index: int) -> None:
        if self._pending or not 0 <= index < len(self.conversation.turns):
            return
        del self.conversation.turns[index]
        if self._editing is not None:
            self._set_editing(None)
        self._show_conversation()
        self._store_open_conversation()

    def send_to_workspace(self, index: int) -> Workspace | None:
        """Put answer ``index`` into the prompt of the workspace its preset feeds."""
        target = self._send_targets().get(index)
        show = getattr(self.window(), "show_workspace", None)
        if not target or show is None:
            return None
        workspace = show(target)
        workspace.form.set_value("prompt", clean_image_prompt(self.conversation.turns[index].content))
        workspace.save_form()
        return workspace

    def _send_targets(self) -> dict[int, str]:
        targets = {}
        for index, turn in enumerate(self.conversation.turns):
            preset_id = turn.settings.get("preset", "")
            if turn.role == "assistant" and preset_id:
                try:
                    target = self.presets.get(preset_id).send_to
                except StudioError:
                    continue
                if target:
                    targets[index] = target
        return targets

    # --- conversations ---------------------------------------------------------------------------
    def _show_conversation(self) -> None:
        self.chat.set_conversation(self.conversation, self._send_targets())
        if not self.title_edit.hasFocus():
            self.title_edit.setText(self.conversation.title)
        self._sync_buttons()

    def _on_title_edited(self) -> None:
        title = self.title_edit.text().strip()
        if title != self.conversation.title:
            self.conversation.title = title
            self._store_open_conversation()

    def new_conversation(self) -> None:
        if self._pending:
            return
        self.conversation = Conversation()
        self.title_edit.clear()
        self._set_editing(None)
        self._show_conversation()
        self._store_open_conversation()

    def open_conversation(self, conversation: Conversation, saved_item: int | None = None) -> None:
        """Make ``conversation`` the open one, with its model, system prompt and
        the settings of its last answer in the form."""
        if self._pending:
            raise StudioError("stop the answer being written before opening another conversation")
        self.conversation = conversation
        if saved_item is not None:
            self._saved_items[conversation.id] = saved_item
        values: dict[str, Any] = {"model_id": conversation.model_id, "system": conversation.system}
        last = next((t for t in reversed(conversation.turns) if t.role == "assistant" and t.settings), None)
        if last is not None:
            values.update({k: last.settings[k] for k in (*SAMPLING_KEYS, "context_length") if k in last.settings})
            self.stop_edit.setText(format_stop(last.settings.get("stop", ())))
        if conversation.preset:
            values["preset"] = conversation.preset
        self.form.set_values(values)
        self.save_form()
        self.title_edit.setText(conversation.title)
        self._set_editing(None)
        self._show_conversation()
        self._store_open_conversation()

    def show_item(self, item: LibraryItem) -> None:
        """Open a conversation (or a reply, which holds the conversation up to it) from the Library."""
        try:
            conversation = Conversation.from_json(item.path.read_bytes())
            self.open_conversation(conversation, item.id if item.kind == ConversationRequest.kind else None)
        except (OSError, StudioError) as exc:
            self._set_error(f"could not open {item.path.name}: {exc}")

    def apply_request(self, request: Request) -> None:
        if isinstance(request, ConversationRequest):
            self.form.set_values({"model_id": request.model_id, "system": request.system})
            self.save_form()
            return
        super().apply_request(request)
        self.stop_edit.setText(format_stop(getattr(request, "stop", ())))
        self.save_form()

    def _conversation_request(self) -> ConversationRequest:
        conversation = self.conversation
        return ConversationRequest(prompt=conversation.display_title(), model_id=conversation.model_id,
                                   conversation_id=conversation.id, system=conversation.system,
                                   turns=len(conversation.turns))

    def save_conversation(self) -> LibraryItem | None:
        """Store the conversation in the library, replacing its earlier saved copy."""
        if not self.conversation.turns:
            self._set_error("there is nothing to save yet")
            return None
        self._on_title_edited()
        library = self.ctx.services.library
        item = library.add(self._conversation_request(), Artifact(self.conversation.to_json(), ".json"))
        previous = self._saved_items.get(self.conversation.id)
        if previous is not None:
            try:
                library.delete(previous)
            except StudioError:
                pass  # the person deleted it from the Library already
        self._saved_items[self.conversation.id] = item.id
        self._store_open_conversation()
        panel = getattr(self.window(), "library_panel", None)
        if panel is not None:
            panel.reload()
        self.job_status.setText(f"Saved “{self.conversation.display_title()}” in the Library")
        return item

    def export_markdown(self, path: Path) -> Path:
        recipe = make_recipe(self._conversation_request(), Artifact(b"", ".md"))
        data = provenance.embed(self.conversation.to_markdown().encode("utf-8"), ".md", recipe)
        return self._write_export(Path(path), data, recipe)

    def export_json(self, path: Path) -> Path:
        recipe = make_recipe(self._conversation_request(), Artifact(b"", ".json"))
        return self._write_export(Path(path), provenance.embed(self.conversation.to_json(), ".json", recipe), recipe)

    def _write_export(self, path: Path, data: bytes, recipe: dict) -> Path:
        """The file with its recipe and a ``.c2pa`` Content Credentials sidecar; a
        signing problem keeps the file and is said in the status line."""
        self.export_warning = write_signed(path, data, recipe)
        return path

    def _exported(self, path: Path) -> None:
        warning = self.export_warning
        self.job_status.setText(f"Exported to {path}" + (f" ({warning})" if warning else ""))

    def _ask_export(self, suffix: str, name_filter: str) -> Path | None:
        default = Path.home() / (title_from(self.conversation.display_title(), 40).rstrip("…") + suffix)
        path, _ = QFileDialog.getSaveFileName(self, "Export conversation", str(default), name_filter)
        return Path(path) if path else None

    def _ask_export_markdown(self) -> None:
        path = self._ask_export(".md", "Markdown (*.md)")
        if path is not None:
            self._exported(self.export_markdown(path))

    def _ask_export_json(self) -> None:
        path = self._ask_export(".json", "JSON (*.json)")
        if path is not None:
            self._exported(self.export_json(path))

    # --- the open conversation across sessions -----------------------------------------------------
    def _state_path(self) -> Path:
        return self.ctx.services.paths.data / "text" / OPEN_CONVERSATION

    def _store_open_conversation(self) -> None:
        state = {"conversation": self.conversation.to_document(), "saved_items": self._saved_items}
        try:
            atomic_write_text(self._state_path(), json.dumps(state, ensure_ascii=False))
        except OSError as exc:
            log.warning("could not keep the open conversation: %s", exc)

    def _restore_open_conversation(self) -> None:
        path = self._state_path()
        if path.exists():
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
                self.conversation = Conversation.from_document(state["conversation"])
                self._saved_items = {str(k): int(v) for k, v in state.get("saved_items", {}).items()}
            except (OSError, ValueError, KeyError, TypeError, StudioError) as exc:
                log.warning("the open conversation could not be restored (%s); starting a new one", exc)
        self.title_edit.setText(self.conversation.title)
        self._show_conversation()

    def _sync_buttons(self) -> None:
        self.send_button.setEnabled(self.generate_button.isEnabled())
        self.stop_button.setEnabled(self.cancel_button.isEnabled())
        self.new_button.setEnabled(not self._pending)
        has_turns = bool(self.conversation.turns)
        self.save_button.setEnabled(has_turns)
        self.export_button.setEnabled(has_turns)
