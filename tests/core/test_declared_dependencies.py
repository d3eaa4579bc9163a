"""`pip install .` gives a studio that works: every third-party package the
code imports is declared in pyproject.toml (as a dependency or an extra)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Imported, but installed without their declared dependencies (see
# requirements-nodeps.txt): invisible-watermark's would pull the non-headless
# OpenCV, tinysoundfont's pyaudio, which does not build.
NO_DEPS = {"imwatermark", "tinysoundfont"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in (ROOT / "studio").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"studio", "__future__"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {_canonical(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]) for requirement in requirements}


def test_every_imported_package_is_declared():
    distributions = importlib.metadata.packages_distributions()
    declared = _declared()
    missing = {}
    for module in sorted(_imported_top_level_modules() - NO_DEPS):
        providers = {_canonical(d) for d in distributions.get(module, [])}
        assert providers, f"{module} is imported but no installed distribution provides it"
        if not providers & declared:
            missing[module] = sorted(providers)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert len(declared) > 20
