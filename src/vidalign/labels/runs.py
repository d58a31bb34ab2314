"""Maximal runs of equal labels: the segments of a per-frame labelling (``docs/evaluation.md``, Segmentation)."""

from __future__ import annotations

import numpy as np

__all__ = ["label_runs"]


def label_runs(labels: np.ndarray, background: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(labels, starts, ends)`` of each maximal run of equal labels (``ends`` exclusive), in frame order; runs
    of ``background`` are left out. ``[0, 0, 2, 2, 2, 1] -> ([0, 2, 1], [0, 2, 5], [2, 5, 6])``."""
    labels = np.asarray(labels).ravel()
    if labels.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return labels[:0], empty, empty
    changes = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate(([0], changes))
    ends = np.concatenate((changes, [labels.size]))
    run_labels = labels[starts]
    keep = np.ones(run_labels.shape, dtype=bool) if background is None else run_labels != background
    return run_labels[keep], starts[keep], ends[keep]
