"""The workspace tabs and their lazy construction.

Each tab starts as an empty holder; its workspace (module import, form,
output widgets) is built the first time it is needed: when the tab is
shown, or when something asks for it (reuse settings, a resumed job). Only
the tab on screen is built at start-up, which keeps the window's first
appearance fast however many workspaces there are.

Adding a workspace is one line in ``WORKSPACES``."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from PySide6.QtWidgets import QVBoxLayout, QWidget

if TYPE_CHECKING:
    from studio.qt.shared.workspace import Workspace, WorkspaceContext


@dataclass(frozen=True)
class WorkspaceSpec:
    name: str  # settings key: forms.<name>.*
    title: str
    modality: str
    icon_name: str
    target: str  # "module:Class"

    def load(self) -> type[Workspace]:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


WORKSPACES: tuple[WorkspaceSpec, ...] = (
    WorkspaceSpec("text", "Text", "text", "text", "studio.qt.text.workspace:TextWorkspace"),
    WorkspaceSpec("image", "Image", "image", "image", "studio.qt.image.workspace:ImageWorkspace"),
    WorkspaceSpec("audio", "Audio", "audio", "audio", "studio.qt.audio.workspace:AudioWorkspace"),
    WorkspaceSpec("video", "Video", "video", "video", "studio.qt.video.workspace:VideoWorkspace"),
)


class WorkspaceTab(QWidget):
    """A tab page that holds one workspace, built on first use."""

    def __init__(self, spec: WorkspaceSpec, context: WorkspaceContext,
                 on_built: Callable[[Workspace], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"tab-{spec.name}")
        self.spec = spec
        self.context = context
        self.on_built = on_built
        self.workspace: Workspace | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def build(self) -> Workspace:
        if self.workspace is None:
            self.workspace = self.spec.load()(self.context)
            self._layout.addWidget(self.workspace)
            if self.isVisible():
                self.workspace.show()  # now, not by the queued call Qt makes for a visible parent
            self.on_built(self.workspace)
        return self.workspace


class Workspaces(Mapping):
    """Workspaces by name; looking one up builds it. ``built()`` lists only
    those already built (what saving and model updates need to touch)."""

    def __init__(self, tabs: list[WorkspaceTab]) -> None:
        self._tabs = {tab.spec.name: tab for tab in tabs}

    def __getitem__(self, name: str) -> Workspace:
        return self._tabs[name].build()

    def __iter__(self) -> Iterator[str]:
        return iter(self._tabs)

    def __len__(self) -> int:
        return len(self._tabs)

    def tab(self, name: str) -> WorkspaceTab:
        return self._tabs[name]

    def specs(self) -> list[WorkspaceSpec]:
        return [tab.spec for tab in self._tabs.values()]

    def built(self) -> list[Workspace]:
        return [tab.workspace for tab in self._tabs.values() if tab.workspace is not None]

    def name_for(self, modality: str) -> str | None:
        for name, tab in self._tabs.items():
            if tab.spec.modality == modality:
                return name
        return None
