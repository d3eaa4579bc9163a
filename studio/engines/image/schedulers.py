"""Scheduler choice by the names A1111 users know, built from the model's own
scheduler config so its training schedule and prediction type (epsilon or
v) are kept. Flow-matching models (SD3, Flux) have one sampler family; a
choice that does not apply to them keeps the model's own, and the recipe
records what actually ran."""

from __future__ import annotations

from typing import Any

# name -> (diffusers class, config overrides)
_SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2,
                                                 "use_karras_sigmas": False}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2,
                                                        "use_karras_sigmas": True}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LCM": ("LCMScheduler", {}),
    # SD-Turbo / SDXL-Turbo: Euler on trailing timesteps, so one step starts from pure noise (t = 999).
    "Turbo": ("EulerAncestralDiscreteScheduler", {"timestep_spacing": "trailing"}),
}
# Words in a model's or LoRA's name that say it was distilled for LCM sampling.
LCM_HINTS = ("lcm", "latent-consistency", "latent_consistency", "hyper", "turbo")


def is_flow_matching(config: dict[str, Any]) -> bool:
    return str(config.get("_class_name", "")).startswith("FlowMatch")


def fits_lcm(*names: str) -> bool:
    return any(hint in name.lower() for name in names for hint in LCM_HINTS)


def make_scheduler(name: str, default_config: dict[str, Any]) -> tuple[Any, str]:
    """A fresh scheduler for ``name`` and the label of what it is."""
    import diffusers

    default_class = str(default_config.get("_class_name", "DDIMScheduler"))
    if name == "Default" or name not in _SCHEDULERS or is_flow_matching(default_config):
        cls = getattr(diffusers, default_class)
        return cls.from_config(default_config), label_for_class(default_class, default_config)
    class_name, overrides = _SCHEDULERS[name]
    cls = getattr(diffusers, class_name)
    return cls.from_config(default_config, **overrides), name


def label_for_class(class_name: str, config: dict[str, Any]) -> str:
    """The A1111-style sampler name of a scheduler class, or the class name itself."""
    if class_name == "FlowMatchEulerDiscreteScheduler":
        return "Euler (flow matching)"
    karras = bool(config.get("use_karras_sigmas"))
    for label, (cls, overrides) in _SCHEDULERS.items():
        if cls == class_name and bool(overrides.get("use_karras_sigmas", False)) == karras:
            return label
    return class_name.removesuffix("Scheduler")
