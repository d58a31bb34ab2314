"""Unsupervised action-segmentation metrics (docs/evaluation.md, "Segmentation").

Every score is a fraction in [0, 1] (papers print them x100). Predictions are per-frame cluster ids (any ids,
any number of clusters); they are first mapped onto ground-truth classes by Hungarian matching
(:mod:`vidalign.labels.matching`), either once for the whole dataset (``"full"``) or once per video
(``"per"``). Every metric is then computed the same way on the matched predictions, so the two modes differ
only in the matching:

- MoF: correct frames / frames, pooled over all frames of all videos (in ``"per"`` mode too: frames pooled
  after
  per-video matching; ASOT's code instead averages per-video MoF).
- mIoU: for each ground-truth class present, IoU between the frames predicted as that class and the frames of
  that class, pooled over videos; mean over the classes present (a class that no cluster matches scores 0).
- F1@{10, 25, 50}: MS-TCN / Lea et al. (CVPR 2017) segmental F1. Predicted segments are visited in temporal
  order; each is a true positive when its best-IoU ground-truth segment of the same label reaches the
  threshold and was not hit before, else a false positive; unhit ground-truth segments are false negatives.
  TP/FP/FN are summed over videos before precision and recall (as MS-TCN ``eval.py``).
- Edit: 1 - Levenshtein(segment label sequences) / max(lengths), mean over videos (MS-TCN ``eval.py``); two
  empty
  sequences (all background) score 1.
- ``f1_sampled``: the TOT / CTE F1 used in the ASOT / VASOT tables (see :func:`f1_sampled`).

Background (``background=<id>``): frames whose ground truth is background are excluded from the matching, from
MoF and mIoU, and from both segmentations for F1 / Edit / ``f1_sampled`` (the matched prediction carries the
background id on exactly those frames, so no segment is formed there and both timelines are cut at the same
places). MoF is reported without background frames only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binom

from vidalign.errors import ConfigError, InputError
from vidalign.labels.matching import MODES, match_predictions
from vidalign.labels.runs import label_runs

F1_OVERLAPS = {"f1@10": 0.10, "f1@25": 0.25, "f1@50": 0.50}


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance (unit-cost insertions, deletions, substitutions) between two sequences."""
    previous = list(range(len(b) + 1))
    for i, item_a in enumerate(a, start=1):
        current = [i]
        for j, item_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (item_a != item_b)))
        previous = current
    return previous[-1]


def edit_score(pred: np.ndarray, gt: np.ndarray, background: int | None = None) -> float:
    """Segmental edit score of one video: ``1 - lev(P, Y) / max(|P|, |Y|)`` on segment label sequences."""
    pred_labels = label_runs(pred, background)[0].tolist()
    gt_labels = label_runs(gt, background)[0].tolist()
    longest = max(len(pred_labels), len(gt_labels))
    if longest == 0:
        return 1.0
    return 1.0 - levenshtein(pred_labels, gt_labels) / longest


def f1_counts(pred: np.ndarray, gt: np.ndarray, overlap: float, background: int | None = None) -> np.ndarray:
    """``[tp, fp, fn]`` of the MS-TCN segmental F1 at IoU threshold ``overlap`` for one video."""
    p_labels, p_starts, p_ends = label_runs(pred, background)
    g_labels, g_starts, g_ends = label_runs(gt, background)
    hit = np.zeros(g_labels.size, dtype=bool)
    tp = fp = 0
    for label, start, end in zip(p_labels, p_starts, p_ends, strict=True):
        intersection = np.minimum(end, g_ends) - np.maximum(start, g_starts)
        union = np.maximum(end, g_ends) - np.minimum(start, g_starts)
        iou = np.where(g_labels == label, intersection / union, 0.0)
        best = int(np.argmax(iou)) if iou.size else -1
        if best >= 0 and iou[best] >= overlap and not hit[best]:
            hit[best] = True
            tp += 1
        else:
            fp += 1
    return np.array([tp, fp, g_labels.size - int(hit.sum())])


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """Harmonic mean of precision ``tp/(tp+fp)`` and recall ``tp/(tp+fn)``; 0 when undefined."""
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2.0 * precision * recall / (precision + recall)


