"""GGUF language models run quantised in process by llama.cpp
(``llama-cpp-python``)."""

from __future__ import annotations

import importlib.util


def llama_available() -> bool:
    """Whether llama.cpp's Python binding is installed (it is built from source)."""
    return importlib.util.find_spec("llama_cpp") is not None
