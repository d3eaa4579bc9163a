"""The procedural pattern engine: deterministic from its seed, previews every
step, honours cancel, and refuses bad sizes with a clear message."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio.core.jobs import Cancelled, CancelToken, NullReporter, StudioError
from studio.engines.pattern import PatternRequest, run


class Recorder:
    def __init__(self, cancel_at: int | None = None, token: CancelToken | None = None) -> None:
        self.steps: list[tuple[int, int]] = []
        self.previews: list[np.ndarray] = []
        self.cancel_at, self.token = cancel_at, token

    def progress(self, done, total, message=""):
        self.steps.append((done, total))
        if done == self.cancel_at:
            self.token.cancel()

    def preview(self, payload):
        self.previews.append(payload)


def _pixels(artifact) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(artifact.data)))


def test_same_seed_same_image_other_seed_other_image():
    request = PatternRequest(prompt="hills", seed=11, steps=3, width=40, height=24)
    first, again = run(request, NullReporter(), CancelToken()), run(request, NullReporter(), CancelToken())
    other = run(PatternRequest(prompt="hills", seed=12, steps=3, width=40, height=24), NullReporter(), CancelToken())
    assert _pixels(first).shape == (24, 40, 3)
    assert np.array_equal(_pixels(first), _pixels(again))
    assert not np.array_equal(_pixels(first), _pixels(other))


def test_every_step_reports_and_previews_converge_on_the_result():
    recorder = Recorder()
    artifact = run(PatternRequest(prompt="x", steps=5, width=16, height=16), recorder, CancelToken())
    assert recorder.steps == [(n, 5) for n in range(1, 6)]
    final = _pixels(artifact).astype(int)
    errors = [np.abs(p.astype(int) - final).mean() for p in recorder.previews]
    assert errors == sorted(errors, reverse=True) and errors[-1] <= 1


def test_cancel_stops_at_the_next_step():
    token = CancelToken()
    recorder = Recorder(cancel_at=3, token=token)
    with pytest.raises(Cancelled):
        run(PatternRequest(prompt="x", steps=50, width=16, height=16), recorder, token)
    assert recorder.steps[-1] == (3, 50)


@pytest.mark.parametrize("changes, message", [
    ({"prompt": "  "}, "prompt is empty"),
    ({"width": 30}, "multiple of 8"),
    ({"height": 8192}, "multiple of 8"),
    ({"steps": 0}, "steps must be"),
])
def test_bad_requests_are_refused(changes, message):
    request = PatternRequest(**{"prompt": "ok", **changes})
    with pytest.raises(StudioError, match=message):
        run(request, NullReporter(), CancelToken())
