"""A peft LoRA adapter written as a GGUF LoRA adapter for llama.cpp, the way
llama.cpp's ``convert_lora_to_gguf.py`` writes one.

The input is peft's own layout (``adapter_model.safetensors`` and
``adapter_config.json``) of a LoRA trained on a base model that transformers
read from a GGUF file (``studio.engines.text.gguf_cache``). The output is a
GGUF whose ``general.type`` is ``adapter``, ``adapter.type`` ``lora`` and
``adapter.lora.alpha`` peft's ``lora_alpha``, with the base's architecture,
and two tensors a wrapped projection: ``blk.{i}.attn_q.weight.lora_a``
(numpy shape [rank, n_in]) and ``....lora_b`` ([n_out, rank]), named by
gguf's tensor map as the base's own tensors are. llama.cpp adds
``B @ A * alpha / rank`` to the projection's output, which is peft's
``lora_alpha / r`` scaling; a module whose peft scaling differs (rsLoRA, a
rank or alpha pattern) has the difference folded into its B.

llama.cpp's converter stores a Llama's Q and K rows permuted (rotary halves
interleaved per head); transformers undoes that when it reads the GGUF, so
the LoRA was trained on the unpermuted rows and its B matrices of Q and K get
the same row permutation here. Only Llama-architecture bases are written
(the architecture whose permutation transformers and llama.cpp agree on);
any other base, or an adapter llama.cpp cannot express (DoRA, embedding
LoRAs, extra trained modules), is one ``StudioError`` line, and the caller
keeps the transformers path.

Every target is checked against the base GGUF's tensor of the same name
(present, shape n_in x n_out), so a LoRA of another model is refused here
with its reason rather than by llama.cpp without one. The file is written to
a temporary name and renamed into place. The adapter's hash is stored in it
(``studio.lora.source_sha256``), so a cached conversion is reused only while
it matches the adapter it came from and reads back whole."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_output
from studio.core.jobs import StudioError

ADAPTER_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
GGUF_FILE = "adapter_model.gguf"
SOURCE_KEY = "studio.lora.source_sha256"
CONVERTER_VERSION = 1
# Architectures whose Q/K rows llama.cpp's converter permutes and transformers un-permutes on load.
PERMUTED_QK = {"llama"}
SUPPORTED_ARCHITECTURES = PERMUTED_QK
_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<which>[AB])(?:\.[A-Za-z0-9_-]+)?\.weight$")


class LoraGGUFError(StudioError):
    """The adapter cannot be written for llama.cpp (the reason is the message)."""


def source_digest(adapter_folder: Path) -> str:
    """sha256 of the adapter's weights and config, with the converter's version."""
    digest = hashlib.sha256(f"v{CONVERTER_VERSION}\0".encode())
    for name in (ADAPTER_FILE, CONFIG_FILE):
        with open(Path(adapter_folder) / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def is_current(gguf_path: Path, adapter_folder: Path) -> bool:
    """Whether ``gguf_path`` is a whole conversion of the adapter in ``adapter_folder`` as it is now."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(gguf_path)).get_field(SOURCE_KEY)
        return field is not None and field.contents() == source_digest(adapter_folder)
    except Exception:  # noqa: BLE001 - a missing, truncated or foreign file is simply not current
        return False


def ensure_converted(adapter_folder: Path, base_gguf: Path, out: Path | None = None) -> Path:
    """The GGUF adapter of ``adapter_folder`` (``adapter_model.gguf`` beside it
    unless ``out`` is given), converting it when missing, damaged or stale."""
    adapter_folder = Path(adapter_folder)
    out = Path(out) if out is not None else adapter_folder / GGUF_FILE
    if is_current(out, adapter_folder):
        return out
    return convert(adapter_folder, base_gguf, out)


