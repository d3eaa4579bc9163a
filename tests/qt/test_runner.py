"""The Qt job runner on a real QThread: progress, coalesced previews,
cancel mid-job, the error path, and shutdown with a job still running."""

from __future__ import annotations

import itertools
import time

import pytest
from PySide6.QtGui import QImage

from studio.core.jobs import JobState
from studio.engines.pattern import PatternRequest
from studio.qt.runner import JobRunner
from tests.helpers import engines as test_engines


@pytest.fixture
def runner(qtbot, services):
    runner = JobRunner(services.queue, services.library, max_fps=30, picture_fps=30)
    yield runner
    runner.shutdown()


def test_job_reports_progress_previews_and_lands_in_the_library(qtbot, runner, services):
    progress, previews = [], []
    runner.job_progress.connect(lambda job_id, done, total, msg: progress.append((done, total)))
    runner.job_preview.connect(lambda job_id, image: previews.append(image))
    with qtbot.waitSignal(runner.job_finished, timeout=10000) as finished:
        job = runner.submit(PatternRequest(prompt="dunes", steps=10, width=64, height=48, step_delay_s=0.05))
    job_id, item = finished.args
    assert job_id == job.id
    assert services.queue.get(job.id).state is JobState.FINISHED
    assert item.path.exists() and services.library.items()[0].id == item.id
    assert progress[-1] == (10, 10)
    assert previews and isinstance(previews[-1], QImage)
    assert (previews[-1].width(), previews[-1].height()) == (64, 48)


def test_previews_are_coalesced_to_the_frame_rate(qtbot, runner):
    received = []
    runner.job_preview.connect(lambda job_id, image: received.append(time.monotonic()))
    started = time.monotonic()
    with qtbot.waitSignal(runner.job_finished, timeout=20000):
        runner.submit(PatternRequest(prompt="fast", steps=400, width=32, height=32, step_delay_s=0.002))
    elapsed = time.monotonic() - started
    qtbot.wait(100)
    # 400 previews were offered; the GUI must see no more than ~30 a second.
    assert len(received) <= 30 * elapsed + 3
    assert len(received) >= 3
    # Timer-paced deliveries are a frame apart; only the final flush before the
    # job's end may follow its predecessor closely.
    paced = received[:-1]
    gaps = [b - a for a, b in zip(paced, paced[1:])]
    assert min(gaps) > 0.015


def test_cancel_takes_effect_at_the_next_step_and_stores_nothing(qtbot, runner, services):
    with qtbot.waitSignal(runner.job_started, timeout=5000):
        job = runner.submit(PatternRequest(prompt="slow", steps=200, step_delay_s=0.05))
    qtbot.wait(200)
    asked = time.monotonic()
    with qtbot.waitSignal(runner.job_cancelled, timeout=5000):
        runner.cancel(job.id)
    assert time.monotonic() - asked < 1.0
    assert services.queue.get(job.id).state is JobState.CANCELLED
    assert services.library.items() == []


def test_a_broken_engine_fails_the_job_not_the_worker(qtbot, runner, services, monkeypatch):
    test_engines.register(monkeypatch)
    with qtbot.waitSignal(runner.job_failed, timeout=5000) as failed:
        runner.submit(test_engines.BrokenRequest())
    _job_id, message, details = failed.args
    assert message == "ZeroDivisionError: engine bug at step 2"
    assert "Traceback" in details and "ZeroDivisionError" in details
    with qtbot.waitSignal(runner.job_finished, timeout=5000):
        runner.submit(PatternRequest(prompt="still alive", steps=2, width=16, height=16))


def test_validation_errors_are_readable(qtbot, runner):
    with qtbot.waitSignal(runner.job_failed, timeout=5000) as failed:
        runner.submit(PatternRequest(prompt="odd", width=100))
    assert "multiple of 8" in failed.args[1]


def test_cancel_all_clears_the_queue_and_stops_the_running_job(qtbot, runner, services):
    with qtbot.waitSignal(runner.job_started, timeout=5000):
        first = runner.submit(PatternRequest(prompt="a", steps=100, step_delay_s=0.05))
    rest = [runner.queue.submit(PatternRequest(prompt=str(n), steps=100, step_delay_s=0.05)) for n in range(3)]
    with qtbot.waitSignal(runner.job_cancelled, timeout=5000):
        runner.cancel_all()
    states = {job.id: job.state for job in services.queue.jobs()}
    assert states[first.id] is JobState.CANCELLED
    assert all(states[job.id] is JobState.CANCELLED for job in rest)


