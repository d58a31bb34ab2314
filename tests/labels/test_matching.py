"""Hungarian matching (vidalign.labels.matching) against brute force and sklearn's contingency table."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from sklearn.metrics.cluster import contingency_matrix

from vidalign.labels.matching import hungarian_mapping, match_predictions, overlap_counts


def _brute_force_best_overlap(pred: np.ndarray, gt: np.ndarray) -> int:
    """Largest total overlap over every one-to-one partial map cluster -> class (enumerated)."""
    clusters, classes = np.unique(pred), np.unique(gt)
    best = 0
    small, large, swap = (clusters, classes, False) if clusters.size <= classes.size else (classes, clusters, True)
    for image in permutations(large.tolist(), small.size):
        total = 0
        for a, b in zip(small.tolist(), image, strict=True):
            cluster, cls = (b, a) if swap else (a, b)
            total += int(np.sum((pred == cluster) & (gt == cls)))
        best = max(best, total)
    return best


def test_overlap_counts_equals_sklearn_contingency():
    rng = np.random.default_rng(0)
    pred, gt = rng.integers(-2, 5, 200), rng.integers(0, 4, 200)
    clusters, classes, counts = overlap_counts(pred, gt)
    np.testing.assert_array_equal(clusters, np.unique(pred))
    np.testing.assert_array_equal(classes, np.unique(gt))
    np.testing.assert_array_equal(counts, contingency_matrix(pred, gt))


@pytest.mark.parametrize(("n_clusters", "n_classes"), [(3, 3), (5, 3), (2, 4)])
def test_hungarian_mapping_is_optimal_and_one_to_one(n_clusters, n_classes):
    rng = np.random.default_rng(n_clusters * 10 + n_classes)
    for _ in range(5):
        gt = rng.integers(0, n_classes, 60)
        # Correlated with gt (60 % of frames copy gt mod n_clusters), then mapped to arbitrary ids 7c + 1.
        pred = np.where(rng.random(60) < 0.6, gt % n_clusters, rng.integers(0, n_clusters, 60)) * 7 + 1
        mapping = hungarian_mapping(pred, gt)
        assert len(set(mapping.values())) == len(mapping) == min(np.unique(pred).size, np.unique(gt).size)
        total = sum(int(np.sum((pred == c) & (gt == k))) for c, k in mapping.items())
        assert total == _brute_force_best_overlap(pred, gt)


def test_full_and_per_matching_differ_on_hand_case():
    # Video A: gt 0000 1111, clusters 5555 7777; video B: gt 00 11, clusters 77 55 (swapped).
    # Full contingency: (5,0)=4, (5,1)=2, (7,0)=2, (7,1)=4 -> 5->0, 7->1: A is right, B all wrong.
    # Per video: A maps 5->0, 7->1 and B maps 7->0, 5->1: both right.
    preds = [np.array([5, 5, 5, 5, 7, 7, 7, 7]), np.array([7, 7, 5, 5])]
    gts = [np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0, 0, 1, 1])]
    full = match_predictions(preds, gts, "full")
    per = match_predictions(preds, gts, "per")
    np.testing.assert_array_equal(full[0], gts[0])
    np.testing.assert_array_equal(full[1], [1, 1, 0, 0])
    for matched, gt in zip(per, gts, strict=True):
        np.testing.assert_array_equal(matched, gt)


def test_unmatched_clusters_get_fresh_ids_that_are_no_class():
    # 3 clusters, 2 classes: cluster 9 (1 frame) loses; its frame gets an id above every class id.
    pred = np.array([0, 0, 1, 1, 9])
    gt = np.array([3, 3, 4, 4, 4])
    (matched,) = match_predictions([pred], [gt], "full")
    np.testing.assert_array_equal(matched[:4], [3, 3, 4, 4])
    assert matched[4] not in (3, 4)


def test_background_is_never_a_matching_target_and_is_kept_in_place():
    # Cluster 2 covers mostly background (id 9); with background=9 it can only match class 0 or 1.
    pred = np.array([2, 2, 2, 2, 0, 0, 1, 1])
    gt = np.array([9, 9, 9, 0, 0, 0, 1, 1])
    (matched,) = match_predictions([pred], [gt], "full", background=9)
    np.testing.assert_array_equal(matched[:3], [9, 9, 9])
    # Non-background frames: (2,0)=1, (0,0)=2, (1,1)=2 -> 0->0, 1->1, cluster 2 unmatched.
    np.testing.assert_array_equal(matched[4:], [0, 0, 1, 1])
    assert matched[3] not in (0, 1, 9)
