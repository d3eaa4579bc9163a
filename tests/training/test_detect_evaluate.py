"""The adherence evaluator: right on ground truth, and able to fail."""

from __future__ import annotations

import numpy as np

from studio.training.detect import detect
from studio.training.evaluate import EVAL_FIRST_SEED, caption_grid, evaluate_images, held_out_samples, score_image
from studio.training.shapes import COLOURS, TRAIN_SEED_LIMIT, render_sample


def test_evaluation_seeds_are_held_out_from_training():
    assert EVAL_FIRST_SEED >= TRAIN_SEED_LIMIT
    samples = held_out_samples(3)
    assert [s.seed for s in samples] == [EVAL_FIRST_SEED, EVAL_FIRST_SEED + 1, EVAL_FIRST_SEED + 2]


def test_a_ground_truth_render_scores_full_marks():
    sample = render_sample(EVAL_FIRST_SEED)
    score = score_image(sample.image, sample)
    assert score.background_ok and score.colour_ok and score.shape_ok, score


def test_ground_truth_renders_score_near_perfect():
    samples = held_out_samples(80)
    report = evaluate_images([s.image for s in samples], samples)
    assert report.bg_color_acc == 1.0
    assert report.object_color_acc >= 0.97
    assert report.shape_acc >= 0.95


def test_blank_pictures_score_low():
    samples = held_out_samples(40)
    blank = [np.full((64, 64, 3), COLOURS["gray"], np.uint8) for _ in samples]
    report = evaluate_images(blank, samples)
    assert report.object_color_acc == 0.0 and report.shape_acc == 0.0
    assert report.bg_color_acc < 0.3  # right only where the caption's background is gray


def test_a_wrong_background_or_object_colour_is_caught():
    sample = next(s for s in held_out_samples(50) if len(s.objects) == 1 and s.objects[0].style == "flat")
    obj = sample.objects[0]
    other = next(c for c in ("blue", "yellow", "red") if c not in (sample.background, obj.colour))
    recoloured = sample.image.copy()
    recoloured[obj.mask] = COLOURS[other]
    score = score_image(recoloured, sample)
    assert score.background_ok and not score.colour_ok
    repainted = sample.image.copy()
    repainted[~obj.mask] = COLOURS[other]
    assert not score_image(repainted, sample).background_ok


def test_detector_finds_each_object_with_its_colour():
    sample = next(s for s in held_out_samples(50) if len(s.objects) == 3)
    found = detect(sample.image)
    assert len(found.regions) == 3
    assert sorted(r.colour for r in found.regions) == sorted(o.colour for o in sample.objects)


def test_caption_grid_lays_out_pictures():
    samples = held_out_samples(6)
    grid = caption_grid([s.image for s in samples], [s.caption for s in samples], columns=3)
    assert grid.ndim == 3 and grid.shape[1] > 3 * 64 * 4 and grid.shape[0] > 2 * 64 * 4
