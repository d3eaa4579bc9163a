"""Functions named by ``"module:function"`` strings and imported on first
call. Shared engine modules (the engine registry, the model loaders) reach a
modality's code this way: nothing heavy is imported until it is used, and the
modality packages never import one another."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def resolve(target: str) -> Callable[..., Any]:
    module_name, _, function = target.partition(":")
    return getattr(importlib.import_module(module_name), function)
