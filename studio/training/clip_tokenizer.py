"""The CLIP BPE tokenizer, built offline from the vocabulary file open_clip ships.

Stable Diffusion's text encoders use OpenAI CLIP's byte-level BPE (49,408
tokens). No tokenizer can be downloaded at run time, but the installed
`open_clip` package carries CLIP's merge list as `bpe_simple_vocab_16e6.txt.gz`.
This module reads that file (without importing open_clip, whose import pulls
torchvision) and derives the vocabulary exactly as CLIP's own tokenizer does:

  256 byte-unicode characters, the same 256 with the end-of-word mark "</w>",
  one token per merge (the first 49152 - 256 - 2 merges), then
  "<|startoftext|>" and "<|endoftext|>".

It writes `vocab.json` and `merges.txt` (the files every transformers
version's CLIPTokenizer reads) and returns the loaded tokenizer. The starter
model uses it, and the image engine reuses it for single-file checkpoints
that come without a tokenizer.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

BPE_FILE_NAME = "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
MODEL_MAX_LENGTH = 77
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


class TokenizerSourceMissing(FileNotFoundError):
    """CLIP's BPE merge list is not installed (the open-clip-torch package provides it)."""


def find_bpe_file() -> Path:
    """Path of CLIP's merge list inside the installed open_clip package (not imported)."""
    spec = importlib.util.find_spec("open_clip")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / BPE_FILE_NAME
        if candidate.is_file():
            return candidate
    raise TokenizerSourceMissing(
        f"{BPE_FILE_NAME} not found: install the open-clip-torch package "
        "(pip install --no-deps open-clip-torch) to build the CLIP tokenizer offline"
    )


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible map from the 256 byte values to printable unicode characters."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


@lru_cache(maxsize=4)
def read_merges(bpe_file: Path | None = None) -> tuple[tuple[str, str], ...]:
    """The merges CLIP uses: the file's lines after its header, 49152 - 256 - 2 of them."""
    path = bpe_file or find_bpe_file()
    lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    return tuple(tuple(line.split()) for line in merges)  # type: ignore[misc]


def build_vocab(merges: tuple[tuple[str, str], ...]) -> dict[str, int]:
    """Token -> id, in CLIP's order."""
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [ch + "</w>" for ch in alphabet]
    tokens += ["".join(pair) for pair in merges]
    tokens += [START_TOKEN, END_TOKEN]
    if len(tokens) != VOCAB_SIZE:
        raise ValueError(f"CLIP vocabulary came out with {len(tokens)} tokens, expected {VOCAB_SIZE}")
    return {token: index for index, token in enumerate(tokens)}


def write_tokenizer_files(out_dir: str | Path, bpe_file: Path | None = None,
                          model_max_length: int = MODEL_MAX_LENGTH) -> Path:
    """Write vocab.json, merges.txt and the tokenizer's config into `out_dir`.

    `model_max_length` is the context every prompt is padded (or cut) to:
    CLIP's 77 unless a model was trained on a shorter one.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merges = read_merges(bpe_file)
    vocab = build_vocab(merges)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    # The "#version" header is the first line every CLIP merges reader skips.
    merges_text = "#version: 0.2\n" + "\n".join(" ".join(pair) for pair in merges) + "\n"
    (out / "merges.txt").write_text(merges_text, encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": model_max_length,
        "bos_token": START_TOKEN,
        "eos_token": END_TOKEN,
        "unk_token": END_TOKEN,
        "pad_token": END_TOKEN,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {"bos_token": START_TOKEN, "eos_token": END_TOKEN, "unk_token": END_TOKEN, "pad_token": END_TOKEN}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
    return out


def build_clip_tokenizer(out_dir: str | Path, bpe_file: Path | None = None,
                         model_max_length: int = MODEL_MAX_LENGTH) -> CLIPTokenizer:
    """Build CLIP's tokenizer files into `out_dir` and load them with transformers."""
    from transformers import CLIPTokenizer

    out = write_tokenizer_files(out_dir, bpe_file, model_max_length)
    return CLIPTokenizer.from_pretrained(str(out))
