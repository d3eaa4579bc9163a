"""The GGUF conversion cache: a GGUF model is dequantised once into a
transformers folder of safetensors, and every later load reads that.

Reading a GGUF through transformers parses its metadata (tens of thousands
of vocabulary entries) and dequantises every tensor in Python, about 15 s
for a 135M model on two cores; loading the same weights from safetensors
takes a fraction of that. The converted folder lives under the user cache
directory, named by the GGUF's size, modification time and a hash of its
head, middle and tail, so an edited or replaced file is converted again,
and the folder of an older version of the same file is removed.

A conversion writes into a temporary folder that is renamed into place
only when complete, so an interrupted conversion (a crash, a Cancel) never
leaves a half cache behind. Its progress is reported like any job's: the
first load of a GGUF model shows as a job converting, step by step."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from studio.core.jobs import CancelToken, Reporter, StudioError
from studio.core.models.cards import human_size
from studio.core.paths import studio_paths

log = logging.getLogger(__name__)

CACHE_VERSION = 1
MARKER = "studio-gguf.json"
SAMPLE_BYTES = 1 << 20  # hashed from the head, middle and tail of the file
STALE_PART_S = 3600.0
_hook_lock = threading.Lock()


def cache_root() -> Path:
    return studio_paths().cache / "text-gguf"


def fingerprint(path: Path) -> dict[str, Any]:
    """Size, modification time and a hash of samples of the file. Hashing
    all of a multi-gigabyte file would cost seconds on every load; with size
    and mtime, samples catch a file replaced in place."""
    stat = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for offset in sorted({0, max(0, stat.st_size // 2 - SAMPLE_BYTES // 2),
                              max(0, stat.st_size - SAMPLE_BYTES)}):
            handle.seek(offset)
            digest.update(handle.read(SAMPLE_BYTES))
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "hash": digest.hexdigest()}


def cache_folder(path: Path, print_: dict[str, Any] | None = None) -> Path:
    print_ = print_ or fingerprint(path)
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")[:48] or "model"
    return cache_root() / f"{slug}-{print_['size']}-{print_['mtime_ns']}-{print_['hash'][:16]}"


def is_complete(folder: Path) -> bool:
    return (folder / MARKER).exists() and any(folder.glob("*.safetensors"))


def cached_folder(path: Path) -> Path | None:
    """The converted folder of ``path`` if it exists already."""
    folder = cache_folder(path)
    return folder if is_complete(folder) else None


def ensure_converted(path: Path, report: Reporter, cancel: CancelToken) -> Path:
    """The converted folder of the GGUF at ``path``, converting it first if needed."""
    path = Path(path)
    print_ = fingerprint(path)
    folder = cache_folder(path, print_)
    if is_complete(folder):
        return folder
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(root)
    part = root / f".{folder.name}.part-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(part, ignore_errors=True)
    try:
        _convert(path, part, report, cancel)
        _write_marker(part, path, print_)
        try:
            os.replace(part, folder)
        except OSError:
            if not is_complete(folder):  # not another process finishing first: a real failure
                raise
    finally:
        shutil.rmtree(part, ignore_errors=True)
    _remove_older_versions(root, path, keep=folder)
    return folder


def _convert(path: Path, out: Path, report: Reporter, cancel: CancelToken) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = path.name
    report.progress(0, 100, "Converting GGUF (first use only): reading the tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=name, local_files_only=True)
    cancel.raise_if_cancelled()
    report.progress(20, 100, "Converting GGUF: reading the model description")
    with _tensor_progress(report, cancel, start=30, end=85):
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=name, local_files_only=True)
    cancel.raise_if_cancelled()
    needed = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    free = shutil.disk_usage(out.parent).free
    if needed * 1.05 > free:
        raise StudioError(f"not enough disk space to convert {name}: it needs {human_size(needed)} in "
                          f"{out.parent} and {human_size(free)} is free")
    report.progress(88, 100, "Converting GGUF: writing safetensors")
    # The weights are plain tensors now; what remains of the GGUF loading is
    # the quantizer's "cannot be saved" flag, which no longer applies.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    report.progress(100, 100, "Converting GGUF: done")


@contextlib.contextmanager
def _tensor_progress(report: Reporter, cancel: CancelToken, start: int, end: int) -> Iterator[None]:
    """Report progress (and honour Cancel) per tensor while transformers
    dequantises a GGUF. Its loader walks the tensors through ``tqdm``; that
    name is swapped for a counting wrapper for the duration of the call."""
    try:
        module = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    except ImportError:
        yield
        return
    original = getattr(module, "tqdm", None)
    if original is None:
        yield
        return

    def counted(iterable: Iterable[Any], *_args: Any, **_kwargs: Any) -> Iterator[Any]:
        items = list(iterable)
        total = max(len(items), 1)
        last = -1
        for index, item in enumerate(items):
            cancel.raise_if_cancelled()
            done = start + (end - start) * index // total
            if done != last:
                report.progress(done, 100, f"Converting GGUF: tensor {index + 1} of {total}")
                last = done
            yield item

    with _hook_lock:
        module.tqdm = counted
        try:
            yield
        finally:
            module.tqdm = original


def _write_marker(folder: Path, source: Path, print_: dict[str, Any]) -> None:
    import transformers

    marker = {
        "cache_version": CACHE_VERSION, "source": str(source.resolve()), **print_,
        "transformers": transformers.__version__,
        "converted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (folder / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")


def _read_marker(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remove_older_versions(root: Path, source: Path, keep: Path) -> None:
    """Drop conversions of earlier versions of the same GGUF file."""
    resolved = str(source.resolve())
    for folder in root.iterdir():
        if folder == keep or folder.name.startswith(".") or not folder.is_dir():
            continue
        if _read_marker(folder).get("source") == resolved:
            log.info("removing the conversion of an older version of %s: %s", source.name, folder)
            shutil.rmtree(folder, ignore_errors=True)


def _remove_stale_parts(root: Path) -> None:
    """Leftovers of conversions killed part-way (a crash; a finished or
    cancelled one cleans up after itself)."""
    now = time.time()
    for part in root.glob(".*.part-*"):
        with contextlib.suppress(OSError):
            if now - part.stat().st_mtime > STALE_PART_S:
                shutil.rmtree(part, ignore_errors=True)
