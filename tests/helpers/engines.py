"""Engines used only by tests: one that fails with an unexpected exception
part-way, to prove a broken engine never takes the worker down, and one that
streams pieces and whole previews, to prove no piece is ever dropped (its
text file says how often its reporter lets it make a picture preview)."""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.jobs import Artifact, CancelToken, Reporter, Request
from studio.engines.registry import ENGINES, EngineEntry


@dataclass(frozen=True)
class BrokenRequest(Request):
    kind = "broken"
    modality = "image"
    prompt: str = "broken"
    fail_at_step: int = 2


def run(request: BrokenRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    for step in range(1, 5):
        report.progress(step, 4)
        if step == request.fail_at_step:
            raise ZeroDivisionError("engine bug at step %d" % step)
    raise AssertionError("unreachable")


class Piece:
    """A stream piece (like an audio chunk): every one must be delivered."""

    stream_part = True

    def __init__(self, index: int) -> None:
        self.index = index


@dataclass(frozen=True)
class StreamRequest(Request):
    kind = "stream-test"
    modality = "audio"
    prompt: str = "stream"
    pieces: int = 100


def run_stream(request: StreamRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    import time

    for index in range(request.pieces):
        report.preview(Piece(index))
        report.preview(f"whole preview {index}")
        time.sleep(0.001)
    interval = getattr(report, "preview_interval_s", 0.0)
    return Artifact(data=f"picture preview interval {interval}".encode(), suffix=".txt")


def register(monkeypatch) -> None:
    monkeypatch.setitem(ENGINES, "broken", EngineEntry(
        "broken", "image", "Broken (tests)", "tests.helpers.engines", "tests.helpers.engines:run"))
    monkeypatch.setitem(ENGINES, "stream-test", EngineEntry(
        "stream-test", "audio", "Stream (tests)", "tests.helpers.engines", "tests.helpers.engines:run_stream"))
