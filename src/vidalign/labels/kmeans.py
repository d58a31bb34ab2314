"""k-means segmentation baseline (docs/evaluation.md, "Segmentation"): the unsupervised reference row.

All frames of all given videos are clustered jointly with scikit-learn ``KMeans`` (k-means++ initialisation,
Lloyd iterations); each frame's cluster id is its predicted segment label, to be scored with Hungarian
matching by :func:`vidalign.evaluation.segmentation.evaluate_segmentation`. ``n_init`` is explicit (10
restarts, keeping the lowest inertia) because scikit-learn's default changed from 10 to ``"auto"`` (one
k-means++ run) in 1.4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidalign.errors import InputError


def kmeans_baseline(
    features: Sequence[np.ndarray],
    n_clusters: int,
    seed: int = 0,
    *,
    n_init: int = 10,
    standardize: bool = False,
) -> list[np.ndarray]:
    """Per-video cluster ids ``[T_i]`` from one k-means fit on the frames ``[T_i, D]`` of all videos.

    ``standardize=True`` z-scores every feature channel with the mean and standard deviation of all frames
    (constant channels are only centred) before clustering.
    """
    frames = [np.asarray(f) for f in features]
    if not frames:
        raise InputError("no video to cluster")
    stacked = np.concatenate(frames, dtype=np.float64)  # one float64 copy, not one per video and then another
    if n_clusters > len(stacked):
        raise InputError(f"{n_clusters} clusters need at least as many frames; the videos have {len(stacked)}")
    if standardize:
        scale = stacked.std(axis=0)
        stacked = (stacked - stacked.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    from sklearn.cluster import KMeans  # here: importing scikit-learn costs ~80 MB that `vidalign align` skips

    labels = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(stacked)
    return np.split(labels, np.cumsum([f.shape[0] for f in frames])[:-1])