def _foreground(gts: Sequence[np.ndarray], background: int | None) -> list[np.ndarray]:
    return [np.ones(g.shape, dtype=bool) if background is None else g != background for g in gts]


def frame_accuracy(matched: Sequence[np.ndarray], gts: Sequence[np.ndarray], background: int | None = None) -> float:
    """MoF: fraction of (non-background) frames whose matched prediction equals the ground truth."""
    keeps = _foreground(gts, background)
    correct = sum(int(np.sum((m == g)[k])) for m, g, k in zip(matched, gts, keeps, strict=True))
    total = sum(int(k.sum()) for k in keeps)
    if total == 0:
        raise InputError("no non-background frame to score")
    return correct / total


def mean_iou(matched: Sequence[np.ndarray], gts: Sequence[np.ndarray], background: int | None = None) -> float:
    """mIoU: IoU of matched prediction vs ground truth per class over all frames, mean over classes."""
    pred = np.concatenate([np.asarray(m).ravel() for m in matched])
    gt = np.concatenate([np.asarray(g).ravel() for g in gts])
    classes = np.unique(gt if background is None else gt[gt != background])
    if classes.size == 0:
        raise InputError("no non-background frame to score")
    ious = [np.sum((pred == c) & (gt == c)) / np.sum((pred == c) | (gt == c)) for c in classes]
    return float(np.mean(ious))


def segmental_f1(
    matched: Sequence[np.ndarray], gts: Sequence[np.ndarray], overlap: float, background: int | None = None
) -> float:
    """MS-TCN F1@overlap with TP/FP/FN summed over videos."""
    tp, fp, fn = sum(f1_counts(m, g, overlap, background) for m, g in zip(matched, gts, strict=True))
    return f1_from_counts(tp, fp, fn)


def mean_edit_score(matched: Sequence[np.ndarray], gts: Sequence[np.ndarray], background: int | None = None) -> float:
    """Edit score averaged over videos."""
    return float(np.mean([edit_score(m, g, background) for m, g in zip(matched, gts, strict=True)]))


def f1_sampled(
    matched: Sequence[np.ndarray],
    gts: Sequence[np.ndarray],
    *,
    classes_per_video: str = "dataset",
    background: int | None = None,
    n_sample: int = 15,
) -> float:
    """TOT / CTE "sampled" F1 as used by ASOT / VASOT (``mingu6/action_seg_ot`` ``metrics.eval_f1``).

    A ground-truth segment of class ``c`` is a true positive when, among ``n_sample`` frames drawn uniformly
    with replacement from the segment, more than half carry the prediction matched to ``c``. With ``p`` the
    fraction of the segment's frames predicted as ``c`` this happens with probability ``P[Binomial(n_sample,
    p) > n_sample/2]``; we use that exact expectation, the limit of ASOT's average over 50 random draws. Then

    ``recall = TP / #ground-truth segments``, ``precision = TP / #predicted segments``,

    where the predicted-segment count follows TOT / CTE's decoding (one segment per class per video):
    ``classes_per_video="dataset"`` uses ``n_videos * #classes in the dataset`` (ASOT's global evaluation) and
    ``"video"`` sums the classes present in each video (ASOT's per-video evaluation, here pooled over videos).
    A class that recurs within a video gives more ground-truth segments, and hits, than that count, so the
    precision and the F1 can exceed 1, as in ASOT's code (``docs/evaluation.md``, Segmentation).

    Deviations from ASOT's code, all in favour of the stated definition: samples are drawn inside the segment
    (their ``random_integers(lo, up)`` includes the first frame of the next segment), segments never span two
    videos (their global evaluation concatenates videos), and background frames are masked instead of removed.
    """
    if classes_per_video not in ("dataset", "video"):
        raise ConfigError(f"classes_per_video must be 'dataset' or 'video', got {classes_per_video!r}")
    hit_threshold = n_sample // 2  # a hit needs strictly more than n_sample / 2 matching samples
    true_positives = 0.0
    n_gt_segments = 0
    video_classes = []
    for m, g in zip(matched, gts, strict=True):
        m, g = np.asarray(m).ravel(), np.asarray(g).ravel()
        labels, starts, ends = label_runs(g, background)
        for label, start, end in zip(labels, starts, ends, strict=True):
            agreement = float(np.mean(m[start:end] == label))
            true_positives += float(binom.sf(hit_threshold, n_sample, agreement))
        n_gt_segments += labels.size
        video_classes.append(set(labels.tolist()))
    if classes_per_video == "dataset":
        n_predicted = len(video_classes) * len(set().union(*video_classes))
    else:
        n_predicted = sum(len(c) for c in video_classes)
    if true_positives == 0.0:
        return 0.0
    precision, recall = true_positives / n_predicted, true_positives / n_gt_segments
    return 2.0 * precision * recall / (precision + recall)


