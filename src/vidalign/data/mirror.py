"""The left-right mirror image of Penn Action pose features (``docs/methods.md``, Mirror images of poses).

A person filmed from their other side, or waving with the other hand, is the mirror image of one filmed from this
side. In the mirrored picture each joint's x coordinate changes sign about the body's centre (the features are
already centred on it: :func:`vidalign.data.penn_action.pose_features`), and the joint a pose estimator finds
where the left wrist was is a right wrist: every left joint trades places with its right counterpart. Both are
done here on the features' layout ``[x_0..x_12, y_0..y_12]`` (26-d) or with the visibility block ``[.., v_0..v_12]``
(39-d); joints without a position (0) stay 0.
"""

from __future__ import annotations

import numpy as np

from vidalign.data.penn_action import JOINT_NAMES
from vidalign.errors import InputError

__all__ = ["MIRRORED_JOINTS", "POSE_WIDTHS", "is_pose_width", "mirror_pose_features"]

_SIDES = ("left_", "right_")


def _counterpart(name: str) -> str:
    for side, other in (_SIDES, _SIDES[::-1]):
        if name.startswith(side):
            return other + name[len(side) :]
    return name


# MIRRORED_JOINTS[j]: the joint whose values joint j takes in the mirror image (its left / right counterpart)
MIRRORED_JOINTS: tuple[int, ...] = tuple(JOINT_NAMES.index(_counterpart(name)) for name in JOINT_NAMES)
POSE_WIDTHS = (2 * len(JOINT_NAMES), 3 * len(JOINT_NAMES))  # coordinates; coordinates and visibility


def is_pose_width(features: np.ndarray) -> bool:
    """Whether ``features [..., D]`` have the width of Penn Action pose features (:data:`POSE_WIDTHS`)."""
    return np.ndim(features) >= 1 and np.shape(features)[-1] in POSE_WIDTHS


def mirror_pose_features(features: np.ndarray) -> np.ndarray:
    """The mirror image of pose features ``[..., D]`` (module docstring): x negated, left and right joints
    swapped in every block; same shape and dtype. Mirroring twice gives the features back."""
    features = np.asarray(features)
    if not is_pose_width(features):
        raise InputError(f"pose features are {' or '.join(map(str, POSE_WIDTHS))} wide, got shape {features.shape}")
    blocks = features.reshape(*features.shape[:-1], -1, len(JOINT_NAMES))[..., list(MIRRORED_JOINTS)]
    blocks[..., 0, :] *= -1
    return blocks.reshape(features.shape)
