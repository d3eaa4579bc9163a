"""The facts of ComfyUI's HTTP/websocket protocol that the test server
(``tests.helpers.comfy_server``) serves and the client tests check against,
written once here.

Everything is taken from ComfyUI's public source: the node schemas are what
``INPUT_TYPES`` / ``RETURN_TYPES`` of the core nodes in ``nodes.py`` give in
``GET /object_info`` (an input is ``[TYPE]``, ``[TYPE, {options}]`` or, for a
choice, ``[[values...], {options}]``); the sampler and scheduler names are
``comfy.samplers.KSampler.SAMPLERS`` / ``SCHEDULERS``; the message shapes are
those ``server.py`` / ``execution.py`` send; binary frames start with a
4-byte big-endian event type (1 = preview image) followed, for previews, by
a 4-byte big-endian image format (1 = JPEG, 2 = PNG) and the encoded image."""

from __future__ import annotations

import struct
from typing import Any

MAX_RESOLUTION = 16384
SEED_MAX = 0xFFFFFFFFFFFFFFFF

SAMPLERS = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
    "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep",
    "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp", "gradient_estimation",
    "er_sde", "seeds_2", "seeds_3", "ddim", "uni_pc", "uni_pc_bh2",
]
SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
              "linear_quadratic", "kl_optimal"]
LATENT_UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]
IMAGE_UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
CROP_METHODS = ["disabled", "center"]

# websocket event types (server.py BinaryEventTypes) and preview formats
BINARY_PREVIEW_IMAGE = 1
BINARY_UNENCODED_PREVIEW_IMAGE = 2
PREVIEW_JPEG = 1
PREVIEW_PNG = 2

# The JSON messages a client sees for one prompt, in order (``executing``
# with ``node: null`` is the end; newer servers also send
# ``execution_success`` just before it).
MESSAGE_TYPES = ("status", "execution_start", "execution_cached", "executing", "progress", "executed",
                 "execution_success", "execution_error", "execution_interrupted")


def _int(default: int, minimum: int, maximum: int, step: int = 1, **more: Any) -> list:
    return ["INT", {"default": default, "min": minimum, "max": maximum, "step": step, **more}]


def _float(default: float, minimum: float, maximum: float, step: float = 0.01, **more: Any) -> list:
    return ["FLOAT", {"default": default, "min": minimum, "max": maximum, "step": step, **more}]


def _node(name: str, display: str, category: str, required: dict[str, list], outputs: list[str],
          output_names: list[str] | None = None, output_node: bool = False, hidden: dict | None = None,
          description: str = "") -> dict[str, Any]:
    inputs: dict[str, Any] = {"required": required}
    if hidden:
        inputs["hidden"] = hidden
    return {
        "input": inputs,
        "input_order": {"required": list(required), **({"hidden": list(hidden)} if hidden else {})},
        "output": outputs,
        "output_is_list": [False] * len(outputs),
        "output_name": output_names or list(outputs),
        "name": name,
        "display_name": display,
        "description": description,
        "python_module": "nodes",
        "category": category,
        "output_node": output_node,
    }


