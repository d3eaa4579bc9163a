"""The procedural shapes generator: deterministic, varied, and truthful about what it drew."""

from __future__ import annotations

import numpy as np

from studio.training.shapes import (
    COLOUR_NAMES, SHAPES, STYLES, TRAIN_SEED_LIMIT, nearest_colour_name, render_sample,
)


def test_same_seed_gives_identical_pixels_caption_and_truth():
    a, b = render_sample(1234), render_sample(1234)
    assert np.array_equal(a.image, b.image)
    assert a.caption == b.caption
    assert [(o.shape, o.colour, o.bbox) for o in a.objects] == [(o.shape, o.colour, o.bbox) for o in b.objects]
    assert all(np.array_equal(x.mask, y.mask) for x, y in zip(a.objects, b.objects))


def test_different_seeds_give_different_pictures_and_captions():
    samples = [render_sample(seed) for seed in range(40)]
    assert len({s.image.tobytes() for s in samples}) == 40
    assert len({s.caption for s in samples}) >= 38


def test_pictures_are_64px_rgb_and_captions_name_the_ground_truth():
    for seed in range(TRAIN_SEED_LIMIT, TRAIN_SEED_LIMIT + 30):
        sample = render_sample(seed)
        assert sample.image.shape == (64, 64, 3) and sample.image.dtype == np.uint8
        assert 1 <= len(sample.objects) <= 3
        assert sample.caption.endswith("background")
        assert f" {sample.background} " in sample.caption
        position = 0
        for obj in sample.objects:  # named in order, main object first
            phrase = obj.phrase()
            found = sample.caption.find(phrase, position)
            assert found >= 0, (phrase, sample.caption)
            position = found + len(phrase)
        colours = [o.colour for o in sample.objects]
        assert sample.background not in colours and len(set(colours)) == len(colours)


def test_masks_hold_the_object_in_its_own_colour():
    checked = 0
    for seed in range(60):
        sample = render_sample(seed)
        for obj in sample.objects:
            x0, y0, x1, y1 = obj.bbox
            assert obj.mask.any() and not obj.mask[:y0].any() and not obj.mask[:, x1:].any()
            if obj.style == "flat" and obj.mask.sum() > 30:
                median = np.median(sample.image[obj.mask].astype(np.float32), axis=0)
                assert nearest_colour_name(median) == obj.colour
                checked += 1
    assert checked > 20


def test_vocabulary_covers_eight_shapes_ten_colours_three_styles_and_gradients():
    samples = [render_sample(seed) for seed in range(400)]
    assert len(SHAPES) >= 8 and len(COLOUR_NAMES) >= 10
    assert {o.shape for s in samples for o in s.objects} == set(SHAPES)
    assert {o.colour for s in samples for o in s.objects} == set(COLOUR_NAMES)
    assert {o.style for s in samples for o in s.objects} == set(STYLES)
    assert {s.gradient for s in samples} == {True, False}
    assert {len(s.objects) for s in samples} == {1, 2, 3}
    assert {o.size for s in samples for o in s.objects} == {"small", "medium", "large"}