def convert(adapter_folder: Path, base_gguf: Path, out: Path) -> Path:
    """Write the peft adapter in ``adapter_folder`` for the base ``base_gguf`` as a GGUF LoRA at ``out``."""
    import gguf
    import numpy as np

    adapter_folder, base_gguf, out = Path(adapter_folder), Path(base_gguf), Path(out)
    config = _read_config(adapter_folder)
    base = _read_base(base_gguf)
    arch = base["arch"]
    if arch not in SUPPORTED_ARCHITECTURES:
        raise LoraGGUFError(f"llama.cpp LoRA adapters are written for Llama-architecture GGUF bases only; "
                            f"{base_gguf.name} is {arch!r}")
    pairs = _read_pairs(adapter_folder)
    digest = source_digest(adapter_folder)
    name_map = gguf.get_tensor_name_map(_model_arch(arch), base["blocks"])
    alpha = float(config.get("lora_alpha") or 0.0)
    if alpha <= 0:
        raise LoraGGUFError(f"{CONFIG_FILE} has no positive lora_alpha")
    tensors: list[tuple[str, Any, Any]] = []
    for module, (lora_a, lora_b) in sorted(pairs.items()):
        target = name_map.get_name(module)
        if target is None:
            raise LoraGGUFError(f"the LoRA wraps {module}, which has no llama.cpp tensor in a {arch} model")
        tensor = f"{target}.weight"
        shape = base["shapes"].get(tensor)
        rank, n_in = lora_a.shape
        n_out = lora_b.shape[0]
        if lora_b.shape[1] != rank:
            raise LoraGGUFError(f"{module}: lora_A is {tuple(lora_a.shape)} but lora_B is {tuple(lora_b.shape)}")
        if shape is None:
            raise LoraGGUFError(f"the LoRA wraps {module}, but {base_gguf.name} has no tensor {tensor}")
        if tuple(shape) != (n_in, n_out):
            raise LoraGGUFError(f"the LoRA does not fit {base_gguf.name}: {module} is {n_out}x{n_in} in the LoRA "
                                f"and {shape[1]}x{shape[0]} in the model")
        factor = _scaling(config, module, rank) / (alpha / rank)
        if not math.isclose(factor, 1.0, rel_tol=1e-6):
            lora_b = lora_b * np.float32(factor)
        if arch in PERMUTED_QK and target.endswith(".attn_q"):
            lora_b = permute_rows(lora_b, base["heads"])
        elif arch in PERMUTED_QK and target.endswith(".attn_k"):
            lora_b = permute_rows(lora_b, base["kv_heads"])
        tensors.append((tensor, lora_a, lora_b))
    if not tensors:
        raise LoraGGUFError(f"{ADAPTER_FILE} holds no LoRA tensors")

    with atomic_output(out) as temp:
        writer = gguf.GGUFWriter(str(temp), arch)
        writer.add_type(gguf.GGUFType.ADAPTER)  # early in the header: model discovery reads only its start
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        writer.add_name(f"{adapter_folder.name} (LoRA of {base['name'] or base_gguf.stem})")
        writer.add_string(SOURCE_KEY, digest)
        for tensor, lora_a, lora_b in tensors:
            writer.add_tensor(f"{tensor}.lora_a", np.ascontiguousarray(lora_a, dtype=np.float32))
            writer.add_tensor(f"{tensor}.lora_b", np.ascontiguousarray(lora_b, dtype=np.float32))
        try:
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()
    return out


def check_adapter(adapter_gguf: Path, base_gguf: Path) -> None:
    """The checks llama.cpp makes when it loads a LoRA adapter onto a base
    (it only logs what failed): one ``LoraGGUFError`` line for the first that fails."""
    adapter_gguf, base_gguf = Path(adapter_gguf), Path(base_gguf)
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(adapter_gguf))

        def value(key: str) -> Any:
            field = reader.get_field(key)
            return field.contents() if field is not None else None

        kind, adapter_kind, arch = value("general.type"), value("adapter.type"), value("general.architecture")
        shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    except Exception as exc:  # any parse failure means a damaged file
        raise LoraGGUFError(f"{adapter_gguf.name} is damaged ({_first_line(exc)})") from exc
    if kind != "adapter" or adapter_kind != "lora":
        raise LoraGGUFError(f"{adapter_gguf.name} is not a LoRA adapter (type {kind!r}, adapter type {adapter_kind!r})")
    base = _read_base(base_gguf)
    if arch != base["arch"]:
        raise LoraGGUFError(f"it is a LoRA of a {arch} model and {base_gguf.name} is {base['arch']}")
    for name, a_shape in shapes.items():
        if not name.endswith(".lora_a"):
            continue
        tensor = name.removesuffix(".lora_a")
        b_shape, model_shape = shapes.get(f"{tensor}.lora_b"), base["shapes"].get(tensor)
        if b_shape is None:
            raise LoraGGUFError(f"{tensor} has no lora_b")
        if model_shape is None:
            raise LoraGGUFError(f"{base_gguf.name} has no tensor {tensor}")
        if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[0] != model_shape[0] or b_shape[1] != model_shape[1]:
            raise LoraGGUFError(f"{tensor} does not fit {base_gguf.name} (LoRA {a_shape[0]}->{b_shape[-1]}, "
                                f"model {model_shape[0]}->{model_shape[-1]})")
        if a_shape[1] != b_shape[0]:
            raise LoraGGUFError(f"{tensor}: lora_a and lora_b have different ranks")


