"""Architecture guards: core and engines never import Qt, the window's
start-up modules do not import torch, and the installed torch and torchaudio
are the pinned, matching builds."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import studio

ROOT = Path(__file__).resolve().parents[2]


def _modules(package: str) -> list[str]:
    path = ROOT / package.replace(".", "/")
    return [package] + [f"{package}.{m.name}" for m in pkgutil.walk_packages([str(path)]) if "." not in m.name]


def test_core_and_engines_never_import_qt():
    names = [m for p in ("studio.core", "studio.engines") for m in _modules(p)]
    for sub in ("studio.core.models",):
        names += _modules(sub)
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'studio.qt')))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(names) > 10


def test_installed_torch_matches_the_pins():
    import torch
    import torchaudio

    pins = dict(re.findall(r"^(torch|torchaudio)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    assert torch.__version__.split("+")[0] == pins["torch"]
    assert torchaudio.__version__.split("+")[0] == pins["torchaudio"]
    assert pins["torch"] == pins["torchaudio"], "torch and torchaudio must be the same release"


def test_package_version_is_set():
    assert re.fullmatch(r"\d+\.\d+\.\d+", studio.__version__)
