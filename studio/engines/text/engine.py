"""The text engine: one assistant reply per job, streamed as it is written.

``run`` loads the model through the shared model manager (converting a
GGUF on its first use), fits the conversation into the context, and
generates with the requested sampling settings. Each piece of new text goes
to ``report.preview`` as it is decoded (a ``StreamedText``), and the job's
cancel token is read by a stopping criterion after every token, so Stop
takes effect within one token.

Stopping keeps what was written. A cancelled reply is returned as the
artifact, marked ``"stopped": true`` in its meta and in its turn, instead
of raising ``Cancelled``: a person who stops a long answer usually wants to
keep its beginning (every chat tool does), and the conversation must be
able to continue from it. The job then finishes normally and the library
stores the partial reply. Only a cancel before the first word (or while the
model loads) ends the job as cancelled, since there is nothing to keep.

The artifact is a conversation document (``.json``): the history the
request carried, the new prompt and the answer with its settings, time to
first token and tokens per second."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any

from studio.core.jobs import Artifact, Cancelled, CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines import context
from studio.engines.named import resolve
from studio.engines.text import templating
from studio.engines.text.conversation import Conversation, Turn, title_from
from studio.engines.text.loading import LanguageModel, load_language_model, prepare
from studio.engines.text.requests import TextRequest
from studio.engines.text.streaming import TextStream

# Seeding is process-wide in torch: one generation at a time keeps "same
# seed, same settings, same text" true even if two threads ask at once.
_generate_lock = threading.Lock()


@dataclass(frozen=True)
class Reply:
    """What a backend tells about the reply it streamed into the ``TextStream``."""

    prompt_tokens: int
    notice: str = ""  # e.g. that early messages were left out to fit the context
    dropped: int = 0  # how many messages were left out
    loaded_from: str = ""  # where the model ran: a file, a cache folder, a server URL
    backend: str = "transformers"


# A backend streams one reply: (card, request, report, cancel, stream) -> Reply.
_BACKENDS = {
    "transformers": "studio.engines.text.engine:reply_with_transformers",
    "llama.cpp": "studio.engines.text.llama:reply_with_llama",
    "server": "studio.engines.text.remote:reply_from_server",
}


def backend_for(card: ModelCard) -> str:
    """Which backend runs ``card``: a server's model runs there; a GGUF runs
    quantised in llama.cpp when it is installed (the transformers conversion
    is the fallback, and the choice for cards that say so), and so does a
    text LoRA of such a GGUF (as a llama.cpp adapter); the rest run in
    transformers."""
    if card.format == "openai-server":
        return "server"
    if card.format == "text-lora":
        from studio.engines.text.personalise import runs_in_llama

        return "llama.cpp" if runs_in_llama(card) else "transformers"
    if card.format == "gguf" and card.extra.get("backend", "") != "transformers":
        from studio.engines.text.llama import llama_available

        if llama_available():
            return "llama.cpp"
    return "transformers"


def run(request: TextRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    request.validate()
    card = context.find_card(request.model_id, "text")
    if card.modality and card.modality != "text":
        raise StudioError(f"{card.name} is an {card.modality} model; choose a text model")
    stream = TextStream(None, report.preview, request.stop)
    reply = resolve(_BACKENDS[backend_for(card)])(card, request, report, cancel, stream)
    if stream.emitted:
        report.preview(stream.closing_line())
    stopped = cancel.cancelled
    answer = stream.text.strip()
    if stopped and not answer:
        raise Cancelled()
    stats = {**stream.stats(), "prompt_tokens": reply.prompt_tokens}
    document = reply_document(request, answer, stats, stopped, reply.notice)
    recipe = {"stats": stats, "stopped": stopped, "notice": reply.notice, "dropped_messages": reply.dropped,
              "model": {"id": card.id, "name": card.name, "format": card.format, "loaded_from": reply.loaded_from,
                        "backend": reply.backend}}
    return Artifact(data=document.to_json(), suffix=".json", meta={"recipe": recipe, "stopped": stopped})


def reply_with_transformers(card: ModelCard, request: TextRequest, report: Reporter, cancel: CancelToken,
                            stream: TextStream) -> Reply:
    lm = load(card, report, cancel)
    cancel.raise_if_cancelled()
    stream.tokenizer = lm.tokenizer
    fitted = templating.fit_request(lm.tokenizer, request, request.context_length or lm.context_length)
    stream.started = stream.clock()  # time the reply, not the load
    generate(lm, fitted.ids, request, fitted.max_new_tokens, stream, cancel)
    return Reply(len(fitted.ids), fitted.notice, fitted.dropped, lm.source)


def load(card: ModelCard, report: Reporter, cancel: CancelToken) -> LanguageModel:
    """The loaded model of ``card`` from the shared manager (loading it if needed)."""
    info = context.device()

    def loader(loading_card: ModelCard) -> LanguageModel:
        return load_language_model(loading_card, report, cancel, device=info.name, dtype=info.dtype)

    manager = context.model_manager()
    if card.usable and not manager.is_loaded(card.id):
        prepare(card, report, cancel)
    try:
        return manager.get(card.id, loader)
    except StudioError as exc:
        if isinstance(exc.__cause__, Cancelled):  # the manager words every loader error; not this one
            raise Cancelled() from exc
        raise


def generation_config(lm: LanguageModel, request: TextRequest, max_new_tokens: int) -> Any:
    config = copy.deepcopy(lm.model.generation_config)
    sampling = request.temperature > 0
    config.do_sample = sampling
    config.temperature = request.temperature if sampling else None
    config.top_p = request.top_p if sampling else None
    config.top_k = request.top_k if sampling else None  # 0 turns top-k off
    config.repetition_penalty = request.repetition_penalty
    config.max_new_tokens = max_new_tokens
    config.max_length = None
    config.eos_token_id = lm.end_token_ids or config.eos_token_id
    if config.pad_token_id is None and lm.end_token_ids:
        config.pad_token_id = lm.end_token_ids[0]
    return config


def generate(lm: LanguageModel, ids: list[int], request: TextRequest, max_new_tokens: int,
             stream: TextStream, cancel: CancelToken) -> None:
    import torch
    from transformers import StoppingCriteriaList

    inputs = torch.tensor([ids], dtype=torch.long, device=lm.device)
    config = generation_config(lm, request, max_new_tokens)
    criteria = StoppingCriteriaList([_stop_criterion(cancel, stream)])
    with _generate_lock, torch.inference_mode():
        torch.manual_seed(request.seed)
        lm.model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), generation_config=config,
                          streamer=stream, stopping_criteria=criteria)


def _stop_criterion(cancel: CancelToken, stream: TextStream) -> Any:
    import torch
    from transformers import StoppingCriteria

    class StopWhenAsked(StoppingCriteria):
        """Ends generation after the current token on Cancel or a stop string."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = cancel.cancelled or stream.stop_string_hit
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StopWhenAsked()


def reply_document(request: TextRequest, answer: str, stats: dict[str, Any], stopped: bool,
                   notice: str) -> Conversation:
    """The conversation up to and including this reply."""
    turns = [Turn(role, content) for role, content in request.history if role in ("user", "assistant")]
    turns.append(Turn("user", request.prompt))
    turns.append(Turn("assistant", answer, settings=request.sampling(), stats=stats, stopped=stopped,
                      notice=notice))
    first_prompt = next((t.content for t in turns if t.role == "user"), request.prompt)
    conversation = Conversation(title=request.title or title_from(first_prompt), model_id=request.model_id,
                                system=request.system, preset=request.preset, turns=turns)
    if request.conversation_id:
        conversation.id = request.conversation_id
    return conversation


def warm_up() -> None:
    """Import what the first reply needs (torch, transformers' model and
    generation code), so a person's first Send does not wait for imports.
    The GUI runs this in the background when the composer is first used."""
    import torch  # noqa: F401
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, StoppingCriteriaList  # noqa: F401
    from transformers.generation import utils  # noqa: F401
