"""Desktop integration: the install script puts a valid desktop entry, the
icons at every size and the AppStream metainfo under the user's data folder
(and removes them again), and the entry starts this checkout."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
APP_ID = "io.studio.Studio"


def _run_install(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "share"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["bash", str(PACKAGING / "install-desktop-entry.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def _desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_install_script_installs_entry_icons_and_metainfo_then_uninstalls(tmp_path):
    result = _run_install(tmp_path)
    assert result.returncode == 0, result.stderr
    share = tmp_path / "share"
    entry = _desktop_entry(share / "applications" / f"{APP_ID}.desktop")
    assert entry["Type"] == "Application" and entry["Name"] == "Studio"
    assert entry["Icon"] == APP_ID and entry["Terminal"] == "false"
    assert entry["StartupWMClass"] == "Studio"
    assert entry["Path"] == str(REPO)
    venv = REPO / ".venv" / "bin"
    if (venv / "studio").exists():
        assert entry["Exec"] == f'"{venv / "studio"}"'
        assert entry["TryExec"] == str(venv / "studio")
    else:
        assert entry["Exec"].endswith("-m studio")
    for size in (16, 32, 48, 64, 128, 256, 512):
        image = QImage(str(share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"))
        assert (image.width(), image.height()) == (size, size)
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").exists()
    metainfo = ET.parse(share / "metainfo" / f"{APP_ID}.metainfo.xml").getroot()
    assert metainfo.findtext("id") == APP_ID
    assert metainfo.findtext("launchable") == f"{APP_ID}.desktop"
    assert metainfo.findtext("project_license") == "Apache-2.0"

    result = _run_install(tmp_path, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not any(p.is_file() for p in share.rglob("*"))


def test_packaged_icon_is_the_app_icon_rendered():
    icon = QImage(str(PACKAGING / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png"))
    assert icon.pixelColor(2, 2).alpha() == 0  # rounded corner: transparent
    centre = icon.pixelColor(128, 128)
    assert centre.alpha() == 255
    assert (PACKAGING / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").read_bytes() == \
        (REPO / "resources" / "icons" / "studio.svg").read_bytes()


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli is not installed")
def test_metainfo_validates():
    result = subprocess.run(["appstreamcli", "validate", "--no-net", str(PACKAGING / f"{APP_ID}.metainfo.xml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
