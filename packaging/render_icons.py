"""Renders the application icon (resources/icons/studio.svg) into the PNG
sizes desktop environments look for, plus the scalable SVG, under
packaging/icons/hicolor/ — the layout of the freedesktop icon theme, so the
install script can copy the tree as it is.

Rendered with Qt's own SVG renderer, offscreen; run it again after editing
the SVG:  .venv/bin/python packaging/render_icons.py
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "resources" / "icons" / "studio.svg"
OUT = REPO / "packaging" / "icons" / "hicolor"
APP_ID = "io.studio.Studio"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(size: int, target: Path) -> None:
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SOURCE}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target), "PNG"):
        raise SystemExit(f"cannot write {target}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - QPainter needs it
    for size in SIZES:
        target = OUT / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        render(size, target)
        print(target.relative_to(REPO))
    scalable = OUT / "scalable" / "apps" / f"{APP_ID}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, scalable)
    print(scalable.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
