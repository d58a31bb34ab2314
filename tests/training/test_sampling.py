"""Training batches: pairing, coverage of the loss frames, determinism, DDP partition, positions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidalign.data.augment import AugmentConfig, add_slow_drift, augment_view, resample_speed, temporal_crop
from vidalign.data.sampling import PairSampler, SamplingConfig, chunk_sample, gather_frames, stride_to


def videos(n=5, seed=0):
    rng = np.random.default_rng(seed)
    # feature 0 encodes the frame index so positions can be checked against content
    out = []
    for _ in range(n):
        T = int(rng.integers(20, 40))
        f = rng.standard_normal((T, 3)).astype(np.float32)
        f[:, 0] = np.arange(T)
        out.append(f)
    return out


def test_chunk_sample_takes_one_frame_per_chunk():
    rng = np.random.default_rng(0)
    for length, n in [(10, 3), (100, 7), (7, 7), (5, 9)]:
        idx = chunk_sample(length, n, rng)
        assert np.all(np.diff(idx) > 0) and idx.min() >= 0 and idx.max() < length
        assert len(idx) == min(length, n)
        if n < length:
            edges = np.floor(np.linspace(0, length, n + 1)).astype(int)
            assert np.all((idx >= edges[:-1]) & (idx < np.maximum(edges[1:], 1)))
    assert chunk_sample(10, None, rng).tolist() == list(range(10))


def test_stride_to_caps_length():
    rng = np.random.default_rng(0)
    keep = stride_to(1000, 256, rng)
    assert len(keep) <= 256 and np.all(np.diff(keep) == 4)
    assert stride_to(50, 256, rng).tolist() == list(range(50))


@pytest.mark.parametrize("pairing", ["cross_video", "two_views"])
def test_batches_are_reproducible_and_positions_match_content(pairing):
    vids = videos()
    sampling = SamplingConfig(batch_size=2, loss_frames=8)
    sampler = PairSampler(vids, pairing, sampling, AugmentConfig(crop_min=0.5), seed=3)
    first, again = list(sampler.epoch(1)), list(sampler.epoch(1))
    assert len(first) == sampler.batches_per_epoch() == 3
    for b1, b2 in zip(first, again, strict=True):
        torch.testing.assert_close(b1.a.x, b2.a.x)
        assert b1.video_ids == b2.video_ids
        for side in (b1.a, b1.b):
            z = gather_frames(side.x, side)
            real = side.select_mask
            # feature 0 is the source frame index: idx must name exactly the frames the loss sees
            torch.testing.assert_close(z[..., 0][real], side.idx[real])
        for a, b in b1.video_ids:
            assert (a != b) if pairing == "cross_video" else (a == b)
    anchors = [a for batch in first for a, _ in batch.video_ids]
    assert sorted(anchors[:5]) == [0, 1, 2, 3, 4]  # each video is an anchor once, then the last batch is filled


def test_ranks_get_disjoint_anchors_and_equal_batch_counts():
    vids = videos(7)
    sampling = SamplingConfig(batch_size=2)
    ranks = [PairSampler(vids, "cross_video", sampling, AugmentConfig(), seed=0, rank=r, world_size=2) for r in (0, 1)]
    batches = [list(s.epoch(0)) for s in ranks]
    assert len(batches[0]) == len(batches[1])
    anchors = [[a for batch in bs for a, _ in batch.video_ids] for bs in batches]
    assert set(anchors[0]) | set(anchors[1]) == set(range(7))


def test_speed_resampling_and_crop_positions():
    f = np.arange(21, dtype=np.float32)[:, None]
    out, pos = resample_speed(f, np.arange(21) + 100, 2.0)
    assert len(out) == 11 and np.allclose(out[:, 0], pos - 100)
    rng = np.random.default_rng(0)
    crop = temporal_crop(50, 0.5, rng)
    assert len(crop) == 25 and np.all(np.diff(crop) == 1)


def test_slow_drift_is_slow_scaled_by_each_channel_and_new_in_each_view():
    rng = np.random.default_rng(0)
    scales = np.geomspace(0.1, 10.0, 400).astype(np.float32)
    features = rng.standard_normal((120, 400)).astype(np.float32) * scales
    assert add_slow_drift(features, 0.0, rng) is features
    views = [add_slow_drift(features, 0.25, rng) - features for _ in range(2)]
    for added in views:
        assert added.dtype == np.float32
        # each channel's drift in units of its own std: about the amplitude (unit expected variance, 400 channels)
        relative = added.std(axis=0) / features.std(axis=0)
        assert 0.15 < np.sqrt(np.mean(relative**2)) < 0.35
        # slow: periods of at least half the view, so neighbouring frames carry almost the same drift
        step = np.abs(np.diff(added, axis=0)).mean() / np.abs(added).mean()
        assert step < 0.1
    # drawn anew for each view: the two views' drifts are unrelated
    assert abs(np.corrcoef(views[0].ravel(), views[1].ravel())[0, 1]) < 0.1
    # augment_view applies it last, after speed, mirror and jitter (here all off)
    plain, positions = augment_view(features, np.arange(120), AugmentConfig(), np.random.default_rng(1))
    drifted, same = augment_view(features, np.arange(120), AugmentConfig(drift=0.25), np.random.default_rng(1))
    np.testing.assert_array_equal(plain, features)
    np.testing.assert_array_equal(positions, same)
    np.testing.assert_allclose(drifted - features, add_slow_drift(features, 0.25, np.random.default_rng(1)) - features)


def test_sampler_rejects_bad_inputs():
    with pytest.raises(ValueError, match="at least 2"):
        PairSampler(videos(1), "cross_video", SamplingConfig(), AugmentConfig(), seed=0)
    with pytest.raises(ValueError, match="pairing"):
        PairSampler(videos(2), "triplets", SamplingConfig(), AugmentConfig(), seed=0)
