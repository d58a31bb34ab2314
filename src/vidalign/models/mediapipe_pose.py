"""Body keypoints of video frames by MediaPipe Pose (Bazarevsky et al., "BlazePose: On-device Real-time Body Pose
tracking", CVPR Workshops 2020): a person detector and a 33-landmark model, both shipped inside the ``mediapipe``
0.10.14 wheel (``pose_detection.tflite``, ``pose_landmark_full.tflite``), so nothing is downloaded. Optional
dependency: ``pip install 'vidalign[pose]'``; the ``pose`` backbone (:mod:`vidalign.models.backbones`) uses it.

One :class:`PoseTracker` follows one recording: MediaPipe's video mode detects the person once and then tracks the
landmarks from frame to frame, which keeps a small, distant person that a detector run on each frame alone loses
more often (``docs/methods.md``, Pose keypoints from videos).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from vidalign.errors import BackboneError

__all__ = ["LANDMARKS", "PoseTracker", "mediapipe_version"]

LANDMARKS = 33  # MediaPipe Pose's landmark count (the ``mediapipe33`` skeleton of vidalign.data.keypoints)
LANDMARK_MODEL = 1  # MediaPipe's model_complexity: 1 = "full", the landmark model the wheel ships (2 is downloaded)
INSTALL_HINT = "pip install 'vidalign[pose]'"


def _mediapipe():
    """The ``mediapipe`` module, or a one-line :class:`~vidalign.errors.BackboneError` naming the
    install command when it is missing or has no Pose solution (only the 0.10 series up to 0.10.14 ships one that
    works with numpy 2)."""
    try:
        import mediapipe
    except ImportError:
        if sys.version_info >= (3, 13):
            raise BackboneError("the pose backbone needs MediaPipe 0.10.14, whose wheels stop at Python 3.12") from None
        raise BackboneError(f"the pose backbone needs MediaPipe: {INSTALL_HINT}") from None
    if not hasattr(getattr(mediapipe, "solutions", None), "pose"):
        raise BackboneError(f"mediapipe {mediapipe.__version__} has no Pose solution; {INSTALL_HINT}")
    return mediapipe


def mediapipe_version() -> str:
    """The installed MediaPipe version (raises :class:`~vidalign.errors.BackboneError` without one)."""
    return _mediapipe().__version__


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send the process's stderr (file descriptor 2) to the null device: MediaPipe's native code writes a few
    lines of start-up chatter there for every recording (building the graph, its first frame), past Python's
    warning filters."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class PoseTracker:
    """MediaPipe Pose over the frames of one recording, in order."""

    def __init__(self) -> None:
        solution = _mediapipe().solutions.pose
        with _native_stderr_silenced():
            self._pose = solution.Pose(static_image_mode=False, model_complexity=LANDMARK_MODEL)
        self._started = False

    def keypoints(self, image: np.ndarray) -> np.ndarray:
        """``[33, 3]`` float64 for an RGB uint8 ``[H, W, 3]`` frame: x, y in pixels and the landmark's visibility
        (0-1); every value NaN when no person is found."""
        if self._started:
            result = self._pose.process(np.ascontiguousarray(image))
        else:
            with _native_stderr_silenced():
                result = self._pose.process(np.ascontiguousarray(image))
            self._started = True
        if result.pose_landmarks is None:
            return np.full((LANDMARKS, 3), np.nan)
        height, width = image.shape[:2]
        landmarks = result.pose_landmarks.landmark
        return np.array([[p.x * width, p.y * height, p.visibility] for p in landmarks], dtype=np.float64)

    def close(self) -> None:
        self._pose.close()
