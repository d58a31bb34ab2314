"""k-means segmentation baseline (vidalign.labels.kmeans), including the real mocap6 check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat
from sklearn.cluster import KMeans

from vidalign.evaluation.segmentation import evaluate_segmentation
from vidalign.labels.kmeans import kmeans_baseline

# ../shared/data next to the repository root (this file sits one level deeper than tests/).
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_joint_fit_split_back_per_video():
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(n, 3)) + 5 * rng.integers(0, 2, size=(n, 1)) for n in (7, 12, 5)]
    labels = kmeans_baseline(videos, n_clusters=2, seed=3)
    assert [lab.shape for lab in labels] == [(7,), (12,), (5,)]
    joint = KMeans(n_clusters=2, n_init=10, random_state=3).fit_predict(np.concatenate(videos))
    np.testing.assert_array_equal(np.concatenate(labels), joint)
    for a, b in zip(labels, kmeans_baseline(videos, n_clusters=2, seed=3), strict=True):
        np.testing.assert_array_equal(a, b)


def test_standardize_makes_channel_scale_irrelevant():
    # Two blobs separated along channel 0; channel 1 is noise with a huge scale that dominates raw k-means.
    rng = np.random.default_rng(1)
    truth = np.repeat([0, 1], 50)
    video = np.c_[4.0 * truth + rng.normal(size=100), 1000.0 * rng.normal(size=100)]
    scores = {}
    for standardize in (False, True):
        (pred,) = kmeans_baseline([video], n_clusters=2, standardize=standardize)
        scores[standardize] = evaluate_segmentation([pred], [truth])["mof"]["full"]
    assert scores[True] > 0.95 and scores[False] < 0.8


def test_mocap6_mof_near_reference():
    """The data README reports MoF 0.388 for k-means + global Hungarian on mocap6 (12 channels, classes)."""
    mat_path = DATA / "mocap6" / "mocap6.mat"
    if not mat_path.exists():
        pytest.skip("shared mocap6 data not available")
    sequences = loadmat(mat_path, squeeze_me=True, struct_as_record=False)["DataBySeq"]
    features = [np.asarray(s.X, dtype=float) for s in sequences]
    labels = [np.asarray(s.TrueZ, dtype=int).ravel() for s in sequences]
    n_classes = np.unique(np.concatenate(labels)).size
    assert n_classes == 12
    # k-means has several local optima here: average MoF over 5 seeds (measured 0.342-0.384, mean 0.360).
    mofs = [
        evaluate_segmentation(kmeans_baseline(features, n_classes, seed=seed), labels)["mof"]["full"]
        for seed in range(5)
    ]
    assert np.mean(mofs) == pytest.approx(0.388, abs=0.05)


def test_frames_beyond_the_memory_budget_are_fitted_on_a_stride_and_all_assigned(monkeypatch):
    """2,000 clips of 1280-d frames took ~12 GB (every video copied to float64, then stacked, then scikit-learn's
    copies): past FIT_BYTES k-means fits every s-th frame and assigns them all, saying so."""
    from vidalign.labels import kmeans

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 4)) * 10
    videos = [centres[np.repeat([0, 1, 2], n)] + rng.normal(size=(3 * n, 4)) for n in (20, 30, 25)]
    whole = kmeans.kmeans_baseline(videos, 3, standardize=True)
    monkeypatch.setattr(kmeans, "FIT_BYTES", 4 * 8 * 60)  # 60 frames of 4 float64 values
    with pytest.warns(UserWarning, match=r"k-means fitted on one frame in 4 \(57 of 225"):
        strided = kmeans.kmeans_baseline(videos, 3, standardize=True)
    assert [len(labels) for labels in strided] == [60, 90, 75]
    same = {(int(a), int(b)) for w, s in zip(whole, strided, strict=True) for a, b in zip(w, s, strict=True)}
    assert len(same) == 3  # the same partition, up to the clusters' names
