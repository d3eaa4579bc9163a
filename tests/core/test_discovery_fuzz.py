"""Model discovery treats every header field as untrusted: random and mutated
headers of each format (safetensors, GGUF, ONNX, Piper voice configs,
pickles, model.json cards, SoundFonts, config folders) each cost only their
own card, never an exception, and the card says what is wrong."""

from __future__ import annotations

import io
import json
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.models.discovery import discover, scan_folder

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
# A mutation: bytes overwritten at positions (as fractions of the length), then an optional cut.
mutations = st.tuples(
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6),
    st.one_of(st.none(), st.floats(0, 1)),
)


def mutate(data: bytes, mutation) -> bytes:
    edits, cut = mutation
    out = bytearray(data)
    for where, value in edits:
        out[int(where * len(out))] = value
    if cut is not None:
        out = out[: int(cut * len(out))]
    return bytes(out)


def safetensors_bytes() -> bytes:
    from safetensors.numpy import save

    return save({"model.diffusion_model.input.weight": np.ones((4, 4), np.float32)}, {"format": "pt"})


def safetensors_with_header(header) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 64


def gguf_bytes() -> bytes:
    import gguf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_block_count(1)
        writer.add_name("fuzz")
        writer.add_tensor("token_embd.weight", np.zeros((8, 4), np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


def onnx_bytes() -> bytes:
    graph = b"\x0a\x04node" * 4  # a graph message (field 7) holding a few bytes
    return b"\x08\x07" + b"\x12\x06studio" + b"\x3a" + bytes([len(graph)]) + graph + b"\x42\x02\x10\x11"


def soundfont_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")

    body = b"sfbk" + chunk(b"LIST", b"INFO" + chunk(b"INAM", b"fuzz\0")) + chunk(b"LIST", b"sdta") + chunk(
        b"LIST", b"pdta" + chunk(b"phdr", b"\0" * 38))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pickle_bytes() -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save({"weight": torch.ones(2, 2)}, buffer)
    return buffer.getvalue()


BASES = {
    ".safetensors": safetensors_bytes,
    ".gguf": gguf_bytes,
    ".onnx": onnx_bytes,
    ".sf2": soundfont_bytes,
    ".pt": pickle_bytes,
}
_base_cache: dict[str, bytes] = {}


def base(suffix: str) -> bytes:
    if suffix not in _base_cache:
        _base_cache[suffix] = BASES[suffix]()
    return _base_cache[suffix]


def scan_one(files: dict[str, bytes]):
    """Scan a temp folder holding ``files``; exactly one card must come back."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "models"
        for name, data in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        cards = list(scan_folder(root, source="fuzz"))
    assert len(cards) == 1, [c.to_dict() for c in cards]
    card = cards[0]
    assert isinstance(card.error, str) and "\n" not in card.error
    json.dumps(card.to_dict(), default=str)  # what `studio models list --json` prints
    return card


def test_valid_bases_are_usable():
    for suffix in BASES:
        name = "rife-fuzz.onnx" if suffix == ".onnx" else f"model{suffix}"
        card = scan_one({name: base(suffix)})
        assert card.usable or suffix == ".pt", (suffix, card.error)


@pytest.mark.parametrize("suffix", sorted(BASES))
@FUZZ
@given(mutation=mutations)
def test_mutated_headers_cost_only_their_card(suffix, mutation):
    name = "rife-fuzz.onnx" if suffix == ".onnx" else f"model{suffix}"
    scan_one({name: mutate(base(suffix), mutation)})


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".safetensors", ".gguf", ".sf2", ".pt", ".onnx"]))
def test_random_bytes_cost_only_their_card(data, suffix):
    name = "rife-fuzz.onnx" if suffix == ".onnx" else f"model{suffix}"
    card = scan_one({name: data})
    if suffix != ".pt":
        assert not card.usable or len(data) > 8


@FUZZ
@given(header=json_values)
def test_safetensors_json_of_any_shape(header):
    card = scan_one({"model.safetensors": safetensors_with_header(header)})
    if not isinstance(header, dict) or any(k != "__metadata__" for k in header):
        assert not card.usable


@FUZZ
@given(entry=st.dictionaries(st.sampled_from(["dtype", "shape", "data_offsets"]), json_values))
def test_safetensors_tensor_entries_of_any_shape(entry):
    scan_one({"model.safetensors": safetensors_with_header({"t": entry})})


@FUZZ
@given(card_json=json_values)
def test_model_json_of_any_shape(card_json):
    card = scan_one({"model.safetensors": base(".safetensors"), "model.model.json": json.dumps(card_json).encode()})
    assert card.modality in ("", "text", "image", "audio", "video")
    size = card.extra.get("native_size")
    assert size is None or (len(size) == 2 and all(isinstance(v, int) for v in size))


@FUZZ
@given(config=json_values)
def test_piper_voice_config_of_any_shape(config):
    scan_one({"voice.onnx": onnx_bytes(), "voice.onnx.json": json.dumps(config).encode()})


@FUZZ
@given(config=json_values, index=st.booleans())
def test_model_folder_configs_of_any_shape(config, index):
    files = {"model/model.safetensors": base(".safetensors")}
    files["model/model_index.json" if index else "model/config.json"] = json.dumps(config).encode()
    scan_one(files)


def test_wrong_shape_header_costs_only_its_card(tmp_path):
    """The reported case: a header of valid JSON but the wrong shape."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "broken.safetensors").write_bytes(safetensors_with_header({"w": 1}))
    (folder / "good.safetensors").write_bytes(base(".safetensors"))
    cards = {c.name: c for c in discover([folder], include_starters=False, include_hf_cache=False)}
    assert set(cards) == {"broken", "good"}
    assert cards["good"].usable
    assert "entry 'w'" in cards["broken"].error


def test_models_list_survives_a_damaged_file(tmp_path, studio_home, capsys):
    from studio import cli
    from studio.core.paths import studio_paths

    models = studio_paths().ensure().models_dir
    (models / "broken.safetensors").write_bytes(safetensors_with_header({"w": 1}))
    (models / "bad.model.json").write_text("[1, 2]")
    (models / "bad.safetensors").write_bytes(base(".safetensors"))
    assert cli.main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "broken" in out and "starter-shapes" in out and "is not a JSON object" in out
