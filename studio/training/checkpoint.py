"""Resumable training checkpoints without pickle: safetensors plus a JSON state.

A checkpoint is a folder of tensors files (one per network, its exponential
moving average, and the optimiser's moments) and `state.json`, which names
the stage and step reached. A new checkpoint is written beside the old one
and swapped in by renames, so a run stopped mid-save resumes from the last
complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

STATE_FILE = "state.json"


class EMA:
    """Exponential moving average of a module's parameters (what gets exported)."""

    def __init__(self, module: torch.nn.Module, max_decay: float = 0.999) -> None:
        self.max_decay = max_decay
        self.shadow = {name: p.detach().clone() for name, p in module.named_parameters()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        # Warm-up: early averages follow the weights closely, later ones average longer.
        decay = min(self.max_decay, (1.0 + step) / (10.0 + step))
        names, params = zip(*module.named_parameters())
        # One fused kernel for all tensors rather than one launch each.
        torch._foreach_lerp_([self.shadow[n] for n in names], [p.detach() for p in params], 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        for name, p in module.named_parameters():
            p.copy_(self.shadow[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, value in tensors.items():
            self.shadow[name].copy_(value)


def _tensors_of(module_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in module_state.items()}


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser's state into named tensors and JSON-able group settings."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{index}.{slot}"] = tensor.detach().to("cpu").clone().contiguous()
    return tensors, {"param_groups": state["param_groups"]}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                           meta: dict[str, Any]) -> None:
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, slot = key.split(".", 1)
        slots.setdefault(int(index), {})[slot] = value
    optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})


def save_checkpoint(folder: Path, modules: dict[str, torch.nn.Module], emas: dict[str, EMA],
                    optimizer: torch.optim.Optimizer | None, state: dict[str, Any]) -> None:
    partial, old = _sibling(folder, "partial"), _sibling(folder, "old")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, module in modules.items():
        save_file(_tensors_of(module.state_dict()), str(partial / f"{name}.safetensors"))
    for name, ema in emas.items():
        save_file(_tensors_of(ema.state_dict()), str(partial / f"ema_{name}.safetensors"))
    full_state = dict(state)
    if optimizer is not None:
        tensors, meta = optimizer_to_tensors(optimizer)
        save_file(tensors, str(partial / "optimizer.safetensors"))
        full_state["optimizer"] = meta
    write_json_atomic(partial / STATE_FILE, full_state)
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(partial, folder)
    shutil.rmtree(old, ignore_errors=True)


def _sibling(folder: Path, suffix: str) -> Path:
    return folder.with_name(f"{folder.name}.{suffix}")


def checkpoint_folder(folder: Path) -> Path | None:
    """The complete checkpoint at `folder`, or the one a stopped save left as `.old`."""
    for candidate in (folder, _sibling(folder, "old")):
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None


def load_checkpoint(folder: Path, modules: dict[str, torch.nn.Module], emas: dict[str, EMA],
                    optimizer: torch.optim.Optimizer | None, device: torch.device) -> dict[str, Any]:
    found = checkpoint_folder(folder)
    if found is None:
        raise FileNotFoundError(f"no checkpoint in {folder}")
    folder = found
    state = read_state(folder)
    assert state is not None
    for name, module in modules.items():
        module.load_state_dict(load_file(str(folder / f"{name}.safetensors"), device=str(device)))
    for name, ema in emas.items():
        ema.load_state_dict(load_file(str(folder / f"ema_{name}.safetensors"), device=str(device)))
    if optimizer is not None and "optimizer" in state:
        tensors = load_file(str(folder / "optimizer.safetensors"), device=str(device))
        # Adam's step counters live on the CPU, the moments beside their parameters.
        tensors = {k: (v.cpu() if k.endswith(".step") else v) for k, v in tensors.items()}
        optimizer_from_tensors(optimizer, tensors, state["optimizer"])
    return state


def read_state(folder: Path) -> dict[str, Any] | None:
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
