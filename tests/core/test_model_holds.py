"""A model in use is never unloaded: idle unload, the Unload button and
making room for another load pass over a model a running job holds, and
the budget then reports that it is over instead of evicting under the job."""

from __future__ import annotations

import threading
from pathlib import Path

from studio.core.jobs import Artifact, CancelToken, JobState, NullReporter
from studio.core.models.cards import ModelCard
from studio.core.models.manager import ModelManager, holding_models

MB = 1024 * 1024


class Weights:
    def __init__(self, size: int) -> None:
        self.memory_bytes = size


def manager_with(*names: str, budget_mb: int = 100, size_mb: int = 60) -> ModelManager:
    manager = ModelManager(budget_bytes=budget_mb * MB, idle_unload_s=10, include_hf_cache=False)
    manager.discovered = True
    for name in names:
        manager.add_card(ModelCard(name, name, "image", "safetensors", Path(f"/nowhere/{name}"),
                                   size_bytes=size_mb * MB))
    return manager


def load(card: ModelCard) -> Weights:
    return Weights(card.size_bytes)


def _unload_from_another_thread(manager, card_id: str) -> bool:
    """What the Unload button does: it runs on another thread than the job."""
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(manager.unload(card_id)))
    thread.start()
    thread.join()
    return result[0]


def test_unload_skips_a_model_a_job_holds():
    manager = manager_with("a")
    with holding_models():
        manager.get("a", load)
        assert manager.in_use("a")
        assert _unload_from_another_thread(manager, "a") is False
        assert manager.is_loaded("a")
    assert not manager.in_use("a")
    assert manager.unload("a") is True


def test_a_job_may_unload_what_only_it_holds_to_load_it_again():
    manager = manager_with("a")
    with holding_models():
        first = manager.get("a", load)
        assert manager.unload("a") is True  # e.g. llama.cpp reloading with another context
        again = manager.get("a", load)
        assert again is not first and manager.in_use("a")
        assert _unload_from_another_thread(manager, "a") is False
    assert not manager.in_use("a")


def test_idle_unload_skips_a_held_model_and_counts_idle_time_from_the_jobs_end():
    manager = manager_with("a", "b", budget_mb=1000)
    with holding_models():
        manager.get("a", load)
        manager.get("b", load)
        with manager.hold("b"):
            pass
        assert manager.unload_idle(now=1e12) == []
    assert manager.is_loaded("a") and manager.is_loaded("b")
    assert sorted(manager.unload_idle(now=1e12)) == ["a", "b"]


def test_making_room_never_evicts_under_a_running_job_and_reports_over_budget():
    manager = manager_with("a", "b")
    with holding_models():
        manager.get("a", load)
        manager.get("b", load)  # 120 MB in a 100 MB budget: "a" is held, so it stays
        assert manager.is_loaded("a") and manager.is_loaded("b")
        assert manager.over_budget() == 20 * MB
    # The job ended: the budget is enforced again, least recently used first.
    assert manager.over_budget() == 0
    assert not manager.is_loaded("a") and manager.is_loaded("b")


def test_a_model_not_held_is_still_evicted_for_another_load():
    manager = manager_with("a", "b")
    manager.get("a", load)
    with holding_models():
        manager.get("b", load)
    assert not manager.is_loaded("a") and manager.is_loaded("b")


def test_a_job_run_holds_its_models_while_another_thread_unloads(monkeypatch, services):
    from studio.engines import context, execute

    manager = manager_with("a")
    context.set_model_manager(manager)
    refused: list[bool] = []

    def engine(request, report, cancel):
        context.model_manager().get("a", load)
        worker = threading.Thread(target=lambda: refused.append(manager.unload("a")))  # the Unload button
        worker.start()
        worker.join()
        assert manager.is_loaded("a")
        return Artifact(data=b"hello", suffix=".txt")

    monkeypatch.setattr(execute, "engine_for", lambda request: engine)
    from studio.engines.pattern import PatternRequest

    job = services.queue.start(services.queue.submit(PatternRequest(prompt="x")).id)
    state, item = execute.execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
    assert state is JobState.FINISHED, services.queue.get(job.id).error
    assert refused == [False]
    assert not manager.in_use("a") and manager.unload("a")
