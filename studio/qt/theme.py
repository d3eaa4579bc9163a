"""The look of the studio: the dark (default) and light themes, and the icons.

A theme is three things applied together: the Fusion style (the same on
every platform, so spacing in the QSS means the same everywhere), a palette
(for what style sheets do not reach: disabled text, tooltips, highlights)
and a style sheet from ``resources/theme/<name>.qss``.

Icons are our own single-colour SVGs drawn with ``currentColor``; they are
tinted for the current theme when rendered. Widgets that show one register
it with :func:`set_icon`, so switching the theme re-tints every icon in place
instead of each widget having to listen for the change.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

from studio.core.atomic import temp_path
from studio.core.paths import RESOURCES

ICONS_DIR = RESOURCES / "icons"
THEME_DIR = RESOURCES / "theme"
ICON_SIZES = (16, 20, 24, 32, 48, 64)


@dataclass(frozen=True)
class Theme:
    name: str
    title: str
    window: str
    panel: str
    base: str
    alternate: str
    border: str
    text: str
    dim: str
    accent: str
    on_accent: str
    danger: str
    success: str
    warning: str
    canvas: str  # behind images on the canvas and in thumbnails


THEMES: dict[str, Theme] = {
    "dark": Theme(
        name="dark", title="Dark", window="#1d1f23", panel="#23262b", base="#16181b", alternate="#1f2226",
        border="#353941", text="#e4e6ea", dim="#9aa1ab", accent="#6c7bff", on_accent="#ffffff",
        danger="#ef6461", success="#4cc38a", warning="#e8b04a", canvas="#121316",
    ),
    "light": Theme(
        name="light", title="Light", window="#f3f4f6", panel="#eaecef", base="#ffffff", alternate="#f6f7f9",
        border="#cfd4db", text="#1e2126", dim="#5d6570", accent="#4f5fe8", on_accent="#ffffff",
        danger="#d43f3a", success="#1f9d62", warning="#b7791f", canvas="#dfe2e6",
    ),
}
DEFAULT_THEME = "dark"

_current: Theme = THEMES[DEFAULT_THEME]
# (weak reference to a widget or action, icon name, role): re-tinted on theme change.
_icon_users: list[tuple[weakref.ref, str, str]] = []


def current() -> Theme:
    return _current


def theme_names() -> list[str]:
    return list(THEMES)


def palette_for(theme: Theme) -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alternate,
        QPalette.ColorRole.ToolTipBase: theme.panel,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.dim,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.panel,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.BrightText: theme.danger,
        QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: theme.on_accent,
        QPalette.ColorRole.Link: theme.accent,
        QPalette.ColorRole.Mid: theme.border,
        QPalette.ColorRole.Dark: theme.canvas,
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(theme.dim))
    return palette


def style_sheet(name: str) -> str:
    return (THEME_DIR / f"{name}.qss").read_text(encoding="utf-8")


def apply_theme(app: QApplication, name: str) -> Theme:
    """Make ``name`` the look of the whole application (unknown names fall back to dark)."""
    global _current
    theme = THEMES.get(name, THEMES[DEFAULT_THEME])
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(palette_for(theme))
    app.setStyleSheet(style_sheet(theme.name))
    changed = theme is not _current
    _current = theme
    app.setProperty("studio_theme", theme.name)
    if changed:
        _retint_icons()
    return theme


# --- icons -------------------------------------------------------------------
def _role_color(theme: Theme, role: str) -> str:
    return {"accent": theme.accent, "on_accent": theme.on_accent, "danger": theme.danger,
            "warning": theme.warning, "text": theme.text}.get(role, theme.dim)


@lru_cache(maxsize=None)
def _svg_source(name: str) -> str:
    return (ICONS_DIR / f"{name}.svg").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _icon_cache_dir() -> Path:
    from studio.core.paths import studio_paths

    return studio_paths().cache / "icons"


@lru_cache(maxsize=512)
def _tinted_icon(name: str, color: str) -> QIcon:
    # The tinted copy is written once to the cache folder and handed to Qt by
    # path: Qt's SVG icon engine then renders each size only when it is first
    # painted, instead of every size of every icon while the window is built.
    path = _icon_cache_dir() / color.lstrip("#") / f"{name}.svg"
    if not path.exists():
        try:
            # A cache file needs no fsync: a torn write is simply written again.
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = temp_path(path)  # unique per thread: two threads may tint one icon at once
            partial.write_text(_svg_source(name).replace("currentColor", color), encoding="utf-8")
            os.replace(partial, path)
        except OSError:  # a read-only cache still gets icons, rendered now
            return _rendered_icon(name, color)
    return QIcon(str(path))


def _rendered_icon(name: str, color: str) -> QIcon:
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(_svg_source(name).replace("currentColor", color).encode()))
    icon = QIcon()
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        icon.addPixmap(QPixmap.fromImage(image))
    return icon


def icon(name: str, role: str = "") -> QIcon:
    """Icon ``name`` tinted for the current theme; ``role`` picks the colour
    ("" dim, "text", "accent", "on_accent", "danger", "warning")."""
    return _tinted_icon(name, _role_color(_current, role))


def set_icon(target: Any, name: str, role: str = "") -> None:
    """Give a button or action an icon that follows theme changes."""
    target.setIcon(icon(name, role))
    _icon_users.append((weakref.ref(target), name, role))


def _retint_icons() -> None:
    alive: list[tuple[weakref.ref, str, str]] = []
    for ref, name, role in _icon_users:
        target = ref()
        if target is None:
            continue
        try:
            target.setIcon(icon(name, role))
        except RuntimeError:  # the C++ object is gone while Python still held it
            continue
        alive.append((ref, name, role))
    _icon_users[:] = alive


def app_icon() -> QIcon:
    """The application icon (full colour, not tinted)."""
    return QIcon(str(ICONS_DIR / "studio.svg"))


def color(name: str) -> QColor:
    """A named colour of the current theme (``accent``, ``danger``, ``dim`` ...)."""
    return QColor(getattr(_current, name))
