"""GGUF language models run quantised in process by llama.cpp
(``llama-cpp-python``).

A GGUF file is memory-mapped and run as it is (Q4, Q8 ...), without the
float copy that the transformers conversion makes. The prompt is written by
the model's own chat template, read from the file's metadata
(``tokenizer.chat_template``) and rendered by the same sandboxed Jinja2
formatter that llama-cpp-python uses for its default chat handler; a model
without a template gets the plain "User: / Assistant:" transcript. The
conversation is fitted into the context as for transformers
(:func:`studio.engines.text.templating.fit`: oldest turns left out first,
then a shorter answer), and the fitted token ids are what is generated from,
so the tokens counted are exactly the tokens evaluated.

Generation streams token by token into the ``TextStream``; Stop and stop
strings are read after every token and end the loop (closing the
generator). One ``Llama`` object is not thread safe, so replies on one
model are serialised by its lock. The KV cache is kept between replies, so
the next turn of a chat evaluates only its new tokens; the sampler is seeded
on every reply, so the same seed and settings give the same text.

A text LoRA trained by Studio on a GGUF model runs here too: its base GGUF
with the LoRA applied as a llama.cpp adapter (``apply_lora``; converted from
peft's files by ``studio.engines.text.lora_gguf``, once, beside them), and
the reply's ``loaded_from`` names both files.

A file llama.cpp cannot load (damaged, or an architecture this build does
not know), or a LoRA it cannot take, is tried through transformers instead
(the GGUF conversion; for a LoRA, the base with the adapter merged), with a
notice; when neither can load it the error is one line naming the model."""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from studio.core.jobs import Cancelled, CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 4096  # the context used when a request asks for none (the model's own, capped to keep memory small)
# The KV cache is kept in 8 bits (q8_0: 34 bytes a block of 32 values, with
# flash attention, which a quantised V cache needs): half the memory of
# llama.cpp's f16 default, with the text practically unchanged (Ollama offers
# the same). A model or build that refuses it gets the f16 cache.
KV_CACHE_8BIT = {"type_k": 8, "type_v": 8, "flash_attn": True}  # 8: GGML_TYPE_Q8_0
KV_BYTES_8BIT = 34 / 32
KV_BYTES_F16 = 2.0

# Files llama.cpp failed to load, by (path, size, mtime): the reason, so that
# later replies go straight to the transformers fallback.
_failed: dict[tuple[str, int, float], str] = {}


def llama_available() -> bool:
    """Whether llama.cpp's Python binding is installed (it is built from source)."""
    return importlib.util.find_spec("llama_cpp") is not None


def physical_cores() -> int:
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        cores = None
    return max(1, cores or os.cpu_count() or 1)


def gpu_layers() -> int:
    """Layers to offload: the ``text.gpu_layers`` setting on a build with GPU
    offload (-1: all of them), none on a CPU-only build."""
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        return 0
    try:
        from studio.core.paths import studio_paths
        from studio.core.settings import Settings

        return int(Settings(studio_paths().settings_file).get("text.gpu_layers", -1))
    except (OSError, ValueError, TypeError) as exc:
        log.info("text.gpu_layers unreadable (%s); offloading every layer", exc)
        return -1


