"""Single-file checkpoints (.safetensors as A1111, ComfyUI and CivitAI users
keep them) loaded offline.

A single file holds weights only. To build a pipeline around them diffusers
needs each component's config and a tokenizer, which it would normally fetch
from the hub. Here they come from a *config bundle*: one JSON file holding
the pipeline index and every component config of a model family, shipped
under ``resources/configs/image/`` for the standard families, or beside a
checkpoint of unusual size as ``<name>.config.json``. A bundle is written
out once into the cache as a diffusers config folder, with the CLIP
tokenizer built from open_clip's bundled BPE vocabulary, and diffusers then
converts the checkpoint's original-layout keys itself.

The family is recognised from the checkpoint's header (key names and a few
shapes) without reading the weights."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from studio.core.jobs import StudioError
from studio.core.models.formats import FormatError, read_safetensors_header
from studio.core.paths import RESOURCES, studio_paths

log = logging.getLogger(__name__)

BUNDLES_DIR = RESOURCES / "configs" / "image"
SIDECAR_SUFFIX = ".config.json"
TOKENIZER_CLASSES = ("CLIPTokenizer", "CLIPTokenizerFast")
_SCHEDULER_FILE = "scheduler_config.json"


# --- tokenizer ---------------------------------------------------------------------

def write_tokenizer(folder: Path, pad_token: str = "<|endoftext|>") -> Path:
    """CLIP's tokenizer files in ``folder``, built from open_clip's bundled vocabulary
    (the builder the starter model uses); SD 1.x and SDXL's first encoder pad with the
    end token, OpenCLIP encoders with "!"."""
    from studio.training.clip_tokenizer import TokenizerSourceMissing, write_tokenizer_files

    try:
        write_tokenizer_files(folder)
    except TokenizerSourceMissing as exc:
        raise StudioError(str(exc)) from exc
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = Path(folder) / name
        data = json.loads(path.read_text(encoding="utf-8"))
        data["pad_token"] = pad_token
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return Path(folder)


# --- family detection --------------------------------------------------------------

def checkpoint_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, from the header only."""
    try:
        header = read_safetensors_header(Path(path))
    except (OSError, FormatError) as exc:
        raise StudioError(f"{Path(path).name} is not a readable safetensors file: {exc}") from exc
    return {k: list(v.get("shape", [])) for k, v in header.items() if k != "__metadata__"}


def detect_family(shapes: dict[str, list[int]]) -> str:
    """The model family of a checkpoint: sd15, sd15-inpaint, sd2, sdxl,
    sdxl-inpaint, sdxl-refiner, sd3, flux, or "" when unknown."""
    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in shapes)

    if has("model.diffusion_model.joint_blocks.") or has("joint_blocks."):
        return "sd3"
    if has("model.diffusion_model.double_blocks.") or has("double_blocks."):
        return "flux"
    in_channels = shapes.get("model.diffusion_model.input_blocks.0.0.weight", [0, 4])[1]
    inpaint = "-inpaint" if in_channels == 9 else ""
    if has("conditioner.embedders.1.model."):
        return "sdxl" + inpaint
    if has("conditioner.embedders.0.model."):
        return "sdxl-refiner"
    if has("cond_stage_model.model."):
        return "sd2"
    if has("cond_stage_model.transformer.") or has("model.diffusion_model.input_blocks."):
        return "sd15" + inpaint
    return ""


# --- bundles -----------------------------------------------------------------------

def shipped_bundles() -> dict[str, Path]:
    return {path.stem: path for path in sorted(BUNDLES_DIR.glob("*.json"))}


def read_bundle(path: Path) -> dict[str, Any]:
    try:
        bundle = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudioError(f"config bundle {Path(path).name} is unreadable: {exc}") from exc
    if not isinstance(bundle, dict) or "model_index" not in bundle or "components" not in bundle:
        raise StudioError(f"{Path(path).name} is not a pipeline config bundle (needs model_index and components)")
    return bundle


