"""Embedding spread: brute-force pair averages, a collapsed model, and the effective rank of known spectra."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vidalign.evaluation.spread import embedding_spread, is_collapsed


def test_within_and_across_equal_brute_force_pair_means():
    rng = np.random.default_rng(0)
    videos = [rng.standard_normal((n, 4)) for n in (3, 5, 2)]
    units = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in videos]
    within = [np.mean([a @ b for a, b in itertools.permutations(u, 2)]) for u in units]
    across = [np.mean([a @ b for a in units[i] for b in units[j]]) for i, j in itertools.combinations(range(3), 2)]
    spread = embedding_spread(videos)
    assert spread["within"] == pytest.approx(np.mean(within), abs=1e-12)
    assert spread["across"] == pytest.approx(np.mean(across), abs=1e-12)


def test_a_model_that_maps_each_video_to_one_point_is_collapsed():
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((4, 16))
    collapsed = [c + 1e-3 * rng.standard_normal((30, 16)) for c in centres]
    spread = embedding_spread(collapsed)
    assert spread["within"] > 0.99 and is_collapsed(spread)
    assert not is_collapsed(embedding_spread([rng.standard_normal((30, 16)) for _ in range(4)]))


def test_effective_rank_counts_equal_directions():
    # frames spread evenly along k orthogonal directions (centred): k equal singular values -> rank k
    for k in (1, 3, 8):
        frames = np.concatenate([np.eye(16)[:k], -np.eye(16)[:k]])
        assert embedding_spread([frames])["effective_rank"] == pytest.approx(k, rel=1e-9)


def test_the_collapse_message_of_one_video_has_no_across_value():
    """``across`` of one video is NaN, ``null`` once in config.json: the message raised a TypeError (a fine-tuning
    run on one clip of constant colour) instead of warning."""
    from vidalign.evaluation.spread import collapse_message

    message = collapse_message("run", {"within": 0.999, "across": None, "effective_rank": 1.0})
    assert "0.999" in message and "across videos -" in message
    assert "across videos -" in collapse_message("run", {"within": 1.0, "across": float("nan"), "effective_rank": 1.0})