def evaluate_segmentation(
    preds: Sequence[np.ndarray],
    gts: Sequence[np.ndarray],
    *,
    background: int | None = None,
    n_sample: int = 15,
) -> dict:
    """All segmentation metrics for ``"full"`` and ``"per"`` Hungarian matching (``docs/evaluation.md`` JSON keys).

    Returns ``{"mof", "f1@10", "f1@25", "f1@50", "edit", "miou", "f1_sampled"}`` each as ``{"full": float,
    "per": float}``, plus ``"protocol"`` (every choice made) and ``"details"`` (counts).
    """
    gts = [np.asarray(g).ravel() for g in gts]
    preds = [np.asarray(p).ravel() for p in preds]
    if not gts:
        raise InputError("no video to evaluate")
    result: dict = {key: {} for key in ("mof", *F1_OVERLAPS, "edit", "miou", "f1_sampled")}
    for mode in MODES:
        matched = match_predictions(preds, gts, mode, background=background)
        result["mof"][mode] = frame_accuracy(matched, gts, background)
        for key, overlap in F1_OVERLAPS.items():
            result[key][mode] = segmental_f1(matched, gts, overlap, background)
        result["edit"][mode] = mean_edit_score(matched, gts, background)
        result["miou"][mode] = mean_iou(matched, gts, background)
        result["f1_sampled"][mode] = f1_sampled(
            matched,
            gts,
            classes_per_video="dataset" if mode == "full" else "video",
            background=background,
            n_sample=n_sample,
        )
    all_gt = np.concatenate(gts)
    foreground = all_gt if background is None else all_gt[all_gt != background]
    result["protocol"] = {
        "matching": "Hungarian (scipy linear_sum_assignment) maximising frame overlap; "
        "unmatched clusters count as wrong",
        "full": "one matching over all videos",
        "per": "one matching per video; frame and segment counts then pooled over videos like 'full'",
        "background": background,
        "background_handling": "background frames excluded from matching, MoF, mIoU and both segmentations",
        "scale": "fractions in [0, 1]",
        "f1_overlaps": list(F1_OVERLAPS.values()),
        "f1_aggregation": "TP/FP/FN summed over videos (MS-TCN eval.py)",
        "edit_aggregation": "mean over videos",
        "miou": "IoU per ground-truth class present, pooled over videos, mean over classes",
        "f1_sampled": {
            "n_sample": n_sample,
            "estimator": "exact expectation of the majority vote over n_sample uniform draws per segment",
            "predicted_segments": {"full": "n_videos * n_classes", "per": "sum of classes present per video"},
        },
    }
    result["details"] = {
        "n_videos": len(gts),
        "n_frames": int(sum(g.size for g in gts)),
        "n_scored_frames": int(foreground.size),
        "n_classes": int(np.unique(foreground).size),
        "n_clusters": int(np.unique(np.concatenate(preds)).size),
    }
    return result
