"""Using the bundled starter model: loading it, generating with it, and a 2x hires-fix path.

The starter model is an ordinary diffusers Stable Diffusion folder, so the
image engine loads it like any other; these helpers are the few things
specific to it: where it ships, sensible defaults for its 64x64 size, and
`hires_fix`, which turns a 64x64 result into a 128x128 one by upscaling the
picture and refining it with img2img from the same components.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline
    from PIL import Image

STARTER_MODEL_ID = "starter-shapes"
STARTER_MODEL_DIR = Path(__file__).resolve().parents[2] / "resources" / "models" / STARTER_MODEL_ID
NATIVE_SIZE = 64
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 5.0


def load_pipeline(model_dir: str | Path | None = None, device: str = "cpu",
                  dtype: Any = None) -> StableDiffusionPipeline:
    """Load the starter model (or another SD folder) from disk only; never downloads.

    Without `dtype` the weights (stored as float16) load as float32, which is
    what CPUs compute fastest and most exactly.
    """
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import deprecation_utils

    folder = Path(model_dir) if model_dir is not None else STARTER_MODEL_DIR
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(f"no diffusers model folder at {folder}")
    options: dict[str, Any] = {}
    if dtype is not None:
        # diffusers renamed torch_dtype to dtype; older releases know only the former.
        renamed = hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE")
        options["dtype" if renamed else "torch_dtype"] = dtype
    pipe = StableDiffusionPipeline.from_pretrained(
        str(folder), local_files_only=True, safety_checker=None, requires_safety_checker=False, **options,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def _generators(seeds: Sequence[int], device: str) -> list[Any]:
    import torch

    # One generator per picture: a picture depends on its own seed, not on its batch.
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]


def generate(pipe: StableDiffusionPipeline, prompts: Sequence[str], seeds: Sequence[int],
             steps: int = DEFAULT_STEPS, guidance_scale: float = DEFAULT_GUIDANCE,
             size: int = NATIVE_SIZE, negative_prompt: str | None = None, **kwargs: Any) -> list[np.ndarray]:
    """RGB uint8 pictures, one per prompt, each reproducible from its seed."""
    result = pipe(
        list(prompts),
        negative_prompt=[negative_prompt] * len(prompts) if negative_prompt else None,
        height=size,
        width=size,
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        generator=_generators(seeds, pipe.device.type),
        output_type="np",
        **kwargs,
    )
    return [np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8) for img in result.images]


def hires_fix(pipe: StableDiffusionPipeline, prompt: str, negative_prompt: str | None = None,
              seed: int = 0, steps: int = DEFAULT_STEPS, hires_steps: int = DEFAULT_STEPS,
              strength: float = 0.5, guidance_scale: float = DEFAULT_GUIDANCE, scale: int = 2,
              **kwargs: Any) -> Image.Image:
    """Generate at the native size, upscale `scale`x, then refine with img2img (a PIL image).

    The same UNet denoises the larger latents; starting from the upscaled
    picture (rather than from noise) keeps its composition, which a model
    trained at 64x64 would not hold at 128x128 on its own.
    """
    from diffusers import StableDiffusionImg2ImgPipeline
    from PIL import Image

    base = pipe(
        prompt, negative_prompt=negative_prompt, height=NATIVE_SIZE, width=NATIVE_SIZE,
        num_inference_steps=steps, guidance_scale=guidance_scale,
        generator=_generators([seed], pipe.device.type)[0], output_type="pil", **kwargs,
    ).images[0]
    target = NATIVE_SIZE * scale
    upscaled = base.resize((target, target), Image.Resampling.LANCZOS)
    img2img = StableDiffusionImg2ImgPipeline.from_pipe(pipe)
    img2img.set_progress_bar_config(disable=True)
    return img2img(
        prompt, image=upscaled, negative_prompt=negative_prompt, strength=strength,
        num_inference_steps=hires_steps, guidance_scale=guidance_scale,
        generator=_generators([seed + 1], pipe.device.type)[0], output_type="pil", **kwargs,
    ).images[0]
