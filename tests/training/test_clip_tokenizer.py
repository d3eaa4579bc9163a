"""The CLIP tokenizer built from open_clip's bundled merge list."""

from __future__ import annotations

import sys

from studio.training.clip_tokenizer import build_clip_tokenizer


def test_built_tokenizer_matches_clip_ids(tmp_path):
    tokenizer = build_clip_tokenizer(tmp_path / "tokenizer")
    assert len(tokenizer) == 49408
    assert tokenizer.model_max_length == 77
    # Token ids of OpenAI CLIP (as every Stable Diffusion 1.x tokenizer gives them).
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer("A Red  Star").input_ids == tokenizer("a red star").input_ids
    padded = tokenizer("a red star", padding="max_length", max_length=77).input_ids
    assert len(padded) == 77 and padded[-1] == 49407
    assert {p.name for p in (tmp_path / "tokenizer").iterdir()} >= {"vocab.json", "merges.txt"}
    assert "open_clip" not in sys.modules  # the vocabulary is read, never imported