def bundle_for(checkpoint: Path, family: str, wanted: str = "") -> dict[str, Any]:
    """The config bundle for a checkpoint: its sidecar, else the one its model
    card names (``"config": "sd2-base"``), else the family's shipped one."""
    sidecar = checkpoint.with_name(checkpoint.stem + SIDECAR_SUFFIX)
    if sidecar.is_file():
        return read_bundle(sidecar)
    shipped = shipped_bundles()
    name = wanted or family
    if name in shipped:
        return read_bundle(shipped[name])
    if Path(name).is_file():
        return read_bundle(Path(name))
    if family == "flux":
        raise StudioError("Flux single files hold no T5 tokenizer, which cannot be built offline: "
                          "use Flux as a diffusers folder or from the Hugging Face cache")
    if family:
        raise StudioError(f"{checkpoint.name} looks like a {family} checkpoint, which Studio cannot load as a "
                          "single file yet: use it as a diffusers folder")
    raise StudioError(f"{checkpoint.name} is not a Stable Diffusion checkpoint Studio recognises")


def bundle_from_folder(folder: Path) -> dict[str, Any]:
    """A config bundle from a diffusers folder (what ``<name>.config.json`` holds)."""
    folder = Path(folder)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    components: dict[str, Any] = {}
    tokenizers: dict[str, Any] = {}
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or spec[0] is None:
            continue
        if spec[1] in TOKENIZER_CLASSES:
            config = json.loads((folder / name / "tokenizer_config.json").read_text(encoding="utf-8"))
            pad = config.get("pad_token", "<|endoftext|>")
            tokenizers[name] = {"pad_token": pad if isinstance(pad, str) else pad.get("content", "!")}
            continue
        file = folder / name / (_SCHEDULER_FILE if (folder / name / _SCHEDULER_FILE).exists() else "config.json")
        components[name] = json.loads(file.read_text(encoding="utf-8"))
    return {"family": "custom", "model_index": index, "components": components, "tokenizers": tokenizers}


def materialize(bundle: dict[str, Any], cache_root: Path | None = None) -> Path:
    """Write ``bundle`` out as a diffusers config folder (once; reused after)."""
    digest = hashlib.sha1(json.dumps(bundle, sort_keys=True).encode()).hexdigest()[:12]
    root = Path(cache_root) if cache_root else studio_paths().cache / "image-configs"
    folder = root / f"{bundle.get('family', 'custom')}-{digest}"
    if (folder / ".complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(bundle["model_index"], indent=1), encoding="utf-8")
    for name, config in bundle["components"].items():
        (folder / name).mkdir(exist_ok=True)
        is_scheduler = str(config.get("_class_name", "")).endswith("Scheduler")
        (folder / name / (_SCHEDULER_FILE if is_scheduler else "config.json")).write_text(
            json.dumps(config, indent=1), encoding="utf-8")
    for name, options in bundle.get("tokenizers", {}).items():
        write_tokenizer(folder / name, pad_token=options.get("pad_token", "<|endoftext|>"))
    (folder / ".complete").write_text("ok", encoding="utf-8")
    return folder


def load_single_file(checkpoint: Path, dtype: Any, wanted_config: str = "") -> tuple[Any, str]:
    """The pipeline for a single-file checkpoint, and its family."""
    import diffusers

    checkpoint = Path(checkpoint)
    family = detect_family(checkpoint_shapes(checkpoint))
    bundle = bundle_for(checkpoint, family, wanted_config)
    folder = materialize(bundle)
    class_name = bundle["model_index"].get("_class_name", "")
    pipeline_class = getattr(diffusers, class_name, None)
    if pipeline_class is None or not hasattr(pipeline_class, "from_single_file"):
        raise StudioError(f"{class_name or 'this pipeline'} cannot be built from a single file")
    from studio.engines.loaders import dtype_keyword

    options: dict[str, Any] = {"config": str(folder), "local_files_only": True, dtype_keyword(): dtype}
    if "safety_checker" in bundle["model_index"]:
        options.update(safety_checker=None, requires_safety_checker=False)
    log.info("loading %s as %s with configs from %s", checkpoint.name, family or "custom", folder)
    pipe = pipeline_class.from_single_file(str(checkpoint), **options)
    return pipe, bundle.get("family") if bundle.get("family") not in (None, "custom") else family
