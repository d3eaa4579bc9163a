"""CLIP's tokenizer files written offline, for single-file checkpoints that
ship without a tokenizer.

Every Stable Diffusion text encoder up to SDXL uses OpenAI CLIP's byte-level
BPE. Its merge list ships inside the installed ``open_clip`` package as
``bpe_simple_vocab_16e6.txt.gz``; the file is read in place (open_clip is
never imported: it would pull torchvision). The vocabulary follows from the
merges the way CLIP builds it: the 256 byte characters, the same with the
end-of-word mark ``</w>``, one token per merge (the first 48,894), then the
start and end tokens: 49,408 in all."""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from studio.core.jobs import StudioError

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
MERGES = VOCAB_SIZE - 2 * 256 - 2
START, END = "<|startoftext|>", "<|endoftext|>"


def bpe_path() -> Path:
    spec = importlib.util.find_spec("open_clip")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / BPE_FILE
        if candidate.is_file():
            return candidate
    raise StudioError(f"CLIP's vocabulary ({BPE_FILE}) was not found: install open-clip-torch "
                      "(pip install --no-deps open-clip-torch) to load single-file checkpoints")


def byte_characters() -> list[str]:
    """CLIP's printable stand-in for each byte value, in byte order of the table CLIP builds."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


@lru_cache(maxsize=1)
def merges() -> tuple[tuple[str, str], ...]:
    with gzip.open(bpe_path(), "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")[1:MERGES + 1]
    return tuple(tuple(line.split()) for line in lines)  # type: ignore[misc]


def vocabulary() -> dict[str, int]:
    alphabet = byte_characters()
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["".join(pair) for pair in merges()] + [START, END]
    if len(tokens) != VOCAB_SIZE:
        raise StudioError(f"{BPE_FILE} gave {len(tokens)} tokens, not CLIP's {VOCAB_SIZE}: the file is damaged")
    return {token: index for index, token in enumerate(tokens)}


def write_tokenizer_files(folder: Path, pad_token: str = END) -> Path:
    """vocab.json, merges.txt and the config a transformers ``CLIPTokenizer`` loads.
    SD 1.x and SDXL's first encoder pad with the end token; OpenCLIP encoders with "!"."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocabulary(), ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p in merges()) + "\n",
                                       encoding="utf-8")
    special = {"bos_token": START, "eos_token": END, "unk_token": END, "pad_token": pad_token}
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
              "errors": "replace", "add_prefix_space": False, "clean_up_tokenization_spaces": False, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=1), encoding="utf-8")
    return folder
