"""Frame-consistency tools on synthetic clips with known motion and flicker:
the consistency graph, deflicker, flow interpolation and keyframe propagation."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.jobs import Cancelled, CancelToken
from studio.engines.video import deflicker, flow, interpolate, propagate
from tests.engines.video.synthetic import centroid, flickering, moving_square, texture, translating_pattern


def _square_mask(frame: np.ndarray, colour=(230, 60, 40)) -> np.ndarray:
    return np.abs(frame.astype(np.int32) - np.array(colour)).sum(-1) < 60


# --- flow and the consistency graph ------------------------------------------------

def test_flow_recovers_a_translation_and_warp_rebuilds_the_frame():
    a, b = translating_pattern(96, 2, velocity=(3, 2))
    to_b = flow.compute_flow(a, b)
    inner = to_b[16:-16, 16:-16]
    assert np.median(inner[..., 0]) == pytest.approx(3, abs=0.25)
    assert np.median(inner[..., 1]) == pytest.approx(2, abs=0.25)
    rebuilt = flow.warp(b.astype(np.float32), to_b)
    assert np.abs(rebuilt[16:-16, 16:-16] - a[16:-16, 16:-16]).mean() < 4


def test_visible_mask_flags_what_a_moving_square_covers():
    background = texture(96, 96, seed=2)
    a, b = background.copy(), background.copy()
    # A dark square (flow runs on luminance: it must stand out from the texture's mean grey)
    a[30:50, 20:40] = 20
    b[30:50, 32:52] = 20  # moved 12 px right: it covers a's background at x 40..52
    forward, backward = flow.compute_flow(a, b), flow.compute_flow(b, a)
    visible = flow.visible_mask(forward, backward)
    assert visible[5:20, 5:90].mean() > 0.9  # background far from the square
    assert visible[34:46, 42:50].mean() < 0.5  # background that the square hides in b


def test_consistency_graph_is_flat_for_smooth_motion_and_spikes_on_a_flash():
    frames = translating_pattern(96, 12, velocity=(2, 1))
    smooth = flow.analyse(frames)
    assert smooth.frame_count == 12 and smooth.warp_error[0] == 0.0
    assert smooth.mean_warp_error < 4.0
    assert smooth.spikes == []
    flashed = list(frames)
    flashed[7] = np.clip(frames[7].astype(np.int32) + 60, 0, 255).astype(np.uint8)
    report = flow.analyse(flashed)
    assert report.spikes == [7, 8]  # up into the flash, and back down
    assert min(report.luma_jump[7], report.luma_jump[8]) > 30 > 5 * max(report.luma_jump[1:7])
    assert report.warp_error[7] > 5 * smooth.mean_warp_error
    assert "flicker spikes    " in report.summary() and "7" in report.summary()


def test_analyse_stops_on_cancel():
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        flow.analyse(translating_pattern(64, 4), cancel=token)


# --- deflicker ---------------------------------------------------------------------

def test_deflicker_halves_measured_flicker_and_leaves_a_still_clip_unchanged():
    noisy, clean = flickering(96, 20)
    before = flow.analyse(noisy).flicker
    result = deflicker.deflicker(noisy, strength=1.0)
    after = flow.analyse(result).flicker
    assert after <= 0.5 * before, (before, after)
    # The picture is kept: the result is close to the flicker-free original.
    assert np.abs(result[10].astype(np.float32) - clean[10]).mean() < np.abs(
        noisy[10].astype(np.float32) - clean[10]).mean()

    still = [texture(64, 64, seed=9)] * 6
    assert all(np.array_equal(frame, still[0]) for frame in deflicker.deflicker(still, strength=1.0))


def test_deflicker_touches_only_the_selected_range_and_strength_scales_it():
    noisy, _clean = flickering(64, 16)
    result = deflicker.deflicker(noisy, strength=0.8, start=4, end=10)
    for index in list(range(4)) + list(range(10, 16)):
        assert np.array_equal(result[index], noisy[index])
    assert any(not np.array_equal(result[i], noisy[i]) for i in range(4, 10))
    weak = flow.analyse(deflicker.deflicker(noisy, strength=0.3)).flicker
    strong = flow.analyse(deflicker.deflicker(noisy, strength=1.0)).flicker
    assert strong < weak < flow.analyse(noisy).flicker
    assert deflicker.deflicker(noisy, strength=0.0)[3] is noisy[3] or np.array_equal(
        deflicker.deflicker(noisy, strength=0.0)[3], noisy[3])
    with pytest.raises(ValueError):
        deflicker.deflicker(noisy, strength=1.5)


# --- interpolation -------------------------------------------------------------------

def test_interpolation_puts_a_moving_square_at_the_midpoint():
    a, b = moving_square(frames=2, start=(20, 30), velocity=(12, 6))
    middle = interpolate.in_between(a, b, 0.5)
    x, y = centroid(_square_mask(middle))
    (xa, ya), (xb, yb) = centroid(_square_mask(a)), centroid(_square_mask(b))
    assert x == pytest.approx((xa + xb) / 2, abs=0.75)
    assert y == pytest.approx((ya + yb) / 2, abs=0.75)
    assert _square_mask(middle).sum() == pytest.approx(_square_mask(a).sum(), rel=0.1)  # no ghost, no smear


def test_interpolation_at_a_quarter_follows_the_motion():
    a, b = moving_square(frames=2, start=(10, 20), velocity=(16, 0))
    quarter = interpolate.in_between(a, b, 0.25)
    x, _y = centroid(_square_mask(quarter))
    assert x == pytest.approx(centroid(_square_mask(a))[0] + 4, abs=0.75)


def test_retime_changes_frame_rate_and_keeps_original_frames():
    frames = moving_square(frames=5, velocity=(6, 2))
    doubled = interpolate.retime(frames, 8, 16)
    assert len(doubled) == interpolate.retime_count(5, 8, 16) == 9
    for index in range(5):
        assert np.array_equal(doubled[2 * index], frames[index])
    xs = [centroid(_square_mask(frame))[0] for frame in doubled]
    assert np.allclose(np.diff(xs), 3, atol=0.75)  # even steps of half the motion
    assert len(interpolate.retime(frames, 8, 24)) == 13
    assert len(interpolate.retime(frames, 24, 12)) == 3


def test_bridge_replaces_a_bad_stretch_with_in_betweens():
    frames = moving_square(frames=6, velocity=(6, 0))
    broken = list(frames)
    broken[2] = broken[3] = np.zeros_like(frames[0])
    fixed = interpolate.bridge(broken, 2, 4)
    assert len(fixed) == 6
    for index in (2, 3):
        assert centroid(_square_mask(fixed[index]))[0] == pytest.approx(centroid(_square_mask(frames[index]))[0],
                                                                         abs=0.75)
    with pytest.raises(ValueError):
        interpolate.bridge(broken, 0, 2)


# --- keyframe propagation ------------------------------------------------------------

def test_propagated_colour_edit_follows_the_motion():
    frames = translating_pattern(96, 10, velocity=(2, 1))
    edited = frames[0].copy()
    edited[30:50, 20:40] = (255, 20, 20)
    result = propagate.propagate(frames, {0: edited})
    assert np.array_equal(result[0], edited)
    for index in (3, 6, 9):
        changed = np.abs(result[index].astype(np.int32) - frames[index]).sum(-1) > 60
        x, y = centroid(changed)
        assert x == pytest.approx(29.5 + 2 * index, abs=1.0)
        assert y == pytest.approx(39.5 + index, abs=1.0)
        assert changed.sum() == pytest.approx(400, rel=0.1)
        patch = result[index][36 + index:44 + index, 25 + 2 * index:35 + 2 * index].reshape(-1, 3)
        assert np.abs(patch.astype(np.int32) - (255, 20, 20)).max() <= 8


def test_propagation_between_two_keyframes_blends_by_distance_and_keeps_keys_exact():
    frames = translating_pattern(64, 7, velocity=(1, 0))
    first, last = frames[0].copy(), frames[6].copy()
    first[20:40, 10:30] = (255, 0, 0)
    last[20:40, 16:36] = (0, 0, 255)
    result = propagate.propagate(frames, {0: first, 6: last})
    assert np.array_equal(result[0], first) and np.array_equal(result[6], last)
    patch = lambda i: result[i][26:34, 16 + i:24 + i].reshape(-1, 3).astype(np.float32).mean(0)  # noqa: E731
    assert patch(1)[0] > patch(1)[2]  # near the red key: mostly red
    assert patch(5)[2] > patch(5)[0]  # near the blue key: mostly blue
    assert patch(3)[0] == pytest.approx(patch(3)[2], abs=20)  # halfway: an even mix


def test_propagation_checks_its_keyframes():
    frames = translating_pattern(32, 3)
    with pytest.raises(ValueError):
        propagate.propagate(frames, {})
    with pytest.raises(ValueError):
        propagate.propagate(frames, {5: frames[0]})
    with pytest.raises(ValueError):
        propagate.propagate(frames, {0: frames[0][:16]})
