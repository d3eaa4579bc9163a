"""Text LoRA training on a tiny Llama: held-out perplexity falls, the adapter becomes a
variant of its base model that the text engine replies with, Cancel keeps a checkpoint
the same job resumes from, and too little writing is one clear line."""

from __future__ import annotations

import pytest

from studio.core.jobs import JobState
from studio.engines.text.personalise_requests import TextLoraTrainRequest
from studio.training.lora.author import write_logbook
from tests.engines.text.conftest import Recorder, card_for, run_job


@pytest.fixture
def writing(tmp_path):
    return write_logbook(tmp_path / "writing", files=4, entries=8)


def _request(studio, tiny, writing, **changes) -> TextLoraTrainRequest:
    card = card_for(studio, tiny.llama)
    values = {"model_id": card.id, "name": "logbook", "folder": str(writing), "steps": 30, "learning_rate": 2e-2,
                  "block": 64, "batch": 4, "rank": 8}
    values.update(changes)
    return TextLoraTrainRequest(**values)


def test_training_lowers_held_out_perplexity_and_adds_a_variant(studio, tiny, writing):
    from studio.engines.text.requests import TextRequest

    state, item, recorder = run_job(studio, _request(studio, tiny, writing))
    assert state is JobState.FINISHED, [j.error for j in studio.queue.jobs(JobState.FAILED)]
    summary = item.recipe["text_lora"]
    assert summary["ppl_after"] < summary["ppl_before"], summary  # a random tiny model: the benchmark measures SmolLM2
    assert any("left" in m for m in recorder.progress_messages)
    variant = next(c for c in studio.models.cards("text") if c.format == "text-lora")
    assert variant.name.endswith("+ logbook") and variant.extra["base_model"] == card_for(studio, tiny.llama).id
    assert (variant.path.parent / "adapter_config.json").is_file()
    state, reply, _ = run_job(studio, TextRequest(prompt="Day 3.", model_id=variant.id, max_new_tokens=8,
                                                  temperature=0.0))
    assert state is JobState.FINISHED
    assert "LoRA" in reply.recipe["model"]["loaded_from"] and "transformers" in reply.recipe["model"]["loaded_from"]


def test_cancel_keeps_a_checkpoint_and_the_same_job_resumes(studio, tiny, writing):
    request = _request(studio, tiny, writing, name="resumable", steps=4)

    class CancelAtTwo(Recorder):
        def progress(self, done, total, message=""):
            super().progress(done, total, message)
            if done == 2 and total == 4:
                self.cancel.cancel()

    state, _, _ = run_job(studio, request, CancelAtTwo())
    assert state is JobState.CANCELLED
    assert not any(c.format == "text-lora" for c in studio.models.cards("text"))
    state, item, _ = run_job(studio, request)
    assert state is JobState.FINISHED and item.recipe["text_lora"]["steps"] == 4


def test_too_little_writing_and_an_image_base_are_one_line(studio, tiny, tmp_path):
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "note.md").write_text("Only a line.")
    state, _, _ = run_job(studio, _request(studio, tiny, tmp_path / "short"))
    assert state is JobState.FAILED
    errors = [j.error for j in studio.queue.jobs(JobState.FAILED)]
    assert errors and "characters of writing" in errors[-1]
    image_base = TextLoraTrainRequest(model_id="starter-shapes", name="x", folder=str(tmp_path / "short"))
    state, _, _ = run_job(studio, image_base)
    assert state is JobState.FAILED
    assert "not a local text model" in studio.queue.jobs(JobState.FAILED)[-1].error
