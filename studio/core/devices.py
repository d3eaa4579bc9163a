"""Device and dtype policy: CUDA, then Apple MPS, then CPU; half precision on
a GPU, full precision on the CPU (half is slow or unsupported there).

Importing torch costs about a second, so nothing here imports it at module
load; the GUI asks from a worker thread after the window is up."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # "cuda", "mps" or "cpu"
    label: str  # for the status bar: "CUDA: NVIDIA H100", "CPU (2 cores)"
    dtype: str  # "float16" or "float32"
    total_memory_bytes: int


def pick_device(preference: str = "auto") -> DeviceInfo:
    import torch

    if preference in ("auto", "cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return DeviceInfo("cuda", f"CUDA: {props.name}", "float16", props.total_memory)
    if preference in ("auto", "mps") and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return DeviceInfo("mps", "MPS (Apple GPU)", "float16", _system_memory())
    return DeviceInfo("cpu", f"CPU ({os.cpu_count()} cores)", "float32", _system_memory())


def torch_dtype(info: DeviceInfo):
    import torch

    return getattr(torch, info.dtype)


def _system_memory() -> int:
    import psutil

    return psutil.virtual_memory().total


def memory_in_use() -> dict[str, int]:
    """Bytes used by this process, and by torch on the GPU when torch is loaded."""
    import psutil

    usage = {"process": psutil.Process().memory_info().rss}
    torch = sys.modules.get("torch")  # never import torch just to report memory
    cuda = getattr(torch, "cuda", None)  # None while another thread is still importing torch
    try:
        if cuda is not None and cuda.is_available():
            usage["gpu"] = cuda.memory_allocated()
    except (AttributeError, RuntimeError):  # a half-initialised torch: report what we have
        pass
    return usage
