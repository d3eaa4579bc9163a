"""The image requests the GUI and the CLI build: diffusion (``image``), GAN
rendering (``gan``) and plain upscaling (``upscale``).

This module is light (dataclasses only) so the window can build requests
without importing torch. ``validate`` catches what can be known without a
model: empty prompts, sizes, ranges, missing input files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from studio.core.jobs import Request, StudioError

MAX_SIDE = 4096
MAX_IMAGES = 64
MODES = ("txt2img", "img2img", "inpaint", "outpaint")
MODE_LABELS = {"txt2img": "Text to image", "img2img": "Image to image", "inpaint": "Inpaint",
               "outpaint": "Outpaint"}
# The names A1111 users know; "Default" keeps the model's own scheduler.
SCHEDULERS = ("Default", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DDIM", "UniPC", "LCM", "Turbo")
DECODERS = ("vae", "taesd")  # taesd: the tiny autoencoder decodes the result (live frames kept as shown)
PREVIEW_MODES = ("off", "approx", "taesd", "full")
PREVIEW_LABELS = {"off": "Off", "approx": "Approximate (fast)", "taesd": "Tiny autoencoder",
                  "full": "Full decode every N steps"}
UPSCALE_FACTORS = (2, 4)
GAN_DIRECTIONS = ("principal", "random")


def snap8(value: int) -> int:
    """The nearest multiple of 8 (diffusion latents are 1/8 of the image), at least 8."""
    return max(8, (int(value) + 4) // 8 * 8)


def _check_file(label: str, path: str) -> None:
    if not path:
        raise StudioError(f"this mode needs {label}")
    if not Path(path).expanduser().is_file():
        raise StudioError(f"{label} not found: {path}")


@dataclass(frozen=True)
class ImageRequest(Request):
    """One diffusion job: ``batch_count`` x ``batch_size`` images, image k
    seeded ``seed + k`` (so any image of a batch can be made again alone)."""

    kind = "image"
    modality = "image"
    prompt: str = ""
    negative: str = ""
    steps: int = 25
    cfg: float = 7.0
    width: int = 512
    height: int = 512
    scheduler: str = "Euler a"
    mode: str = "txt2img"
    init_image: str = ""
    mask: str = ""
    strength: float = 0.75
    mask_blur: int = 4
    outpaint_left: int = 0
    outpaint_right: int = 0
    outpaint_up: int = 0
    outpaint_down: int = 0
    batch_count: int = 1
    batch_size: int = 1
    hires_fix: bool = False
    hires_scale: float = 2.0
    hires_strength: float = 0.45
    hires_steps: int = 0  # 0: as many as ``steps``
    loras: tuple = ()  # (name, weight) pairs, on top of <lora:name:w> tags in the prompt
    preview: str = "approx"
    preview_every: int = 5  # for "full": decode every N steps
    cpu_offload: bool = False
    decoder: str = "vae"

    HELP: ClassVar[dict[str, str]] = {
        "prompt": "what the image should show",
        "negative": "what the image should not show",
        "steps": "denoising steps (1-500): more is slower and usually finer",
        "cfg": "classifier-free guidance scale (0-50): how closely to follow the prompt",
        "width": "image width in pixels, a multiple of 8",
        "height": "image height in pixels, a multiple of 8",
        "scheduler": "sampler that removes the noise step by step ('Default': the model's own)",
        "mode": "what to make: txt2img from the prompt alone, img2img/inpaint/outpaint from --init-image",
        "init_image": "the image to start from (img2img, inpaint, outpaint); alone it means img2img",
        "mask": "inpainting mask image: white is repainted, black kept (with --init-image: inpaint)",
        "strength": "img2img/inpaint: how much of the init image is changed (above 0, at most 1)",
        "mask_blur": "inpaint/outpaint: mask edge softening in pixels",
        "outpaint_left": "outpaint: pixels to add on the left",
        "outpaint_right": "outpaint: pixels to add on the right",
        "outpaint_up": "outpaint: pixels to add at the top",
        "outpaint_down": "outpaint: pixels to add at the bottom",
        "batch_count": "how many batches to run one after another",
        "batch_size": "images per batch, made together (more memory)",
        "hires_fix": "render small, then enlarge and refine with img2img",
        "hires_scale": "hires fix: enlargement factor (above 1, at most 4)",
        "hires_strength": "hires fix: how much the refining pass changes (0-1)",
        "hires_steps": "hires fix: refining steps (0: as many as --steps)",
        "preview": "live preview while generating",
        "preview_every": "preview 'full': decode a preview every N steps",
        "cpu_offload": "keep model parts in system memory until needed (slower, for small GPUs)",
        "decoder": "what turns the latents into pixels: the model's VAE, or a tiny autoencoder (TAESD, fast)",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"scheduler": SCHEDULERS, "mode": MODES, "preview": PREVIEW_MODES,
                                           "decoder": DECODERS}

    def __post_init__(self) -> None:
        # JSON turns the pairs into lists; keep them hashable tuples so requests compare equal.
        pairs = []
        for entry in self.loras:
            if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                raise StudioError(f"a LoRA entry must be (name, weight), not {entry!r}")
            pairs.append((str(entry[0]), float(entry[1])))
        object.__setattr__(self, "loras", tuple(pairs))
        if self.mode == "txt2img" and self.init_image:
            # `studio generate image --init photo.png [--mask m.png]` means image-to-image (or inpainting).
            object.__setattr__(self, "mode", "inpaint" if self.mask else "img2img")

    def validate(self) -> None:
        if not self.prompt.strip():
            raise StudioError("the prompt is empty")
        if self.mode not in MODES:
            raise StudioError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 1 <= self.steps <= 500:
            raise StudioError(f"steps must be between 1 and 500, not {self.steps}")
        if not 0.0 <= self.cfg <= 50.0:
            raise StudioError(f"CFG scale must be between 0 and 50, not {self.cfg}")
        for name, side in (("width", self.width), ("height", self.height)):
            if side % 8 or not 64 <= side <= MAX_SIDE:
                raise StudioError(f"{name} must be a multiple of 8 between 64 and {MAX_SIDE}, not {side}")
        if self.scheduler not in SCHEDULERS:
            raise StudioError(f"unknown scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        if self.decoder not in DECODERS:
            raise StudioError(f"decoder must be one of {', '.join(DECODERS)}, not {self.decoder!r}")
        if self.preview not in PREVIEW_MODES:
            raise StudioError(f"preview must be one of {', '.join(PREVIEW_MODES)}, not {self.preview!r}")
        if self.batch_count < 1 or self.batch_size < 1 or self.batch_count * self.batch_size > MAX_IMAGES:
            raise StudioError(f"batch count x batch size must be between 1 and {MAX_IMAGES}")
        if not 0.0 < self.strength <= 1.0:
            raise StudioError(f"strength must be above 0 and at most 1, not {self.strength}")
        if self.hires_fix and not (1.0 < self.hires_scale <= 4.0 and 0.0 < self.hires_strength <= 1.0):
            raise StudioError("hires fix needs a scale above 1 (at most 4) and a strength between 0 and 1")
        if self.mode in ("img2img", "inpaint", "outpaint"):
            _check_file("an init image", self.init_image)
        if self.mode == "inpaint":
            _check_file("a mask", self.mask)
        if self.mode == "outpaint":
            sides = (self.outpaint_left, self.outpaint_right, self.outpaint_up, self.outpaint_down)
            if min(sides) < 0 or not any(sides):
                raise StudioError("outpainting needs at least one side to extend by some pixels")

    @property
    def image_count(self) -> int:
        return self.batch_count * self.batch_size


@dataclass(frozen=True)
class GanRequest(Request):
    """One GAN frame: the seed's latent, moved along ``directions`` by
    ``offsets`` and optionally morphed toward ``morph_seed``; a ``grid`` > 1
    renders grid x grid neighbouring seeds instead."""

    kind = "gan"
    modality = "image"
    prompt: str = ""  # GANs take no prompt; kept so library rows have a label
    directions: str = "principal"  # or "random"
    offsets: tuple = ()  # one float per direction
    morph_seed: int = -1  # -1: no morph
    morph: float = 0.0  # 0: the seed, 1: the morph seed
    grid: int = 1
    scale: int = 4  # the 64 px output is enlarged for viewing (nearest: keeps it crisp)

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "the GAN model, by id (see `studio models list --modality image`)",
        "prompt": "a label for the library (GANs take no prompt)",
        "directions": "latent directions --offsets move along: principal components or random ones",
        "morph_seed": "seed of a second latent to morph toward (-1: no morph)",
        "morph": "how far toward the morph seed (0: this seed, 1: the morph seed)",
        "grid": "render a grid x grid sheet of neighbouring seeds (1-8; 1: one image)",
        "scale": "enlarge the output this many times for viewing (1-8, nearest neighbour)",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"directions": GAN_DIRECTIONS}

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets", tuple(float(v) for v in self.offsets))

    def validate(self) -> None:
        if not self.model_id:
            raise StudioError("choose a GAN model, e.g. --model dcgan-faces-64")
        if self.directions not in GAN_DIRECTIONS:
            raise StudioError(f"directions must be 'principal' or 'random', not {self.directions!r}")
        if not 1 <= self.grid <= 8:
            raise StudioError(f"grid must be between 1 and 8, not {self.grid}")
        if not 1 <= self.scale <= 8:
            raise StudioError(f"scale must be between 1 and 8, not {self.scale}")
        if not 0.0 <= self.morph <= 1.0:
            raise StudioError(f"morph must be between 0 and 1, not {self.morph}")

    def describe(self) -> str:
        return self.prompt or f"GAN seed {self.seed}"


@dataclass(frozen=True)
class UpscaleRequest(Request):
    """Enlarge an image 2x or 4x (Lanczos, then an unsharp mask); no model."""

    kind = "upscale"
    modality = "image"
    prompt: str = ""  # label only
    init_image: str = ""
    factor: int = 2
    sharpen: float = 0.6  # unsharp-mask amount, 0 = none

    HELP: ClassVar[dict[str, str]] = {
        "prompt": "a label for the library",
        "init_image": "the image to enlarge",
        "factor": "how many times larger",
        "sharpen": "unsharp-mask amount after enlarging (0-2; 0: none)",
        "model_id": "unused: upscaling needs no model",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"factor": UPSCALE_FACTORS}

    def validate(self) -> None:
        _check_file("an image to upscale", self.init_image)
        if self.factor not in UPSCALE_FACTORS:
            raise StudioError(f"factor must be 2 or 4, not {self.factor}")
        if not 0.0 <= self.sharpen <= 2.0:
            raise StudioError(f"sharpen must be between 0 and 2, not {self.sharpen}")

    def describe(self) -> str:
        return self.prompt or f"{Path(self.init_image).name} upscaled {self.factor}x"