def object_info(checkpoints: list[str], loras: list[str], input_files: list[str]) -> dict[str, Any]:
    """``GET /object_info`` for the core nodes Studio's graphs use, offering these files."""
    size = _int(512, 16, MAX_RESOLUTION, 8)
    images = [sorted(input_files), {"image_upload": True}]
    nodes = [
        _node("CheckpointLoaderSimple", "Load Checkpoint", "loaders",
              {"ckpt_name": [list(checkpoints), {"tooltip": "The name of the checkpoint (model) to load."}]},
              ["MODEL", "CLIP", "VAE"]),
        _node("LoraLoader", "Load LoRA", "loaders",
              {"model": ["MODEL"], "clip": ["CLIP"], "lora_name": [list(loras)],
               "strength_model": _float(1.0, -100.0, 100.0), "strength_clip": _float(1.0, -100.0, 100.0)},
              ["MODEL", "CLIP"]),
        _node("CLIPTextEncode", "CLIP Text Encode (Prompt)", "conditioning",
              {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP"]},
              ["CONDITIONING"]),
        _node("ConditioningAverage", "ConditioningAverage", "conditioning",
              {"conditioning_to": ["CONDITIONING"], "conditioning_from": ["CONDITIONING"],
               "conditioning_to_strength": _float(1.0, 0.0, 1.0)}, ["CONDITIONING"]),
        _node("EmptyLatentImage", "Empty Latent Image", "latent",
              {"width": size, "height": size, "batch_size": _int(1, 1, 4096)}, ["LATENT"]),
        _node("KSampler", "KSampler", "sampling",
              {"model": ["MODEL"], "seed": _int(0, 0, SEED_MAX, control_after_generate=True),
               "steps": _int(20, 1, 10000), "cfg": _float(8.0, 0.0, 100.0, 0.1, round=0.01),
               "sampler_name": [list(SAMPLERS)], "scheduler": [list(SCHEDULERS)],
               "positive": ["CONDITIONING"], "negative": ["CONDITIONING"], "latent_image": ["LATENT"],
               "denoise": _float(1.0, 0.0, 1.0)}, ["LATENT"]),
        _node("VAEDecode", "VAE Decode", "latent", {"samples": ["LATENT"], "vae": ["VAE"]}, ["IMAGE"]),
        _node("VAEEncode", "VAE Encode", "latent", {"pixels": ["IMAGE"], "vae": ["VAE"]}, ["LATENT"]),
        _node("VAEEncodeForInpaint", "VAE Encode (for Inpainting)", "latent/inpaint",
              {"pixels": ["IMAGE"], "vae": ["VAE"], "mask": ["MASK"], "grow_mask_by": _int(6, 0, 64)},
              ["LATENT"]),
        _node("SetLatentNoiseMask", "Set Latent Noise Mask", "latent/inpaint",
              {"samples": ["LATENT"], "mask": ["MASK"]}, ["LATENT"]),
        _node("RepeatLatentBatch", "Repeat Latent Batch", "latent/batch",
              {"samples": ["LATENT"], "amount": _int(1, 1, 64)}, ["LATENT"]),
        _node("LatentUpscale", "Upscale Latent", "latent",
              {"samples": ["LATENT"], "upscale_method": [list(LATENT_UPSCALE_METHODS)],
               "width": _int(512, 0, MAX_RESOLUTION, 8), "height": _int(512, 0, MAX_RESOLUTION, 8),
               "crop": [list(CROP_METHODS)]}, ["LATENT"]),
        _node("LoadImage", "Load Image", "image", {"image": images}, ["IMAGE", "MASK"]),
        _node("LoadImageMask", "Load Image (as Mask)", "mask",
              {"image": images, "channel": [["alpha", "red", "green", "blue"]]}, ["MASK"]),
        _node("ImageToMask", "Convert Image to Mask", "mask",
              {"image": ["IMAGE"], "channel": [["red", "green", "blue", "alpha"]]}, ["MASK"]),
        _node("ImageScale", "Upscale Image", "image/upscaling",
              {"image": ["IMAGE"], "upscale_method": [list(IMAGE_UPSCALE_METHODS)],
               "width": _int(512, 0, MAX_RESOLUTION), "height": _int(512, 0, MAX_RESOLUTION),
               "crop": [list(CROP_METHODS)]}, ["IMAGE"]),
        _node("ImagePadForOutpaint", "Pad Image for Outpainting", "image",
              {"image": ["IMAGE"], "left": _int(0, 0, MAX_RESOLUTION, 8), "top": _int(0, 0, MAX_RESOLUTION, 8),
               "right": _int(0, 0, MAX_RESOLUTION, 8), "bottom": _int(0, 0, MAX_RESOLUTION, 8),
               "feathering": _int(40, 0, MAX_RESOLUTION)}, ["IMAGE", "MASK"]),
        _node("SaveImage", "Save Image", "image",
              {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}, [],
              output_node=True, hidden={"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}),
        _node("PreviewImage", "Preview Image", "image", {"images": ["IMAGE"]}, [], output_node=True,
              hidden={"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}),
    ]
    return {node["name"]: node for node in nodes}


# --- message shapes ---------------------------------------------------------------------------
def status_message(queue_remaining: int, sid: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": queue_remaining}}}
    if sid is not None:
        data["sid"] = sid
    return {"type": "status", "data": data}


def preview_frame(image_bytes: bytes, image_format: int = PREVIEW_JPEG) -> bytes:
    return struct.pack(">I", BINARY_PREVIEW_IMAGE) + struct.pack(">I", image_format) + image_bytes


def parse_frame(frame: bytes) -> tuple[int, int, bytes]:
    event, = struct.unpack(">I", frame[:4])
    image_format, = struct.unpack(">I", frame[4:8])
    return event, image_format, frame[8:]


def node_error(kind: str, message: str, details: str, input_name: str = "", **extra: Any) -> dict[str, Any]:
    """One entry of ``node_errors[id]["errors"]`` (execution.py ``validate_inputs``)."""
    info: dict[str, Any] = dict(extra)
    if input_name:
        info["input_name"] = input_name
    return {"type": kind, "message": message, "details": details, "extra_info": info}


def validation_failed(node_errors: dict[str, Any]) -> dict[str, Any]:
    """The 400 body of ``POST /prompt`` when inputs fail validation."""
    return {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                      "details": "", "extra_info": {}}, "node_errors": node_errors}


def invalid_prompt(message: str, details: str = "") -> dict[str, Any]:
    """The 400 body for a prompt that cannot run at all (an unknown node class, no outputs)."""
    return {"error": {"type": "invalid_prompt", "message": message, "details": details, "extra_info": {}},
            "node_errors": {}}


# Node classes a graph from Studio may use (all core nodes in nodes.py).
CORE_NODES = tuple(object_info([], [], []))


def check_graph(graph: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """Problems of an API-format graph against ``info`` (what the server checks, plus unknown inputs):
    an empty list when every node, input name, link and value type is right."""
    problems: list[str] = []
    for node_id, node in graph.items():
        cls = node.get("class_type")
        schema = info.get(cls)
        if schema is None:
            problems.append(f"{node_id}: unknown node {cls}")
            continue
        required = schema["input"].get("required", {})
        optional = schema["input"].get("optional", {})
        inputs = node.get("inputs", {})
        for name in required:
            if name not in inputs:
                problems.append(f"{node_id} {cls}: missing input {name}")
        for name, value in inputs.items():
            spec = required.get(name) or optional.get(name)
            if spec is None:
                problems.append(f"{node_id} {cls}: unknown input {name}")
                continue
            kind = spec[0]
            if isinstance(value, list):
                source = graph.get(str(value[0]))
                if source is None:
                    problems.append(f"{node_id} {cls}.{name}: link to missing node {value[0]}")
                    continue
                outputs = info[source["class_type"]]["output"]
                if not 0 <= value[1] < len(outputs) or outputs[value[1]] != kind:
                    problems.append(f"{node_id} {cls}.{name}: link type mismatch")
            elif isinstance(kind, list):
                if value not in kind:
                    problems.append(f"{node_id} {cls}.{name}: {value!r} not offered")
            elif kind == "INT":
                if not isinstance(value, int) or isinstance(value, bool):
                    problems.append(f"{node_id} {cls}.{name}: not an INT")
                elif not spec[1]["min"] <= value <= spec[1]["max"]:
                    problems.append(f"{node_id} {cls}.{name}: out of range")
            elif kind == "FLOAT":
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    problems.append(f"{node_id} {cls}.{name}: not a FLOAT")
            elif kind == "STRING" and not isinstance(value, str):
                problems.append(f"{node_id} {cls}.{name}: not a STRING")
            elif kind in ("MODEL", "CLIP", "VAE", "LATENT", "IMAGE", "MASK", "CONDITIONING"):
                problems.append(f"{node_id} {cls}.{name}: {kind} must be a link")
    return problems
