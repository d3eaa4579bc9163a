"""Job vocabulary shared by every layer: requests, job states, the cancel
token, the progress reporter an engine talks to, and the artifact it returns.

Requests are immutable dataclasses snapshotted on the GUI thread; they are
serialised to JSON for the persistent queue and embedded as the recipe in
every artifact, so a request type must hold only JSON-friendly values.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol


class StudioError(Exception):
    """An error whose message is meant for the user: clear, one line, no traceback."""


class Cancelled(Exception):
    """Raised inside an engine when its cancel token is set."""


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # was running when the process died

    @property
    def is_final(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


_REQUEST_TYPES: dict[str, type[Request]] = {}


@dataclass(frozen=True)
class Request:
    """Base of every generation request. Subclasses set ``kind`` (a ClassVar)
    and are registered so a stored recipe can be turned back into a request."""

    kind: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    seed: int = 0
    model_id: str = ""
    # What each field means and, for a fixed set, the values it accepts: the
    # command line's --help and choices are made from these. Subclasses add
    # their own fields (their dicts are merged over the MRO); a set is the
    # same constant ``validate`` checks, so help and validation cannot drift.
    HELP: ClassVar[dict[str, str]] = {
        "seed": "random seed; the same seed and settings make the same result again",
        "model_id": "the model to use, by id (see `studio models list`)",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            _REQUEST_TYPES[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind
        return data

    def describe(self) -> str:
        """A short human label for queue and library rows."""
        prompt = getattr(self, "prompt", "")
        return prompt or self.kind

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Request:
        """Rebuild a request from its recipe. Request modules register their
        types when imported (``studio.engines.registry.load_request_types``);
        an unknown kind comes back as an ``UnknownRequest`` that fails to run
        with a clear message instead of breaking the queue or the library."""
        cls = _REQUEST_TYPES.get(data.get("kind", ""))
        if cls is None:
            return UnknownRequest(raw=dict(data))
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for f in dataclasses.fields(cls):
            # JSON turns tuples into lists; restore them so requests compare equal.
            if f.name in values and isinstance(values[f.name], list) and "tuple" in str(f.type):
                values[f.name] = tuple(values[f.name])
        return cls(**values)


def request_type(kind: str) -> type[Request]:
    if kind not in _REQUEST_TYPES:
        raise StudioError(f"unknown request kind {kind!r}")
    return _REQUEST_TYPES[kind]


@dataclass(frozen=True)
class UnknownRequest(Request):
    """A stored request whose kind no installed engine knows."""

    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)

    def describe(self) -> str:
        return f"{self.raw.get('prompt') or 'job'} (unknown kind {self.raw.get('kind')!r})"


@dataclass
class Artifact:
    """What an engine produced, before the library stores it.

    ``data`` is the encoded file content (PNG bytes, WAV bytes, UTF-8 text);
    ``suffix`` names its file type; ``meta`` holds extra index fields.

    A job that makes several files (a batch of images) returns the first and
    lists the rest in ``extra``; ``request``, when set, is the request that
    makes this very file again (one image of a batch has its own seed)."""

    data: bytes
    suffix: str
    width: int = 0
    height: int = 0
    duration_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    request: Request | None = None
    extra: list[Artifact] = field(default_factory=list)


class CancelToken:
    """A thread-safe flag the engine reads between steps; setting it never
    waits on the busy worker."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class Reporter(Protocol):
    """What an engine calls while it runs (from the worker thread)."""

    def progress(self, done: int, total: int, message: str = "") -> None: ...

    def preview(self, payload: Any) -> None: ...


class PreviewPacer:
    """Whether a step's preview is worth making: at most one per the
    reporter's ``preview_interval_s`` (the rate its consumer shows them;
    a reporter without one gets a preview every step), always the first at
    once and always the last.
    An engine asks before it turns latents into a picture, which costs a
    noticeable part of a small model's step."""

    def __init__(self, report: Reporter, clock: Any = None) -> None:
        import time

        self.interval = float(getattr(report, "preview_interval_s", 0.0) or 0.0)
        self.clock = clock or time.monotonic
        self.next_at = 0.0

    def due(self, last: bool = False) -> bool:
        now = self.clock()
        if last or now >= self.next_at:
            self.next_at = now + self.interval
            return True
        return False


def is_stream_part(payload: Any) -> bool:
    """Whether a preview is one piece of a stream (a chunk of audio) rather than
    a newer version of the whole (an image, the text so far). Pieces set a
    ``stream_part = True`` attribute; every one must reach the GUI, while of
    whole previews only the latest matters."""
    return bool(getattr(payload, "stream_part", False))


class NullReporter:
    """A reporter that drops everything; for headless runs that need no output."""

    def progress(self, done: int, total: int, message: str = "") -> None:
        pass

    def preview(self, payload: Any) -> None:
        pass


Engine = Callable[[Request, Reporter, CancelToken], Artifact]


@dataclass
class Job:
    """One queued unit of work, as the queue stores it."""

    id: int
    request: Request
    state: JobState = JobState.QUEUED
    position: int = 0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: float = 0.0
    error: str = ""
    details: str = ""
    artifact_path: Path | None = None

    @property
    def label(self) -> str:
        return self.request.describe()