def kv_cache_bytes(metadata: dict[str, Any], n_ctx: int, fallback_layers: int = 0, fallback_embd: int = 0,
                   bytes_per_value: float = KV_BYTES_F16) -> int:
    """Bytes of a KV cache of ``n_ctx`` tokens, from a GGUF's metadata:
    keys and values for every layer, ``head_count_kv`` heads of
    ``key_length`` / ``value_length`` each."""
    arch = str(metadata.get("general.architecture", ""))

    def number(key: str, default: int) -> int:
        try:
            return int(str(metadata.get(f"{arch}.{key}", default)).strip("[]").split(",")[0])
        except ValueError:
            return default

    layers = number("block_count", fallback_layers)
    embd = number("embedding_length", fallback_embd)
    heads = number("attention.head_count", 0) or 1
    kv_heads = number("attention.head_count_kv", heads) or heads
    key_length = number("attention.key_length", embd // heads)
    value_length = number("attention.value_length", embd // heads)
    return int(n_ctx * layers * kv_heads * (key_length + value_length) * bytes_per_value)


class LlamaTokenizer:
    """The little of a transformers tokenizer that ``templating.fit`` uses
    (``chat_template``, ``apply_chat_template``, calling it to encode),
    backed by the GGUF's own template and llama.cpp's tokenizer."""

    def __init__(self, model: LlamaModel) -> None:
        self.model = model
        self.chat_template = model.chat_template or None

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool = False,
                            add_generation_prompt: bool = True) -> str:
        return self.model.format(messages, add_generation_prompt)

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": self.model.encode(text, add_special_tokens)}


class LlamaModel:
    """A loaded ``llama_cpp.Llama`` with what Studio needs around it: its
    lock, the chat template, and the memory it holds (``memory_bytes``:
    the mapped file plus the KV cache), which the model manager accounts."""

    def __init__(self, llm: Any, path: Path, n_ctx_asked: int, kv_bytes_per_value: float = KV_BYTES_F16,
                 lora_path: Path | None = None) -> None:
        self.llm = llm
        self.path = Path(path)
        self.lora_path = Path(lora_path) if lora_path is not None else None  # a GGUF LoRA adapter applied
        self.n_ctx_asked = n_ctx_asked  # 0: the default (the model's own, capped)
        self.lock = threading.Lock()
        self.metadata: dict[str, Any] = dict(llm.metadata or {})
        self.chat_template: str = self.metadata.get("tokenizer.chat_template", "") or ""
        self.n_ctx = int(llm.n_ctx())
        self.n_ctx_train = _n_ctx_train(llm)
        self.file_bytes = self.path.stat().st_size + (self.lora_path.stat().st_size if self.lora_path else 0)
        self.kv_bytes_per_value = kv_bytes_per_value
        self.kv_cache_bytes = kv_cache_bytes(self.metadata, self.n_ctx, _layer_count(llm), int(llm.n_embd()),
                                             kv_bytes_per_value)
        self.memory_bytes = self.file_bytes + self.kv_cache_bytes
        self.tokenizer = LlamaTokenizer(self)
        self.last_prompt = ""  # the prompt text of the latest reply, as the template wrote it
        self._formatter: Any = None

    @property
    def source(self) -> str:
        """Where the reply ran: the GGUF file, and the LoRA adapter applied to it."""
        if self.lora_path is None:
            return str(self.path)
        return f"{self.path} + LoRA {self.lora_path} (llama.cpp: the base GGUF with the LoRA as a GGUF adapter)"

    # --- prompt ---------------------------------------------------------------------
    def formatter(self) -> Any:
        """llama-cpp-python's Jinja2 chat formatter over the GGUF's template
        (what its default chat handler uses), with the file's BOS/EOS text."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = self.llm.token_eos(), self.llm.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=self.chat_template, eos_token=self._token_text(eos), bos_token=self._token_text(bos),
                stop_token_ids=[eos] if eos >= 0 else None)
        return self._formatter

    def format(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        formatter = self.formatter()
        formatter.add_generation_prompt = add_generation_prompt
        return formatter(messages=messages).prompt

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        # A template writes its own begin-of-text marker; a transcript gets the model's.
        add_bos = add_special_tokens or not self.chat_template
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        try:
            return self.llm.detokenize([token], special=True).decode("utf-8", errors="ignore")
        except TypeError:  # an older binding without ``special``
            return self.llm.detokenize([token]).decode("utf-8", errors="ignore")

    # --- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            llm.close()

    def __del__(self) -> None:  # the model manager unloads by dropping its reference
        try:
            self.close()
        except Exception as exc:  # noqa: BLE001 - at interpreter exit there is little left to report to
            log.debug("closing a llama.cpp model failed: %s", exc)


def _layer_count(llm: Any) -> int:
    try:
        import llama_cpp

        return int(llama_cpp.llama_model_n_layer(llm._model.model))
    except (AttributeError, TypeError, ValueError):
        return 0


def _n_ctx_train(llm: Any) -> int:
    return int(llm._model.n_ctx_train())


def _identity(path: Path) -> tuple[str, int, float]:
    try:
        stat = path.stat()
        return (str(path), stat.st_size, stat.st_mtime)
    except OSError:
        return (str(path), 0, 0.0)


class LlamaLoadError(StudioError):
    """llama.cpp could not load the file (the transformers fallback may still)."""

    def __init__(self, card: ModelCard, reason: str) -> None:
        super().__init__(f"{card.name}: llama.cpp could not load {Path(card.path).name} ({reason})")
        self.reason = reason


def model_files(card: ModelCard) -> tuple[Path, Path | None]:
    """The GGUF that runs ``card`` and the GGUF LoRA adapter applied to it
    (a text LoRA's base and its adapter, converted if needed; else none)."""
    if card.format != "text-lora":
        return Path(card.path), None
    from studio.engines.text.personalise import llama_files

    try:
        return llama_files(card)
    except StudioError as exc:
        reason = f"the LoRA could not be written for llama.cpp: {str(exc).removeprefix(f'{card.name}: ')}"
        _failed[_identity(Path(card.path))] = reason
        raise LlamaLoadError(card, reason) from exc


def open_model(card: ModelCard, n_ctx: int = 0) -> LlamaModel:
    """Load ``card``'s GGUF in llama.cpp with a context of ``n_ctx`` tokens
    (0: the model's own, capped at ``DEFAULT_CONTEXT``); a text LoRA's base
    with its adapter applied."""
    import llama_cpp

    key = _identity(Path(card.path))
    if key in _failed:
        raise LlamaLoadError(card, _failed[key])
    path, lora = model_files(card)

    kv_bytes = KV_BYTES_8BIT

    def llama(context: int) -> Any:
        nonlocal kv_bytes
        threads = physical_cores()
        options = {"model_path": str(path), "n_ctx": context, "n_threads": threads, "n_threads_batch": threads,
                   "n_gpu_layers": gpu_layers(), "verbose": False}
        llm = None
        if kv_bytes == KV_BYTES_8BIT:
            try:
                llm = llama_cpp.Llama(**options, **KV_CACHE_8BIT)
            except (ValueError, RuntimeError) as exc:
                log.info("%s: no 8-bit KV cache (%s); using f16", path.name, exc)
                kv_bytes = KV_BYTES_F16
        if llm is None:
            llm = llama_cpp.Llama(**options)
        if lora is not None:
            try:
                apply_lora(llm, lora)
            except BaseException:
                llm.close()
                raise
        return llm

    try:
        llm = llama(n_ctx or DEFAULT_CONTEXT)
    except MemoryError:
        raise
    except Exception as exc:
        reason = _lora_reason(lora, path, exc) if isinstance(exc, LoraRefusedError) else _reason(path, exc)
        _failed[key] = reason
        raise LlamaLoadError(card, reason) from exc
    trained = _n_ctx_train(llm)
    if not n_ctx and 0 < trained < DEFAULT_CONTEXT:  # a model trained on a shorter context
        llm.close()
        llm = llama(trained)
    return LlamaModel(llm, path, n_ctx, kv_bytes, lora)


class LoraRefusedError(Exception):
    """llama.cpp would not take a LoRA adapter."""


def apply_lora(llm: Any, lora: Path, scale: float = 1.0) -> None:
    """Load the GGUF LoRA adapter at ``lora`` and apply it to ``llm``'s context.

    Done here rather than through ``Llama(lora_path=...)``: llama-cpp-python
    0.3.36 tests the adapter it gets back against ``None``, which a failed
    load (a NULL pointer) never is, so a refused adapter went on to crash
    the process in the first decode. It also keeps the base memory-mapped
    (that binding reads the whole base into memory whenever it has a
    ``lora_path``), which llama.cpp allows since it applies adapters in its
    graph and leaves the base weights alone. The adapter is freed with the
    ``Llama``, before its model."""
    import ctypes

    import llama_cpp

    try:
        model, context, stack = llm._model.model, llm._ctx.ctx, llm._stack
    except AttributeError as exc:
        raise LoraRefusedError(f"this llama-cpp-python cannot apply adapters ({exc})") from exc
    adapter = llama_cpp.llama_adapter_lora_init(model, str(lora).encode("utf-8"))
    if not adapter:  # NULL: llama.cpp logged why
        raise LoraRefusedError(f"llama.cpp did not load {lora.name}")
    stack.callback(llama_cpp.llama_adapter_lora_free, adapter)
    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
    scales = (ctypes.c_float * 1)(scale)
    if llama_cpp.llama_set_adapters_lora(context, adapters, 1, scales):
        raise LoraRefusedError(f"llama.cpp did not apply {lora.name}")


def _lora_reason(lora: Path, base: Path, exc: BaseException) -> str:
    """Why llama.cpp refused a LoRA adapter (it logs the detail only), from
    the checks it makes, repeated on the files."""
    from studio.engines.text.lora_gguf import LoraGGUFError, check_adapter

    try:
        check_adapter(lora, base)
    except LoraGGUFError as found:
        return f"it refused the LoRA adapter {lora.name}: {found}"
    return f"it refused the LoRA adapter {lora.name} ({exc})"


def _reason(path: Path, exc: BaseException) -> str:
    """Why llama.cpp refused a file, in a few words (it logs the detail only)."""
    try:
        from gguf import GGUFReader
    except ImportError:
        GGUFReader = None
    arch = ""
    if GGUFReader is not None:
        try:
            reader = GGUFReader(str(path))
            field = reader.fields.get("general.architecture")
            arch = bytes(field.parts[field.data[0]]).decode() if field is not None else ""
        except Exception as read_exc:  # noqa: BLE001 - any parse failure means a damaged file
            text = str(read_exc).strip()
            detail = text.splitlines()[0][:120] if text else type(read_exc).__name__
            return f"the file is damaged or incomplete: {detail}"
    if arch:
        return f"architecture {arch!r} is not supported by this llama.cpp, or the file is damaged"
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def load(card: ModelCard, request: Any, report: Reporter) -> LlamaModel:
    """The loaded model of ``card`` from the shared manager, with the
    context the request asks for (reloading when it differs)."""
    from studio.engines import context

    manager = context.model_manager()

    def loader(loading_card: ModelCard) -> LlamaModel:
        report.progress(0, 1, f"Loading {loading_card.name} (llama.cpp)")
        return open_model(loading_card, request.context_length)

    model = manager.get(card.id, loader)
    if not isinstance(model, LlamaModel) or model.llm is None or model.n_ctx_asked != request.context_length:
        manager.unload(card.id)  # loaded by transformers, or with another context
        if isinstance(model, LlamaModel):
            with model.lock:  # after the reply it may be writing
                model.close()
        del model
        model = manager.get(card.id, loader)
    return model


def reply_with_llama(card: ModelCard, request: Any, report: Reporter, cancel: CancelToken, stream: Any) -> Any:
    from studio.engines.text.engine import Reply

    cancel.raise_if_cancelled()
    known = _failed.get(_identity(Path(card.path)))
    if known is not None:  # failed before: straight to transformers, keeping what it has loaded
        return _fall_back(card, request, report, cancel, stream, LlamaLoadError(card, known))
    from studio.engines.text import templating

    for _attempt in range(3):
        try:
            model = load(card, request, report)
        except LlamaLoadError as exc:
            return _fall_back(card, request, report, cancel, stream, exc)
        cancel.raise_if_cancelled()
        model.lock.acquire()
        if model.llm is not None:
            break
        model.lock.release()  # closed by a reply that asked for another context: load again
    else:
        raise StudioError(f"{card.name}: the model was unloaded while this reply waited for it; try again")
    try:
        fitted = templating.fit_request(model.tokenizer, request, request.context_length or model.n_ctx)
        model.last_prompt = model.llm.detokenize(fitted.ids, special=True).decode("utf-8", errors="replace")
        stream.started = stream.clock()  # time the reply, not the load
        generate(model, fitted.ids, request, fitted.max_new_tokens, stream, cancel)
    finally:
        model.lock.release()
    return Reply(len(fitted.ids), fitted.notice, fitted.dropped, model.source, backend="llama.cpp")


def generate(model: LlamaModel, ids: Sequence[int], request: Any, max_new_tokens: int, stream: Any,
             cancel: CancelToken) -> None:
    """Stream the answer to the prompt ``ids`` into ``stream``, token by
    token, until the end of the turn, ``max_new_tokens``, a stop string or
    Stop. The caller holds ``model.lock``."""
    llm = model.llm
    # No reset: llama.cpp keeps the KV cache of the tokens it has seen and
    # evaluates only where the new prompt departs from them, so a chat's next
    # turn does not re-read its whole history. The sampler is seeded per call.
    sampling = request.temperature > 0
    chunks = llm.create_completion(
        prompt=list(ids), max_tokens=max_new_tokens, stream=True, seed=request.seed,
        temperature=request.temperature if sampling else 0.0, top_p=request.top_p if sampling else 1.0,
        top_k=request.top_k if sampling else 0, min_p=0.0, repeat_penalty=request.repetition_penalty,
        stop=list(request.stop) or None)
    try:
        for chunk in chunks:
            piece = chunk["choices"][0].get("text") or ""
            if piece:
                stream.put_text(piece, tokens=1)
            if stream.stop_string_hit or cancel.cancelled:
                break
    finally:
        chunks.close()


def _fall_back(card: ModelCard, request: Any, report: Reporter, cancel: CancelToken, stream: Any,
               failure: LlamaLoadError) -> Any:
    """Run the GGUF through transformers' conversion when llama.cpp cannot load
    it (a text LoRA: its base there, with the adapter merged)."""
    from dataclasses import replace

    from studio.engines.text.engine import reply_with_transformers

    log.info("%s; trying transformers", failure)
    try:
        reply = reply_with_transformers(card, request, report, cancel, stream)
    except Cancelled:
        raise
    except StudioError as exc:
        other = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        other = other.removeprefix(f"{card.name}: ")
        raise StudioError(f"{card.name} cannot be loaded: llama.cpp failed ({failure.reason}), "
                          f"and so did transformers ({other})") from exc
    if card.format == "text-lora":
        notice = (f"llama.cpp could not run this LoRA ({failure.reason}); it ran in transformers with the LoRA "
                  "merged instead")
    else:
        notice = f"llama.cpp could not load this file ({failure.reason}); it ran through transformers instead"
    return replace(reply, notice="; ".join(n for n in (notice, reply.notice) if n))
