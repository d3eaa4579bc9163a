"""The image LoRA training request (``lora``): what the Personalise panel and
``studio train lora`` submit.

Light (dataclasses only). A zero in a numeric setting means "the default for
this model's size" (see ``studio.training.lora.image.defaults_for``), so
the same request suits the 64 px starter and a 512 px SD 1.5."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from studio.core.jobs import Request, StudioError


@dataclass(frozen=True)
class LoraTrainRequest(Request):
    kind = "lora"
    modality = "image"
    name: str = ""
    folder: str = ""
    images: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    caption_template: str = ""
    trigger: str = ""
    prompt: str = ""  # the fixed prompt drawn every ``sample_every`` steps
    rank: int = 0
    learning_rate: float = 0.0
    steps: int = 0
    resolution: int = 0
    batch: int = 0
    train_text_encoder: bool = True
    sample_every: int = 0
    prior_preservation: bool = True
    prior_weight: float = 0.0

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "the base model (Stable Diffusion 1.x/2.x, a diffusers folder or a single file), by id",
        "name": "the LoRA's name: it is saved as models/Lora/NAME.safetensors and used as <lora:NAME:1>",
        "folder": "a folder of 5-50 pictures; each caption in a same-named .txt",
        "images": "a picture file (instead of, or as well as, --folder); repeat --image for each",
        "captions": "the caption of each --image, in order; repeat --caption for each",
        "caption_template": "caption for pictures without one, e.g. 'a photo of [trigger] mug'",
        "trigger": "the trigger word that stands for the subject, e.g. sks",
        "prompt": "a fixed prompt drawn every --sample-every steps while training",
        "rank": "LoRA rank (0: the default for the model's size)",
        "learning_rate": "learning rate (0: the default for the model's size)",
        "steps": "training steps (0: the default for the model's size)",
        "resolution": "training resolution in pixels (0: the model's own size)",
        "batch": "pictures per step (0: the default for the model's size)",
        "train_text_encoder": "also train a LoRA on the text encoder",
        "sample_every": "draw the sample prompt every this many steps (0: the default)",
        "prior_preservation": "also learn, at each step, pictures of what the model already draws, so the LoRA "
                              "does not make it forget the rest (the starter model's own training pictures; for "
                              "other models its drawings of the captions without the trigger word)",
        "prior_weight": "weight of those pictures' loss (0: the default for the model's size: 1 on the 64 px "
                        "starter, off on larger models unless set)",
    }

    def describe(self) -> str:
        return f"LoRA {self.name or '?'} on {self.model_id or '?'}"

    def image_paths(self) -> list[Path]:
        paths = [Path(p).expanduser() for p in self.images]
        if self.folder:
            from studio.training.lora.dataset import list_images

            paths += list_images(Path(self.folder))
        return paths

    def validate(self) -> None:
        if not self.model_id:
            raise StudioError("choose the base model to personalise")
        if not self.name.strip():
            raise StudioError("give the LoRA a name")
        if not self.folder and not self.images:
            raise StudioError("give a folder of pictures or the picture files to learn from")
        if self.folder and not Path(self.folder).expanduser().is_dir():
            raise StudioError(f"training pictures: {self.folder} is not a folder")
        if self.captions and len(self.captions) != len(self.images):
            raise StudioError(f"{len(self.captions)} captions for {len(self.images)} pictures")
        for label, value in (("rank", self.rank), ("steps", self.steps), ("batch", self.batch),
                             ("resolution", self.resolution), ("sample_every", self.sample_every)):
            if value < 0:
                raise StudioError(f"{label} must not be negative")
        if self.rank > 256 or self.batch > 64 or self.steps > 100_000:
            raise StudioError("rank at most 256, batch at most 64, steps at most 100000")
        if not 0.0 <= self.learning_rate <= 1.0:
            raise StudioError("the learning rate must be between 0 and 1")
        if not 0.0 <= self.prior_weight <= 100.0:
            raise StudioError("the prior preservation weight must be between 0 and 100")