def permute_rows(weights: Any, heads: int) -> Any:
    """llama.cpp's row order for a Llama's Q or K (``LlamaModel.permute`` of its converter)."""
    rows = weights.shape[0]
    if heads <= 0 or rows % (2 * heads):
        raise LoraGGUFError(f"{rows} rows cannot be split into {heads} rotary heads")
    return (weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoraGGUFError(f"{CONFIG_FILE} is missing from {folder}") from None
    except (OSError, ValueError) as exc:
        raise LoraGGUFError(f"{CONFIG_FILE} is unreadable ({_first_line(exc)})") from exc
    if not isinstance(config, dict):
        raise LoraGGUFError(f"{CONFIG_FILE} is not a JSON object")
    kind = str(config.get("peft_type", "LORA")).upper()
    if kind != "LORA":
        raise LoraGGUFError(f"the adapter is {kind}, not a LoRA")
    if config.get("use_dora"):
        raise LoraGGUFError("DoRA adapters cannot be used by llama.cpp")
    if config.get("fan_in_fan_out"):
        raise LoraGGUFError("fan-in-fan-out (Conv1D) LoRAs cannot be used by llama.cpp")
    if config.get("modules_to_save"):
        raise LoraGGUFError("the adapter also trains whole modules (modules_to_save), which llama.cpp cannot load")
    return config


def _scaling(config: dict[str, Any], module: str, rank: int) -> float:
    """peft's scaling of ``module``: alpha / r, or alpha / sqrt(r) for rsLoRA (with per-module patterns)."""
    alpha = float(config.get("lora_alpha") or 0.0)
    for pattern, value in (config.get("alpha_pattern") or {}).items():
        if re.search(rf"(^|\.){re.escape(pattern)}$", module) or re.fullmatch(pattern, module):
            alpha = float(value)
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def _read_pairs(folder: Path) -> dict[str, tuple[Any, Any]]:
    """module name -> (lora_A, lora_B) as float32 numpy arrays."""
    path = folder / ADAPTER_FILE
    if not path.is_file():
        raise LoraGGUFError(f"{ADAPTER_FILE} is missing from {folder}")
    try:
        from safetensors import safe_open

        found: dict[str, dict[str, Any]] = {}
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                match = _KEY.match(key)
                if match is None:
                    raise LoraGGUFError(f"the adapter holds {key}, which a llama.cpp LoRA cannot express")
                found.setdefault(match["module"], {})[match["which"]] = handle.get_tensor(key).float().numpy()
    except LoraGGUFError:
        raise
    except Exception as exc:  # safetensors raises its own types for damaged files
        raise LoraGGUFError(f"{ADAPTER_FILE} is damaged or unreadable ({_first_line(exc)})") from exc
    pairs = {}
    for module, parts in found.items():
        if set(parts) != {"A", "B"}:
            raise LoraGGUFError(f"{module} has lora_{'A' if 'A' not in parts else 'B'} missing")
        pairs[module] = (parts["A"], parts["B"])
    return pairs


def _read_base(path: Path) -> dict[str, Any]:
    """Architecture, head counts, block count and tensor shapes (GGUF order: n_in, n_out) of the base GGUF."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))

        def value(key: str, default: Any = None) -> Any:
            field = reader.get_field(key)
            return field.contents() if field is not None else default

        arch = str(value("general.architecture", ""))
        heads = int(value(f"{arch}.attention.head_count", 0) or 0)
        info = {"arch": arch, "name": str(value("general.name", "") or ""), "heads": heads,
                "kv_heads": int(value(f"{arch}.attention.head_count_kv", heads) or heads),
                "blocks": int(value(f"{arch}.block_count", 0) or 0),
                "shapes": {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}}
    except Exception as exc:  # any parse failure means a damaged base
        raise LoraGGUFError(f"the base model {path.name} could not be read ({_first_line(exc)})") from exc
    if not info["arch"]:
        raise LoraGGUFError(f"the base model {path.name} names no architecture")
    return info


def _model_arch(arch: str) -> Any:
    import gguf

    for member, name in gguf.MODEL_ARCH_NAMES.items():
        if name == arch:
            return member
    raise LoraGGUFError(f"gguf does not know the architecture {arch!r}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]
