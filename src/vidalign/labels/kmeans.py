"""k-means segmentation baseline (docs/evaluation.md, "Segmentation"): the unsupervised reference row.

All frames of all given videos are clustered jointly with scikit-learn ``KMeans`` (k-means++ initialisation,
Lloyd iterations); each frame's cluster id is its predicted segment label, to be scored with Hungarian
matching by :func:`vidalign.evaluation.segmentation.evaluate_segmentation`. ``n_init`` is explicit (10
restarts, keeping the lowest inertia) because scikit-learn's default changed from 10 to ``"auto"`` (one
k-means++ run) in 1.4. Where the frames of all videos would take more than :data:`FIT_BYTES` in float64 (2,000
clips of 1280-d frames: 2.7 GB, and scikit-learn's copies on top), k-means is fitted on every s-th frame of each
video, just enough to fit, and every frame is then assigned to its nearest centre; a warning says so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from vidalign.errors import InputError, user_stacklevel

FIT_BYTES = 1 << 30  # the float64 frames k-means is fitted on, at most


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
    total = sum(f.shape[0] for f in frames)
    if n_clusters > total:
        raise InputError(f"{n_clusters} clusters need at least as many frames; the videos have {total}")
    step = max(1, math.ceil(total * frames[0].shape[1] * 8 / FIT_BYTES))
    fitted = np.concatenate([f[::step] for f in frames], dtype=np.float64)  # one float64 copy
    if step > 1:
        warnings.warn(f"k-means fitted on one frame in {step} ({len(fitted)} of {total}; all of them in float64 "
                      f"would take {total * frames[0].shape[1] * 8 / 2**30:.1f} GiB), then every frame assigned",
                      stacklevel=user_stacklevel())  # fmt: skip
    shift, scale = np.zeros(fitted.shape[1]), np.ones(fitted.shape[1])
    if standardize:
        spread = fitted.std(axis=0)
        shift, scale = fitted.mean(axis=0), np.where(spread > 0, spread, 1.0)
        fitted = (fitted - shift) / scale
    from sklearn.cluster import KMeans  # here: importing scikit-learn costs ~80 MB that `vidalign align` skips

    kmeans = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
    if step == 1:  # every frame fitted: the labels of the fit
        return np.split(kmeans.fit_predict(fitted), np.cumsum([f.shape[0] for f in frames])[:-1])
    kmeans.fit(fitted)
    return [kmeans.predict((np.asarray(f, dtype=np.float64) - shift) / scale) for f in frames]
