"""Engines used only by tests: one that fails with an unexpected exception
part-way, to prove a broken engine never takes the worker down."""

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


def register(monkeypatch) -> None:
    monkeypatch.setitem(ENGINES, "broken", EngineEntry(
        "broken", "image", "Broken (tests)", "tests.helpers.engines", "tests.helpers.engines:run"))
