"""Checkpoints of a LoRA run: only the adapter's tensors and the optimiser's, never pickle.

A checkpoint folder holds ``lora.safetensors`` (every trainable tensor by
its parameter name), ``optimizer.safetensors`` and ``state.json`` (the step
reached, the loss curve, the run's settings). A new one is written beside
the old and swapped in by renames, so a crash mid-save resumes from the
last complete checkpoint.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from studio.training.checkpoint import (
    STATE_FILE,
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_state,
    write_json_atomic,
)


def trainable(modules: dict[str, Any]) -> dict[str, Any]:
    """'<module>.<param name>' -> parameter, for every parameter that trains."""
    return {f"{prefix}.{name}": p for prefix, module in modules.items() if module is not None
            for name, p in module.named_parameters() if p.requires_grad}


def save(folder: Path, params: dict[str, Any], optimizer: Any, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    partial, old = folder.with_name(folder.name + ".partial"), folder.with_name(folder.name + ".old")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_file({k: v.detach().to("cpu").clone().contiguous() for k, v in params.items()},
              str(partial / "lora.safetensors"))
    tensors, meta = optimizer_to_tensors(optimizer)
    save_file(tensors, str(partial / "optimizer.safetensors"))
    write_json_atomic(partial / STATE_FILE, {**state, "optimizer": meta})
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(partial, folder)
    shutil.rmtree(old, ignore_errors=True)


def find(folder: Path) -> Path | None:
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / STATE_FILE).is_file() and (candidate / "lora.safetensors").is_file():
            return candidate
    return None


def load(folder: Path, params: dict[str, Any], optimizer: Any, device: Any) -> dict[str, Any] | None:
    """Restore the latest checkpoint into ``params`` and ``optimizer``; its state, or None when there is none."""
    import torch
    from safetensors.torch import load_file

    found = find(folder)
    if found is None:
        return None
    state = read_state(found) or {}
    saved = load_file(str(found / "lora.safetensors"))
    if set(saved) != set(params):
        return None  # made with other settings: start again rather than mix
    with torch.no_grad():
        for name, value in saved.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    tensors = load_file(str(found / "optimizer.safetensors"), device=str(device))
    tensors = {k: (v.cpu() if k.endswith(".step") else v) for k, v in tensors.items()}
    optimizer_from_tensors(optimizer, tensors, state["optimizer"])
    return state


def clear(folder: Path) -> None:
    for path in (folder, folder.with_name(folder.name + ".old"), folder.with_name(folder.name + ".partial")):
        shutil.rmtree(path, ignore_errors=True)
