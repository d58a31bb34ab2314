"""Segmentation metrics (vidalign.evaluation.segmentation) on hand cases and against independent oracles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from Bio import Align
from sklearn.metrics import confusion_matrix

from vidalign.errors import InputError
from vidalign.evaluation.segmentation import (
    edit_score,
    evaluate_segmentation,
    f1_counts,
    f1_sampled,
    frame_accuracy,
    mean_iou,
)
from vidalign.labels.matching import match_predictions
from vidalign.labels.runs import label_runs

KEYS = {"mof", "f1@10", "f1@25", "f1@50", "edit", "miou", "f1_sampled"}


def _random_segmentation(rng: np.random.Generator, length: int, n_ids: int, mean_run: float) -> np.ndarray:
    """Piecewise-constant label sequence with geometric run lengths."""
    labels = []
    while len(labels) < length:
        labels += [int(rng.integers(n_ids))] * int(rng.geometric(1.0 / mean_run))
    return np.array(labels[:length])


def test_over_segmentation_hand_case():
    # gt: 0 x10, 1 x10. pred: 0 x4, 1 x2, 0 x4, 1 x10 -> segments p0 [0,4), p1 [4,6), p2 [6,10), p3 [10,20).
    # p0 vs g0 [0,10): IoU 4/10; p1 (label 1) vs g1 [10,20): disjoint; p2 vs g0: IoU 0.4 but g0 already hit;
    # p3 vs g1: IoU 1.
    gt = np.array([0] * 10 + [1] * 10)
    pred = np.array([0] * 4 + [1] * 2 + [0] * 4 + [1] * 10)
    # overlap 0.1 / 0.25: TP = p0, p3; FP = p1, p2; FN = 0 -> P = 1/2, R = 1 -> F1 = 2/3.
    np.testing.assert_array_equal(f1_counts(pred, gt, 0.1), [2, 2, 0])
    np.testing.assert_array_equal(f1_counts(pred, gt, 0.25), [2, 2, 0])
    # overlap 0.5: only p3 -> TP 1, FP 3, FN 1 (g0) -> P = 1/4, R = 1/2 -> F1 = 1/3.
    np.testing.assert_array_equal(f1_counts(pred, gt, 0.5), [1, 3, 1])
    # Edit: P = [0, 1, 0, 1], Y = [0, 1]: two deletions -> 1 - 2/4.
    assert edit_score(pred, gt) == pytest.approx(0.5)
    result = evaluate_segmentation([pred], [gt])
    assert result["f1@10"]["full"] == pytest.approx(2 / 3)
    assert result["f1@50"]["full"] == pytest.approx(1 / 3)
    assert result["edit"]["full"] == pytest.approx(0.5)
    # MoF: the two frames predicted 1 inside g0 are wrong -> 18/20.
    assert result["mof"]["full"] == pytest.approx(0.9)
    # mIoU: class 0: 8 / 10; class 1: 10 / 12.
    assert result["miou"]["full"] == pytest.approx((0.8 + 10 / 12) / 2)


def test_full_versus_per_hand_case():
    # Same videos as the matching hand case: full matching gets A right and B all wrong, per gets both right.
    preds = [np.array([5, 5, 5, 5, 7, 7, 7, 7]), np.array([7, 7, 5, 5])]
    gts = [np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0, 0, 1, 1])]
    result = evaluate_segmentation(preds, gts)
    assert set(result) == KEYS | {"protocol", "details"}
    for key in KEYS:
        assert result[key]["per"] == pytest.approx(1.0), key
    # full: MoF 8/12.
    # mIoU: class 0 predicted on A[0:4] + B[2:4] (6 frames), gt A[0:4] + B[0:2] (6), overlap 4 -> 4/8; class 1
    # likewise -> 0.5.
    # F1 (every overlap): TP 2 (A), FP 2 and FN 2 (B) -> P = R = 0.5.
    # Edit: A 1; B [1, 0] vs [0, 1] is two substitutions -> 0; mean 0.5.
    # Sampled F1: TP 2 of 4 GT segments, 2 videos x 2 classes predicted -> P = R = 0.5.
    expected_full = {"mof": 8 / 12, "miou": 0.5, "f1@10": 0.5, "f1@25": 0.5, "f1@50": 0.5, "edit": 0.5}
    expected_full["f1_sampled"] = 0.5
    for key, value in expected_full.items():
        assert result[key]["full"] == pytest.approx(value), key
    json.dumps(result, allow_nan=False)


def test_mof_and_miou_equal_confusion_matrix_computation():
    rng = np.random.default_rng(1)
    gts = [_random_segmentation(rng, 120, 4, 15) for _ in range(5)]
    preds = [np.where(rng.random(120) < 0.7, 3 * g + 10, rng.integers(0, 6, 120)) for g in gts]
    for mode in ("full", "per"):
        matched = match_predictions(preds, gts, mode)
        gt, pred = np.concatenate(gts), np.concatenate(matched)
        ids = np.union1d(gt, pred)
        cm = confusion_matrix(gt, pred, labels=ids)
        diag = np.diag(cm)
        present = np.isin(ids, gt)
        assert frame_accuracy(matched, gts) == pytest.approx(diag.sum() / cm.sum())
        iou = diag / (cm.sum(axis=0) + cm.sum(axis=1) - diag)
        assert mean_iou(matched, gts) == pytest.approx(iou[present].mean())


def test_edit_score_equals_biopython_levenshtein():
    # Unit-cost global alignment (match 0, mismatch -1, gap -1) scores minus the Levenshtein distance.
    aligner = Align.PairwiseAligner(
        mode="global", match_score=0, mismatch_score=-1, open_gap_score=-1, extend_gap_score=-1
    )
    rng = np.random.default_rng(2)
    for _ in range(30):
        pred, gt = _random_segmentation(rng, 60, 5, 4), _random_segmentation(rng, 60, 5, 8)
        p_labels, g_labels = label_runs(pred)[0], label_runs(gt)[0]
        distance = -aligner.score("".join(chr(65 + v) for v in p_labels), "".join(chr(65 + v) for v in g_labels))
        assert edit_score(pred, gt) == pytest.approx(1 - distance / max(p_labels.size, g_labels.size))


def test_matched_metrics_invariant_to_cluster_relabelling():
    rng = np.random.default_rng(3)
    gts = [_random_segmentation(rng, 150, 5, 20) for _ in range(4)]
    preds = [np.where(rng.random(150) < 0.8, g, rng.integers(0, 7, 150)) for g in gts]
    relabelled_ids = rng.permutation(np.arange(100, 107))
    relabelled = [relabelled_ids[p] for p in preds]
    original, permuted = evaluate_segmentation(preds, gts), evaluate_segmentation(relabelled, gts)
    for key in KEYS:
        assert original[key] == pytest.approx(permuted[key]), key


def test_background_frames_do_not_count():
    # bg = 9. Non-background frames are predicted perfectly (3 -> 0, 4 -> 1); predictions on background
    # frames (whatever they are) must not change any metric.
    gt = np.array([9, 9, 0, 0, 9, 1, 1])
    for pred in (np.array([3, 3, 3, 3, 4, 4, 4]), np.array([4, 8, 3, 3, 3, 4, 4])):
        result = evaluate_segmentation([pred], [gt], background=9)
        for key in KEYS:
            assert result[key]["full"] == pytest.approx(1.0), key
        assert result["details"]["n_scored_frames"] == 4


def test_f1_sampled_hand_case():
    # gt 0 x10, 1 x10; the first segment is half right (p = 1/2) -> a 15-sample majority vote succeeds with
    # probability exactly 1/2 (odd count, symmetric); the second is all right -> 1. TP = 1.5 of 2 GT segments;
    # 1 video x 2 classes predicted -> P = R = 0.75.
    gt = np.array([0] * 10 + [1] * 10)
    matched = np.array([0] * 5 + [1] * 5 + [1] * 10)
    assert f1_sampled([matched], [gt]) == pytest.approx(0.75)


def test_f1_sampled_equals_monte_carlo_of_the_sampling_recipe():
    # The TOT/CTE recipe: 15 frames drawn uniformly with replacement inside each GT segment, hit when more
    # than half carry the matched label; averaged over many rounds it converges to our exact expectation.
    rng = np.random.default_rng(4)
    gts = [_random_segmentation(rng, 80, 3, 12) for _ in range(3)]
    matched = [np.where(rng.random(80) < 0.55, g, (g + 1) % 3) for g in gts]
    n_rounds, n_sample = 4000, 15
    tp = 0.0
    n_gt_segments = 0
    for m, g in zip(matched, gts, strict=True):
        labels, starts, ends = label_runs(g)
        n_gt_segments += labels.size
        for label, start, end in zip(labels, starts, ends, strict=True):
            draws = rng.integers(start, end, size=(n_rounds, n_sample))
            tp += np.mean((m[draws] == label).sum(axis=1) > n_sample / 2)
    precision, recall = tp / (len(gts) * 3), tp / n_gt_segments
    monte_carlo = 2 * precision * recall / (precision + recall)
    assert f1_sampled(matched, gts, classes_per_video="dataset") == pytest.approx(monte_carlo, abs=0.02)


def test_f1_sampled_passes_one_where_an_action_recurs_as_in_asot():
    """Precision over one predicted segment per action and video (ASOT ``metrics.eval_f1``): a perfect
    segmentation of 1 1 1 2 2 1 1 1 has 3 hits over 2 predicted segments (docs/evaluation.md)."""
    labels = np.array([1, 1, 1, 2, 2, 1, 1, 1])
    assert f1_sampled([labels], [labels]) == pytest.approx(2 * 1.5 * 1.0 / 2.5)


def test_label_ids_that_are_not_whole_numbers_are_refused():
    """Were cast with int() in the mapping and looked up as floats: every metric 0 for a perfect partition."""
    with pytest.raises(InputError, match="prediction ids must be whole numbers"):
        evaluate_segmentation([np.array([0.5, 0.5, 1.5])], [np.array([0, 0, 1])])
    whole = evaluate_segmentation([np.array([0.0, 0.0, 1.0])], [np.array([0, 0, 1])])
    assert whole["mof"] == {"full": 1.0, "per": 1.0}
