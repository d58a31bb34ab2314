"""The mirror image of pose features (vidalign.data.mirror), against the features of the mirrored picture: every x
coordinate reflected in the image and each left joint labelled right (what a pose estimator finds there), run
through the feature pipeline (vidalign.data.penn_action.pose_features); and its use as a training augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from vidalign.data.augment import AugmentConfig, augment_view, mirror_image
from vidalign.data.mirror import MIRRORED_JOINTS, mirror_pose_features
from vidalign.data.penn_action import JOINT_NAMES, pose_features
from vidalign.errors import InputError

WIDTH = 640.0


def _pose(seed: int = 0, n_frames: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(100, 500, (2, n_frames, len(JOINT_NAMES)))
    visibility = rng.random((n_frames, len(JOINT_NAMES))) > 0.2
    return x, y, visibility


def _relabelled(values: np.ndarray) -> np.ndarray:
    """Joint columns relabelled as in the mirrored picture, by name: the left wrist's values become the right
    wrist's."""
    out = np.empty_like(values)
    for k, name in enumerate(JOINT_NAMES):
        side, _, part = name.partition("_")
        other = {"left": "right", "right": "left"}.get(side)
        out[:, JOINT_NAMES.index(f"{other}_{part}") if other else k] = values[:, k]
    return out


@pytest.mark.parametrize("visibility_channel", [False, True])
def test_the_mirror_image_is_the_features_of_the_mirrored_picture(visibility_channel):
    x, y, visibility = _pose()
    features, _ = pose_features(x, y, visibility, visibility_channel=visibility_channel)
    pictured, _ = pose_features(
        _relabelled(WIDTH - x), _relabelled(y), _relabelled(visibility), visibility_channel=visibility_channel
    )
    np.testing.assert_allclose(mirror_pose_features(features), pictured, atol=1e-5)


def test_mirroring_twice_gives_the_features_back_and_leaves_the_input_alone():
    features, _ = pose_features(*_pose(seed=1))
    kept = features.copy()
    mirrored = mirror_pose_features(features)
    assert mirrored.shape == features.shape and mirrored.dtype == features.dtype
    np.testing.assert_array_equal(features, kept)
    np.testing.assert_array_equal(mirror_pose_features(mirrored), features)
    assert sorted(MIRRORED_JOINTS) == list(range(len(JOINT_NAMES))) and MIRRORED_JOINTS[0] == 0  # the head stays


def test_features_of_another_width_are_refused():
    with pytest.raises(InputError, match="26 or 39 wide"):
        mirror_pose_features(np.zeros((5, 32), dtype=np.float32))


def test_the_augmentation_gives_each_view_as_it_is_or_its_mirror_image():
    features, _ = pose_features(*_pose(seed=2))
    rng = np.random.default_rng(0)
    views = [mirror_image(features, True, rng) for _ in range(40)]
    mirrored = [np.array_equal(v, mirror_pose_features(features)) for v in views]
    assert all(m or np.array_equal(v, features) for v, m in zip(views, mirrored, strict=True))
    assert 5 < sum(mirrored) < 35
    rng = np.random.default_rng(0)
    assert mirror_image(features, False, rng) is features
    assert rng.random() == np.random.default_rng(0).random()  # off: no draw, so older runs replay unchanged


def test_augment_view_applies_the_mirror_image_when_configured():
    features, _ = pose_features(*_pose(seed=3))
    positions = np.arange(len(features), dtype=np.float64)
    config = AugmentConfig(mirror_image=True)
    views = [augment_view(features, positions, config, np.random.default_rng(seed))[0] for seed in range(20)]
    assert any(np.allclose(v, mirror_pose_features(features)) for v in views)
    assert any(np.allclose(v, features) for v in views)
