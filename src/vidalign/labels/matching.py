"""Hungarian matching of predicted cluster ids to ground-truth classes (docs/evaluation.md, "Segmentation").

Unsupervised segmentation predicts arbitrary cluster ids; before any metric is computed they are mapped
one-to-one onto ground-truth class ids by the assignment that maximises the number of frames on which cluster
and class overlap (scipy ``linear_sum_assignment`` on the cluster x class contingency table). Two scopes:

- ``"full"``: one matching computed on the frames of all videos together (one per dataset / activity);
- ``"per"``: one matching per video, computed on that video's frames only.

When there are more clusters than classes the extra clusters stay unmatched; their frames receive fresh ids
that are no ground-truth class (and not the background id), so every metric counts them as wrong. When there
are fewer clusters than classes the extra classes simply receive no prediction.

A declared ``background`` class is never a matching target: its frames are left out of the contingency table
and the matched prediction carries the background id on exactly the frames whose ground truth is background,
so that frame metrics skip them and segment metrics see the same cut points in prediction and ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidalign.errors import ConfigError, InputError

MODES = ("full", "per")


def overlap_counts(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contingency table of frame overlaps.

    Returns ``(clusters, classes, counts)`` where ``clusters`` / ``classes`` are the sorted distinct ids of
    ``pred`` / ``gt`` and ``counts[i, j]`` is the number of frames with ``pred == clusters[i]`` and
    ``gt == classes[j]``.
    """
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    if pred.shape != gt.shape:
        raise InputError(f"prediction has {pred.size} frames but ground truth has {gt.size}")
    clusters, cluster_index = np.unique(pred, return_inverse=True)
    classes, class_index = np.unique(gt, return_inverse=True)
    counts = np.zeros((clusters.size, classes.size), dtype=np.int64)
    np.add.at(counts, (cluster_index, class_index), 1)
    return clusters, classes, counts


def hungarian_mapping(pred: np.ndarray, gt: np.ndarray) -> dict[int, int]:
    """One-to-one cluster -> class map maximising the total number of overlapping frames."""
    clusters, classes, counts = overlap_counts(pred, gt)
    from scipy.optimize import linear_sum_assignment  # here: scipy.optimize costs ~40 MB that `vidalign align` skips

    rows, cols = linear_sum_assignment(counts, maximize=True)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols, strict=True)}


def relabel(pred: np.ndarray, mapping: dict[int, int], unmatched_start: int) -> np.ndarray:
    """Replace cluster ids by their matched class; unmatched clusters get ids ``unmatched_start + j``."""
    clusters, inverse = np.unique(np.asarray(pred), return_inverse=True)
    targets = np.empty(clusters.size, dtype=np.int64)
    n_unmatched = 0
    for i, cluster in enumerate(clusters.tolist()):
        if cluster in mapping:
            targets[i] = mapping[cluster]
        else:
            targets[i] = unmatched_start + n_unmatched
            n_unmatched += 1
    return targets[inverse.ravel()]


def _label_ids(labels: np.ndarray, what: str, index: int) -> np.ndarray:
    """``labels`` as int64 ids; ids that are not whole numbers (0.5) would be merged by the mapping's ``int()``."""
    labels = np.asarray(labels).ravel()
    if np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool:
        return labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.floating) or not np.array_equal(labels, np.round(labels)):
        raise InputError(f"video {index}: {what} ids must be whole numbers (got dtype {labels.dtype})")
    return labels.astype(np.int64)


def match_predictions(
    preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], mode: str, *, background: int | None = None
) -> list[np.ndarray]:
    """Matched predictions (in ground-truth class ids) for every video, with ``"full"`` or ``"per"`` matching.

    Frames whose ground truth is ``background`` are excluded from the matching and carry the background id in
    the output.
    """
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    if len(preds) != len(gts):
        raise InputError(f"{len(preds)} predictions for {len(gts)} ground-truth videos")
    preds = [_label_ids(p, "prediction", i) for i, p in enumerate(preds)]
    gts = [_label_ids(g, "ground truth", i) for i, g in enumerate(gts)]
    for i, (p, g) in enumerate(zip(preds, gts, strict=True)):
        if p.shape != g.shape:
            raise InputError(f"video {i}: prediction has {p.size} frames but ground truth has {g.size}")
    largest_id = max([int(g.max()) for g in gts if g.size] + ([background] if background is not None else [0]))
    unmatched_start = largest_id + 1
    keeps = [np.ones(g.shape, dtype=bool) if background is None else g != background for g in gts]

    if mode == "full":
        pooled = hungarian_mapping(
            np.concatenate([p[k] for p, k in zip(preds, keeps, strict=True)]),
            np.concatenate([g[k] for g, k in zip(gts, keeps, strict=True)]),
        )
        mappings = [pooled] * len(preds)
    else:
        mappings = [hungarian_mapping(p[k], g[k]) for p, g, k in zip(preds, gts, keeps, strict=True)]

    matched = []
    for p, k, mapping in zip(preds, keeps, mappings, strict=True):
        out = relabel(p, mapping, unmatched_start)
        if background is not None:
            out[~k] = background
        matched.append(out)
    return matched