def test_shutdown_with_a_running_job_leaves_no_thread(qtbot, services):
    runner = JobRunner(services.queue, services.library)
    with qtbot.waitSignal(runner.job_started, timeout=5000):
        job = runner.submit(PatternRequest(prompt="long", steps=1000, step_delay_s=0.05))
    started = time.monotonic()
    assert runner.shutdown(timeout_ms=5000)
    assert time.monotonic() - started < 2.0
    assert not runner.worker_thread.isRunning()
    assert services.queue.get(job.id).state is JobState.CANCELLED


def test_stream_pieces_all_arrive_in_order_while_whole_previews_coalesce(qtbot, runner, monkeypatch):
    test_engines.register(monkeypatch)
    received = []
    runner.job_preview.connect(lambda job_id, payload: received.append(payload))
    with qtbot.waitSignal(runner.job_finished, timeout=10000):
        runner.submit(test_engines.StreamRequest(pieces=300))
    pieces = [p for p in received if isinstance(p, test_engines.Piece)]
    wholes = [p for p in received if isinstance(p, str)]
    assert [p.index for p in pieces] == list(range(300))
    assert 0 < len(wholes) < 300, "whole previews are still coalesced"


def test_pictures_keep_their_own_lower_rate_while_text_keeps_the_full_one(qtbot, services, monkeypatch):
    test_engines.register(monkeypatch)
    runner = JobRunner(services.queue, services.library, max_fps=30, picture_fps=4)
    received = []
    runner.job_preview.connect(lambda job_id, payload: received.append((time.monotonic(), payload)))
    try:
        started = time.monotonic()
        with qtbot.waitSignal(runner.job_finished, timeout=20000):
            runner.submit(PatternRequest(prompt="fast", steps=300, width=32, height=32, step_delay_s=0.005))
        picture_s = time.monotonic() - started
        pictures = [at for at, payload in received if isinstance(payload, QImage)]
        assert 3 <= len(pictures) <= 4 * picture_s + 2
        paced = pictures[:-1]  # the last is the end-of-job flush
        assert min(b - a for a, b in itertools.pairwise(paced)) > 0.2

        received.clear()
        started = time.monotonic()
        with qtbot.waitSignal(runner.job_finished, timeout=20000) as finished:
            runner.submit(test_engines.StreamRequest(pieces=600))
        text_s = time.monotonic() - started
        texts = [payload for _, payload in received if isinstance(payload, str)]
        assert len(texts) > 4 * text_s + 2, "the text so far is not held to the picture rate"
        # Engines are told the picture rate, so they need not make pictures nobody sees.
        assert finished.args[1].path.read_text().endswith("picture preview interval 0.25")
    finally:
        runner.shutdown()


def test_a_job_shorter_than_a_frame_still_shows_its_last_preview_before_it_ends(qtbot, services):
    runner = JobRunner(services.queue, services.library, max_fps=1)  # one tick a second
    events = []
    runner.job_preview.connect(lambda job_id, image: events.append("preview"))
    runner.job_finished.connect(lambda job_id, item: events.append("finished"))
    try:
        with qtbot.waitSignal(runner.job_finished, timeout=5000):
            runner.submit(PatternRequest(prompt="quick", steps=3, width=16, height=16))
        qtbot.wait(50)
        assert events == ["preview", "finished"]
    finally:
        runner.shutdown()


def test_cancel_between_take_and_start_is_not_lost(qtbot, services):
    runner = JobRunner(services.queue, services.library)
    try:
        job = services.queue.submit(PatternRequest(prompt="raced", steps=200, step_delay_s=0.05))
        taken = services.queue.take_next()  # as the worker does, before it makes the job's token
        assert taken.id == job.id
        runner.cancel(job.id)
        with qtbot.waitSignal(runner.job_cancelled, timeout=5000):
            runner.run_one(taken)
        assert services.queue.get(job.id).state is JobState.CANCELLED
    finally:
        runner.shutdown()
